//! Incident response end to end: `tribune serve` as a real process on SQLite and on
//! PostgreSQL, an agent calling a canary tool over HTTP, the incident's signed notification
//! checked at a local receiver, and a holder of stop authority using `tribune incidents list`,
//! `show` and `close`.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tribune_approvals::webhook::{SIGNATURE_HEADER, WebhookKey};

use crate::deployment::{Backend, Deployment, Server};
use crate::{copy_dir, repo, stderr, stdout};

const WEBHOOK_ENV: &str = "TRIBUNE_TEST_INCIDENTS_WEBHOOK_KEY";
const WEBHOOK_KEY: &str = "incidents-webhook-test-key-0123456789";

struct Served {
    server: Server,
    url: String,
    _deployment: Deployment,
}

/// The quick-start bundle with a canary tool whose trigger stops the agent, holds the
/// evidence and notifies the webhook at `hook`.
fn bundle(dir: &Path, hook: SocketAddr) {
    copy_dir(&repo().join("examples/quickstart"), dir);
    let manifest = dir.join("tribune.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(&format!(
        r#"
[tools.export_customers]
provider = "helpdesk"
tier = "read"
classification = "restricted"

[incidents]
webhook_url = "http://{hook}/hook"
webhook_secret_env = "{WEBHOOK_ENV}"

[[incidents.triggers]]
id = "honeytoken"
on = "canary"
tool = "export_customers"
actions = ["stop_agent", "legal_hold", "notify"]
"#
    ));
    std::fs::write(&manifest, text).unwrap();
}

async fn serve(backend: Backend, hook: SocketAddr) -> Served {
    let deployment = Deployment::with_bundle(backend, |dir| bundle(dir, hook))
        .await
        .env(WEBHOOK_ENV, WEBHOOK_KEY);
    let server = deployment.serve();
    Served {
        url: server.url.clone(),
        server,
        _deployment: deployment,
    }
}

/// What the webhook receiver saw: (signature header, body).
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

async fn webhook_receiver() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let log = Arc::clone(&log);
            async move {
                let signature = headers
                    .get(SIGNATURE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                log.lock().unwrap().push((signature, body.to_vec()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

impl Served {
    /// `tribune ARGS --server URL --token TOKEN`, off the async runtime.
    async fn cli(&self, token: &str, args: &[&str]) -> Output {
        self.server.cli_async(token, args).await
    }

    async fn decide(&self, token: &str, tool: &str, arguments: Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/decisions", self.url))
            .bearer_auth(token)
            .json(&json!({ "tool": tool, "arguments": arguments }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        response.json().await.unwrap()
    }
}

fn unix_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

async fn incidents_end_to_end(backend: Backend) {
    let (hook, seen) = webhook_receiver().await;
    let s = serve(backend, hook).await;
    let agent = s.server.token_async("agent", "support-bot").await;
    let bob = s.server.token_async("human", "bob").await;

    let out = s.cli(&bob, &["incidents", "list"]).await;
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(0), "no incidents\n".to_owned()),
        "{}",
        stderr(&out)
    );

    // The agent calls the canary: an incident opens, contains it and is announced.
    let d = s.decide(&agent, "export_customers", json!({})).await;
    let index = d["ledger_index"].as_u64().unwrap();
    let start = Instant::now();
    let incident = loop {
        let out = s
            .cli(&bob, &["incidents", "list", "--state", "open", "--json"])
            .await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
        if let Some(i) = list["incidents"].as_array().unwrap().first()
            && i["ledger_index"].is_u64()
        {
            break i.clone();
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no incident: {list:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let id = incident["id"].as_str().unwrap().to_owned();
    assert_eq!(incident["evidence"], json!({ "from": index, "to": index }));
    let results: Vec<(&str, &str)> = incident["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [("stop_agent", "done"), ("legal_hold", "done"), ("notify", "done")]
    );
    let d = s.decide(&agent, "search_docs", json!({ "query": "q" })).await;
    assert_eq!(d["reasons"][0]["code"], "stopped", "{d:#}");

    // The notification is signed with the key the bundle names.
    let start = Instant::now();
    while seen.lock().unwrap().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no notification arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (signature, body) = seen.lock().unwrap()[0].clone();
    let key = WebhookKey::new(WEBHOOK_KEY.as_bytes()).unwrap();
    tribune_approvals::webhook::verify(&key, &signature, &body, unix_secs(), 300).unwrap();
    let notice: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (&notice["type"], &notice["data"]["id"], &notice["data"]["trigger"]),
        (&json!("incident.opened"), &json!(id), &json!("honeytoken"))
    );
    assert_eq!(notice["data"]["actions"][0]["action"], "stop_agent");

    // The one-line list and the human-readable record.
    let out = s.cli(&bob, &["incidents", "list"]).await;
    let text = stdout(&out);
    assert!(
        text.contains(&id)
            && text.contains("honeytoken (canary)")
            && text.contains(&format!("{index}..={index}")),
        "{text}"
    );
    let out = s.cli(&bob, &["incidents", "show", &id]).await;
    let text = stdout(&out);
    for expected in [
        format!("incident {id} (open)"),
        "trigger `honeytoken` (canary) on agent:support-bot".to_owned(),
        format!("evidence: ledger entries {index}..={index}"),
        "checkpoint: tree size".to_owned(),
        "- stop_agent done: scope agent:support-bot".to_owned(),
        "- legal_hold done".to_owned(),
        format!("- notify done: url http://{hook}/hook"),
    ] {
        assert!(text.contains(&expected), "`{expected}` missing from:\n{text}");
    }

    // Closing: not by the agent; by bob, with a reason; not twice.
    let out = s
        .cli(&agent, &["incidents", "close", &id, "--reason", "mine"])
        .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("403 forbidden"), "{}", stderr(&out));
    let out = s
        .cli(
            &bob,
            &[
                "incidents",
                "close",
                &id,
                "--reason",
                "a red-team exercise; agent reset",
            ],
        )
        .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("CLOSED: its stops and legal holds stay"),
        "{text}"
    );
    assert!(
        text.contains("closed by human:bob at") && text.contains(": a red-team exercise; agent reset"),
        "{text}"
    );
    let out = s
        .cli(&bob, &["incidents", "close", &id, "--reason", "again"])
        .await;
    assert!(stderr(&out).contains("409 conflict"), "{}", stderr(&out));
    let out = s.cli(&bob, &["incidents", "list", "--state", "open"]).await;
    assert_eq!(stdout(&out), "no incidents\n");
    let out = s.cli(&bob, &["incidents", "show", &id, "--json"]).await;
    let shown: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        (&shown["state"], &shown["closed_by"]),
        (&json!("closed"), &json!("human:bob"))
    );
    // The agent stays stopped.
    let d = s.decide(&agent, "search_docs", json!({ "query": "q" })).await;
    assert_eq!(d["reasons"][0]["code"], "stopped", "{d:#}");
}

macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::Postgres).await;
                }
            )+
        }
    };
}

on_both_backends!(incidents_end_to_end);
