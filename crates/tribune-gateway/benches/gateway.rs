//! What the gateway adds to a `tools/call`: the reference "everything" MCP server (npm, in
//! `tests/peers`) called directly by an rmcp client, against the same server behind the gateway
//! core with the `HttpGovernor` asking a real Tribune server (in process, SQLite in a temporary
//! directory, every decision and outcome durable before it is answered).
//!
//! Before criterion runs, single calls are timed with `Instant` for p50/p90/p99, and a fixed
//! number of concurrent callers measure throughput. `cargo bench -p tribune-gateway --bench
//! gateway`; set `TRIBUNE_BENCH_NO_CRITERION=1` for the percentiles and throughput only.
//! Figures go to BENCHMARKS.md.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::json;
use tribune_gateway::HttpGovernor;
use tribune_server::{Config, Database};
use tribune_store::TokenKind;

/// Calls timed one at a time, per path.
const CALLS: usize = 2_000;
/// Concurrent callers in the throughput run.
const CALLERS: usize = 16;
/// How long each throughput run lasts.
const THROUGHPUT_RUN: Duration = Duration::from_secs(10);

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

/// A Tribune server in process and an agent token for it.
async fn tribune(dir: &std::path::Path) -> (String, String) {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(bundle.join("policies")).unwrap();
    std::fs::write(bundle.join("tribune.toml"), MANIFEST).unwrap();
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
    tokio::spawn(tribune_server::serve(listener, state, std::future::pending()));
    (url, token)
}

async fn direct() -> Client {
    client_info().serve(everything()).await.unwrap()
}

async fn through_gateway(url: &str, token: &str) -> Client {
    let governor = HttpGovernor::new(url, token, Duration::ZERO, Duration::from_secs(10)).unwrap();
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

async fn echo(client: &Client) {
    let result = client
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(json!({ "message": "bench" }).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_ne!(result.is_error, Some(true), "{result:?}");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn latencies(client: &Client) -> Vec<Duration> {
    for _ in 0..100 {
        echo(client).await;
    }
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let started = Instant::now();
        echo(client).await;
        times.push(started.elapsed());
    }
    times.sort_unstable();
    times
}

async fn throughput(client: &Arc<Client>) -> f64 {
    let deadline = Instant::now() + THROUGHPUT_RUN;
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
    total as f64 / THROUGHPUT_RUN.as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (url, token) = runtime.block_on(tribune(dir.path()));
    let direct = Arc::new(runtime.block_on(direct()));
    let gateway = Arc::new(runtime.block_on(through_gateway(&url, &token)));

    let d = runtime.block_on(latencies(&direct));
    let g = runtime.block_on(latencies(&gateway));
    println!("tools/call echo, {CALLS} sequential calls each:");
    println!("  path     p50        p90        p99");
    for (name, t) in [("direct", &d), ("gateway", &g)] {
        println!(
            "  {name:<8} {:>9.3?} {:>9.3?} {:>9.3?}",
            percentile(t, 0.5),
            percentile(t, 0.9),
            percentile(t, 0.99)
        );
    }
    println!(
        "  added at p50: {:.3?}",
        percentile(&g, 0.5).saturating_sub(percentile(&d, 0.5))
    );
    let dt = runtime.block_on(throughput(&direct));
    let gt = runtime.block_on(throughput(&gateway));
    println!(
        "throughput, {CALLERS} concurrent callers for {THROUGHPUT_RUN:?}: direct {dt:.0} calls/s, gateway {gt:.0} calls/s ({:.2}x)",
        gt / dt
    );

    if std::env::var_os("TRIBUNE_BENCH_NO_CRITERION").is_some() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("tools_call_echo");
    group.bench_function("direct", |b| b.to_async(&runtime).iter(|| echo(&direct)));
    group.bench_function("gateway", |b| b.to_async(&runtime).iter(|| echo(&gateway)));
    group.finish();
    c.final_summary();
}
