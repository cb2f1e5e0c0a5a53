//! `tribune decide` offline: the five answers the quick start promises, with their reasons.

use crate::{stdout, tribune};

fn check(tool: &str, args: &str, expected_exit: i32) -> String {
    let out = tribune(&[
        "decide",
        "--bundle",
        "examples/quickstart",
        "--agent",
        "support-bot",
        "--tool",
        tool,
        "--args",
        args,
    ]);
    assert_eq!(
        out.status.code(),
        Some(expected_exit),
        "{}{}",
        stdout(&out),
        crate::stderr(&out)
    );
    stdout(&out)
}

#[test]
fn read_is_allowed() {
    insta::assert_snapshot!(check("search_docs", r#"{"query": "refunds"}"#, 0));
}

#[test]
fn write_is_held_for_one_approval() {
    insta::assert_snapshot!(check(
        "update_ticket",
        r#"{"ticket_id": "T-1", "status": "solved"}"#,
        3
    ));
}

#[test]
fn irreversible_is_held_for_two_approvals_with_mfa() {
    insta::assert_snapshot!(check("issue_refund", r#"{"order_id": "O-1", "amount": 25}"#, 3));
}

#[test]
fn undeclared_tool_is_denied() {
    insta::assert_snapshot!(check("wire_money", r#"{}"#, 1));
}

#[test]
fn cedar_forbid_on_an_argument_is_denied() {
    insta::assert_snapshot!(check("issue_refund", r#"{"order_id": "O-1", "amount": 501}"#, 1));
}

#[test]
fn json_output_is_the_decision_object() {
    let out = tribune(&[
        "decide",
        "--bundle",
        "examples/quickstart",
        "--agent",
        "support-bot",
        "--tool",
        "search_docs",
        "--args",
        r#"{"query": "x"}"#,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["reasons"][0]["rule"], "support-may-use-helpdesk");
}

#[test]
fn bad_arguments_json_is_an_error_not_a_decision() {
    let out = tribune(&[
        "decide",
        "--bundle",
        "examples/quickstart",
        "--agent",
        "support-bot",
        "--tool",
        "search_docs",
        "--args",
        "{",
    ]);
    assert_eq!(out.status.code(), Some(4));
}
