//! The store's one error type.
//!
//! Constraint violations the caller can act on (a missing decision, a duplicate token) are
//! turned into [`StoreError::NotFound`] and [`StoreError::Conflict`] here, so no caller has to
//! inspect database error codes. Everything else stays a [`sqlx::Error`] inside
//! [`StoreError::Database`].

use std::fmt;
use std::sync::Arc;

use sqlx::error::ErrorKind;

/// What kind of record an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Entity {
    /// A bearer token.
    Token,
    /// A decision of the decision API.
    Decision,
    /// The reported outcome of an allowed call.
    Outcome,
    /// A policy bundle activation.
    Activation,
    /// An entry of the tamper-evident ledger.
    LedgerEntry,
    /// A signed ledger checkpoint.
    Checkpoint,
    /// A legal hold over a range of the ledger.
    LegalHold,
    /// An approval request of a held call.
    Approval,
    /// A human's TOTP enrolment.
    MfaEnrollment,
    /// An emergency stop.
    Stop,
    /// An emergency-stop drill.
    Drill,
    /// A non-human identity (agent or service).
    Identity,
    /// A short-lived credential issued to an identity.
    Credential,
    /// An event that moved a trust score.
    TrustEvent,
    /// An incident opened by a bundle trigger.
    Incident,
    /// A provider's vetting record.
    Vetting,
    /// A tool's pinned description.
    ToolPin,
    /// A human's review of the ledger's activity.
    ActivityReview,
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Entity::Token => "token",
            Entity::Decision => "decision",
            Entity::Outcome => "outcome",
            Entity::Activation => "activation",
            Entity::LedgerEntry => "ledger entry",
            Entity::Checkpoint => "checkpoint",
            Entity::LegalHold => "legal hold",
            Entity::Approval => "approval request",
            Entity::MfaEnrollment => "mfa enrolment",
            Entity::Stop => "stop",
            Entity::Drill => "drill",
            Entity::Identity => "identity",
            Entity::Credential => "credential",
            Entity::TrustEvent => "trust event",
            Entity::Incident => "incident",
            Entity::Vetting => "provider vetting",
            Entity::ActivityReview => "activity review",
            Entity::ToolPin => "tool pin",
        })
    }
}

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record the operation depends on does not exist.
    #[error("{entity} `{key}` not found")]
    NotFound {
        /// What was looked for.
        entity: Entity,
        /// Its id.
        key: String,
    },

    /// The record clashes with one already stored (same id, or same unique value such as a
    /// token hash), or the one-per-key record was already recorded.
    #[error("{entity} `{key}` conflicts with one already stored")]
    Conflict {
        /// What was being stored.
        entity: Entity,
        /// The id of the record being stored.
        key: String,
    },

    /// The url names no backend this store supports.
    #[error("unsupported database url scheme `{0}`: expected `sqlite://PATH` or `postgres://...`")]
    InvalidUrl(
        /// The url's scheme only: the rest may hold a password.
        String,
    ),

    /// The database refused or failed the operation.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    /// Bringing the schema up to date failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// A stored value does not decode into its Rust type (edited by hand, or a newer schema).
    #[error("{entity} `{key}` has an unreadable `{column}` column")]
    Corrupt {
        /// The kind of record.
        entity: Entity,
        /// Its id.
        key: String,
        /// The column that failed to decode.
        column: &'static str,
    },

    /// A stored JSON body does not parse.
    #[error("{entity} `{key}` has an unreadable JSON body: {source}")]
    CorruptJson {
        /// The kind of record.
        entity: Entity,
        /// Its id.
        key: String,
        /// Why it does not parse.
        source: serde_json::Error,
    },

    /// The batch this record was part of did not commit; nothing in it was written.
    ///
    /// Every caller in the batch receives this error, sharing the one underlying cause.
    #[error("batch of {batch_size} records failed to commit: {source}")]
    BatchFailed {
        /// How many records were in the failed batch.
        batch_size: usize,
        /// Why the batch failed.
        source: Arc<StoreError>,
    },

    /// The background writer has stopped (its task ended or the runtime is shutting down).
    #[error("the batch writer has stopped")]
    WriterClosed,

    /// A committer returned a different number of outputs than it was given items.
    #[error("a batch of {expected} items produced {got} outputs")]
    OutputCount {
        /// Items in the batch.
        expected: usize,
        /// Outputs returned.
        got: usize,
    },

    /// The ledger's stored state contradicts itself (e.g. the head and the entries disagree).
    #[error("the ledger is inconsistent: {0}")]
    LedgerInconsistent(&'static str),

    /// An entry could not be added to the ledger (too large, not canonical JSON, ...).
    #[error("ledger entry rejected: {0}")]
    Ledger(#[from] tribune_ledger::Error),
}

impl StoreError {
    /// The error to report when an insert of `entity` `key` fails: a unique-key violation
    /// becomes [`StoreError::Conflict`], anything else stays a database error.
    pub(crate) fn on_insert(err: sqlx::Error, entity: Entity, key: &str) -> Self {
        match err.as_database_error().map(|db| db.kind()) {
            Some(ErrorKind::UniqueViolation) => StoreError::Conflict {
                entity,
                key: key.to_owned(),
            },
            _ => StoreError::Database(err),
        }
    }

    /// The underlying error of a [`StoreError::BatchFailed`], or `self` for any other error.
    ///
    /// Lets a caller match on the cause (say, [`StoreError::Conflict`]) without caring
    /// whether the record went through the batch writer.
    pub fn root(&self) -> &StoreError {
        match self {
            StoreError::BatchFailed { source, .. } => source.root(),
            other => other,
        }
    }
}
