//! What the gateway adds to a `tools/call`: the reference "everything" MCP server (npm, in
//! `tests/peers`) called directly by an rmcp client, against the same server behind the gateway,
//! with a real Tribune server in process (SQLite in a temporary directory, every decision and
//! outcome durable before it is answered), on both transports:
//!
//! - stdio: the server as a child process; through the gateway core with the `HttpGovernor`
//!   asking Tribune over HTTP (what `tribune mcp wrap` runs);
//! - Streamable HTTP: the server listening on loopback; through Tribune's `/mcp/everything`,
//!   which decides in process (what `tribune serve` runs).
//!
//! Each transport also runs a control: the gateway core with a governor that allows everything
//! and records nothing (for Streamable HTTP behind rmcp's server on a port of its own), so what
//! governance adds is told apart from what the MCP hop costs.
//!
//! Before criterion runs, single calls are timed with `Instant` for p50/p90/p99, and a fixed
//! number of concurrent callers on one MCP session measure throughput; a transport's three paths
//! take turns in rounds, so a drift in the machine's speed falls on all three, and throughput
//! ratios are the median of the rounds' ratios. Each run reports the CPU time per call of the
//! machine and of this process (Linux's `/proc`). Then the stdio
//! gateway's added time is taken apart: each step the governor takes for a call (`decide`,
//! `outcome`), a bare authenticated round trip to Tribune that writes nothing, one durable
//! ledger append without HTTP, the gateway hop with a control governor that allows everything
//! and records nothing, and the floor (a bare HTTP round trip, the cheapest durable SQLite
//! commit on the same disk), each timed alone. `cargo bench -p tribune-gateway --bench
//! gateway`; set `TRIBUNE_BENCH_NO_CRITERION=1` for the percentiles, throughput and breakdown
//! only, and `TRIBUNE_BENCH_TRANSPORT=stdio` (or `streamable-http`) for one transport;
//! `TRIBUNE_BENCH_PROFILE=gateway` (or `direct`, `control`) runs only that path's throughput,
//! for 30 s per transport (stdio first; set the transport too), for a profiler to watch, with
//! `TRIBUNE_BENCH_SEQUENTIAL=1` one call at a time instead of concurrent callers.
//! Figures go to BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::json;
use tribune_gateway::{
    Call, CallReport, CallStatus, DecisionId, Governor, HttpGovernor, Release, ToolGrant, Verdict,
};
use tribune_server::{AppState, Config, Database};
use tribune_store::{SideRecord, TokenKind};

/// The allocator the `tribune` binary runs with, so the server in this process is the one it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Calls timed one at a time, per path.
const CALLS: usize = 2_000;
/// Concurrent callers in the throughput run.
const CALLERS: usize = 16;
/// Rounds in which a transport's paths take turns, so that drift in the machine's speed (and
/// the everything server's) over a run falls on every path alike.
const ROUNDS: usize = 10;
/// How long each path's throughput turn lasts in a round.
const THROUGHPUT_ROUND: Duration = Duration::from_secs(1);

const MANIFEST: &str = r#"
[deployment]
name = "example.com/gateway-bench"

[autonomy]
default_reviewer_pool = "leads"

[humans.alice]
name = "Alice"
roles = ["reviewer"]

[reviewer_pools.leads]
members = ["alice"]

[classes.assistant]
ceiling = "read"

[agents.bench]
class = "assistant"
owner = "alice"

[providers.everything]
kind = "mcp_server"
destination = "internal"
transport = "streamable_http"
url = "{url}"
[providers.everything.vetting]
status = "approved"
reviewer = "human:alice"
reviewed = "2026-11-20"
expires = "2027-11-30"

[tools.echo]
provider = "everything"
tier = "read"
[tools.echo.input_schema]
type = "object"
required = ["message"]
properties.message = { type = "string" }
"#;

const POLICY: &str = r#"
@id("bench-may-echo")
permit (principal in AgentClass::"assistant", action == Action::"echo", resource);
"#;

type Client = RunningService<RoleClient, ClientConfig>;

fn everything() -> TokioChildProcess {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(path.exists(), "run `npm ci --prefix tests/peers` first");
    let mut command = tokio::process::Command::new("node");
    command.arg(path).arg("stdio").kill_on_drop(true);
    TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
        .0
}

fn client_info() -> ClientConfig {
    ClientConfig::new(ClientCapabilities::default(), Implementation::new("bench", "0"))
}

/// The everything server over Streamable HTTP on a free loopback port, and its url, once it
/// listens.
async fn everything_http() -> (tokio::process::Child, String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new("node")
        .arg(path)
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return (child, format!("http://127.0.0.1:{port}/mcp"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the everything server did not listen on {port}");
}

/// A Tribune server in process (fronting the everything server at `upstream`), its url, and an
/// agent token for it.
async fn tribune(dir: &std::path::Path, upstream: &str) -> (Arc<AppState>, String, String) {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(bundle.join("policies")).unwrap();
    std::fs::write(bundle.join("tribune.toml"), MANIFEST.replace("{url}", upstream)).unwrap();
    std::fs::write(bundle.join("policies/bench.cedar"), POLICY).unwrap();
    let config = Config {
        bundle_dir: bundle,
        database: Database::SqliteFile(dir.join("tribune.db")),
        bootstrap_token: None,
        ledger_key: dir.join("ledger.key"),
    };
    let state = tribune_server::open(&config).await.unwrap().state;
    let token = tribune_server::issue_token(
        &state.snapshot(),
        &state.store,
        TokenKind::Agent,
        Some("bench".to_owned()),
        "bench",
        "bench",
    )
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(tribune_server::serve(
        listener,
        Arc::clone(&state),
        std::future::pending(),
    ));
    (state, url, token)
}

async fn direct() -> Client {
    client_info().serve(everything()).await.unwrap()
}

/// An rmcp client over Streamable HTTP at `url` (with `token`), on 2025-11-25 (one session).
async fn over_http(url: &str, token: Option<&str>) -> Client {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    client_info()
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(config),
            ClientLifecycleMode::Initialize,
        )
        .await
        .unwrap()
}

/// Wall time of every `decide` and `outcome` the gateway path's governor answered.
#[derive(Default)]
struct Steps {
    decide: Vec<Duration>,
    outcome: Vec<Duration>,
}

/// The `HttpGovernor`, timing its two steps per call as the gateway path runs them.
#[derive(Clone)]
struct Timed {
    inner: HttpGovernor,
    steps: Arc<std::sync::Mutex<Steps>>,
}

impl Governor for Timed {
    async fn tools(&self) -> Result<Vec<ToolGrant>, tribune_gateway::Error> {
        self.inner.tools().await
    }

    async fn decide(&self, call: Call<'_>) -> Result<Verdict, tribune_gateway::Error> {
        let started = Instant::now();
        let verdict = self.inner.decide(call).await;
        self.steps.lock().unwrap().decide.push(started.elapsed());
        verdict
    }

    async fn observe(
        &self,
        provider: &str,
        tools: &[serde_json::Value],
    ) -> Result<Vec<String>, tribune_gateway::Error> {
        self.inner.observe(provider, tools).await
    }

    async fn outcome(
        &self,
        decision: &DecisionId,
        report: CallReport<'_>,
    ) -> Result<Release, tribune_gateway::Error> {
        let started = Instant::now();
        let release = self.inner.outcome(decision, report).await;
        self.steps.lock().unwrap().outcome.push(started.elapsed());
        release
    }
}

/// The control of the decomposition, never a governor anything should run: it allows every
/// call and records nothing, so the gateway path through it costs only the MCP hop (one more
/// JSON-RPC decode and encode each way, the gateway's tasks), which is what governance is
/// added on top of.
#[derive(Clone)]
struct Ungoverned;

impl Governor for Ungoverned {
    async fn tools(&self) -> Result<Vec<ToolGrant>, tribune_gateway::Error> {
        Ok(Vec::new())
    }

    async fn decide(&self, _call: Call<'_>) -> Result<Verdict, tribune_gateway::Error> {
        Ok(Verdict::Allow {
            decision: DecisionId("ungoverned".to_owned()),
        })
    }

    async fn observe(
        &self,
        _provider: &str,
        _tools: &[serde_json::Value],
    ) -> Result<Vec<String>, tribune_gateway::Error> {
        Ok(Vec::new())
    }

    async fn outcome(
        &self,
        _decision: &DecisionId,
        _report: CallReport<'_>,
    ) -> Result<Release, tribune_gateway::Error> {
        Ok(Release::AsIs)
    }
}

/// The control of the Streamable HTTP gateway: rmcp's Streamable HTTP server running the
/// gateway core with the [`Ungoverned`] governor in front of `upstream`, served by axum on a
/// loopback port of its own. It is `/mcp/{provider}` without what Tribune adds around the core:
/// no authentication, no per-request routing to the caller's sessions, no decision, no record.
/// It serves one MCP session; its url.
async fn http_control(upstream: &str) -> String {
    let child = tribune_gateway::connect_remote(upstream, Duration::from_secs(10))
        .await
        .unwrap();
    let slot = std::sync::Mutex::new(Some(child));
    let service = StreamableHttpService::new(
        move || {
            let child = slot
                .lock()
                .unwrap()
                .take()
                .ok_or_else(|| std::io::Error::other("the control serves one session"))?;
            Ok(tribune_gateway::session(
                Ungoverned,
                child,
                uuid::Uuid::now_v7().to_string(),
            ))
        },
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let app = axum::Router::new().nest_service("/mcp", service);
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

async fn through_gateway(url: &str, token: &str, steps: Arc<std::sync::Mutex<Steps>>) -> Client {
    let inner = HttpGovernor::new(url, token, Duration::ZERO, Duration::from_secs(10)).unwrap();
    stdio_gateway(Timed { inner, steps }).await
}

/// An rmcp client talking to the gateway core in front of its own everything server child.
async fn stdio_gateway(governor: impl Governor) -> Client {
    let child = tribune_gateway::connect_child(everything()).await.unwrap();
    let (agent_end, gateway_end) = tokio::io::duplex(1 << 20);
    tokio::spawn(tribune_gateway::serve(
        governor,
        child,
        gateway_end,
        uuid::Uuid::now_v7().to_string(),
        std::future::pending(),
    ));
    client_info().serve(agent_end).await.unwrap()
}

async fn echo(client: &Client) -> rmcp::model::CallToolResult {
    let result = client
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(json!({ "message": "bench" }).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
    result
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The latencies and CPU of one path: its `CALLS` sequential call times, sorted, and the CPU
/// each call took.
type PathTimes = (Vec<Duration>, CpuPerCall);

/// `CALLS` sequential calls on each of `paths` after 100 warm-up calls each, the paths taking
/// turns in [`ROUNDS`] rounds.
async fn latencies(paths: [&Client; 3]) -> [PathTimes; 3] {
    for client in paths {
        for _ in 0..100 {
            echo(client).await;
        }
    }
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut cpu = [Tally::default(); 3];
    for _ in 0..ROUNDS {
        for (i, client) in paths.into_iter().enumerate() {
            let clock = CpuClock::now();
            for _ in 0..CALLS / ROUNDS {
                let started = Instant::now();
                echo(client).await;
                times[i].push(started.elapsed());
            }
            cpu[i].add(&clock, (CALLS / ROUNDS) as u64);
        }
    }
    std::array::from_fn(|i| {
        let mut t = std::mem::take(&mut times[i]);
        t.sort_unstable();
        (t, cpu[i].per_call())
    })
}

/// CPU time per call over a run: the whole machine's (this process, the everything servers and
/// anything else running), and this process's (the client and, on the gateway paths, Tribune).
#[derive(Debug, Clone, Copy)]
struct CpuPerCall {
    machine: Duration,
    process: Duration,
}

impl std::fmt::Display for CpuPerCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "machine {:.3?}, this process {:.3?}",
            self.machine, self.process
        )
    }
}

/// Where the machine's and this process's CPU clocks stood, in ticks (Linux's `/proc`; zeros
/// elsewhere).
struct CpuClock {
    machine: u64,
    process: u64,
}

impl CpuClock {
    fn now() -> CpuClock {
        let machine = std::fs::read_to_string("/proc/stat").ok().map_or(0, |stat| {
            // `cpu user nice system idle iowait irq softirq steal guest guest_nice`: busy is
            // user, nice, system, irq and softirq (not the time the hypervisor stole, and not
            // guest time, which user and nice already count).
            let fields: Vec<u64> = stat
                .lines()
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .skip(1)
                .filter_map(|f| f.parse().ok())
                .collect();
            [0, 1, 2, 5, 6].iter().filter_map(|&i| fields.get(i)).sum()
        });
        let process = std::fs::read_to_string("/proc/self/stat").ok().map_or(0, |stat| {
            // After the command name in parentheses: utime and stime are the 12th and 13th
            // fields.
            let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            [11, 12]
                .iter()
                .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
                .sum()
        });
        CpuClock { machine, process }
    }
}

/// The calls of one path over a run's rounds and the CPU ticks they took.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    calls: u64,
    machine: u64,
    process: u64,
}

impl Tally {
    /// Adds `calls` made since `clock` was read.
    fn add(&mut self, clock: &CpuClock, calls: u64) {
        let now = CpuClock::now();
        self.calls += calls;
        self.machine += now.machine.saturating_sub(clock.machine);
        self.process += now.process.saturating_sub(clock.process);
    }

    fn per_call(&self) -> CpuPerCall {
        // Linux counts CPU time in ticks of 10 ms (`getconf CLK_TCK` = 100).
        let per_call =
            |ticks: u64| Duration::from_millis(ticks * 10) / u32::try_from(self.calls.max(1)).unwrap();
        CpuPerCall {
            machine: per_call(self.machine),
            process: per_call(self.process),
        }
    }
}

/// One path's throughput over a run: calls per second over all its rounds, its rate relative to
/// the direct path's in each round, and the CPU each call took.
struct Rate {
    per_second: f64,
    ratios: Vec<f64>,
    cpu: CpuPerCall,
}

impl Rate {
    /// The median of the per-round ratios, with their range.
    fn ratio(&self) -> String {
        let mut r = self.ratios.clone();
        r.sort_unstable_by(f64::total_cmp);
        let n = r.len();
        let median = if n.is_multiple_of(2) {
            (r[n / 2 - 1] + r[n / 2]) / 2.0
        } else {
            r[n / 2]
        };
        format!("{median:.2}x; rounds {:.2}-{:.2}x", r[0], r[n - 1])
    }
}

/// Throughput of `paths` with [`CALLERS`] concurrent callers each, the paths taking turns in
/// [`ROUNDS`] rounds of [`THROUGHPUT_ROUND`] (ratios are to `paths[0]`, the direct path).
async fn throughput(paths: [&Arc<Client>; 3]) -> [Rate; 3] {
    let mut calls = [0u64; 3];
    let mut seconds = [0f64; 3];
    let mut cpu = [Tally::default(); 3];
    let mut ratios: [Vec<f64>; 3] = Default::default();
    for _ in 0..ROUNDS {
        let mut rates = [0f64; 3];
        for (i, client) in paths.into_iter().enumerate() {
            let clock = CpuClock::now();
            let started = Instant::now();
            let n = concurrent_calls(client, started + THROUGHPUT_ROUND).await;
            // Until the last caller is back: calls in flight at the deadline count, and so
            // does the time they took.
            let elapsed = started.elapsed().as_secs_f64();
            cpu[i].add(&clock, n);
            calls[i] += n;
            seconds[i] += elapsed;
            rates[i] = n as f64 / elapsed;
        }
        for i in 0..3 {
            ratios[i].push(rates[i] / rates[0]);
        }
    }
    std::array::from_fn(|i| Rate {
        per_second: calls[i] as f64 / seconds[i],
        ratios: std::mem::take(&mut ratios[i]),
        cpu: cpu[i].per_call(),
    })
}

/// Calls completed by [`CALLERS`] callers on `client`, each calling until `deadline`.
async fn concurrent_calls(client: &Arc<Client>, deadline: Instant) -> u64 {
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    echo(&client).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

/// Times `step` `CALLS` times after 100 warm-up runs; sorted.
async fn timed<F: AsyncFnMut()>(mut step: F) -> Vec<Duration> {
    for _ in 0..100 {
        step().await;
    }
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        step().await;
        times.push(started.elapsed());
    }
    times.sort_unstable();
    times
}

/// Where the stdio gateway's added time goes: each step of a governed call timed alone,
/// sequentially, against the same Tribune server the gateway path asks.
async fn breakdown(
    state: &Arc<AppState>,
    (url, token): (&str, &str),
    direct: &Client,
    control: &Client,
    dir: &std::path::Path,
) {
    let governor = HttpGovernor::new(url, token, Duration::ZERO, Duration::from_secs(10)).unwrap();
    let arguments = json!({ "message": "bench" }).as_object().unwrap().clone();
    let call = Call {
        tool: "echo",
        arguments: &arguments,
        session: "bench-breakdown",
    };
    let result = echo(direct).await;
    let decide = async || match governor.decide(call).await.unwrap() {
        Verdict::Allow { decision } => decision,
        other => panic!("{other:?}"),
    };
    let report = CallReport {
        tool: "echo",
        status: CallStatus::Succeeded,
        result: Some(&result),
        error: None,
        duration: Duration::from_micros(150),
    };

    // GET /v1/tools: HTTP, authentication and a small answer; nothing is written.
    let bare = timed(async || {
        governor.tools().await.unwrap();
    })
    .await;
    // POST /v1/decisions: the decision and its durable ledger append.
    let decisions = timed(async || {
        decide().await;
    })
    .await;
    // POST /v1/decisions/{id}/outcome: screening and the outcome's durable ledger append.
    let mut ids = Vec::with_capacity(CALLS + 100);
    for _ in 0..CALLS + 100 {
        ids.push(decide().await);
    }
    let mut ids = ids.into_iter();
    let outcomes = timed(async || {
        governor.outcome(&ids.next().unwrap(), report).await.unwrap();
    })
    .await;
    // One ledger append through the group-commit writer, in process: the durable write alone.
    let appends = timed(async || {
        state
            .ledger
            .record_event(
                "bench",
                json!({ "bench": true }),
                tribune_server::now_ms(),
                SideRecord::None,
            )
            .await
            .unwrap();
    })
    .await;
    let direct_calls = timed(async || {
        echo(direct).await;
    })
    .await;
    let hop_calls = timed(async || {
        echo(control).await;
    })
    .await;
    // The floor under those steps. A bare HTTP round trip to the server: no authentication, no
    // store. And the cheapest durable SQLite commit there is, on the same disk: one insert and
    // its COMMIT sent to sqlx's worker as one command (an append sends two or three, and more
    // rows).
    let http = reqwest::Client::new();
    let healthz = format!("{url}/healthz");
    let round_trips = timed(async || {
        let answer = http.get(&healthz).send().await.unwrap();
        assert!(answer.status().is_success());
    })
    .await;
    let floor_db = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.join("floor.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full),
    )
    .await
    .unwrap();
    sqlx::query("CREATE TABLE t (payload BLOB)")
        .execute(&floor_db)
        .await
        .unwrap();
    let mut conn = floor_db.acquire().await.unwrap();
    let commits = timed(async || {
        sqlx::query("BEGIN IMMEDIATE; INSERT INTO t VALUES ($1); COMMIT")
            .bind(vec![0u8; 1024])
            .execute(&mut *conn)
            .await
            .unwrap();
    })
    .await;

    println!("stdio gateway, its steps timed alone ({CALLS} sequential each):");
    println!("  step                                  p50        p90        p99");
    for (name, t) in [
        ("tools/call echo, direct", &direct_calls),
        ("GET /v1/tools (auth, no write)", &bare),
        ("decide (POST /v1/decisions)", &decisions),
        ("outcome (POST .../outcome)", &outcomes),
        ("ledger append in process", &appends),
        ("tools/call echo, ungoverned hop", &hop_calls),
        ("floor: GET /healthz (bare HTTP)", &round_trips),
        ("floor: one durable SQLite commit", &commits),
    ] {
        println!(
            "  {name:<36} {:>9.3?} {:>9.3?} {:>9.3?}",
            percentile(t, 0.5),
            percentile(t, 0.9),
            percentile(t, 0.99)
        );
    }
}

/// Percentiles and CPU per call of the direct, gateway and control paths of one transport, and
/// what the gateway and the control add at p50.
fn report(transport: &str, paths: [(&str, &PathTimes); 3]) {
    println!("{transport}: tools/call echo, {CALLS} sequential calls each:");
    println!("  path                   p50        p90        p99   CPU per call");
    for (name, (t, cpu)) in paths {
        println!(
            "  {name:<20} {:>9.3?} {:>9.3?} {:>9.3?}   {cpu}",
            percentile(t, 0.5),
            percentile(t, 0.9),
            percentile(t, 0.99)
        );
    }
    let direct = percentile(&paths[0].1.0, 0.5);
    let added = |i: usize| percentile(&paths[i].1.0, 0.5).saturating_sub(direct);
    println!(
        "  added at p50: gateway {:.3?}, control {:.3?}",
        added(1),
        added(2)
    );
}

/// One transport's three paths to the same everything server: direct, through the gateway
/// (governed by Tribune), and through the gateway core with the [`Ungoverned`] control.
struct Paths {
    transport: &'static str,
    direct: Arc<Client>,
    gateway: Arc<Client>,
    control: Arc<Client>,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_upstream, upstream) = runtime.block_on(everything_http());
    let (state, url, token) = runtime.block_on(tribune(dir.path(), &upstream));
    let only = std::env::var("TRIBUNE_BENCH_TRANSPORT").ok();
    let steps = Arc::new(std::sync::Mutex::new(Steps::default()));
    let mut paths = Vec::new();
    if only.as_deref().is_none_or(|o| o == "stdio") {
        paths.push(Paths {
            transport: "stdio",
            direct: Arc::new(runtime.block_on(direct())),
            gateway: Arc::new(runtime.block_on(through_gateway(&url, &token, Arc::clone(&steps)))),
            control: Arc::new(runtime.block_on(stdio_gateway(Ungoverned))),
        });
    }
    if only.as_deref().is_none_or(|o| o == "streamable-http") {
        let control = runtime.block_on(http_control(&upstream));
        paths.push(Paths {
            transport: "streamable-http",
            direct: Arc::new(runtime.block_on(over_http(&upstream, None))),
            gateway: Arc::new(runtime.block_on(over_http(&format!("{url}/mcp/everything"), Some(&token)))),
            control: Arc::new(runtime.block_on(over_http(&control, None))),
        });
    }

    // For a profiler: one path's throughput alone, for 30 seconds.
    if let Ok(path) = std::env::var("TRIBUNE_BENCH_PROFILE") {
        for p in &paths {
            let client = match path.as_str() {
                "direct" => &p.direct,
                "gateway" => &p.gateway,
                "control" => &p.control,
                other => panic!("TRIBUNE_BENCH_PROFILE is direct, gateway or control, not {other}"),
            };
            let sequential = std::env::var_os("TRIBUNE_BENCH_SEQUENTIAL").is_some();
            let how = if sequential {
                "one call at a time"
            } else {
                "concurrent callers"
            };
            println!("{} {path}: profiling for 30 s, {how}", p.transport);
            let started = Instant::now();
            let deadline = started + Duration::from_secs(30);
            let calls = if sequential {
                runtime.block_on(async {
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        echo(client).await;
                        n += 1;
                    }
                    n
                })
            } else {
                runtime.block_on(concurrent_calls(client, deadline))
            };
            println!("  {:.0} calls/s", calls as f64 / started.elapsed().as_secs_f64());
        }
        return;
    }

    // Side by side: the paths of a transport take turns, round by round, in one run.
    for p in &paths {
        *steps.lock().unwrap() = Steps::default();
        let [d, g, c] = runtime.block_on(latencies([&p.direct, &p.gateway, &p.control]));
        report(
            p.transport,
            [("direct", &d), ("gateway", &g), ("control (ungoverned)", &c)],
        );
        if p.transport == "stdio" {
            let mut steps = std::mem::take(&mut *steps.lock().unwrap());
            steps.decide.sort_unstable();
            steps.outcome.sort_unstable();
            println!(
                "  inside those gateway calls (incl. warm-up): decide p50 {:.3?}, outcome p50 {:.3?}",
                percentile(&steps.decide, 0.5),
                percentile(&steps.outcome, 0.5)
            );
        }
        println!(
            "{}: throughput, {CALLERS} concurrent callers, {ROUNDS} rounds of {THROUGHPUT_ROUND:?} per path:",
            p.transport
        );
        let [d, g, c] = runtime.block_on(throughput([&p.direct, &p.gateway, &p.control]));
        println!(
            "  direct  {:>6.0} calls/s                        CPU per call: {}",
            d.per_second, d.cpu
        );
        for (name, r) in [("gateway", &g), ("control", &c)] {
            println!(
                "  {name} {:>6.0} calls/s ({})  CPU per call: {}",
                r.per_second,
                r.ratio(),
                r.cpu
            );
        }
        if p.transport == "stdio" {
            runtime.block_on(breakdown(
                &state,
                (&url, &token),
                &p.direct,
                &p.control,
                dir.path(),
            ));
        }
    }

    if std::env::var_os("TRIBUNE_BENCH_NO_CRITERION").is_some() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    for p in &paths {
        let mut group = c.benchmark_group(format!("tools_call_echo/{}", p.transport));
        group.bench_function("direct", |b| b.to_async(&runtime).iter(|| echo(&p.direct)));
        group.bench_function("gateway", |b| b.to_async(&runtime).iter(|| echo(&p.gateway)));
        group.finish();
    }
    c.final_summary();
}
