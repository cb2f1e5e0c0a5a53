//! Ledger end-to-end tests (being written).
