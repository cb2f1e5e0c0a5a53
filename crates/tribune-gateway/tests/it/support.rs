//! What the end-to-end tests share: a real Tribune server in process (SQLite in a temporary
//! directory) on a given bundle, its tokens, the everything server over Streamable HTTP, and
//! reading MCP results.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{RoleClient, RunningService, Service};
use rmcp::transport::TokioChildProcess;
use serde_json::Value;
use tribune_gateway::HttpGovernor;
use tribune_server::{AppState, Config, Database};
use tribune_store::TokenKind;

/// A Tribune server in process on the bundle `manifest` with `policies` (file name, text): its
/// url and its state.
pub async fn tribune(dir: &Path, manifest: &str, policies: &[(&str, &str)]) -> (String, Arc<AppState>) {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(bundle.join("policies")).unwrap();
    std::fs::write(bundle.join("tribune.toml"), manifest).unwrap();
    for (name, text) in policies {
        std::fs::write(bundle.join("policies").join(name), text).unwrap();
    }
    let config = Config {
        bundle_dir: bundle,
        database: Database::SqliteFile(dir.join("tribune.db")),
        bootstrap_token: None,
        ledger_key: dir.join("ledger.key"),
    };
    let state = tribune_server::open(&config).await.unwrap().state;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(tribune_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    (url, state)
}

/// A token of `kind` for `subject`.
pub async fn token(state: &AppState, kind: TokenKind, subject: &str) -> String {
    tribune_server::issue_token(
        &state.snapshot(),
        &state.store,
        kind,
        Some(subject.to_owned()),
        "test",
        "test",
    )
    .await
    .unwrap()
}

/// A port nothing listens on (it was free a moment ago).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The everything server over Streamable HTTP with exactly `env` (and `PATH`): the process
/// (killed when dropped) and its MCP url, once it accepts connections.
pub async fn everything_http(env: &[(&str, &str)]) -> (tokio::process::Child, String) {
    let port = free_port();
    let mut command = tokio::process::Command::new("node");
    command
        .arg(crate::everything())
        .arg("streamableHttp")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let child = command.spawn().unwrap();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return (child, format!("http://127.0.0.1:{port}/mcp"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the everything server did not listen on port {port} within 10 s");
}

/// Calls `tool` with `arguments` (an object).
pub async fn call<S: Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    tool: &str,
    arguments: Value,
) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .unwrap()
}

/// The text blocks of a result, joined by newlines.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `_meta[key]` of a result (`dev.tribune/decision` or `dev.tribune/outcome`), or null.
pub fn meta(result: &CallToolResult, key: &str) -> Value {
    result
        .meta
        .as_ref()
        .and_then(|m| m.get(key).cloned())
        .unwrap_or(Value::Null)
}

/// An rmcp client of the gateway core in front of the everything server over stdio (with
/// exactly `env` and `PATH`), governed by the Tribune server at `url` as `token`'s agent; each
/// call makes a new gateway session.
pub async fn gateway(
    url: &str,
    token: &str,
    env: &[(&str, &str)],
) -> RunningService<RoleClient, ClientConfig> {
    let mut command = tokio::process::Command::new("node");
    command
        .arg(crate::everything())
        .arg("stdio")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .kill_on_drop(true);
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child = tribune_gateway::connect_child(transport).await.unwrap();
    let governor = HttpGovernor::new(url, token, Duration::ZERO, Duration::from_secs(10)).unwrap();
    let (agent_end, gateway_end) = tokio::io::duplex(1 << 16);
    tokio::spawn(tribune_gateway::serve(
        governor,
        child,
        gateway_end,
        uuid::Uuid::now_v7().to_string(),
        std::future::pending(),
    ));
    ClientConfig::new(ClientCapabilities::default(), Implementation::new("test", "0"))
        .serve(agent_end)
        .await
        .unwrap()
}
