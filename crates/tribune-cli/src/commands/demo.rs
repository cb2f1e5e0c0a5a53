//! `tribune demo`: an in-process server and an agent walking through three tiers of calls.

use serde_json::{Value, json};
use tribune_server::{Config, Database};
use tribune_store::TokenKind;

use crate::client::{self, ClientError};
use crate::exit;

/// Arguments of `tribune demo`.
#[derive(Debug, clap::Args)]
pub struct Args {}

const AGENT: &str = "support-bot";

/// The walk-through: (what the agent tries, tool, arguments).
const STEPS: &[(&str, &str, &str)] = &[
    (
        "search the docs (a read)",
        "search_docs",
        r#"{"query": "refund policy"}"#,
    ),
    (
        "solve a ticket (a write)",
        "update_ticket",
        r#"{"ticket_id": "T-1042", "status": "solved", "reply": "Refunded, sorry!"}"#,
    ),
    (
        "refund 120 (irreversible)",
        "issue_refund",
        r#"{"order_id": "O-77", "amount": 120.0, "currency": "EUR"}"#,
    ),
    (
        "refund 900 (over the policy limit)",
        "issue_refund",
        r#"{"order_id": "O-78", "amount": 900}"#,
    ),
    (
        "delete a ticket (forbidden argument)",
        "update_ticket",
        r#"{"ticket_id": "T-1042", "status": "deleted"}"#,
    ),
    ("call a tool nobody declared", "drop_database", r#"{}"#),
];

/// Runs the demo against a fresh temporary data directory.
pub async fn run(_args: Args) -> u8 {
    match demo().await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILURE
        }
    }
}

async fn demo() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let bundle_dir = dir.path().join("bundle");
    crate::commands::init::write(&bundle_dir).map_err(|e| format!("cannot write the demo bundle: {e}"))?;
    let config = Config {
        bundle_dir,
        database: Database::SqliteFile(dir.path().join("tribune.db")),
        bootstrap_token: None,
        ledger_key: dir.path().join("ledger.key"),
    };
    let opened = tribune_server::open(&config).await.map_err(|e| e.to_string())?;
    let state = opened.state;
    let token = tribune_server::issue_token(
        &state.snapshot(),
        &state.store,
        TokenKind::Agent,
        Some(AGENT.to_owned()),
        "demo",
        "demo",
    )
    .await
    .map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| format!("cannot bind: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tribune_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");
    println!(
        "Tribune demo: a server on {base} with the quick-start bundle (SQLite in a temporary directory)."
    );
    println!("Agent `{AGENT}` (class `support`, owner `alice`) asks before each tool call:\n");
    for (i, (what, tool, args)) in STEPS.iter().enumerate() {
        let arguments: Value = serde_json::from_str(args).map_err(|e| e.to_string())?;
        println!(
            "{}. {what}: POST /v1/decisions {{\"tool\": \"{tool}\", \"arguments\": {args}}}",
            i + 1
        );
        let body = json!({ "tool": tool, "arguments": arguments, "session": "demo-session" });
        let decision = match client::post(&base, "/v1/decisions", &token, &body).await {
            Ok(d) => d,
            Err(ClientError::Api { status, body, .. }) if body.get("decision").is_some() => {
                println!(
                    "   (HTTP {status} {})",
                    body["error"]["code"].as_str().unwrap_or("")
                );
                body["decision"].clone()
            }
            Err(e) => return Err(e.to_string()),
        };
        for line in crate::commands::decide::render(&decision).lines() {
            println!("   {line}");
        }
        println!();
    }
    println!("Every decision above is recorded; fetch one with GET /v1/decisions/{{id}}.");
    let _ = stop.send(());
    server
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(())
}
