//! Deployments for end-to-end tests: a bundle, a data directory and a database (SQLite in the
//! data directory, or a fresh PostgreSQL schema) that outlive any one `tribune serve` process,
//! so a server can be started, killed and restarted on the same state; the server processes;
//! the CLI pointed at them; and a thin JSON client.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tribune_approvals::totp::{TotpParams, TotpSecret, code_at};
use tribune_store::Store;
use tribune_store::testing::PgSchema;

use crate::{copy_dir, repo, stderr, stdout};

/// The bootstrap admin token every test deployment starts with.
pub const ADMIN: &str = "trb_test-deployment-admin-token-0123456789abcdefghijk";

/// Which store a deployment runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A bundle, a data directory and a database that outlive any one server process.
pub struct Deployment {
    pub backend: Backend,
    pub bundle: PathBuf,
    pub data_dir: PathBuf,
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    // Dropped after every server of this deployment (tests hold servers in locals declared
    // after the deployment, or in structs that declare the server first), which drops the
    // PostgreSQL schema.
    schema: Option<PgSchema>,
}

impl Deployment {
    /// A fresh deployment whose bundle `write` creates in the directory it is given.
    pub async fn with_bundle(backend: Backend, write: impl FnOnce(&Path)) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        write(&bundle);
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
            env: Vec::new(),
            schema,
        }
    }

    /// A fresh deployment of a copy of the bundle at `path` (relative to the repository).
    pub async fn of(backend: Backend, path: &str) -> Deployment {
        Deployment::with_bundle(backend, |dir| copy_dir(&repo().join(path), dir)).await
    }

    /// A fresh deployment of the quick-start bundle, edited by `edit` (given the text of
    /// `tribune.toml`, returns the new text).
    pub async fn new(backend: Backend, edit: impl FnOnce(String) -> String) -> Deployment {
        Deployment::with_bundle(backend, |dir| {
            copy_dir(&repo().join("examples/quickstart"), dir);
            let manifest = dir.join("tribune.toml");
            let text = std::fs::read_to_string(&manifest).unwrap();
            std::fs::write(&manifest, edit(text)).unwrap();
        })
        .await
    }

    /// The quick-start bundle unchanged.
    pub async fn quickstart(backend: Backend) -> Deployment {
        Deployment::new(backend, |t| t).await
    }

    /// Every server of this deployment starts with `name=value` in its environment.
    pub fn env(mut self, name: &str, value: &str) -> Deployment {
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The PostgreSQL url (with the test's schema), if on PostgreSQL.
    pub fn database_url(&self) -> Option<String> {
        self.schema.as_ref().map(PgSchema::url)
    }

    /// The deployment's store, opened directly (e.g. to seed it before a server starts).
    pub async fn store(&self) -> Store {
        match self.database_url() {
            Some(url) => Store::connect(&url).await.unwrap(),
            None => {
                std::fs::create_dir_all(&self.data_dir).unwrap();
                // The file `tribune serve --data-dir` uses.
                Store::open_sqlite(&self.data_dir.join("tribune.db"))
                    .await
                    .unwrap()
            }
        }
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
            .envs(self.env.iter().map(|(k, v)| (k, v)))
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

    /// `tribune ARGS --server URL --token TOKEN` (no `--token` when `token` is empty).
    pub fn cli(&self, token: &str, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--server", &self.url]);
        if !token.is_empty() {
            all.extend(["--token", token]);
        }
        cli(&all)
    }

    /// [`Server::cli`] on a blocking thread, so an async test's own tasks (a webhook
    /// receiver, say) keep running while the command does.
    pub async fn cli_async(&self, token: &str, args: &[&str]) -> Output {
        let url = self.url.clone();
        let token = token.to_owned();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
            all.extend(["--server", &url]);
            if !token.is_empty() {
                all.extend(["--token", &token]);
            }
            cli(&all)
        })
        .await
        .unwrap()
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&self, token: &str, args: &[&str]) -> String {
        let out = self.cli(token, args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs a `--json` command that must succeed; its JSON.
    pub fn json(&self, token: &str, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(token, &args)).unwrap()
    }

    /// A new token (`kind` is `human`, `agent` or `service`) for `subject`, issued through
    /// `tribune token create` by the bootstrap admin.
    pub fn token(&self, kind: &str, subject: &str) -> String {
        self.ok(ADMIN, &["token", "create", &format!("--{kind}"), subject])
            .trim()
            .to_owned()
    }

    /// `human`'s token and a current TOTP code, after enrolling through `tribune mfa enroll`.
    pub fn enrolled_code(&self, human: &str) -> (String, String) {
        let token = self.token("human", human);
        let text = self.ok(&token, &["mfa", "enroll"]);
        let secret = text
            .lines()
            .find_map(|l| l.strip_prefix("secret:"))
            .unwrap()
            .trim();
        let secret = TotpSecret::from_base32(secret).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        (token, code_at(&secret, TotpParams::default(), now).unwrap())
    }

    /// [`Server::token`] off the async runtime.
    pub async fn token_async(&self, kind: &str, subject: &str) -> String {
        let out = self
            .cli_async(ADMIN, &["token", "create", &format!("--{kind}"), subject])
            .await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tribune ARGS` in the repository root with no ambient configuration.
pub fn cli(args: &[&str]) -> Output {
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

/// A deployment with its server running; the server stops before the deployment goes.
pub struct Running {
    pub server: Server,
    pub deployment: Deployment,
}

impl std::ops::Deref for Running {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl Deployment {
    /// Starts a server and keeps the deployment with it.
    pub fn start(self) -> Running {
        Running {
            server: self.serve(),
            deployment: self,
        }
    }
}

/// Runs `f` to completion on a runtime of its own, for tests that are not async.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
