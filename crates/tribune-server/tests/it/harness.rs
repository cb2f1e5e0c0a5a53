//! A real server per test: a copy of `examples/quickstart` in a temporary directory, a fresh
//! database (SQLite file or PostgreSQL schema), `tribune_server::open` + `serve` on port 0.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tribune_server::{Config, Database};
use tribune_store::Store;
use tribune_store::testing::{PgSchema, postgres_store};

pub use tribune_store::testing::Backend;

/// The bootstrap admin token every test server starts with.
pub const ADMIN: &str = "trb_integration-tests-admin-token-0123456789abcdef";

/// The quick-start bundle's agent.
pub const AGENT: &str = "support-bot";

/// A request body.
pub enum Body {
    /// No body.
    None,
    /// JSON, sent as `application/json`.
    Json(Value),
    /// Raw bytes with the given `Content-Type` (or none).
    Raw {
        content_type: Option<&'static str>,
        bytes: Vec<u8>,
    },
}

/// A request to a test server.
pub struct Req<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// The whole `Authorization` header value, if any.
    pub authorization: Option<String>,
    pub body: Body,
}

impl<'a> Req<'a> {
    pub fn new(method: &'a str, path: &'a str) -> Req<'a> {
        Req {
            method,
            path,
            authorization: None,
            body: Body::None,
        }
    }

    pub fn bearer(mut self, token: &str) -> Req<'a> {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }

    pub fn authorization(mut self, header: &str) -> Req<'a> {
        self.authorization = Some(header.to_owned());
        self
    }

    pub fn json(mut self, body: Value) -> Req<'a> {
        self.body = Body::Json(body);
        self
    }

    pub fn raw(mut self, content_type: Option<&'static str>, bytes: impl Into<Vec<u8>>) -> Req<'a> {
        self.body = Body::Raw {
            content_type,
            bytes: bytes.into(),
        };
        self
    }
}

/// A response: status, `Content-Type`, and the body as JSON (a JSON string if it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl Reply {
    /// The stable error code, if this is an error.
    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    /// Panics unless the status is `status`.
    #[track_caller]
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status, status, "unexpected status; body: {:#}", self.body);
        self
    }

    /// Panics unless the status is `status` and the error code `code`.
    #[track_caller]
    pub fn expect_error(self, status: u16, code: &str) -> Reply {
        assert_eq!(
            (self.status, self.code()),
            (status, Some(code)),
            "unexpected answer; body: {:#}",
            self.body
        );
        self
    }
}

/// A running server. Stop it with [`TestServer::stop`]; dropping it also stops it, without
/// waiting.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    /// The bundle directory the server loads (and reloads) from.
    pub bundle_dir: PathBuf,
    /// A token for the agent `support-bot`, issued through `POST /v1/tokens`.
    pub agent: String,
    database: Database,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
    // Dropped after the fields above; the guard drops the PostgreSQL schema.
    _schema: Option<PgSchema>,
    _dir: TempDir,
}

/// `examples/quickstart` in this repository.
pub fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

impl TestServer {
    /// A server on the quick-start bundle.
    pub async fn start(backend: Backend) -> TestServer {
        TestServer::start_with(backend, |_| {}).await
    }

    /// A server on the quick-start bundle as `edit` leaves it.
    pub async fn start_with(backend: Backend, edit: impl FnOnce(&Path)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let bundle_dir = dir.path().join("bundle");
        copy_dir(&quickstart(), &bundle_dir);
        edit(&bundle_dir);
        let (database, guard) = match backend {
            Backend::Sqlite => (Database::SqliteFile(dir.path().join("tribune.db")), None),
            Backend::Postgres => {
                // Fails (never skips) when TRIBUNE_TEST_POSTGRES_URL is unset.
                let (store, schema) = postgres_store().await.unwrap();
                store.close().await;
                (Database::Url(schema.url()), Some(schema))
            }
        };
        let opened = tribune_server::open(&Config {
            bundle_dir: bundle_dir.clone(),
            database: database.clone(),
            bootstrap_token: Some(ADMIN.to_owned()),
            ledger_key: dir.path().join("ledger.key"),
        })
        .await
        .unwrap();
        assert!(
            opened.new_admin_token.is_none(),
            "a supplied bootstrap token must not mint another"
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tribune_server::serve(listener, opened.state, async {
            let _ = stopped.await;
        }));
        let mut server = TestServer {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            bundle_dir,
            agent: String::new(),
            database,
            stop: Some(stop),
            task: Some(task),
            _schema: guard,
            _dir: dir,
        };
        server.agent = server.token("agent", Some(AGENT)).await;
        server
    }

    /// Another replica of this server: the same database, bundle and ledger key, its own
    /// listener. Stop it before this server.
    pub async fn replica(&self) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let opened = tribune_server::open(&Config {
            bundle_dir: self.bundle_dir.clone(),
            database: self.database.clone(),
            bootstrap_token: Some(ADMIN.to_owned()),
            ledger_key: self._dir.path().join("ledger.key"),
        })
        .await
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(tribune_server::serve(listener, opened.state, async {
            let _ = stopped.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            bundle_dir: self.bundle_dir.clone(),
            agent: self.agent.clone(),
            database: self.database.clone(),
            stop: Some(stop),
            task: Some(task),
            _schema: None,
            _dir: dir,
        }
    }

    /// A signer with the server's own credential key (derived from its ledger key), to make
    /// credentials the server did not issue: expired, for another audience.
    pub fn credential_issuer(&self) -> tribune_identity::Issuer {
        let text = std::fs::read_to_string(self._dir.path().join("ledger.key")).unwrap();
        let key = tribune_ledger::SigningKey::from_private_key(text.trim()).unwrap();
        tribune_identity::Issuer::from_seed(key.derive_seed("credentials"), "tribune")
    }

    /// Stops the server and waits until it has drained.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("the server did not shut down within 30 s")
                .unwrap()
                .unwrap();
        }
    }

    /// Sends `req` and checks the response against the OpenAPI document.
    pub async fn send(&self, req: Req<'_>) -> Reply {
        let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
        let mut builder = self.client.request(method, format!("{}{}", self.base, req.path));
        if let Some(auth) = &req.authorization {
            builder = builder.header("authorization", auth);
        }
        let sent_json = match req.body {
            Body::None => None,
            Body::Json(v) => {
                builder = builder.json(&v);
                Some(v)
            }
            Body::Raw { content_type, bytes } => {
                // Raw JSON is checked against the document like any other accepted body.
                let parsed = content_type
                    .filter(|ct| ct.starts_with("application/json"))
                    .and_then(|_| serde_json::from_slice(&bytes).ok());
                if let Some(ct) = content_type {
                    builder = builder.header("content-type", ct);
                }
                builder = builder.body(bytes);
                parsed
            }
        };
        let response = builder.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let text = response.text().await.unwrap();
        let body = if content_type.starts_with("application/json") {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} {}: the body is not JSON ({e}): {text}", req.method, req.path))
        } else {
            Value::String(text)
        };
        assert_ne!(status, 500, "{} {} answered 500: {body:#}", req.method, req.path);
        crate::openapi::check_exchange(req.method, req.path, sent_json.as_ref(), status, &body);
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// `GET path` with `token`.
    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.send(Req::new("GET", path).bearer(token)).await
    }

    /// `POST path` with `token` and a JSON body.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.send(Req::new("POST", path).bearer(token).json(body)).await
    }

    /// `POST /v1/decisions` with `token`.
    pub async fn decide(&self, token: &str, body: Value) -> Reply {
        self.post("/v1/decisions", token, body).await
    }

    /// Issues a token through the API, as the bootstrap admin.
    pub async fn token(&self, kind: &str, subject: Option<&str>) -> String {
        let reply = self
            .post(
                "/v1/tokens",
                ADMIN,
                json!({ "kind": kind, "subject": subject, "label": "integration test" }),
            )
            .await
            .expect(201);
        reply.body["token"].as_str().unwrap().to_owned()
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let reply = self.send(Req::new("GET", "/metrics")).await.expect(200);
        reply.body.as_str().unwrap().to_owned()
    }

    /// A second store on the server's database, behind the server's back.
    pub async fn side_store(&self) -> Store {
        self.database.open().await.unwrap()
    }

    /// Runs `sql` on a connection of its own to the server's database, behind its back.
    pub async fn execute_raw(&self, sql: &'static str) {
        use sqlx::{Connection, Executor};
        match &self.database {
            Database::SqliteFile(path) => {
                let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .unwrap();
                conn.execute(sql).await.unwrap();
                conn.close().await.unwrap();
            }
            Database::Url(url) => {
                let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
                conn.execute(sql).await.unwrap();
                conn.close().await.unwrap();
            }
        }
    }

    /// Rewrites a bundle file.
    pub fn edit_bundle(&self, file: &str, edit: impl FnOnce(String) -> String) {
        let path = self.bundle_dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        std::fs::write(&path, edit(text)).unwrap();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The value of the sample `name{labels}` in OpenMetrics `text` (0 if absent).
pub fn metric(text: &str, sample: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == sample).then(|| value.parse().unwrap())
        })
        .unwrap_or(0.0)
}

/// `body` with its volatile values (ids, times, hashes, secrets) replaced by placeholders,
/// after checking each has the expected shape, so that bodies snapshot the same on every run
/// and on both backends.
pub fn redact(body: &Value) -> Value {
    match body {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("id" | "decision_id", Value::String(_)) => placeholder(v, "[uuid]", is_uuid),
                        ("decided_at_ms" | "recorded_at_ms" | "activated_at_ms", Value::Number(_)) => {
                            placeholder(v, "[ms]", |_| true)
                        }
                        ("bundle" | "hash", Value::String(_)) => placeholder(v, "[bundle hash]", is_sha256),
                        // Where an entry lands in the ledger depends on everything logged before.
                        ("ledger_index", Value::Number(n)) => {
                            assert!(n.is_u64(), "ledger index `{n}`");
                            Value::from("[ledger index]")
                        }
                        ("token", Value::String(s)) if s.starts_with("trb_") => Value::from("[token]"),
                        // The version defaults to the first 12 hex digits of the bundle hash.
                        ("version", Value::String(s)) if s.len() == 12 && is_hex(s) => {
                            Value::from("[hash prefix]")
                        }
                        _ => redact(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        // Messages name ids, e.g. "the outcome of decision `…` is already recorded".
        Value::String(s) => Value::String(redact_uuids(s)),
        other => other.clone(),
    }
}

/// `s` with every hyphenated UUID in it replaced by `[uuid]`.
fn redact_uuids(s: &str) -> String {
    const LEN: usize = 36;
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(candidate) = rest.get(..LEN)
            && is_uuid(candidate)
        {
            out.push_str("[uuid]");
            rest = &rest[LEN..];
            continue;
        }
        let mut chars = rest.chars();
        out.extend(chars.next());
        rest = chars.as_str();
    }
    out
}

fn placeholder(v: &Value, name: &str, ok: fn(&str) -> bool) -> Value {
    if let Value::String(s) = v {
        assert!(ok(s), "`{s}` does not look like a {name}");
    }
    Value::from(name)
}

fn is_uuid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && is_hex(s)
}

fn is_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A human who enrolled in MFA through the API, for steps that need a fresh TOTP code.
pub struct Enrolled {
    pub token: String,
    secret: tribune_approvals::totp::TotpSecret,
    /// The step of the last code handed out: the server accepts each step once, in order.
    last_step: Option<u64>,
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl Enrolled {
    /// The step a fresh code would be of: the current one, else the next (the server accepts
    /// one step of skew); `None` when both are used up.
    fn ready_step(&self) -> Option<u64> {
        let now = unix_secs() / 30;
        let wanted = self.last_step.map_or(now, |last| (last + 1).max(now));
        (wanted <= now + 1).then_some(wanted)
    }

    /// A code no earlier code used, waiting for the clock when both usable steps are spent.
    pub async fn fresh_code(&mut self) -> String {
        let step = loop {
            if let Some(step) = self.ready_step() {
                break step;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        self.last_step = Some(step);
        tribune_approvals::totp::code_at(
            &self.secret,
            tribune_approvals::totp::TotpParams::default(),
            step * 30,
        )
        .unwrap()
    }
}

/// Several enrolled humans, so a test that needs many fresh codes rarely waits for the clock.
pub struct StepUp(Vec<Enrolled>);

impl StepUp {
    /// (token, fresh code) of whichever human has a code ready, else of the first once it has.
    pub async fn next(&mut self) -> (String, String) {
        let i = self.0.iter().position(|h| h.ready_step().is_some()).unwrap_or(0);
        let h = &mut self.0[i];
        let code = h.fresh_code().await;
        (h.token.clone(), code)
    }
}

impl TestServer {
    /// Issues `human` a personal token and enrols them in MFA through the API.
    pub async fn enrol(&self, human: &str) -> Enrolled {
        let token = self.token("human", Some(human)).await;
        let enrolled = self
            .post("/v1/mfa/enroll", &token, json!({}))
            .await
            .expect(201)
            .body;
        Enrolled {
            token,
            secret: tribune_approvals::totp::TotpSecret::from_base32(enrolled["secret"].as_str().unwrap())
                .unwrap(),
            last_step: None,
        }
    }

    /// Enrols each of `humans` (who must hold the role the step needs).
    pub async fn step_up(&self, humans: &[&str]) -> StepUp {
        let mut all = Vec::new();
        for h in humans {
            all.push(self.enrol(h).await);
        }
        StepUp(all)
    }

    /// Reloads the bundle through the API as an admin with a fresh code from `admins`.
    pub async fn reload(&self, admins: &mut StepUp) -> Reply {
        let (token, code) = admins.next().await;
        self.post("/v1/bundle/reload", &token, json!({ "mfa_code": code }))
            .await
    }
}

/// An edit for [`TestServer::start_with`]: appends `extra` (TOML) to the bundle's manifest.
pub fn manifest_tail(extra: impl Into<String>) -> impl FnOnce(&Path) {
    let extra = extra.into();
    move |bundle: &Path| {
        let path = bundle.join("tribune.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(path, format!("{text}\n{extra}")).unwrap();
    }
}

/// Gives every human of the quick-start bundle the `admin` role, so tests have several admins.
pub fn all_admins(bundle: &Path) {
    let path = bundle.join("tribune.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replace("roles = [\"reviewer\"]", "roles = [\"admin\", \"reviewer\"]")
        .replace("roles = [\"auditor\"]", "roles = [\"admin\", \"auditor\"]");
    std::fs::write(path, text).unwrap();
}

/// One unpruned ledger entry, as the audit API lists it.
pub struct LedgerEvent {
    /// Its event class (`identity`, `stop`, ...).
    pub class: String,
    /// Its event name (`unmapped.tribune.event`; empty for an entry that has none).
    pub event: String,
    /// Its OCSF payload.
    pub payload: Value,
}

impl LedgerEvent {
    /// The event's `details`.
    pub fn details(&self) -> &Value {
        &self.payload["unmapped"]["tribune"]["details"]
    }
}

impl TestServer {
    /// The ledger's unpruned entries, oldest first (the first 10,000).
    pub async fn ledger_events(&self) -> Vec<LedgerEvent> {
        let page = self
            .get("/v1/audit/entries?limit=10000", ADMIN)
            .await
            .expect(200)
            .body;
        page["entries"]
            .as_array()
            .expect("the entries")
            .iter()
            .filter_map(|e| {
                let payload: Value = serde_json::from_str(e["payload"].as_str()?).expect("a payload is JSON");
                Some(LedgerEvent {
                    class: e["event_class"].as_str().unwrap_or_default().to_owned(),
                    event: payload["unmapped"]["tribune"]["event"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    payload,
                })
            })
            .collect()
    }
}
