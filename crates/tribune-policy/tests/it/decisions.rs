//! Decisions on the example bundles: one `check` per case, snapshot of the decision.

use serde_json::{Value, json};
use tribune_policy::{Facts, PrincipalKind, Request, Snapshot};

/// 2026-11-26T10:00:00Z
const NOW: i64 = 1_795_687_200_000;

fn check(snapshot: &Snapshot, agent: &str, tool: &str, args: Value, facts: Facts) -> Value {
    let req = Request {
        kind: PrincipalKind::Agent,
        principal: agent,
        tool,
        arguments: &args,
        session: Some("s-1"),
        context: None,
    };
    let d = snapshot.decide(&req, &facts, NOW);
    let mut v = serde_json::to_value(&d).unwrap();
    v.as_object_mut().unwrap().remove("bundle");
    v
}

#[test]
fn quickstart_read_is_allowed() {
    let s = crate::snapshot("quickstart");
    insta::assert_json_snapshot!(check(
        &s,
        "support-bot",
        "search_docs",
        json!({"query": "refund policy"}),
        Facts::default()
    ));
}

#[test]
fn quickstart_write_is_held_for_one_approval() {
    let s = crate::snapshot("quickstart");
    insta::assert_json_snapshot!(check(
        &s,
        "support-bot",
        "update_ticket",
        json!({"ticket_id": "T-1", "status": "solved"}),
        Facts::default()
    ));
}

#[test]
fn quickstart_irreversible_is_held_for_two_approvals_with_mfa() {
    let s = crate::snapshot("quickstart");
    insta::assert_json_snapshot!(check(
        &s,
        "support-bot",
        "issue_refund",
        json!({"order_id": "O-9", "amount": 120.5}),
        Facts::default()
    ));
}

#[test]
fn quickstart_forbid_on_an_argument_denies() {
    let s = crate::snapshot("quickstart");
    insta::assert_json_snapshot!(check(
        &s,
        "support-bot",
        "issue_refund",
        json!({"order_id": "O-9", "amount": 900}),
        Facts::default()
    ));
}

#[test]
fn quickstart_undeclared_tool_is_denied() {
    let s = crate::snapshot("quickstart");
    insta::assert_json_snapshot!(check(
        &s,
        "support-bot",
        "drop_database",
        json!({}),
        Facts::default()
    ));
}

#[test]
fn quickstart_undeclared_agent_is_denied() {
    let s = crate::snapshot("quickstart");
    insta::assert_json_snapshot!(check(
        &s,
        "mallory",
        "search_docs",
        json!({"query": "x"}),
        Facts::default()
    ));
}

#[test]
fn quickstart_arguments_must_fit_the_schema() {
    let s = crate::snapshot("quickstart");
    insta::assert_json_snapshot!(check(
        &s,
        "support-bot",
        "issue_refund",
        json!({"order_id": 7, "amount": 1}),
        Facts::default()
    ));
}

#[test]
fn quickstart_quota_is_enforced() {
    let s = crate::snapshot("quickstart");
    insta::assert_json_snapshot!(check(
        &s,
        "support-bot",
        "search_docs",
        json!({"query": "x"}),
        Facts {
            calls_last_minute: 120,
            ..Facts::default()
        }
    ));
}
