//! The MCP gateway end to end (issue 8): `tribune mcp wrap` as a real process in front of the
//! reference "everything" MCP server from npm (installed by `scripts/test` into `tests/peers`),
//! driven by an rmcp client over the gateway's stdio, deciding through a real `tribune serve`.

use std::path::{Path, PathBuf};

use rmcp::ServiceError;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt as _, RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

use crate::ledger::support::{Api, Backend, Deployment, Server};
use crate::repo;

/// A bundle that declares the everything server's tools at each tier.
const MANIFEST: &str = r#"
[deployment]
name = "example.com/mcp-gateway"

[autonomy]
default_reviewer_pool = "leads"

[data]
classifications = ["public", "internal"]
default = "internal"

[humans.alice]
name = "Alice"
roles = ["reviewer"]

[humans.bob]
name = "Bob"
roles = ["reviewer"]

[humans.carol]
name = "Carol"
roles = ["admin"]

[reviewer_pools.leads]
members = ["alice", "bob"]

[classes.assistant]
ceiling = "irreversible"

[agents.helper]
class = "assistant"
owner = "carol"

[providers.everything]
kind = "mcp_server"
destination = "internal"
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

[tools.get-sum]
provider = "everything"
tier = "read"
[tools.get-sum.input_schema]
type = "object"
required = ["a", "b"]
properties.a = { type = "number" }
properties.b = { type = "number" }

[tools.get-env]
provider = "everything"
tier = "write"

[tools.gzip-file-as-resource]
provider = "everything"
tier = "irreversible"

[tools.get-tiny-image]
provider = "everything"
tier = "read"

[tools.trigger-long-running-operation]
provider = "everything"
tier = "read"
"#;

const POLICIES: &str = r#"
@id("helper-tools")
permit (
    principal in AgentClass::"assistant",
    action in [Action::"echo", Action::"get-sum", Action::"get-env", Action::"gzip-file-as-resource", Action::"get-tiny-image",
               Action::"trigger-long-running-operation"],
    resource
);

@id("no-secrets")
@reason("the agent may not echo secrets")
forbid (principal, action == Action::"echo", resource)
when { context.input.message like "*secret*" };

@id("no-images")
@reason("images are off for this deployment")
forbid (principal, action == Action::"get-tiny-image", resource);
"#;

/// The everything server's entry point, as `npm ci` in `tests/peers` installs it.
pub(crate) fn everything() -> PathBuf {
    let path = repo().join("tests/peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        path.exists(),
        "the everything MCP server is not installed: run `npm ci --prefix tests/peers` (scripts/test does)"
    );
    path
}

/// A `tribune serve` on the gateway bundle, with an agent token and a reviewer's token.
struct Setup {
    // Declared before the deployment: the server stops before its directory goes.
    server: Server,
    api: Api,
    agent: String,
    alice: String,
    dir: tempfile::TempDir,
    _deployment: Deployment,
}

async fn setup() -> Setup {
    let deployment = Deployment::new(Backend::Sqlite, |_| MANIFEST.to_owned()).await;
    std::fs::remove_file(deployment.bundle.join("policies/support.cedar")).unwrap();
    std::fs::write(deployment.bundle.join("policies/gateway.cedar"), POLICIES).unwrap();
    let server = deployment.serve();
    let api = Api::new(&server);
    let agent = api.token("agent", "helper").await;
    let alice = api.token("human", "alice").await;
    Setup {
        server,
        api,
        agent,
        alice,
        dir: tempfile::tempdir().unwrap(),
        _deployment: deployment,
    }
}

/// `tribune mcp wrap --server URL [extra] -- node everything stdio` with the token in
/// `TRIBUNE_TOKEN`.
fn wrap_command(url: &str, token: &str, extra: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tribune"));
    cmd.args(["mcp", "wrap", "--server", url])
        .args(extra)
        .arg("--")
        .arg("node")
        .arg(everything())
        .arg("stdio")
        .current_dir(repo())
        .env("TRIBUNE_TOKEN", token)
        .env("TRIBUNE_LOG", "info")
        .env_remove("TRIBUNE_SERVER");
    cmd
}

type Client = RunningService<RoleClient, ClientConfig>;

/// An rmcp client speaking `revision` to the gateway (2026-07-28 without `initialize`,
/// older revisions with it).
async fn connect(url: &str, token: &str, extra: &[&str], log: &Path, revision: ProtocolVersion) -> Client {
    let (transport, _) = TokioChildProcess::builder(wrap_command(url, token, extra))
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
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
    match info.serve_with_lifecycle(transport, lifecycle).await {
        Ok(client) => client,
        Err(e) => panic!(
            "cannot connect to `tribune mcp wrap`: {e}\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        ),
    }
}

async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
        .await
        .unwrap()
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

fn decision_meta(result: &CallToolResult) -> Value {
    result
        .meta
        .as_ref()
        .and_then(|m| m.get("dev.tribune/decision").cloned())
        .unwrap_or(Value::Null)
}

/// The ledger's payloads of `event` entries (`decision` or `outcome`).
async fn ledger(api: &Api, event: &str) -> Vec<Value> {
    api.entries()
        .await
        .iter()
        .filter(|e| e["event_class"] == event)
        .map(|e| {
            serde_json::from_str::<Value>(e["payload"].as_str().unwrap()).unwrap()["unmapped"]["tribune"]
                .clone()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_are_filtered_and_calls_are_governed_on_both_protocol_revisions() {
    let s = setup().await;
    for revision in [ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28] {
        let log = s.dir.path().join(format!("wrap-{revision}.log"));
        let client = connect(
            &s.server.url,
            &s.agent,
            &["--hold-wait", "0"],
            &log,
            revision.clone(),
        )
        .await;
        let negotiated = client.peer().peer_info().unwrap().protocol_version.clone();
        assert_eq!(negotiated, revision, "the agent side negotiated {negotiated}");

        // tools/list: only what the agent may ever call; the held ones say so.
        let tools = client.list_all_tools().await.unwrap();
        let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "echo",
                "get-env",
                "get-sum",
                "gzip-file-as-resource",
                "trigger-long-running-operation"
            ],
            "undeclared tools and a tool every call of which is forbidden are not listed"
        );
        let description = |name: &str| {
            tools
                .iter()
                .find(|t| t.name == name)
                .and_then(|t| t.description.clone())
                .unwrap_or_default()
                .to_string()
        };
        assert!(
            description("get-env").ends_with("Requires human approval (1 approver) before it runs."),
            "{}",
            description("get-env")
        );
        assert!(
            description("gzip-file-as-resource")
                .ends_with("Requires human approval (2 approvers, MFA) before it runs."),
            "{}",
            description("gzip-file-as-resource")
        );
        assert!(
            !description("echo").contains("approval"),
            "{}",
            description("echo")
        );

        // An allowed call is forwarded and the server's real result comes back.
        let echoed = call(
            &client,
            "echo",
            json!({ "message": format!("hello over {revision}") }),
        )
        .await;
        assert_ne!(echoed.is_error, Some(true), "{echoed:?}");
        assert_eq!(text(&echoed), format!("Echo: hello over {revision}"));
        let sum = call(&client, "get-sum", json!({ "a": 2, "b": 40 })).await;
        assert!(text(&sum).contains("42"), "{sum:?}");

        // A denied call is an error result with the reason; the session goes on.
        let denied = call(&client, "echo", json!({ "message": "the secret plan" })).await;
        assert_eq!(denied.is_error, Some(true));
        let t = text(&denied);
        assert!(t.contains("Tribune denied this call to `echo`"), "{t}");
        assert!(
            t.contains("policy/forbidden [no-secrets]: the agent may not echo secrets"),
            "{t}"
        );
        assert_eq!(decision_meta(&denied)["decision"], "deny");

        // A tool the agent may never call is denied by Tribune, not forwarded.
        let image = call(&client, "get-tiny-image", json!({})).await;
        assert_eq!(image.is_error, Some(true));
        assert!(text(&image).contains("[no-images]"), "{}", text(&image));
        assert!(image.content.iter().all(|c| c.as_image().is_none()));

        // Other messages pass through: prompts and resources of the real server.
        let prompts = client.list_all_prompts().await.unwrap();
        assert!(!prompts.is_empty());
        let resources = client.list_resources(None).await.unwrap();
        assert!(!resources.resources.is_empty());
        let first = client
            .read_resource(rmcp::model::ReadResourceRequestParams::new(
                resources.resources[0].uri.clone(),
            ))
            .await
            .unwrap();
        assert!(!first.contents.is_empty());

        client.cancel().await.unwrap();
        let log = std::fs::read_to_string(&log).unwrap();
        assert!(
            log.contains("connected to the MCP server") && log.contains("protocol=2025-11-25"),
            "the everything server speaks 2025-11-25 and the gateway falls back to it:\n{log}"
        );
    }

    // Every decision carries the connection's session, and every allowed call its outcome.
    let decisions = ledger(&s.api, "decision").await;
    let outcomes = ledger(&s.api, "outcome").await;
    let allowed: Vec<&Value> = decisions
        .iter()
        .filter(|d| d["decision"]["decision"] == "allow")
        .collect();
    assert_eq!(allowed.len(), 4, "{decisions:#?}");
    let sessions: std::collections::BTreeSet<&str> = decisions
        .iter()
        .map(|d| d["decision"]["session"].as_str().unwrap())
        .collect();
    assert_eq!(sessions.len(), 2, "one session per MCP connection: {sessions:?}");
    for d in allowed {
        let id = d["decision"]["id"].as_str().unwrap();
        let outcome = outcomes
            .iter()
            .find(|o| o["outcome"]["decision_id"] == id)
            .unwrap_or_else(|| panic!("no outcome for {id}: {outcomes:#?}"));
        assert_eq!(outcome["outcome"]["status"], "succeeded");
        let summary = outcome["outcome"]["summary"].as_str().unwrap();
        assert!(
            summary.starts_with("result: 1 content block(s) [text]"),
            "{summary}"
        );
        assert!(
            !summary.contains("Echo"),
            "no result content in the record: {summary}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_call_carries_its_approval_id_and_runs_once_after_approval() {
    let s = setup().await;
    let log = s.dir.path().join("wrap.log");
    let client = connect(
        &s.server.url,
        &s.agent,
        &["--hold-wait", "1"],
        &log,
        ProtocolVersion::V_2025_11_25,
    )
    .await;

    let held = call(&client, "get-env", json!({})).await;
    assert_eq!(held.is_error, Some(true));
    let t = text(&held);
    assert!(
        t.contains("Tribune is holding this call to `get-env` until it has 1 human approval"),
        "{t}"
    );
    let meta = decision_meta(&held);
    assert_eq!(meta["decision"], "hold");
    let approval = meta["approval_id"].as_str().unwrap().to_owned();
    assert!(t.contains(&format!("Approval request: {approval}")), "{t}");

    let (status, body) = s
        .api
        .post(
            &s.alice,
            &format!("/v1/approvals/{approval}/approve"),
            &json!({ "rationale": "reading the environment is fine" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The retry with the same arguments runs, on the real server.
    let ran = call(&client, "get-env", json!({})).await;
    assert_ne!(ran.is_error, Some(true), "{ran:?}");
    let env = text(&ran);
    assert!(env.contains("PATH"), "{env}");
    assert!(
        !env.contains(&s.agent) && !env.contains("TRIBUNE_TOKEN"),
        "the agent's token is not passed to the MCP server"
    );

    // The approval allowed one call only.
    let again = call(&client, "get-env", json!({})).await;
    assert_eq!(again.is_error, Some(true), "{again:?}");
    assert_eq!(decision_meta(&again)["decision"], "hold");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_tribune_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("wrap.log");
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let client = connect(
        &url,
        "trb_not-a-real-token",
        &["--timeout", "2"],
        &log,
        ProtocolVersion::V_2025_11_25,
    )
    .await;

    let result = call(&client, "echo", json!({ "message": "hello" })).await;
    assert_eq!(result.is_error, Some(true));
    let t = text(&result);
    assert!(
        t.contains("Tribune could not decide this call to `echo`, so it was not made"),
        "{t}"
    );
    assert!(t.contains("cannot reach Tribune"), "{t}");
    assert!(!t.contains("Echo: hello"));

    // tools/list fails closed too: an error, not the server's whole list.
    match client.list_tools(None).await {
        Err(ServiceError::McpError(e)) => {
            assert!(e.message.contains("so none are listed"), "{e:?}")
        }
        other => panic!("tools/list without Tribune: {other:?}"),
    }
    // The session survives both.
    client
        .peer()
        .send_request(rmcp::model::ClientRequest::PingRequest(Default::default()))
        .await
        .unwrap();
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tribune_that_stops_mid_session_fails_closed() {
    let s = setup().await;
    let log = s.dir.path().join("wrap.log");
    let client = connect(
        &s.server.url,
        &s.agent,
        &["--timeout", "2"],
        &log,
        ProtocolVersion::V_2025_11_25,
    )
    .await;
    let ok = call(&client, "echo", json!({ "message": "before" })).await;
    assert_eq!(text(&ok), "Echo: before");
    let Setup { server, .. } = s;
    server.kill9();
    let after = call(&client, "echo", json!({ "message": "after" })).await;
    assert_eq!(after.is_error, Some(true));
    assert!(text(&after).contains("so it was not made"), "{}", text(&after));
    client.cancel().await.unwrap();
}

/// The official TypeScript SDK client (from npm) as the agent: it negotiates, lists the
/// filtered tools and gets an allowed result and a denial, as any MCP client would.
#[tokio::test(flavor = "multi_thread")]
async fn the_typescript_sdk_client_works_through_the_gateway() {
    let s = setup().await;
    let calls = json!([
        { "name": "echo", "arguments": { "message": "from typescript" } },
        { "name": "echo", "arguments": { "message": "a secret" } },
    ]);
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(repo().join("tests/peers/ts-client.mjs"))
        .arg(env!("CARGO_BIN_EXE_tribune"))
        .args(["mcp", "wrap", "--server", &s.server.url, "--", "node"])
        .arg(everything())
        .args(["stdio", "--"])
        .arg(calls.to_string())
        .current_dir(repo())
        .env("TRIBUNE_TOKEN", &s.agent)
        .env_remove("TRIBUNE_SERVER");
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<&str> = answer["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "echo",
            "get-env",
            "get-sum",
            "gzip-file-as-resource",
            "trigger-long-running-operation"
        ]
    );
    assert_eq!(answer["calls"][0]["content"][0]["text"], "Echo: from typescript");
    assert_eq!(answer["calls"][1]["isError"], true);
    assert!(
        answer["calls"][1]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("[no-secrets]"),
        "{answer:#}"
    );
    assert_eq!(
        answer["calls"][1]["_meta"]["dev.tribune/decision"]["decision"],
        "deny"
    );
}

/// An rmcp client that records the progress notifications it gets.
#[derive(Clone, Default)]
struct Recorder {
    progress: std::sync::Arc<std::sync::Mutex<Vec<rmcp::model::ProgressNotificationParam>>>,
}

impl rmcp::ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

/// Progress from the server reaches the agent under the agent's own progress token, and an
/// allowed long call's result follows it.
#[tokio::test(flavor = "multi_thread")]
async fn progress_of_an_allowed_call_reaches_the_agent() {
    use rmcp::ServiceExt as _;
    let s = setup().await;
    let log = s.dir.path().join("wrap.log");
    let (transport, _) = TokioChildProcess::builder(wrap_command(&s.server.url, &s.agent, &[]))
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let recorder = Recorder::default();
    let client = recorder.clone().serve(transport).await.unwrap();
    let params = CallToolRequestParams::new("trigger-long-running-operation")
        .with_arguments(json!({ "duration": 1, "steps": 3 }).as_object().unwrap().clone());
    let handle = client
        .send_request_with_option(
            rmcp::model::ClientRequest::CallToolRequest(rmcp::model::CallToolRequest::new(params)),
            rmcp::service::PeerRequestOptions::no_options(),
        )
        .await
        .unwrap();
    let token = handle.progress_token.clone();
    let answer = handle.await_response().await.unwrap();
    let rmcp::model::ServerResult::CallToolResult(result) = answer else {
        panic!("{answer:?}");
    };
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert!(
        text(&result).contains("Long running operation completed"),
        "{}",
        text(&result)
    );
    // Notifications travel apart from the response and are handled on their own task: the last
    // may be handed to the client just after the result.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while recorder.progress.lock().unwrap().len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let progress = recorder.progress.lock().unwrap().clone();
    assert_eq!(progress.len(), 3, "{progress:?}");
    assert!(
        progress.iter().all(|p| p.progress_token == token),
        "{progress:?} vs {token:?}"
    );
    assert_eq!(progress.last().unwrap().progress, 3.0);
    client.cancel().await.unwrap();
}
