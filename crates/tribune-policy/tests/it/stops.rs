//! The stop stage: a stop in force denies every call it covers, before arguments or policies
//! are judged, and nothing else.

use serde_json::{Value, json};
use tribune_policy::{Facts, PrincipalKind, Request, Snapshot, Stop, StopScope};

fn decide(s: &Snapshot, tool: &str, args: Value, stops: &[Stop]) -> Value {
    let req = Request {
        kind: PrincipalKind::Agent,
        principal: "support-bot",
        tool,
        arguments: &args,
        session: None,
        context: None,
    };
    let facts = Facts {
        calls_last_minute: 0,
        stops,
        ..Facts::default()
    };
    serde_json::to_value(s.decide(&req, &facts, 0)).unwrap()
}

fn stop(scope: &str) -> Stop {
    Stop {
        id: "stop-1".to_owned(),
        scope: StopScope::parse(scope).unwrap(),
        reason: "drill".to_owned(),
        by: "human:alice".to_owned(),
    }
}

#[test]
fn every_scope_covers_exactly_its_calls() {
    let s = crate::snapshot("quickstart");
    let search = || json!({ "query": "q" });
    // (scope, covers search_docs (helpdesk, read) by support-bot of class support)
    let cases = [
        ("all", true),
        ("class:support", true),
        ("class:other", false),
        ("agent:support-bot", true),
        ("agent:other-bot", false),
        ("service:support-bot", false),
        ("tool:search_docs", true),
        ("tool:issue_refund", false),
        ("provider:helpdesk", true),
        ("provider:payments", false),
    ];
    for (scope, covers) in cases {
        let d = decide(&s, "search_docs", search(), &[stop(scope)]);
        let stopped = d["reasons"][0]["code"] == "stopped";
        assert_eq!(stopped, covers, "{scope}: {d:#}");
        if covers {
            assert_eq!(d["decision"], "deny");
            assert_eq!(d["reasons"][0]["stage"], "stop");
            assert_eq!(d["reasons"][0]["rule"], "stop:stop-1");
            assert_eq!(d["reasons"][0]["message"], "stopped by human:alice: drill");
        } else {
            assert_eq!(d["decision"], "allow", "{scope}: {d:#}");
        }
    }
    // A stop wins before the arguments are even checked.
    let d = decide(&s, "search_docs", json!({ "nope": 1 }), &[stop("all")]);
    assert_eq!(d["reasons"][0]["code"], "stopped");
}

#[test]
fn scopes_parse_and_print_back() {
    for s in ["all", "class:a", "agent:b", "service:c", "tool:d", "provider:e"] {
        assert_eq!(StopScope::parse(s).unwrap().to_string(), s);
    }
    for bad in ["", "everything", "agent:", "pool:x", ":x"] {
        assert!(StopScope::parse(bad).is_err(), "{bad}");
    }
}
