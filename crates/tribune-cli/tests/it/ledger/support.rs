//! What the ledger tests share: deployments that outlive their server processes, real
//! `tribune serve` processes, an HTTP client, the CLI's verifier, and direct database access
//! for tampering the way an attacker with write access to the database would.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Row as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tribune_store::testing::PgSchema;

use crate::{copy_dir, repo, stderr, stdout};

/// The bootstrap admin token every test deployment starts with.
pub const ADMIN: &str = "trb_ledger-test-admin-token-0123456789abcdefghijklmn";

/// Which store a deployment runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A bundle, a data directory and a database that outlive any one server process, so a
/// server can be killed and restarted on the same state, or several can share it.
pub struct Deployment {
    pub backend: Backend,
    pub bundle: PathBuf,
    pub data_dir: PathBuf,
    pub dir: tempfile::TempDir,
    // Dropped after every server of this deployment (tests hold servers in locals declared
    // after the deployment), which drops the PostgreSQL schema.
    schema: Option<PgSchema>,
}

impl Deployment {
    /// A fresh deployment of the quick-start bundle, edited by `edit` (given the text of
    /// `tribune.toml`, returns the new text).
    pub async fn new(backend: Backend, edit: impl FnOnce(String) -> String) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        copy_dir(&repo().join("examples/quickstart"), &bundle);
        let manifest = bundle.join("tribune.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, edit(text)).unwrap();
        let schema = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                // Fails (never skips) when TRIBUNE_TEST_POSTGRES_URL is unset.
                let (store, schema) = tribune_store::testing::postgres_store().await.unwrap();
                store.close().await;
                Some(schema)
            }
        };
        Deployment {
            backend,
            bundle,
            data_dir: dir.path().join("data"),
            dir,
            schema,
        }
    }

    /// The quick-start bundle unchanged.
    pub async fn quickstart(backend: Backend) -> Deployment {
        Deployment::new(backend, |t| t).await
    }

    /// The PostgreSQL url (with the test's schema), if on PostgreSQL.
    pub fn database_url(&self) -> Option<String> {
        self.schema.as_ref().map(PgSchema::url)
    }

    /// Starts `tribune serve` on a free port.
    pub fn serve(&self) -> Server {
        self.serve_with(&[])
    }

    /// Starts `tribune serve` on a free port with extra arguments.
    pub fn serve_with(&self, extra: &[&str]) -> Server {
        static STARTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = self.dir.path().join(format!("serve-{n}.log"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tribune"));
        cmd.arg("serve")
            .arg("--bundle")
            .arg(&self.bundle)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .current_dir(repo())
            .env("TRIBUNE_BOOTSTRAP_TOKEN", ADMIN)
            .env("TRIBUNE_LOG", "warn")
            .env_remove("TRIBUNE_DATABASE_URL")
            .env_remove("TRIBUNE_LEDGER_KEY")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        if let Some(url) = self.database_url() {
            cmd.args(["--database-url", &url]);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "serve exited before listening:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            };
            if let Some(rest) = line.split("serving on ").nth(1) {
                break rest.trim().to_owned();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, url, log }
    }

    /// The ledger's verifier key, as `tribune audit key --data-dir` prints it.
    pub fn verifier_key(&self) -> String {
        let out = cli(&["audit", "key", "--data-dir", self.data_dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    }

    /// Direct access to the deployment's database.
    pub async fn db(&self) -> Db {
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

/// A running `tribune serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    log: PathBuf,
}

impl Server {
    /// `kill -9`: no shutdown, no flushing, no goodbye.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tribune ARGS` with no ambient configuration.
pub fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tribune"))
        .args(args)
        .current_dir(repo())
        .env_remove("TRIBUNE_BUNDLE")
        .env_remove("TRIBUNE_SERVER")
        .env_remove("TRIBUNE_TOKEN")
        .env_remove("TRIBUNE_DATA_DIR")
        .env_remove("TRIBUNE_LEDGER_KEY")
        .output()
        .unwrap()
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

/// A thin JSON client for one server.
#[derive(Clone)]
pub struct Api {
    pub url: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(server: &Server) -> Api {
        Api::at(&server.url)
    }

    pub fn at(url: &str) -> Api {
        Api {
            url: url.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// GET; returns the status and the JSON body (Null if none).
    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POST a JSON body; returns the status and the JSON body (Null if none).
    pub async fn post(&self, token: &str, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// A new token of `kind` for `subject`, issued by the admin.
    pub async fn token(&self, kind: &str, subject: &str) -> String {
        let (status, body) = self
            .post(ADMIN, "/v1/tokens", &json!({ "kind": kind, "subject": subject }))
            .await;
        assert_eq!(status, 201, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Asks for a decision; returns the status and the answer.
    pub async fn decide(&self, token: &str, tool: &str, arguments: Value) -> (u16, Value) {
        self.post(
            token,
            "/v1/decisions",
            &json!({ "tool": tool, "arguments": arguments }),
        )
        .await
    }

    /// Asks for a decision; fails only if the server cannot be reached.
    pub async fn try_decide(
        &self,
        token: &str,
        tool: &str,
        arguments: Value,
    ) -> Result<(u16, Value), reqwest::Error> {
        let r = self
            .http
            .post(format!("{}/v1/decisions", self.url))
            .bearer_auth(token)
            .json(&json!({ "tool": tool, "arguments": arguments }))
            .send()
            .await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await?))
    }

    /// Forces a checkpoint over everything appended so far; returns its size.
    pub async fn checkpoint(&self) -> u64 {
        let (status, body) = self.get(ADMIN, "/v1/audit/checkpoint").await;
        assert_eq!(status, 200, "{body}");
        body["size"].as_u64().unwrap()
    }

    /// The sizes of every stored checkpoint, in order.
    pub async fn checkpoint_sizes(&self) -> Vec<u64> {
        let mut sizes = Vec::new();
        let mut from = 0;
        loop {
            let (status, body) = self
                .get(ADMIN, &format!("/v1/audit/checkpoints?from={from}&limit=10000"))
                .await;
            assert_eq!(status, 200, "{body}");
            let page: Vec<u64> = body["checkpoints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["size"].as_u64().unwrap())
                .collect();
            let Some(&last) = page.last() else {
                return sizes;
            };
            sizes.extend(page);
            from = last + 1;
        }
    }

    /// Every stored entry, in order (reading is itself logged, as an `audit_read` entry).
    pub async fn entries(&self) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        loop {
            let from = all.last().map_or(0, |e| e["index"].as_u64().unwrap() + 1);
            let (status, body) = self
                .get(ADMIN, &format!("/v1/audit/entries?from={from}&limit=10000"))
                .await;
            assert_eq!(status, 200, "{body}");
            let page = body["entries"].as_array().unwrap().clone();
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }
}

/// Polls `f` every 50 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
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
