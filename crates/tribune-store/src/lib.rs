//! Tribune's persistence, and the only crate that knows SQL.
//!
//! [`Store`] keeps bearer tokens (by hash), decisions, call outcomes, policy bundle
//! activations, the ledger, approval requests and TOTP enrolments in SQLite or PostgreSQL,
//! chosen by the url given to [`Store::connect`]; both run the same queries through [sqlx] and
//! bring their schema up to date from migrations embedded in the binary. [`DecisionWriter`] batches concurrent decision writes into few transactions
//! and acknowledges each one only once it is durable.
//!
//! Module map:
//! - [`store`](crate::Store): connecting, migrations, and every query.
//! - [`approvals`](crate::ApprovalRecord): approval requests (atomic admission under a lock,
//!   compare-and-set updates) and TOTP enrolments (replay-proof step check-off).
//! - [`records`](crate::TokenRecord): the records, as plain Rust values.
//! - [`stops`](crate::StopRecord): emergency stops and their two-person resume.
//! - [`trust`](crate::TrustEventRecord): the events that moved trust scores, and the band
//!   each score was last recorded in (compare-and-set).
//! - [`incidents`](crate::IncidentRecord): incidents opened by bundle triggers, at most one
//!   open per trigger and subject, and who closed them.
//! - [`providers`](crate::VettingRecord): provider vettings (history kept) and tool
//!   description pins, quarantined when a different description is reported.
//! - [`drills`](crate::DrillRecord): emergency-stop drills and the system resume of their stops.
//! - [`redteam`](crate::RedteamRunRecord): red-team runs the server replayed, with their reports.
//! - [`reviews`](crate::ActivityReviewRecord): humans' reviews of the ledger's activity, each
//!   written with its ledger entry.
//! - [`identities`](crate::IdentityRecord): agents and services, their life states, and the
//!   short-lived credentials issued to them (revocation cascades to delegated ones).
//! - [`writer`](crate::BatchWriter): group commit.
//! - [`error`](crate::StoreError): the one error type.
//! - [`testing`] (feature `testing`): fresh SQLite files and isolated PostgreSQL schemas for
//!   integration tests of this and other crates.

mod approvals;
mod drills;
mod error;
mod identities;
mod incidents;
mod ledger;
mod providers;
mod records;
mod redteam;
mod reviews;
mod stops;
mod store;
mod trust;
mod writer;
mod writes;

#[cfg(feature = "testing")]
pub mod testing;

pub use approvals::{
    ApprovalFilter, ApprovalRecord, MfaEnrollmentRecord, QueueCounts, QueueProbe, QueueStats,
};
pub use drills::{DRILL_RESUMER, DrillRecord};
pub use error::{Entity, StoreError};
pub use identities::{
    CredentialRecord, IdentityKind, IdentityOrigin, IdentityRecord, IdentityState, UnknownIdentityKind,
    UnknownIdentityOrigin, UnknownIdentityState,
};
pub use incidents::{IncidentCheckpoint, IncidentRecord, IncidentState};
pub use ledger::{
    Appended, CheckpointRecord, EntryMeta, LedgerAppend, LedgerCommitter, LedgerEntryRecord, LedgerWriter,
    LegalHoldRecord, ReleaseStep, SideRecord,
};
pub use providers::{ToolPinRecord, VettingRecord};
pub use records::{
    ActivationRecord, DecisionRecord, OutcomeRecord, TokenKind, TokenRecord, UnknownTokenKind,
};
pub use redteam::RedteamRunRecord;
pub use reviews::ActivityReviewRecord;
pub use stops::StopRecord;
pub use store::Store;
pub use trust::{TrustBandRecord, TrustEventRecord};
pub use writer::{BatchCommit, BatchWriter, DecisionCommitter, DecisionWriter, WriterStats};
pub use writes::{Param, Write, Writes};
