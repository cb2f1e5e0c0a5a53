//! Integration tests for `tribune-identity`: one binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cache;
mod credentials;
mod delegation;
mod lifecycle;
mod oidc;
mod support;
