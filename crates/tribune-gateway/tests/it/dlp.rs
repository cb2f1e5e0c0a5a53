//! DLP through the gateway: how the outcome's answer is read as what the agent gets, what a
//! withheld result says, and end to end — the real everything server behind the gateway core,
//! deciding through a real Tribune server (in process, SQLite) whose bundle redacts
//! credentials and denies card numbers — a secret in a result reaches the agent redacted.

use std::path::Path;

use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use tribune_gateway::gateway::{redacted, withheld};
use tribune_gateway::http::{Sent, parse_release};
use tribune_gateway::{DecisionId, Release, Withheld};
use tribune_store::TokenKind;

use crate::support::{self, call, meta, text, token};

const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
const CARD: &str = "4111 1111 1111 1111";

fn mcp(text: &str) -> Value {
    json!({ "content": [{ "type": "text", "text": text }], "isError": false })
}

fn outcome_meta(result: &CallToolResult) -> Value {
    meta(result, "dev.tribune/outcome")
}

/// Reads `answer` (having sent `sent`) and compares with `expected`.
fn check_release(answer: Value, sent: Sent, expected: Result<Release, &str>) {
    assert_eq!(
        parse_release(&answer, &sent),
        expected.map_err(str::to_owned),
        "{answer}"
    );
}

#[test]
fn outcome_answers_are_read_as_what_the_agent_gets() {
    let classes = json!({ "classes": [
        { "class": "confidential", "action": "redact", "detectors": ["aws-access-key", "github-token"], "findings": 2 },
        { "class": "internal", "action": "allow", "detectors": ["email"], "findings": 1 },
        { "class": "restricted", "action": "deny", "detectors": ["payment-card"], "findings": 1 },
    ], "findings": [], "findings_total": 4 });
    // A server that does not screen results says nothing: the result goes out.
    check_release(json!({ "status": "succeeded" }), Sent::Result, Ok(Release::AsIs));
    check_release(json!({ "release": "pass" }), Sent::Result, Ok(Release::AsIs));
    check_release(
        json!({ "release": "redacted", "result": mcp("key [REDACTED:aws-access-key]"), "dlp": classes }),
        Sent::Result,
        Ok(Release::Redacted {
            result: serde_json::from_value(mcp("key [REDACTED:aws-access-key]")).unwrap(),
            detectors: vec!["aws-access-key".to_owned(), "github-token".to_owned()],
        }),
    );
    check_release(
        json!({ "release": "withheld", "dlp": classes }),
        Sent::Result,
        Ok(Release::Withheld(Withheld::Dlp {
            classes: vec!["restricted".to_owned()],
            detectors: vec!["payment-card".to_owned()],
        })),
    );
    // A result too large to send goes out only if the bundle would release it unscreened.
    let big = Sent::Unsendable("the result is 300000 bytes".to_owned());
    check_release(json!({ "release": "pass" }), big.clone(), Ok(Release::AsIs));
    check_release(
        json!({ "release": "withheld" }),
        big,
        Ok(Release::Withheld(Withheld::Unscreened(
            "the result is 300000 bytes".to_owned(),
        ))),
    );
    // No result came back: nothing to release or withhold.
    check_release(json!({ "release": "withheld" }), Sent::Nothing, Ok(Release::AsIs));
    // Anything else fails closed (the gateway withholds on `Err`).
    let bad = parse_release(
        &json!({ "release": "redacted", "result": "not a result" }),
        &Sent::Result,
    );
    assert!(
        matches!(&bad, Err(e) if e.starts_with("the redacted `result` is not a tool result: invalid type: string")),
        "{bad:?}"
    );
    check_release(
        json!({ "release": "maybe" }),
        Sent::Result,
        Err("`release` is `maybe`, which does not fit what was sent"),
    );
    check_release(
        json!({ "release": 1 }),
        Sent::Result,
        Err("`release` is not a string: 1"),
    );
}

#[test]
fn withheld_and_redacted_results_say_so() {
    let d = DecisionId("d1".to_owned());
    let w = withheld(
        "echo",
        &d,
        &Withheld::Dlp {
            classes: vec!["phi".to_owned(), "restricted".to_owned()],
            detectors: vec!["mrn".to_owned(), "ssn".to_owned(), "payment-card".to_owned()],
        },
    );
    assert_eq!(w.is_error, Some(true));
    assert_eq!(
        text(&w),
        "Tribune withheld the result of this call to `echo`: it holds data classified `phi` and `restricted` (found by `mrn`, `ssn` and `payment-card`), which this deployment's DLP rules keep from the agent. The call was made; making it again will not release its result.\nDecision: d1"
    );
    assert_eq!(
        outcome_meta(&w),
        json!({ "release": "withheld", "decision": "d1", "classes": ["phi", "restricted"], "detectors": ["mrn", "ssn", "payment-card"] })
    );
    let u = withheld(
        "echo",
        &d,
        &Withheld::Unscreened("cannot reach Tribune".to_owned()),
    );
    assert_eq!(
        text(&u),
        "Tribune could not screen the result of this call to `echo`, so it is withheld: cannot reach Tribune. The call was made; making it again will not release its result.\nDecision: d1"
    );

    let mut result: CallToolResult = serde_json::from_value(mcp("[REDACTED:ssn]")).unwrap();
    let mut meta = rmcp::model::MetaObject::new();
    meta.insert("server/own".to_owned(), json!(1));
    result.meta = Some(meta);
    let r = redacted(result, &d, &["ssn".to_owned()]);
    assert_eq!(r.is_error, Some(false));
    assert_eq!(text(&r), "[REDACTED:ssn]");
    let meta = r.meta.unwrap();
    assert_eq!(meta.get("server/own"), Some(&json!(1)));
    assert_eq!(
        meta.get("dev.tribune/outcome"),
        Some(&json!({ "release": "redacted", "decision": "d1", "detectors": ["ssn"] }))
    );
}

const MANIFEST: &str = r#"
[deployment]
name = "example.com/gateway-dlp"

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

[tools.get-env]
provider = "everything"
tier = "read"

# Credentials are redacted in results (and, in arguments, hold the call for a human); every
# other built-in reports the top of the scale, `restricted`, which is denied either way.
[dlp.classifications]
aws-access-key = "confidential"

[dlp.actions]
confidential = "redact"
restricted = "deny"
"#;

const POLICY: &str = r#"
@id("helper-tools")
permit (principal in AgentClass::"assistant", action in [Action::"echo", Action::"get-env"], resource);
"#;

/// A Tribune server in process on the DLP bundle: its url and its state (for tokens).
async fn tribune(dir: &Path) -> (String, std::sync::Arc<tribune_server::AppState>) {
    support::tribune(dir, MANIFEST, &[("helper.cedar", POLICY)]).await
}

/// GET `path` on Tribune with `token`.
async fn get(url: &str, path: &str, token: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{url}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_in_a_result_reaches_the_agent_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let (url, state) = tribune(dir.path()).await;
    let agent = token(&state, TokenKind::Agent, "helper").await;
    let alice = token(&state, TokenKind::Human, "alice").await;

    // The server's environment holds an AWS key; `get-env` returns it.
    let client = support::gateway(&url, &agent, &[("AWS_ACCESS_KEY_ID", AWS)]).await;
    let result = call(&client, "get-env", json!({})).await;
    let shown = text(&result);
    assert_ne!(result.is_error, Some(true), "{shown}");
    assert!(
        shown.contains("\"AWS_ACCESS_KEY_ID\": \"[REDACTED:aws-access-key]\""),
        "{shown}"
    );
    assert!(!shown.contains(AWS), "{shown}");
    let meta = outcome_meta(&result);
    assert_eq!(meta["release"], "redacted");
    assert_eq!(meta["detectors"], json!(["aws-access-key"]));
    // The record has what was found and where, never the key.
    let id = meta["decision"].as_str().unwrap();
    let record = get(&url, &format!("/v1/decisions/{id}"), &agent).await;
    assert_eq!(record["outcome"]["release"], "redacted");
    assert_eq!(
        record["outcome"]["dlp"]["findings"],
        json!([{ "detector": "aws-access-key", "class": "confidential", "pointer": "/content/0/text" }])
    );
    assert!(!record.to_string().contains(AWS), "{record:#}");

    // Arguments carrying a card number are denied before anything is forwarded.
    let denied = call(&client, "echo", json!({ "message": format!("pay with {CARD}") })).await;
    let shown = text(&denied);
    assert_eq!(denied.is_error, Some(true));
    assert!(
        shown.starts_with("Tribune denied this call to `echo`; it was not made.")
            && shown.contains("data_governance/dlp_blocked [dlp:payment-card]"),
        "{shown}"
    );
    assert!(!shown.contains(CARD), "{shown}");

    // Echoing a credential: the arguments hold the call for a human (a call is never
    // rewritten); once alice approves, the same call runs, and its result is redacted.
    let message = json!({ "message": format!("my key is {AWS}") });
    let held = call(&client, "echo", message.clone()).await;
    let decision = held
        .meta
        .as_ref()
        .and_then(|m| m.get("dev.tribune/decision").cloned())
        .unwrap();
    assert_eq!(decision["decision"], "hold", "{}", text(&held));
    assert_eq!(decision["reasons"][1]["code"], "dlp_hold");
    let approval = decision["approval_id"].as_str().unwrap();
    let approved = reqwest::Client::new()
        .post(format!("{url}/v1/approvals/{approval}/approve"))
        .bearer_auth(&alice)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(approved.status().is_success(), "{:?}", approved.text().await);
    let echoed = call(&client, "echo", message).await;
    assert_eq!(text(&echoed), "Echo: my key is [REDACTED:aws-access-key]");
    assert_eq!(outcome_meta(&echoed)["release"], "redacted");
    client.cancel().await.unwrap();

    // A result with data of a denied class is withheld: the agent learns the classes only.
    let client = support::gateway(&url, &agent, &[("BILLING_CARD", CARD)]).await;
    let result = call(&client, "get-env", json!({})).await;
    let shown = text(&result);
    assert_eq!(result.is_error, Some(true));
    assert!(
        shown.starts_with(
            "Tribune withheld the result of this call to `get-env`: it holds data classified `restricted` (found by `payment-card`)"
        ),
        "{shown}"
    );
    assert!(!shown.contains(CARD), "{shown}");
    client.cancel().await.unwrap();
}
