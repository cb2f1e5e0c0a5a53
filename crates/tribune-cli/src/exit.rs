//! Exit codes, in one place.

/// Success; for `decide`, an allow.
pub const OK: u8 = 0;
/// `check` found findings; `decide` got a deny; any other command failed.
pub const FAILURE: u8 = 1;
/// The bundle is invalid (also clap's code for bad arguments).
pub const INVALID_BUNDLE: u8 = 2;
/// `decide` got a hold: the call needs human approval.
pub const HOLD: u8 = 3;
/// `decide` could not get a decision at all (server unreachable, bad token, ...).
pub const NO_DECISION: u8 = 4;
