//! Tribune's persistence, and the only crate that knows SQL.
//!
//! [`Store`] keeps bearer tokens (by hash), decisions, call outcomes and policy bundle
//! activations in SQLite or PostgreSQL, chosen by the url given to [`Store::connect`]; both run
//! the same queries through [sqlx] and bring their schema up to date from migrations embedded
//! in the binary. [`DecisionWriter`] batches concurrent decision writes into few transactions
//! and acknowledges each one only once it is durable.
//!
//! Module map:
//! - [`store`](crate::Store): connecting, migrations, and every query.
//! - [`records`](crate::TokenRecord): the records, as plain Rust values.
//! - [`writer`](crate::BatchWriter): group commit.
//! - [`error`](crate::StoreError): the one error type.
//! - [`testing`] (feature `testing`): fresh SQLite files and isolated PostgreSQL schemas for
//!   integration tests of this and other crates.

mod error;
mod ledger;
mod records;
mod store;
mod writer;

#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Entity, StoreError};
pub use ledger::{
    Appended, CheckpointRecord, EntryMeta, LedgerAppend, LedgerCommitter, LedgerEntryRecord, LedgerWriter,
    LegalHoldRecord, ReleaseStep, SideRecord,
};
pub use records::{
    ActivationRecord, DecisionRecord, OutcomeRecord, TokenKind, TokenRecord, UnknownTokenKind,
};
pub use store::Store;
pub use writer::{BatchCommit, BatchWriter, DecisionCommitter, DecisionWriter, WriterStats};
