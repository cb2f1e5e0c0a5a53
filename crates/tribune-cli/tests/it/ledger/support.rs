//! What the ledger tests share beyond [`crate::deployment`]: the CLI's verifier, and direct
//! database access for tampering the way an attacker with write access to the database would.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::Row as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};

pub use crate::deployment::{ADMIN, Api, Backend, Deployment, Server, cli, eventually};
use crate::{stderr, stdout};

/// What only the ledger tests ask of a deployment.
pub(crate) trait LedgerDeployment {
    /// The ledger's verifier key, as `tribune audit key --data-dir` prints it.
    fn verifier_key(&self) -> String;

    /// Direct access to the deployment's database.
    async fn db(&self) -> Db;
}

impl LedgerDeployment for Deployment {
    fn verifier_key(&self) -> String {
        let out = cli(&["audit", "key", "--data-dir", self.data_dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    }

    async fn db(&self) -> Db {
        match self.backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::new()
                    .filename(self.data_dir.join("tribune.db"))
                    .busy_timeout(Duration::from_secs(10));
                Db::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(1)
                        .connect_with(options)
                        .await
                        .unwrap(),
                )
            }
            Backend::Postgres => {
                let options = PgConnectOptions::from_str(&self.database_url().unwrap()).unwrap();
                Db::Postgres(
                    PgPoolOptions::new()
                        .max_connections(1)
                        .connect_with(options)
                        .await
                        .unwrap(),
                )
            }
        }
    }
}

/// What `tribune audit verify` said.
#[derive(Debug)]
pub struct Verified {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Verified {
    /// Asserts success and returns the `ok:` line's figures: (entries, pruned, proven size).
    pub fn ok(&self) -> (u64, u64, u64) {
        assert_eq!(self.code, 0, "verify failed:\n{}\n{}", self.stdout, self.stderr);
        let line = self
            .stdout
            .lines()
            .find(|l| l.starts_with("ok: "))
            .unwrap_or_else(|| panic!("no `ok:` line in\n{}", self.stdout));
        // ok: N entries (P pruned), C checkpoints verified; entries 0..S proven by a signed checkpoint
        let number_after = |marker: &str| -> u64 {
            let rest = &line[line.find(marker).unwrap() + marker.len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        (
            number_after("ok: "),
            number_after("entries ("),
            number_after("entries 0.."),
        )
    }

    /// Asserts failure naming `FAILED at entry {index}`.
    pub fn failed_at(&self, index: u64) {
        assert_eq!(
            self.code, 1,
            "verify did not fail:\n{}\n{}",
            self.stdout, self.stderr
        );
        let needle = format!("FAILED at entry {index}:");
        assert!(
            self.stdout.contains(&needle),
            "expected `{needle}` in\n{}\n{}",
            self.stdout,
            self.stderr
        );
    }
}

/// `tribune audit verify --key KEY --server URL --token ADMIN`.
pub fn verify(server: &Server, key: &str) -> Verified {
    let out = cli(&[
        "audit",
        "verify",
        "--key",
        key,
        "--server",
        &server.url,
        "--token",
        ADMIN,
    ]);
    Verified {
        code: out.status.code().unwrap_or(-1),
        stdout: stdout(&out),
        stderr: stderr(&out),
    }
}

/// Direct access to a deployment's `ledger_entries`, bypassing Tribune.
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same statement on whichever pool `$db` holds (`$1`-style placeholders work on
/// both).
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Postgres($pool) => $body,
        }
    };
}

/// One row of `ledger_entries`, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub leaf_hash: Vec<u8>,
    pub payload: Option<Vec<u8>>,
}

impl Db {
    pub async fn row(&self, idx: u64) -> Row {
        let idx = i64::try_from(idx).unwrap();
        on_db!(self, pool => {
            let r = sqlx::query("SELECT leaf_hash, payload FROM ledger_entries WHERE idx = $1")
                .bind(idx)
                .fetch_one(pool)
                .await
                .unwrap();
            Row { leaf_hash: r.get("leaf_hash"), payload: r.get("payload") }
        })
    }

    pub async fn set_payload(&self, idx: u64, payload: &[u8]) {
        let idx = i64::try_from(idx).unwrap();
        let done = on_db!(self, pool => {
            sqlx::query("UPDATE ledger_entries SET payload = $1 WHERE idx = $2")
                .bind(payload)
                .bind(idx)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected()
        });
        assert_eq!(done, 1);
    }

    pub async fn set_row(&self, idx: u64, row: &Row) {
        let idx = i64::try_from(idx).unwrap();
        let done = on_db!(self, pool => {
            sqlx::query("UPDATE ledger_entries SET leaf_hash = $1, payload = $2 WHERE idx = $3")
                .bind(&row.leaf_hash)
                .bind(&row.payload)
                .bind(idx)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected()
        });
        assert_eq!(done, 1);
    }

    pub async fn delete(&self, idx: u64) {
        let idx = i64::try_from(idx).unwrap();
        let done = on_db!(self, pool => {
            sqlx::query("DELETE FROM ledger_entries WHERE idx = $1")
                .bind(idx)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected()
        });
        assert_eq!(done, 1);
    }

    /// Inserts a whole row (an attacker appending an entry of their own).
    pub async fn insert(&self, idx: u64, row: &Row, event_class: &str) {
        let idx = i64::try_from(idx).unwrap();
        on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO ledger_entries (idx, leaf_hash, payload, event_class, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(idx)
            .bind(&row.leaf_hash)
            .bind(&row.payload)
            .bind(event_class)
            .bind(0_i64)
            .execute(pool)
            .await
            .unwrap();
        });
    }

    /// The stored size of the log (its head).
    pub async fn head_size(&self) -> u64 {
        let size: i64 = on_db!(self, pool => {
            sqlx::query_scalar("SELECT size FROM ledger_head WHERE id = 1")
                .fetch_one(pool)
                .await
                .unwrap()
        });
        u64::try_from(size).unwrap()
    }

    /// Moves `created_at_ms` of the entries `indices` back by `ms`: only metadata, so the
    /// tree is unchanged.
    pub async fn age(&self, indices: &[u64], ms: i64) {
        for &idx in indices {
            let idx = i64::try_from(idx).unwrap();
            let done = on_db!(self, pool => {
                sqlx::query("UPDATE ledger_entries SET created_at_ms = created_at_ms - $1 WHERE idx = $2")
                    .bind(ms)
                    .bind(idx)
                    .execute(pool)
                    .await
                    .unwrap()
                    .rows_affected()
            });
            assert_eq!(done, 1);
        }
    }

    pub async fn close(self) {
        on_db!(self, pool => pool.close().await);
    }
}

/// A deterministic, different, still-valid-UTF-8 payload: one ASCII letter or digit of the
/// original changed to another.
pub fn flip_one_byte(payload: &[u8]) -> (usize, Vec<u8>) {
    let at = payload
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .expect("a payload with a letter or digit");
    let mut changed = payload.to_vec();
    changed[at] = if changed[at] == b'a' { b'b' } else { b'a' };
    (at, changed)
}

/// The path of the independent verifier script.
pub fn verifier_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/verifier/verify_tiles.py")
}
