//! Integration tests of bundle parsing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dlp;
mod drills;
mod incidents;
mod providers;
mod taint;
mod vetting;
