//! The gateway crate's tests: the pure pieces (which tools are listed and how, how Tribune's
//! answers are read, what a refusal says) by data, and the core over an in-memory agent
//! connection in front of the real "everything" MCP server from npm (installed by
//! `scripts/test` into `tests/peers`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod dlp;
mod pins;
mod streamable;
mod support;
mod taint;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, Tool};
use rmcp::transport::TokioChildProcess;
use rmcp::{ServiceError, ServiceExt as _};
use serde_json::{Value, json};
use tribune_gateway::gateway::{denied, held, permitted_tools, undecided};
use tribune_gateway::http::{parse_tools, parse_verdict};
use tribune_gateway::{Access, DecisionId, Error, Hold, HttpGovernor, Reason, ToolGrant, Verdict};

fn grant(name: &str, access: Access, approvals: u32, mfa: bool) -> ToolGrant {
    ToolGrant {
        name: name.to_owned(),
        provider: String::new(),
        tier: "read".to_owned(),
        access,
        approvals,
        mfa,
    }
}

fn tool(name: &str, description: Option<&str>) -> Tool {
    let mut t = Tool::new(name.to_owned(), "", Arc::new(serde_json::Map::new()));
    t.description = description.map(|d| d.to_owned().into());
    t
}

/// Lists `tools` through `grants`; returns (name, description) in order.
fn check_listing(tools: &[(&str, Option<&str>)], grants: &[ToolGrant], expected: &[(&str, &str)]) {
    let tools = tools.iter().map(|(n, d)| tool(n, *d)).collect();
    let listed: Vec<(String, String)> = permitted_tools(tools, grants)
        .into_iter()
        .map(|t| (t.name.to_string(), t.description.unwrap_or_default().to_string()))
        .collect();
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, d)| ((*n).to_owned(), (*d).to_owned()))
        .collect();
    assert_eq!(listed, expected);
}

#[test]
fn only_granted_tools_are_listed_and_held_ones_say_so() {
    check_listing(
        &[
            ("search", Some("Search the docs.")),
            ("pay", Some("Send a payment.  ")),
            ("delete", Some("Delete everything.")),
            ("write", None),
            ("refund", Some("")),
        ],
        &[
            grant("refund", Access::Approval, 1, false),
            grant("pay", Access::Approval, 2, true),
            grant("search", Access::Alone, 0, false),
            grant("write", Access::Approval, 1, false),
            grant("not-on-the-server", Access::Alone, 0, false),
        ],
        &[
            ("search", "Search the docs."),
            (
                "pay",
                "Send a payment. Requires human approval (2 approvers, MFA) before it runs.",
            ),
            ("write", "Requires human approval (1 approver) before it runs."),
            ("refund", "Requires human approval (1 approver) before it runs."),
        ],
    );
    check_listing(&[("search", Some("x"))], &[], &[]);
}

/// Reads `body` as a decision and compares with `expected`.
fn check_verdict(body: Value, expected: Result<Verdict, &str>) {
    assert_eq!(parse_verdict(&body), expected.map_err(str::to_owned));
}

#[test]
fn decisions_are_read_as_the_api_gives_them() {
    check_verdict(
        json!({ "id": "d1", "decision": "allow", "reasons": [{ "stage": "policy", "code": "permitted", "rule": "p", "message": "ok" }] }),
        Ok(Verdict::Allow {
            decision: DecisionId("d1".to_owned()),
        }),
    );
    check_verdict(
        json!({ "id": "d2", "decision": "deny", "reasons": [{ "stage": "policy", "code": "forbidden", "rule": "no-secrets", "message": "no" }] }),
        Ok(Verdict::Deny {
            decision: Some(DecisionId("d2".to_owned())),
            reasons: vec![Reason {
                stage: "policy".to_owned(),
                code: "forbidden".to_owned(),
                rule: Some("no-secrets".to_owned()),
                message: "no".to_owned(),
            }],
        }),
    );
    check_verdict(
        json!({ "id": "d3", "decision": "hold", "approval_id": "a1", "approvals_required": 2, "mfa_required": true, "approval_state": "pending", "reasons": [] }),
        Ok(Verdict::Held(Hold {
            decision: DecisionId("d3".to_owned()),
            approval: Some("a1".to_owned()),
            approvals_required: 2,
            mfa: true,
            state: Some("pending".to_owned()),
            reasons: vec![],
            tainted: vec![],
        })),
    );
    let tainted = json!({ "argument": "message", "pointer": "/message", "kind": "iban", "source": "result", "tool": "get-env", "decision": "d0" });
    check_verdict(
        json!({ "id": "d5", "decision": "hold", "approvals_required": 1, "reasons": [], "tainted": [tainted] }),
        Ok(Verdict::Held(Hold {
            decision: DecisionId("d5".to_owned()),
            approval: None,
            approvals_required: 1,
            mfa: false,
            state: None,
            reasons: vec![],
            tainted: vec![tainted.clone()],
        })),
    );
    // Anything else is no decision, and so fails closed.
    check_verdict(json!({ "decision": "allow" }), Err("an allow without an `id`"));
    check_verdict(
        json!({ "id": "d4", "decision": "maybe" }),
        Err("`decision` is Some(\"maybe\"), not allow, deny or hold"),
    );
    check_verdict(json!([]), Err("`decision` is None, not allow, deny or hold"));
}

#[test]
fn tool_lists_are_read_as_the_api_gives_them() {
    let body = json!({ "tools": [
        { "name": "send_payment", "provider": "bank", "tier": "irreversible", "access": "approval", "approvals": 2, "mfa": true },
        { "name": "search", "tier": "read", "access": "alone", "approvals": 0, "mfa": false },
    ]});
    assert_eq!(
        parse_tools(&body).unwrap(),
        vec![
            ToolGrant {
                name: "send_payment".to_owned(),
                provider: "bank".to_owned(),
                tier: "irreversible".to_owned(),
                access: Access::Approval,
                approvals: 2,
                mfa: true,
            },
            grant("search", Access::Alone, 0, false),
        ]
    );
    assert!(parse_tools(&json!({ "tools": [{ "name": "x", "access": "sometimes" }] })).is_err());
    assert!(parse_tools(&json!({ "tools": [{ "access": "alone" }] })).is_err());
    assert!(parse_tools(&json!({})).is_err());
}

#[test]
fn refusals_are_error_results_that_explain_themselves() {
    let reasons = vec![Reason {
        stage: "policy".to_owned(),
        code: "forbidden".to_owned(),
        rule: Some("no-secrets".to_owned()),
        message: "the agent may not echo secrets".to_owned(),
    }];
    let d = denied("echo", Some(&DecisionId("d1".to_owned())), &reasons);
    assert_eq!(d.is_error, Some(true));
    assert_eq!(
        d.content[0].as_text().unwrap().text,
        "Tribune denied this call to `echo`; it was not made.\n- policy/forbidden [no-secrets]: the agent may not echo secrets\nDecision: d1"
    );
    assert_eq!(
        d.meta.unwrap().get("dev.tribune/decision").unwrap(),
        &json!({ "decision": "deny", "id": "d1", "reasons": [{ "stage": "policy", "code": "forbidden", "rule": "no-secrets", "message": "the agent may not echo secrets" }] })
    );

    let mut hold = Hold {
        decision: DecisionId("d2".to_owned()),
        approval: Some("a1".to_owned()),
        approvals_required: 2,
        mfa: true,
        state: Some("pending".to_owned()),
        reasons: vec![],
        tainted: vec![],
    };
    let h = held("pay", &hold);
    assert_eq!(h.is_error, Some(true));
    assert_eq!(
        h.content[0].as_text().unwrap().text,
        "Tribune is holding this call to `pay` until it has 2 human approvals with MFA; it was not made. Once the request is approved, make the same call with the same arguments again: the approval allows it once.\nApproval request: a1\nDecision: d2"
    );
    hold.state = Some("expired".to_owned());
    assert!(
        held("pay", &hold).content[0]
            .as_text()
            .unwrap()
            .text
            .starts_with("Tribune held this call to `pay` for 2 human approvals with MFA, and the approval request was expired; the call was not made.")
    );

    let u = undecided(
        "echo",
        &Error::Api {
            status: 503,
            code: "unrecorded".to_owned(),
            message: "disk full".to_owned(),
        },
    );
    assert_eq!(u.is_error, Some(true));
    assert_eq!(
        u.content[0].as_text().unwrap().text,
        "Tribune could not decide this call to `echo`, so it was not made: Tribune answered 503 `unrecorded`: disk full"
    );
}

#[test]
fn a_server_url_must_be_http() {
    for bad in ["127.0.0.1:8470", "ftp://x", ""] {
        assert!(matches!(
            HttpGovernor::new(bad, "t", Duration::ZERO, Duration::from_secs(1)),
            Err(Error::BadServerUrl(_))
        ));
    }
    assert!(
        HttpGovernor::new(
            "https://tribune.example/",
            "t",
            Duration::ZERO,
            Duration::from_secs(1)
        )
        .is_ok()
    );
}

fn everything() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/peers/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    assert!(
        path.exists(),
        "the everything MCP server is not installed: run `npm ci --prefix tests/peers` (scripts/test does)"
    );
    path
}

/// The core in front of the real everything server, the agent on an in-memory pipe, and a
/// Tribune that cannot be reached: calls and the tool list fail closed, everything else flows.
#[tokio::test(flavor = "multi_thread")]
async fn without_tribune_nothing_is_called_and_the_rest_still_flows() {
    let mut command = tokio::process::Command::new("node");
    command.arg(everything()).arg("stdio");
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child = tribune_gateway::connect_child(transport).await.unwrap();
    assert_eq!(
        child.peer().peer_info().unwrap().protocol_version,
        rmcp::model::ProtocolVersion::V_2025_11_25,
        "the everything server has no server/discover; the gateway falls back to initialize"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let governor = HttpGovernor::new(
        &format!("http://127.0.0.1:{port}"),
        "trb_x",
        Duration::ZERO,
        Duration::from_secs(2),
    )
    .unwrap();
    let (agent_end, gateway_end) = tokio::io::duplex(1 << 16);
    let gateway = tokio::spawn(tribune_gateway::serve(
        governor,
        child,
        gateway_end,
        "session-1".to_owned(),
        std::future::pending(),
    ));
    let client = ClientConfig::new(ClientCapabilities::default(), Implementation::new("test", "0"))
        .serve(agent_end)
        .await
        .unwrap();

    let result = client
        .call_tool(
            CallToolRequestParams::new("echo")
                .with_arguments(json!({ "message": "hi" }).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(result.is_error, Some(true));
    let text = &result.content[0].as_text().unwrap().text;
    assert!(
        text.starts_with(
            "Tribune could not decide this call to `echo`, so it was not made: cannot reach Tribune"
        ),
        "{text}"
    );

    match client.list_tools(None).await {
        Err(ServiceError::McpError(e)) => assert!(e.message.contains("so none are listed"), "{e:?}"),
        other => panic!("{other:?}"),
    }
    // Prompts, resources and completion are the real server's, passed through.
    let prompts = client.list_all_prompts().await.unwrap();
    assert!(prompts.iter().any(|p| p.name == "simple-prompt"), "{prompts:?}");
    let resources = client.list_all_resources().await.unwrap();
    assert!(!resources.is_empty());

    // The agent closing its side ends the gateway and the server with it.
    client.cancel().await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), gateway)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
