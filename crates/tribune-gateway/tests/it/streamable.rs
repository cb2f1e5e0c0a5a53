//! `tribune serve` in front of a remote MCP server at `/mcp/{provider}`, end to end: the real
//! everything server from npm over Streamable HTTP, a real Tribune server in process (SQLite)
//! deciding in process, and an rmcp client speaking Streamable HTTP to Tribune on both protocol
//! revisions — listing filtered, an allowed call unchanged, a denial with its reason, a hold
//! released by an approval, a secret redacted, a changed description quarantined — and every
//! way the front fails closed.

use std::time::Duration;

use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use tribune_store::TokenKind;

use crate::support::{self, call, meta, text, token};

const AWS: &str = "AKIAIOSFODNN7EXAMPLE";

/// `{url}` is the everything server's, `{down}` a port nothing listens on.
const MANIFEST: &str = r#"
[deployment]
name = "example.com/gateway-http"

[autonomy]
default_reviewer_pool = "leads"

[humans.alice]
roles = ["reviewer"]

[humans.bob]
roles = ["admin"]

[reviewer_pools.leads]
members = ["alice"]

[classes.assistant]
ceiling = "write"

[agents.helper]
class = "assistant"
owner = "bob"

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

# The same server under a second name, vetted before any listing: its tool is pinned from the
# declaration below, which is not what the server lists.
[providers.mirror]
kind = "mcp_server"
destination = "internal"
transport = "streamable_http"
url = "{url}"
[providers.mirror.vetting]
status = "approved"
reviewer = "human:alice"
reviewed = "2026-11-20"
expires = "2027-11-30"

[providers.local]
kind = "mcp_server"
transport = "stdio"
[providers.local.vetting]
status = "approved"
reviewer = "human:alice"
reviewed = "2026-11-20"
expires = "2027-11-30"

[providers.down]
kind = "mcp_server"
transport = "streamable_http"
url = "http://127.0.0.1:{down}/mcp"
[providers.down.vetting]
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

# Declared, but no policy permits it: never listed.
[tools.get-sum]
provider = "everything"
tier = "read"

# Write calls need one approval.
[tools.get-env]
provider = "everything"
tier = "write"

[tools.get-annotated-message]
provider = "mirror"
tier = "read"
description = "Returns a message."

[dlp.classifications]
aws-access-key = "confidential"

[dlp.actions]
confidential = "redact"
restricted = "deny"
"#;

const POLICY: &str = r#"
@id("helper-tools")
permit (
    principal in AgentClass::"assistant",
    action in [Action::"echo", Action::"get-env", Action::"get-annotated-message"],
    resource
);

@id("no-secrets")
@reason("the agent may not echo secrets")
forbid (principal, action == Action::"echo", resource)
when { context.input.message like "*secret*" };
"#;

type Client = RunningService<RoleClient, ClientConfig>;

/// What a test runs against: the everything server, Tribune, and tokens.
struct Setup {
    _everything: tokio::process::Child,
    everything: String,
    url: String,
    agent: String,
    alice: String,
    bob: String,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    // The server's environment holds an AWS key; `get-env` returns it.
    let (process, everything) = support::everything_http(&[("AWS_ACCESS_KEY_ID", AWS)]).await;
    let dir = tempfile::tempdir().unwrap();
    let manifest = MANIFEST
        .replace("{url}", &everything)
        .replace("{down}", &support::free_port().to_string());
    let (url, state) = support::tribune(dir.path(), &manifest, &[("helper.cedar", POLICY)]).await;
    Setup {
        _everything: process,
        everything,
        agent: token(&state, TokenKind::Agent, "helper").await,
        alice: token(&state, TokenKind::Human, "alice").await,
        bob: token(&state, TokenKind::Human, "bob").await,
        url,
        _dir: dir,
    }
}

/// An rmcp client over Streamable HTTP at `url` with `token`, speaking `revision`
/// (2026-07-28 without `initialize`, older revisions with it).
async fn connect(url: &str, token: Option<&str>, revision: ProtocolVersion) -> Result<Client, String> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    let transport = StreamableHttpClientTransport::from_config(config);
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("tribune-gateway-test", "0"),
    )
    .with_protocol_version(revision.clone());
    let lifecycle = if revision.has_initialize() {
        ClientLifecycleMode::Initialize
    } else {
        ClientLifecycleMode::Discover {
            preferred_versions: vec![revision],
        }
    };
    info.serve_with_lifecycle(transport, lifecycle)
        .await
        .map_err(|e| e.to_string())
}

async fn http(
    method: reqwest::Method,
    url: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Waits for the pending approval request of `tool` and approves it as `reviewer`.
async fn approve_when_pending(url: &str, reviewer: &str, tool: &str) -> String {
    for _ in 0..200 {
        let (status, list) = http(
            reqwest::Method::GET,
            url,
            "/v1/approvals?state=pending",
            reviewer,
            None,
        )
        .await;
        assert_eq!(status, 200, "{list}");
        let pending = list["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a.to_string().contains(tool))
            .and_then(|a| a["id"].as_str().map(str::to_owned));
        if let Some(id) = pending {
            let (status, body) = http(
                reqwest::Method::POST,
                url,
                &format!("/v1/approvals/{id}/approve"),
                reviewer,
                Some(json!({})),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            return id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no approval request for `{tool}` appeared");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_server_is_governed_at_mcp_provider_on_both_revisions() {
    let s = setup().await;
    // Vetted before the gateway ever reported: `get-annotated-message` is pinned from its
    // declaration, which says something else than the server.
    let (status, vetted) = http(
        reqwest::Method::POST,
        &s.url,
        "/v1/providers/mirror/vet",
        &s.bob,
        Some(json!({ "status": "approved", "valid_days": 30 })),
    )
    .await;
    assert_eq!(status, 201, "{vetted}");
    let direct = connect(&s.everything, None, ProtocolVersion::V_2025_11_25)
        .await
        .unwrap();

    for revision in [ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28] {
        let front = format!("{}/mcp/everything", s.url);
        let client = connect(&front, Some(&s.agent), revision.clone()).await.unwrap();
        let negotiated = client.peer().peer_info().unwrap().protocol_version.clone();
        assert_eq!(negotiated, revision, "the agent side negotiated {negotiated}");

        // tools/list: only this provider's tools the agent may ever call; held ones say so.
        let tools = client.list_all_tools().await.unwrap();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort_unstable();
        assert_eq!(names, ["echo", "get-env"]);
        let get_env = tools.iter().find(|t| t.name == "get-env").unwrap();
        assert!(
            get_env
                .description
                .as_deref()
                .unwrap_or_default()
                .ends_with("Requires human approval (1 approver) before it runs."),
            "{get_env:?}"
        );

        // An allowed call comes back exactly as the server answers it directly.
        let message = json!({ "message": format!("hello over {revision}") });
        let through = call(&client, "echo", message.clone()).await;
        let plain = call(&direct, "echo", message).await;
        assert_eq!(text(&through), format!("Echo: hello over {revision}"));
        assert_eq!(through.content, plain.content);
        assert_eq!(through.is_error, plain.is_error);
        assert_eq!(through.structured_content, plain.structured_content);

        // A denied call is an error result with its reason; the session goes on.
        let denied = call(&client, "echo", json!({ "message": "the secret plan" })).await;
        assert_eq!(denied.is_error, Some(true));
        let t = text(&denied);
        assert!(
            t.starts_with("Tribune denied this call to `echo`; it was not made.")
                && t.contains("policy/forbidden [no-secrets]: the agent may not echo secrets"),
            "{t}"
        );
        assert_eq!(meta(&denied, "dev.tribune/decision")["decision"], "deny");

        // Another provider's tool is not called through this one.
        let elsewhere = call(
            &client,
            "get-annotated-message",
            json!({ "messageType": "success" }),
        )
        .await;
        assert_eq!(elsewhere.is_error, Some(true));
        assert!(
            text(&elsewhere).contains(
                "request/wrong_provider: tool `get-annotated-message` belongs to provider `mirror`"
            ),
            "{}",
            text(&elsewhere)
        );

        // A held call waits (up to the bundle's `[hitl] max_wait_secs`) and runs once a human
        // approves; the AWS key in its result reaches the agent redacted.
        let pending = tokio::spawn({
            let url = s.url.clone();
            let alice = s.alice.clone();
            async move { approve_when_pending(&url, &alice, "get-env").await }
        });
        let env = call(&client, "get-env", json!({})).await;
        pending.await.unwrap();
        let shown = text(&env);
        assert_ne!(env.is_error, Some(true), "{shown}");
        assert!(
            shown.contains("\"AWS_ACCESS_KEY_ID\": \"[REDACTED:aws-access-key]\""),
            "{shown}"
        );
        assert!(!shown.contains(AWS), "{shown}");
        let outcome = meta(&env, "dev.tribune/outcome");
        assert_eq!(outcome["release"], "redacted");
        assert_eq!(outcome["detectors"], json!(["aws-access-key"]));
        client.cancel().await.unwrap();

        // The mirror's tool differs from its pin: hidden, and its calls denied.
        let mirror = connect(&format!("{}/mcp/mirror", s.url), Some(&s.agent), revision.clone())
            .await
            .unwrap();
        assert_eq!(mirror.list_all_tools().await.unwrap(), vec![]);
        let quarantined = call(
            &mirror,
            "get-annotated-message",
            json!({ "messageType": "success" }),
        )
        .await;
        assert_eq!(quarantined.is_error, Some(true));
        assert!(
            text(&quarantined).contains("tool_quarantined"),
            "{}",
            text(&quarantined)
        );
        mirror.cancel().await.unwrap();
    }
    direct.cancel().await.unwrap();
}

/// POSTs an `initialize` to `path` with `token` (if any): the HTTP status and the JSON body.
async fn initialize(url: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": { "name": "test", "version": "0" },
            },
        }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_front_fails_closed_with_clear_errors() {
    let mut s = setup().await;
    let code = |body: &Value| body["error"]["code"].as_str().unwrap_or_default().to_owned();

    let (status, body) = initialize(&s.url, "/mcp/everything", None).await;
    assert_eq!((status, code(&body)), (401, "missing_token".to_owned()), "{body}");
    let (status, body) = initialize(&s.url, "/mcp/everything", Some("trb_not-a-token")).await;
    assert_eq!((status, code(&body)), (401, "invalid_token".to_owned()), "{body}");
    let (status, body) = initialize(&s.url, "/mcp/everything", Some(&s.alice)).await;
    assert_eq!((status, code(&body)), (403, "forbidden".to_owned()), "{body}");
    let (status, body) = initialize(&s.url, "/mcp/nowhere", Some(&s.agent)).await;
    assert_eq!((status, code(&body)), (404, "not_found".to_owned()), "{body}");
    assert_eq!(body["error"]["message"], "provider `nowhere` does not exist");
    let (status, body) = initialize(&s.url, "/mcp/local", Some(&s.agent)).await;
    assert_eq!((status, code(&body)), (404, "not_mcp_front".to_owned()), "{body}");
    let (status, body) = initialize(&s.url, "/mcp/down", Some(&s.agent)).await;
    assert_eq!(
        (status, code(&body)),
        (502, "upstream_unavailable".to_owned()),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("the MCP server of provider `down` cannot be reached:"),
        "{body}"
    );
    // An MCP client sees the same refusal as a failed connection.
    assert!(
        connect(
            &format!("{}/mcp/down", s.url),
            Some(&s.agent),
            ProtocolVersion::V_2025_11_25
        )
        .await
        .is_err()
    );

    // A session belongs to the token that opened it: another agent's token finds nothing.
    let client = connect(
        &format!("{}/mcp/everything", s.url),
        Some(&s.agent),
        ProtocolVersion::V_2025_11_25,
    )
    .await
    .unwrap();
    let ok = call(&client, "echo", json!({ "message": "before" })).await;
    assert_eq!(text(&ok), "Echo: before");

    // The remote server goes away mid-session: calls fail, nothing is answered for it.
    s._everything.kill().await.unwrap();
    let after = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("echo")
                .with_arguments(json!({ "message": "after" }).as_object().unwrap().clone()),
        )
        .await;
    match after {
        Err(rmcp::ServiceError::McpError(e)) => {
            assert!(e.message.contains("the MCP server could not be asked"), "{e:?}")
        }
        other => panic!("a call to a server that is gone: {other:?}"),
    }
    match client.list_tools(None).await {
        Err(rmcp::ServiceError::McpError(_)) => {}
        other => panic!("tools/list of a server that is gone: {other:?}"),
    }
    client.cancel().await.unwrap();
}

/// Each session holds an upstream connection: one caller may hold only so many at a time.
#[tokio::test(flavor = "multi_thread")]
async fn one_caller_holds_a_bounded_number_of_sessions() {
    let s = setup().await;
    let cap = tribune_server::mcp::MAX_SESSIONS_PER_CALLER;
    for n in 0..cap {
        let (status, body) = initialize(&s.url, "/mcp/everything", Some(&s.agent)).await;
        assert_eq!(status, 200, "session {n}: {body}");
    }
    let (status, body) = initialize(&s.url, "/mcp/everything", Some(&s.agent)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_sessions", "{body}");
}

/// A session's requests to the remote server reuse its connections: ten calls through the
/// front open at most three more than the handshake did (not one per call), counted by a
/// relay in front of the everything server.
#[tokio::test(flavor = "multi_thread")]
async fn a_session_reuses_its_upstream_connections() {
    let (_process, everything) = support::everything_http(&[]).await;
    let upstream = everything
        .trim_start_matches("http://")
        .trim_end_matches("/mcp")
        .to_owned();
    let relay = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relayed = format!("http://{}/mcp", relay.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let (mut inbound, _) = relay.accept().await.unwrap();
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut outbound = tokio::net::TcpStream::connect(&upstream).await.unwrap();
            tokio::spawn(async move {
                // Either side closing ends the relay of this connection.
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            });
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let manifest = MANIFEST
        .replace("{url}", &relayed)
        .replace("{down}", &support::free_port().to_string());
    let (url, state) = support::tribune(dir.path(), &manifest, &[("helper.cedar", POLICY)]).await;
    let agent = token(&state, TokenKind::Agent, "helper").await;
    let client = connect(
        &format!("{url}/mcp/everything"),
        Some(&agent),
        ProtocolVersion::V_2025_11_25,
    )
    .await
    .unwrap();
    let opened = accepted.load(std::sync::atomic::Ordering::SeqCst);
    for n in 0..10 {
        let result = call(&client, "echo", json!({ "message": format!("call {n}") })).await;
        assert_eq!(text(&result), format!("Echo: call {n}"));
    }
    let after = accepted.load(std::sync::atomic::Ordering::SeqCst);
    // rmcp's own client opens one connection per call. A pooled one may still open a few:
    // the session's event stream holds one, and a response body still being drained when
    // the next call goes out keeps its connection from the pool.
    assert!(
        after - opened <= 3,
        "ten sequential calls opened {} upstream connections (the handshake opened {opened})",
        after - opened
    );
    client.cancel().await.unwrap();
}
