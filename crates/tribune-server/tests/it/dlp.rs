//! Data governance over HTTP: DLP on a decision's arguments (deny, hold, flows), and the
//! outcome report that screens a tool's result and answers what to release — the result as
//! it is, redacted, or withheld — recording what was found and never the data.

use serde_json::{Value, json};

use crate::harness::{ADMIN, Backend, TestServer};

const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
const CARD: &str = "4111 1111 1111 1111";

/// The quick-start bundle with DLP actions: credentials are `confidential` and redacted (held
/// in arguments); cards keep the built-ins' default class, the top of the scale,
/// `restricted`, which is denied and may not leave for an external provider; e-mail
/// addresses are `internal` and pass, reported.
const DLP: &str = r#"
[dlp.classifications]
aws-access-key = "confidential"
email = "internal"

[dlp.actions]
confidential = "redact"
restricted = "deny"

[dlp.flows]
restricted = "internal"
"#;

async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |dir| {
        let manifest = dir.join("tribune.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{text}\n{DLP}")).unwrap();
    })
    .await
}

/// An MCP `CallToolResult` with one text block.
fn mcp(text: &str) -> Value {
    json!({ "content": [{ "type": "text", "text": text }], "isError": false })
}

/// An allowed `search_docs` call's decision id.
async fn allowed(s: &TestServer) -> String {
    let d = s
        .decide(
            &s.agent,
            json!({ "tool": "search_docs", "arguments": { "query": "refund policy" } }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(d["decision"], "allow", "{d:#}");
    d["id"].as_str().unwrap().to_owned()
}

async fn report(s: &TestServer, id: &str, body: Value) -> Value {
    s.post(&format!("/v1/decisions/{id}/outcome"), &s.agent, body)
        .await
        .expect(201)
        .body
}

/// The ledger entry at `index`, as text.
async fn ledger_text(s: &TestServer, index: &Value) -> String {
    let entry = s
        .get(&format!("/v1/audit/entries/{index}"), ADMIN)
        .await
        .expect(200)
        .body;
    entry.to_string()
}

on_both_backends!(
    a_result_with_a_secret_is_released_redacted,
    a_result_with_denied_data_is_withheld,
    clean_results_pass_and_no_result_says_whether_one_may,
    arguments_are_refused_or_held_by_their_data,
);

async fn a_result_with_a_secret_is_released_redacted(backend: Backend) {
    let s = start(backend).await;
    let id = allowed(&s).await;
    let answer = report(
        &s,
        &id,
        json!({
            "status": "succeeded",
            "summary": "result: 1 content block(s) [text]",
            "duration_ms": 3,
            "result": mcp(&format!("key {AWS} owned by ada@example.org")),
        }),
    )
    .await;
    assert_eq!(answer["release"], "redacted");
    assert_eq!(
        answer["result"],
        mcp("key [REDACTED:aws-access-key] owned by ada@example.org")
    );
    assert_eq!(
        answer["dlp"],
        json!({
            "classes": [
                { "class": "confidential", "action": "redact", "detectors": ["aws-access-key"], "findings": 1 },
                { "class": "internal", "action": "allow", "detectors": ["email"], "findings": 1 },
            ],
            "findings": [
                { "detector": "aws-access-key", "class": "confidential", "pointer": "/content/0/text" },
                { "detector": "email", "class": "internal", "pointer": "/content/0/text" },
            ],
            "findings_total": 2,
        })
    );
    // The record is the answer without the result and the ledger index; neither it nor the
    // ledger entry holds the key.
    let mut recorded = answer.clone();
    let object = recorded.as_object_mut().unwrap();
    object.remove("result");
    let index = object.remove("ledger_index").unwrap();
    let record = s
        .get(&format!("/v1/decisions/{id}"), &s.agent)
        .await
        .expect(200)
        .body;
    assert_eq!(record["outcome"], recorded);
    assert!(!record.to_string().contains(AWS), "{record:#}");
    let entry = ledger_text(&s, &index).await;
    assert!(entry.contains("aws-access-key"), "{entry}");
    assert!(!entry.contains(AWS), "{entry}");
    s.stop().await;
}

async fn a_result_with_denied_data_is_withheld(backend: Backend) {
    let s = start(backend).await;
    let id = allowed(&s).await;
    let answer = report(
        &s,
        &id,
        json!({
            "status": "succeeded",
            "result": mcp(&format!("card {CARD}, key {AWS}")),
        }),
    )
    .await;
    assert_eq!(answer["release"], "withheld");
    assert!(answer.get("result").is_none(), "{answer:#}");
    assert_eq!(answer["dlp"]["classes"][1]["class"], "restricted");
    assert_eq!(answer["dlp"]["classes"][1]["action"], "deny");
    assert_eq!(answer["dlp"]["findings_total"], 2);
    let text = answer.to_string();
    assert!(!text.contains(AWS) && !text.contains(CARD), "{text}");
    // Any JSON may be screened, not only MCP results: keys and numbers too.
    let id = allowed(&s).await;
    let answer = report(
        &s,
        &id,
        json!({ "status": "succeeded", "result": { "cards": [4_111_111_111_111_111_u64] } }),
    )
    .await;
    assert_eq!(answer["release"], "withheld");
    assert_eq!(
        answer["dlp"]["findings"],
        json!([{ "detector": "payment-card", "class": "restricted", "pointer": "/cards/0" }])
    );
    s.stop().await;
}

async fn clean_results_pass_and_no_result_says_whether_one_may(backend: Backend) {
    let s = start(backend).await;
    let id = allowed(&s).await;
    let answer = report(
        &s,
        &id,
        json!({ "status": "succeeded", "result": mcp("3 articles found") }),
    )
    .await;
    assert_eq!(answer["release"], "pass");
    assert!(answer.get("result").is_none());
    assert_eq!(
        answer["dlp"],
        json!({ "classes": [], "findings": [], "findings_total": 0 })
    );
    // Without a result: this bundle would act on some results, so none may go out unscreened.
    let id = allowed(&s).await;
    let answer = report(&s, &id, json!({ "status": "failed" })).await;
    assert_eq!(answer["release"], "withheld");
    assert!(answer.get("dlp").is_none());
    s.stop().await;

    // A bundle without DLP actions releases any result: only findings are reported.
    let s = TestServer::start(backend).await;
    let id = allowed(&s).await;
    let answer = report(&s, &id, json!({ "status": "succeeded" })).await;
    assert_eq!(answer["release"], "pass");
    let id = allowed(&s).await;
    let answer = report(
        &s,
        &id,
        json!({ "status": "succeeded", "result": mcp(&format!("key {AWS}")) }),
    )
    .await;
    assert_eq!(answer["release"], "pass");
    assert_eq!(answer["dlp"]["findings"][0]["detector"], "aws-access-key");
    assert_eq!(answer["dlp"]["classes"][0]["action"], "allow");
    s.stop().await;
}

async fn arguments_are_refused_or_held_by_their_data(backend: Backend) {
    let s = start(backend).await;
    let decide = |tool: &str, arguments: Value| {
        let body = json!({ "tool": tool, "arguments": arguments });
        let s = &s;
        async move { s.decide(&s.agent, body).await.expect(200).body }
    };
    let reason = |d: &Value| {
        let r = d["reasons"].as_array().unwrap().last().unwrap().clone();
        (r["stage"].clone(), r["code"].clone(), r["rule"].clone())
    };

    let d = decide("search_docs", json!({ "query": format!("card {CARD}") })).await;
    assert_eq!(d["decision"], "deny");
    assert_eq!(
        reason(&d),
        (
            json!("data_governance"),
            json!("dlp_blocked"),
            json!("dlp:payment-card")
        )
    );
    assert!(!d.to_string().contains(CARD), "{d:#}");

    // A class kept internal may not go to the payments provider, whatever its action.
    let d = decide("issue_refund", json!({ "order_id": CARD, "amount": 1 })).await;
    assert_eq!(
        reason(&d),
        (
            json!("data_governance"),
            json!("flow_forbidden"),
            json!("flow:restricted")
        )
    );

    // A redact class holds the call (arguments are never rewritten): one approval, though
    // reads run alone, and the request is opened like any hold.
    let d = decide("search_docs", json!({ "query": format!("who owns {AWS}?") })).await;
    assert_eq!(d["decision"], "hold");
    assert_eq!(d["approvals_required"], 1);
    assert_eq!(
        reason(&d),
        (
            json!("data_governance"),
            json!("dlp_hold"),
            json!("dlp:aws-access-key")
        )
    );
    assert!(d["approval_id"].is_string(), "{d:#}");
    assert!(!d.to_string().contains(AWS), "{d:#}");
    s.stop().await;
}
