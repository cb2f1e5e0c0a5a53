//! Tool description pins through the gateway, end to end: the real everything server behind
//! the gateway core, deciding through a real Tribune server (in process, SQLite). A tool whose
//! pinned description differs from what the server lists is hidden from `tools/list` and its
//! calls are denied until a human pins it again.

use std::path::Path;
use std::time::Duration;

use rmcp::ServiceExt as _;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use tribune_gateway::HttpGovernor;
use tribune_store::TokenKind;

use crate::support::{self, token};

// `echo` is pinned from this declaration, which says less than the everything server lists.
const MANIFEST: &str = r#"
[deployment]
name = "example.com/gateway-pins"

[autonomy]
default_reviewer_pool = "leads"

[humans.alice]
roles = ["reviewer"]

[humans.bob]
roles = ["admin"]

[reviewer_pools.leads]
members = ["alice"]

[classes.assistant]
ceiling = "read"

[agents.helper]
class = "assistant"
owner = "bob"

[providers.everything]
kind = "mcp_server"
destination = "internal"

[vetting]
required = true

[tools.echo]
provider = "everything"
tier = "read"
description = "Echoes back the input."
[tools.echo.input_schema]
type = "object"
required = ["message"]
properties.message = { type = "string" }
"#;

const POLICY: &str = r#"
@id("helper-tools")
permit (principal in AgentClass::"assistant", action == Action::"echo", resource);
"#;

type Client = RunningService<RoleClient, ClientConfig>;

async fn tribune(dir: &Path) -> (String, std::sync::Arc<tribune_server::AppState>) {
    support::tribune(dir, MANIFEST, &[("helper.cedar", POLICY)]).await
}

async fn gateway(url: &str, token: &str) -> Client {
    let mut command = tokio::process::Command::new("node");
    command
        .arg(crate::everything())
        .arg("stdio")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
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
        "session-pins".to_owned(),
        std::future::pending(),
    ));
    ClientConfig::new(ClientCapabilities::default(), Implementation::new("test", "0"))
        .serve(agent_end)
        .await
        .unwrap()
}

async fn post(url: &str, path: &str, token: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn listed(client: &Client) -> Vec<String> {
    client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// The text of a call's result and whether it is an error.
async fn call_echo(client: &Client) -> (bool, String) {
    let r = support::call(client, "echo", json!({ "message": "hi" })).await;
    (r.is_error == Some(true), support::text(&r))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_whose_description_differs_from_its_pin_is_hidden_until_pinned_again() {
    let dir = tempfile::tempdir().unwrap();
    let (url, state) = tribune(dir.path()).await;
    let agent = token(&state, TokenKind::Agent, "helper").await;
    let bob = token(&state, TokenKind::Human, "bob").await;

    // Vetted before the gateway ever reported: `echo` is pinned from the bundle's declaration.
    let (status, vetted) = post(
        &url,
        "/v1/providers/everything/vet",
        &bob,
        json!({ "status": "approved", "valid_days": 30 }),
    )
    .await;
    assert_eq!(status, 201, "{vetted}");
    assert_eq!(vetted["tools"][0]["state"], "pinned");

    let client = gateway(&url, &agent).await;
    // The everything server's `echo` says something else: quarantined and hidden.
    assert_eq!(listed(&client).await, Vec::<String>::new());
    let (is_error, text) = call_echo(&client).await;
    assert!(is_error && text.contains("tool_quarantined"), "{text}");

    // A human approves what the server lists now: `echo` is back and runs.
    let (status, pinned) = post(
        &url,
        "/v1/providers/everything/pin",
        &bob,
        json!({ "tools": ["echo"] }),
    )
    .await;
    assert_eq!(status, 200, "{pinned}");
    assert_eq!(listed(&client).await, ["echo"]);
    let (is_error, text) = call_echo(&client).await;
    assert!(!is_error && text.contains("hi"), "{text}");
    client.cancel().await.unwrap();
}
