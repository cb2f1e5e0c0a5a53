//! Test harness: a fresh, isolated, real database per test (feature `testing`).
//!
//! SQLite: a new file in a temporary directory, removed when the [`TempDir`] drops.
//! PostgreSQL: the server named by [`POSTGRES_URL_VAR`], with a freshly created schema
//! `t_<uuid>` per test that the store's connections use as their `search_path`, so tests run
//! in parallel (cargo-nextest) without seeing each other's rows. The schema is dropped when the
//! [`PgSchema`] guard drops, even if the test panicked.
//!
//! If the variable is unset, [`postgres_store`] fails with [`HarnessError::PostgresUrlUnset`]:
//! PostgreSQL tests must never pass by skipping.

use std::fmt;
use std::path::PathBuf;

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tempfile::TempDir;

use crate::{Store, StoreError};

/// The environment variable holding the PostgreSQL url for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/test`.
pub const POSTGRES_URL_VAR: &str = "TRIBUNE_TEST_POSTGRES_URL";

/// Why a test database could not be set up.
#[derive(thiserror::Error)]
pub enum HarnessError {
    /// [`POSTGRES_URL_VAR`] is not set.
    #[error(
        "set `TRIBUNE_TEST_POSTGRES_URL` to a PostgreSQL url (e.g. \
         `postgres://postgres@127.0.0.1:5432/test`) to run the PostgreSQL tests; they never skip"
    )]
    PostgresUrlUnset,
    /// A temporary directory or a cleanup runtime could not be made.
    #[error("i/o error while preparing a test database: {0}")]
    Io(#[source] std::io::Error),
    /// The database could not be reached or prepared.
    #[error(transparent)]
    Store(#[from] StoreError),
}

// Debug shows the message and its causes: a test that returns `Err` prints it with `{:?}`,
// and the message is what tells the reader to set the variable.
impl fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")?;
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            write!(f, "\n  caused by: {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl From<sqlx::Error> for HarnessError {
    fn from(err: sqlx::Error) -> Self {
        HarnessError::Store(StoreError::Database(err))
    }
}

/// A store on a new SQLite file. Keep the [`TempDir`] alive as long as the store.
pub async fn sqlite_store() -> Result<(Store, TempDir), HarnessError> {
    let dir = tempfile::tempdir().map_err(HarnessError::Io)?;
    let store = Store::open_sqlite(&sqlite_path(&dir)).await?;
    Ok((store, dir))
}

fn sqlite_path(dir: &TempDir) -> PathBuf {
    dir.path().join("tribune.db")
}

/// A store on a new, empty schema of the PostgreSQL server named by [`POSTGRES_URL_VAR`].
/// Dropping the [`PgSchema`] drops the schema and everything in it.
pub async fn postgres_store() -> Result<(Store, PgSchema), HarnessError> {
    let base_url = std::env::var(POSTGRES_URL_VAR).map_err(|_| HarnessError::PostgresUrlUnset)?;
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&base_url).await?;
    // INVARIANT(schema-name): `name` is `t_` and 32 lowercase hex digits, so it is a plain
    // identifier and safe to splice into SQL.
    admin
        .execute(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
        .await?;
    admin.close().await?;
    // The guard exists from here on, so the schema is dropped even if connecting fails.
    let schema = PgSchema { base_url, name };
    let store = Store::connect(&schema.url()).await?;
    Ok((store, schema))
}

/// An isolated PostgreSQL schema, dropped (with everything in it) when this guard drops.
#[derive(Debug)]
pub struct PgSchema {
    base_url: String,
    name: String,
}

impl PgSchema {
    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A url that connects to this schema, e.g. to open a second [`Store`] on it.
    pub fn url(&self) -> String {
        let separator = if self.base_url.contains('?') { '&' } else { '?' };
        format!("{}{separator}options[search_path]={}", self.base_url, self.name)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // Drop cannot await, and blocking the test's own runtime could stall the very tasks
        // the drop would wait for; so run the cleanup on a thread with its own runtime.
        let base_url = self.base_url.clone();
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || -> Result<(), HarnessError> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(HarnessError::Io)?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&base_url).await?;
                // A session still holding locks on the schema must not hang the test forever.
                admin.execute("SET lock_timeout = '10s'").await?;
                // INVARIANT(schema-name): relied on, see `postgres_store`.
                admin
                    .execute(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE")))
                    .await?;
                admin.close().await?;
                Ok(())
            })
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("could not drop test schema `{}`: {err}", self.name),
            Err(_) => eprintln!("dropping test schema `{}` panicked", self.name),
        }
    }
}

/// Which database a [`TestStore`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh schema on the server named by [`POSTGRES_URL_VAR`].
    Postgres,
}

/// A fresh store on either backend, for tests written once and run on both.
#[derive(Debug)]
pub struct TestStore {
    /// The store under test.
    pub store: Store,
    url: String,
    // Cleans up when dropped; declared after `store` so the store drops first.
    _guard: Guard,
}

#[derive(Debug)]
#[expect(dead_code, reason = "held only to clean up when dropped")]
enum Guard {
    Sqlite(TempDir),
    Postgres(PgSchema),
}

impl TestStore {
    /// A fresh store on `backend`.
    pub async fn new(backend: Backend) -> Result<TestStore, HarnessError> {
        match backend {
            Backend::Sqlite => {
                let (store, dir) = sqlite_store().await?;
                let url = format!("sqlite://{}", sqlite_path(&dir).display());
                Ok(TestStore {
                    store,
                    url,
                    _guard: Guard::Sqlite(dir),
                })
            }
            Backend::Postgres => {
                let (store, schema) = postgres_store().await?;
                Ok(TestStore {
                    store,
                    url: schema.url(),
                    _guard: Guard::Postgres(schema),
                })
            }
        }
    }

    /// A url for [`Store::connect`] that reaches the same database (and schema).
    pub fn url(&self) -> &str {
        &self.url
    }
}
