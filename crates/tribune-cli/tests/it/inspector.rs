//! The official MCP Inspector CLI (`@modelcontextprotocol/inspector --cli`, from npm in
//! `tests/peers`) as the agent, through both gateway transports in front of the reference
//! everything server: over stdio through `tribune mcp wrap`, and over Streamable HTTP through a
//! real `tribune serve` at `/mcp/{provider}`. Each Inspector run is one connection and one
//! method: the listing is filtered, an allowed call is the server's own answer, a denial
//! carries its reason, a hold is released by an approval, a secret in a result is redacted,
//! and a tool whose description differs from its pin is hidden and refused.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::deployment::{Api, Backend, Deployment, Server};
use crate::mcp::everything;
use crate::repo;

const AWS: &str = "AKIAIOSFODNN7EXAMPLE";

/// `{url}` is the everything server's Streamable HTTP endpoint. Holds do not wait
/// (`max_wait_secs = 0`): a held call is answered with its approval id at once.
const MANIFEST: &str = r#"
[deployment]
name = "example.com/inspector"

[autonomy]
default_reviewer_pool = "leads"

[hitl]
max_wait_secs = 0

[humans.alice]
name = "Alice"
roles = ["reviewer"]

[humans.carol]
name = "Carol"
roles = ["admin"]

[reviewer_pools.leads]
members = ["alice"]

[classes.assistant]
ceiling = "write"

[agents.helper]
class = "assistant"
owner = "carol"

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

[tools.echo]
provider = "everything"
tier = "read"
[tools.echo.input_schema]
type = "object"
required = ["message"]
properties.message = { type = "string" }

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

const POLICIES: &str = r#"
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

fn inspector() -> PathBuf {
    let path = repo()
        .join("tests/peers/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js");
    assert!(
        path.exists(),
        "the MCP Inspector is not installed: run `npm ci --prefix tests/peers` (scripts/test does)"
    );
    path
}

/// How the Inspector reaches the server.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// The everything server itself, over stdio.
    Direct,
    /// `tribune mcp wrap` in front of the everything server, over stdio.
    Wrap,
    /// `tribune serve` at `/mcp/{provider}`, over Streamable HTTP.
    Http(&'static str),
}

struct Setup {
    // Declared before the deployment: the server stops before its directory goes.
    server: Server,
    api: Api,
    agent: String,
    alice: String,
    _everything: tokio::process::Child,
    _deployment: Deployment,
}

async fn setup() -> Setup {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let everything_http = tokio::process::Command::new("node")
        .arg(everything())
        .arg("streamableHttp")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PORT", port.to_string())
        .env("AWS_ACCESS_KEY_ID", AWS)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut listening = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(listening, "the everything server did not listen on {port}");
    let url = format!("http://127.0.0.1:{port}/mcp");
    let deployment = Deployment::new(Backend::Sqlite, |_| MANIFEST.replace("{url}", &url)).await;
    std::fs::remove_file(deployment.bundle.join("policies/support.cedar")).unwrap();
    std::fs::write(deployment.bundle.join("policies/gateway.cedar"), POLICIES).unwrap();
    let server = deployment.serve();
    let api = Api::new(&server);
    let agent = api.token("agent", "helper").await;
    let alice = api.token("human", "alice").await;
    let carol = api.token("human", "carol").await;
    // Vetted before any listing: `get-annotated-message` is pinned from its declaration.
    let (status, body) = api
        .post(
            &carol,
            "/v1/providers/mirror/vet",
            &json!({ "status": "approved", "valid_days": 30 }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    Setup {
        server,
        api,
        agent,
        alice,
        _everything: everything_http,
        _deployment: deployment,
    }
}

/// Runs `inspector --cli` with `method_args` via `via` as the agent.
async fn output(s: &Setup, via: Via, method_args: &[&str]) -> std::process::Output {
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(inspector()).arg("--cli").current_dir(repo());
    match via {
        Via::Direct => {
            cmd.args(method_args)
                .arg("-e")
                .arg(format!("AWS_ACCESS_KEY_ID={AWS}"))
                .arg("--")
                .arg("node")
                .arg(everything())
                .arg("stdio");
        }
        Via::Wrap => {
            // The Inspector passes the server only the variables it is given; `tribune mcp
            // wrap` keeps the token from the everything server and passes on the rest.
            cmd.args(method_args)
                .arg("-e")
                .arg(format!("TRIBUNE_TOKEN={}", s.agent))
                .arg("-e")
                .arg(format!("TRIBUNE_SERVER={}", s.server.url))
                .arg("-e")
                .arg(format!("AWS_ACCESS_KEY_ID={AWS}"))
                .arg("--")
                .arg(env!("CARGO_BIN_EXE_tribune"))
                .args(["mcp", "wrap", "--"])
                .arg("node")
                .arg(everything())
                .arg("stdio");
        }
        Via::Http(provider) => {
            cmd.arg(format!("{}/mcp/{provider}", s.server.url))
                .args(["--transport", "http", "--header"])
                .arg(format!("Authorization: Bearer {}", s.agent))
                .args(method_args);
        }
    }
    tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .unwrap()
        .unwrap()
}

/// Runs `inspector --cli` with `method_args` via `via` as the agent: the JSON it prints.
async fn run(s: &Setup, via: Via, method_args: &[&str]) -> Value {
    let out = output(s, via, method_args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The everything server announces itself on the same stream before the answer.
    let json = stdout.find('{').map_or("", |i| &stdout[i..]);
    let answer: Value = serde_json::from_str(json).unwrap_or_else(|e| {
        panic!(
            "inspector via {via:?} {method_args:?}: {e}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // The Inspector exits non-zero exactly when the result is an error result.
    assert_eq!(
        out.status.success(),
        answer["isError"] != true,
        "inspector via {via:?} {method_args:?} exited {:?}:\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    answer
}

async fn list(s: &Setup, via: Via) -> Vec<(String, String)> {
    let listed = run(s, via, &["--method", "tools/list"]).await;
    let mut tools: Vec<(String, String)> = listed["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["description"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    tools.sort();
    tools
}

async fn call(s: &Setup, via: Via, tool: &str, args: &[&str]) -> Value {
    let mut method = vec!["--method", "tools/call", "--tool-name", tool];
    if !args.is_empty() {
        method.push("--tool-arg");
        method.extend(args);
    }
    run(s, via, &method).await
}

fn text(result: &Value) -> String {
    result["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every case, through the gateway at `via`; `mirror` reaches the mirror provider's tools.
/// Without the gateway the quarantined tool is listed: the hiding is the gateway's.
async fn governed(s: &Setup, via: Via, mirror: Via) {
    // tools/list: what the agent may ever call; the held tool says so; the quarantined one is
    // gone.
    assert!(
        list(s, Via::Direct)
            .await
            .iter()
            .any(|(n, _)| n == "get-annotated-message")
    );
    let tools = list(s, via).await;
    let names: Vec<&str> = tools.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["echo", "get-env"], "via {via:?}");
    assert!(
        tools[1]
            .1
            .ends_with("Requires human approval (1 approver) before it runs."),
        "{tools:?}"
    );

    // An allowed call: the server's own answer, unchanged.
    let direct = call(s, Via::Direct, "echo", &["message=hello inspector"]).await;
    let through = call(s, via, "echo", &["message=hello inspector"]).await;
    assert_eq!(text(&through), "Echo: hello inspector");
    assert_eq!(through["content"], direct["content"], "via {via:?}");
    assert_eq!(through["isError"], direct["isError"]);

    // A denied call: an error result with its reason.
    let denied = call(s, via, "echo", &["message=a secret"]).await;
    assert_eq!(denied["isError"], true);
    assert!(
        text(&denied).contains("policy/forbidden [no-secrets]: the agent may not echo secrets"),
        "{denied:#}"
    );
    assert_eq!(denied["_meta"]["dev.tribune/decision"]["decision"], "deny");

    // A held call carries its approval id; once approved, the same call runs, and the AWS key
    // in its result reaches the agent redacted.
    let held = call(s, via, "get-env", &[]).await;
    assert_eq!(held["isError"], true, "{held:#}");
    let decision = &held["_meta"]["dev.tribune/decision"];
    assert_eq!(decision["decision"], "hold", "{held:#}");
    let approval = decision["approval_id"].as_str().unwrap();
    let (status, body) = s
        .api
        .post(&s.alice, &format!("/v1/approvals/{approval}/approve"), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let released = call(s, via, "get-env", &[]).await;
    let shown = text(&released);
    assert_ne!(released["isError"], true, "{released:#}");
    assert!(
        shown.contains("\"AWS_ACCESS_KEY_ID\": \"[REDACTED:aws-access-key]\""),
        "{shown}"
    );
    assert!(!shown.contains(AWS), "{shown}");
    assert_eq!(released["_meta"]["dev.tribune/outcome"]["release"], "redacted");

    // The tool whose description differs from its pin is not listed, so the Inspector, which
    // checks a call against the listing, does not even send it (the gateway would refuse it
    // with `tool_quarantined`: see the rmcp client's tests).
    assert!(
        list(s, mirror)
            .await
            .iter()
            .all(|(n, _)| n != "get-annotated-message")
    );
    let out = output(
        s,
        mirror,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "get-annotated-message",
            "--tool-arg",
            "messageType=success",
        ],
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("\"code\":\"tool_not_found\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inspector_is_governed_over_stdio_through_mcp_wrap() {
    let s = setup().await;
    governed(&s, Via::Wrap, Via::Wrap).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_inspector_is_governed_over_streamable_http_through_mcp_provider() {
    let s = setup().await;
    governed(&s, Via::Http("everything"), Via::Http("mirror")).await;
}
