//! Integration tests for `tribune-ledger`: one binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod checkpoint;
mod entry;
mod merkle;
mod notes;
mod support;
mod tiles;
mod verify;
