//! [`Store`]: connecting, migrating, and every query Tribune runs.
//!
//! `Store` wraps a private two-variant enum (SQLite pool or PostgreSQL pool) rather than a
//! trait object. There are exactly two backends and both are compiled in, so a closed enum
//! costs no boxing of futures and no `async_trait`; and because each method is one `match`
//! whose arms run the *same SQL text* (the `with_pool!` macro below), the two backends cannot
//! drift apart query by query. The enum is private, so a third backend would not break callers.
//!
//! Portability: queries use `$1`-style parameters, which SQLite accepts too, and only types
//! both sides share (TEXT, 64-bit integers, bytes). JSON bodies are stored as TEXT so they read
//! back byte for byte. Where the dialects differ — column types and the activation sequence —
//! the difference lives in the two migration directories, `migrations/sqlite` and
//! `migrations/postgres`, and nowhere else.
//!
//! Durability: SQLite runs in WAL mode with `synchronous = FULL`, so a committed transaction
//! survives a power loss; PostgreSQL sessions pin `synchronous_commit = on` whatever the
//! server default, for the same promise.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::error::ErrorKind;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{Entity, StoreError};
use crate::records::{
    ActivationRecord, ActivationRow, DecisionRecord, DecisionRow, OutcomeRecord, OutcomeRow, TokenKind,
    TokenRecord, TokenRow,
};

/// How long a SQLite connection waits for another writer before giving up with "busy".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The prepared statements the ledger committer's connection keeps: its commands for batches
/// of up to eight entries take 164 shapes with a known head and 45 without, and the side
/// records' own statements about 50 more.
const LEDGER_STATEMENT_CACHE: usize = 320;

/// The database behind Tribune: tokens, decisions, outcomes and bundle activations.
///
/// Cheap to clone: clones share its connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    /// How many token revocations went through this store or one of its clones, so a cache
    /// of verified tokens in this process can tell it may hold a revoked one
    /// ([`Store::token_revocations`]).
    token_revocations: Arc<AtomicU64>,
}

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    Sqlite {
        pool: SqlitePool,
        /// How the ledger's committer (`LedgerCommitter`) opens the connection it keeps for
        /// itself, outside the pool. A connection's page cache survives only its own writes
        /// (SQLite drops it when another connection has written), so the appender, which
        /// writes most, finds the pages it writes in memory. And a pooled connection costs a
        /// round trip to sqlx's worker thread each time it goes back to the pool (sqlx pings
        /// it), which the committer would pay on every batch.
        ledger: Arc<SqliteConnectOptions>,
    },
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool the store has. The body is written once
/// and type-checked once per backend.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { pool: $pool, .. } => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The insert of one decision row, shared by [`Store::insert_decisions`] and the ledger's
/// transaction so both write the same columns.
macro_rules! insert_decision {
    ($d:expr) => {
        sqlx::query(
            "INSERT INTO decisions
               (id, created_at_ms, principal, tool, outcome, arguments_hash, bundle_hash, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&$d.id)
        .bind($d.created_at_ms)
        .bind(&$d.principal)
        .bind(&$d.tool)
        .bind(&$d.outcome)
        .bind(&$d.arguments_hash)
        .bind(&$d.bundle_hash)
        .bind($d.body.to_string())
    };
}
pub(crate) use insert_decision;

/// The insert of one token row.
macro_rules! insert_token {
    ($t:expr) => {
        sqlx::query(
            "INSERT INTO tokens (id, hash, kind, subject, label, created_at_ms, revoked_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&$t.id)
        .bind(&$t.hash[..])
        .bind($t.kind.as_str())
        .bind(&$t.subject)
        .bind(&$t.label)
        .bind($t.created_at_ms)
        .bind($t.revoked_at_ms)
    };
}
pub(crate) use insert_token;

/// The insert of one activation row.
macro_rules! insert_activation {
    ($a:expr) => {
        sqlx::query(
            "INSERT INTO activations (bundle_hash, version, source, activated_at_ms)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&$a.bundle_hash)
        .bind(&$a.version)
        .bind(&$a.source)
        .bind($a.activated_at_ms)
    };
}
pub(crate) use insert_activation;

impl Store {
    /// Connects to `sqlite://PATH` (the file is created if missing) or `postgres://...`
    /// (also `postgresql://`), and brings the schema up to date.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            Self::connect_sqlite(SqliteConnectOptions::from_str(url)?).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::connect_postgres(PgConnectOptions::from_str(url)?).await
        } else {
            let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
            Err(StoreError::InvalidUrl(scheme.to_owned()))
        }
    }

    /// Opens (creating if missing) the SQLite database file at `path` and brings the schema up
    /// to date.
    pub async fn open_sqlite(path: &Path) -> Result<Store, StoreError> {
        Self::connect_sqlite(SqliteConnectOptions::new().filename(path)).await
    }

    async fn connect_sqlite(options: SqliteConnectOptions) -> Result<Store, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        // A connection to a local file cannot go stale the way a network connection can, so
        // the pool does not ping it before every use (a ping is a round trip to sqlx's worker
        // thread, on every query).
        let pool = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        // The committer's statement cache holds the appends' commands, one per small batch
        // shape (`ledger.rs`, `CACHED_TAIL_ROWS`).
        let ledger = Arc::new(options.statement_cache_capacity(LEDGER_STATEMENT_CACHE));
        Ok(Store {
            backend: Backend::Sqlite { pool, ledger },
            token_revocations: Arc::default(),
        })
    }

    async fn connect_postgres(options: PgConnectOptions) -> Result<Store, StoreError> {
        let options = options.options([("synchronous_commit", "on")]);
        let pool = PgPoolOptions::new().connect_with(options).await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Store {
            backend: Backend::Postgres(pool),
            token_revocations: Arc::default(),
        })
    }

    /// `"sqlite"` or `"postgres"`, for logs and metrics labels.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes the connection pool shared by this store and all its clones, waiting for
    /// connections in use to be returned. Every later operation fails. A ledger committer
    /// (SQLite) holds a connection outside the pool: a batch it is committing finishes, and its
    /// next batch fails and closes that connection.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }

    /// Stores a new token. [`StoreError::Conflict`] if its id or hash is already taken.
    pub async fn insert_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            insert_token!(token)
            .execute(pool)
            .await
            .map_err(|err| StoreError::on_insert(err, Entity::Token, &token.id))?;
        });
        Ok(())
    }

    /// The token whose secret hashes to `hash`, revoked or not: the caller checks
    /// [`TokenRecord::revoked_at_ms`].
    pub async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        let row: Option<TokenRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, hash, kind, subject, label, created_at_ms, revoked_at_ms
                 FROM tokens WHERE hash = $1",
            )
            .bind(&hash[..])
            .fetch_optional(pool)
            .await?
        });
        row.map(TokenRecord::try_from).transpose()
    }

    /// Every token, revoked ones included, oldest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows: Vec<TokenRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, hash, kind, subject, label, created_at_ms, revoked_at_ms
                 FROM tokens ORDER BY created_at_ms, id",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(TokenRecord::try_from).collect()
    }

    /// Marks token `id` revoked at `at_ms`. `false` if there is no such token or it was already
    /// revoked (the first revocation time is kept).
    ///
    /// Counts the revocation in [`Store::token_revocations`] before returning, whatever the
    /// outcome (even a failed update may have committed).
    pub async fn revoke_token(&self, id: &str, at_ms: i64) -> Result<bool, StoreError> {
        let result = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE tokens SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL",
            )
            .bind(id)
            .bind(at_ms)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        });
        // INVARIANT(token-revocation-epoch): bumped only after the update is done, so a cache
        // entry read before this number changed is treated as possibly revoked.
        self.token_revocations.fetch_add(1, Ordering::SeqCst);
        Ok(result? > 0)
    }

    /// Stores a new token (its id and hash must be free), inside a ledger append.
    pub fn insert_token_write(token: &TokenRecord) -> crate::Write {
        crate::Write::new(
            "INSERT INTO tokens (id, hash, kind, subject, label, created_at_ms, revoked_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(token.id.clone())
        .bind(token.hash.to_vec())
        .bind(token.kind.as_str())
        .bind(token.subject.clone())
        .bind(token.label.clone())
        .bind(token.created_at_ms)
        .bind(token.revoked_at_ms)
    }

    /// Revokes at `at_ms` every unrevoked token of `kind` for `subject` but `keep`, inside a
    /// ledger append. The caller then calls [`Store::note_token_revocations`], whatever the
    /// append's outcome.
    pub fn revoke_subject_tokens_write(
        kind: TokenKind,
        subject: &str,
        keep: Option<&str>,
        at_ms: i64,
    ) -> crate::Write {
        crate::Write::new(
            "UPDATE tokens SET revoked_at_ms = $1
             WHERE kind = $2 AND subject = $3 AND revoked_at_ms IS NULL AND id <> $4",
        )
        .bind(at_ms)
        .bind(kind.as_str())
        .bind(subject)
        // No token id is empty, so `''` keeps none.
        .bind(keep.unwrap_or_default())
    }

    /// Counts a token revocation made through a ledger append
    /// ([`Store::revoke_subject_tokens_write`]) in [`Store::token_revocations`]; call it once
    /// the append returned, whatever its outcome (INVARIANT(token-revocation-epoch)).
    pub fn note_token_revocations(&self) {
        self.token_revocations.fetch_add(1, Ordering::SeqCst);
    }

    /// How many times [`Store::revoke_token`] has run on this store or any of its clones (in
    /// this process; other processes' revocations are not counted). A cache of verified tokens
    /// reads it before it reads a token and trusts the entry only while it is unchanged.
    pub fn token_revocations(&self) -> u64 {
        self.token_revocations.load(Ordering::SeqCst)
    }

    /// How many tokens of `kind` exist, revoked ones included (like every read here, this does
    /// not interpret revocation).
    pub async fn count_tokens_of_kind(&self, kind: TokenKind) -> Result<u64, StoreError> {
        let count: i64 = with_pool!(self, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM tokens WHERE kind = $1")
                .bind(kind.as_str())
                .fetch_one(pool)
                .await?
        });
        // COUNT(*) is never negative.
        Ok(u64::try_from(count).unwrap_or_default())
    }

    /// Stores `decisions` in one transaction: all of them or none. [`StoreError::Conflict`]
    /// names the first record whose id is already taken.
    pub async fn insert_decisions(&self, decisions: &[DecisionRecord]) -> Result<(), StoreError> {
        if decisions.is_empty() {
            return Ok(());
        }
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for decision in decisions {
                insert_decision!(decision)
                .execute(&mut *tx)
                .await
                .map_err(|err| StoreError::on_insert(err, Entity::Decision, &decision.id))?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The decision with this id, if any.
    pub async fn decision(&self, id: &str) -> Result<Option<DecisionRecord>, StoreError> {
        let row: Option<DecisionRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, created_at_ms, principal, tool, outcome, arguments_hash, bundle_hash, body
                 FROM decisions WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(DecisionRecord::try_from).transpose()
    }

    /// Records what happened when the call of decision `outcome.decision_id` ran.
    ///
    /// [`StoreError::NotFound`] if that decision does not exist; [`StoreError::Conflict`] if an
    /// outcome for it was already recorded (there is one per decision, and it is never
    /// overwritten).
    pub async fn insert_outcome(&self, outcome: &OutcomeRecord) -> Result<(), StoreError> {
        let key = &outcome.decision_id;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO outcomes (decision_id, recorded_at_ms, status, body)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(key)
            .bind(outcome.recorded_at_ms)
            .bind(&outcome.status)
            .bind(outcome.body.to_string())
            .execute(pool)
            .await
            .map_err(|err| match err.as_database_error().map(|db| db.kind()) {
                Some(ErrorKind::ForeignKeyViolation) => StoreError::NotFound {
                    entity: Entity::Decision,
                    key: key.clone(),
                },
                _ => StoreError::on_insert(err, Entity::Outcome, key),
            })?;
        });
        Ok(())
    }

    /// The outcome recorded for decision `decision_id`, if any.
    pub async fn outcome(&self, decision_id: &str) -> Result<Option<OutcomeRecord>, StoreError> {
        let row: Option<OutcomeRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT decision_id, recorded_at_ms, status, body
                 FROM outcomes WHERE decision_id = $1",
            )
            .bind(decision_id)
            .fetch_optional(pool)
            .await?
        });
        row.map(OutcomeRecord::try_from).transpose()
    }

    /// Appends a bundle activation to the history.
    pub async fn insert_activation(&self, activation: &ActivationRecord) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            insert_activation!(activation)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The most recently inserted activation, if any. Insertion order decides, not
    /// `activated_at_ms`, so a clock that stepped back cannot resurrect an older bundle.
    pub async fn latest_activation(&self) -> Result<Option<ActivationRecord>, StoreError> {
        let row: Option<ActivationRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT bundle_hash, version, source, activated_at_ms
                 FROM activations ORDER BY seq DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(ActivationRecord::from))
    }
}
