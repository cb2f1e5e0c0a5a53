//! Integration tests of `tribune-store` on real databases.
//!
//! Every case is an `async fn(&TestStore) -> TestResult` written once and run twice by
//! `on_both_backends!`: on a fresh SQLite file (`<module>::sqlite::<case>`) and on a fresh
//! PostgreSQL schema (`<module>::postgres::<case>`). The PostgreSQL runs need
//! `TRIBUNE_TEST_POSTGRES_URL`; without it they fail, they never skip.

use std::error::Error;

use tribune_store::testing::{Backend, TestStore};
use tribune_store::{DecisionRecord, TokenKind, TokenRecord};

/// What every test returns: `?` works on store, harness and sqlx errors alike.
pub type TestResult = Result<(), Box<dyn Error + Send + Sync>>;

/// Defines, for each named case, one test per backend running that case on a fresh store.
macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() -> $crate::TestResult {
                    let db = tribune_store::testing::TestStore::new(
                        tribune_store::testing::Backend::Sqlite,
                    )
                    .await?;
                    super::$case(&db).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() -> $crate::TestResult {
                    let db = tribune_store::testing::TestStore::new(
                        tribune_store::testing::Backend::Postgres,
                    )
                    .await?;
                    super::$case(&db).await
                }
            )+
        }
    };
}

mod activations;
mod approvals;
mod connect;
mod decisions;
mod identities;
mod incidents;
mod ledger;
mod outcomes;
mod providers;
mod reviews;
mod tokens;
mod trust;
mod writer;
mod writes;

/// Which backend a test store runs on.
pub fn backend_of(db: &TestStore) -> Backend {
    match db.store.backend_name() {
        "sqlite" => Backend::Sqlite,
        _ => Backend::Postgres,
    }
}

/// Runs `sql` on a connection of its own to the test database, behind the store's back.
pub async fn execute_raw(db: &TestStore, sql: &'static str) -> TestResult {
    use sqlx::{Connection, Executor};
    match backend_of(db) {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(db.url()).await?;
            conn.execute(sql).await?;
            conn.close().await?;
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(db.url()).await?;
            conn.execute(sql).await?;
            conn.close().await?;
        }
    }
    Ok(())
}

/// A decision with a fresh UUID v7 id, distinguished by `n`.
pub fn decision(n: u64) -> DecisionRecord {
    DecisionRecord {
        id: uuid::Uuid::now_v7().to_string(),
        created_at_ms: 1_700_000_000_000 + n as i64,
        principal: format!("agent:summariser-{}", n % 7),
        tool: "fs.read".to_owned(),
        outcome: ["allow", "deny", "hold"][(n % 3) as usize].to_owned(),
        arguments_hash: format!("{n:064x}"),
        bundle_hash: "b".repeat(64),
        body: serde_json::json!({ "n": n, "reason": { "rule": "r1", "stage": "policy" } }),
    }
}

/// A token whose hash is 32 copies of `hash_byte`.
pub fn token(id: &str, kind: TokenKind, hash_byte: u8) -> TokenRecord {
    TokenRecord {
        id: id.to_owned(),
        hash: [hash_byte; 32],
        kind,
        subject: (kind != TokenKind::Admin).then(|| format!("{kind}-{id}")),
        label: format!("label of {id}"),
        created_at_ms: 1_700_000_000_000 + i64::from(hash_byte),
        revoked_at_ms: None,
    }
}
