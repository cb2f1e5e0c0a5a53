//! The red-team crate's integration tests: the built-in suites against the example bundles,
//! a weakened bundle failing exactly the scenarios it should, and the parser's diagnostics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod controls;
mod parse;
mod suites;
