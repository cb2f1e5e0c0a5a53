//! The vetting stage: a quarantined tool, a rejected or expired provider and (when `[vetting]
//! required`) an unvetted one are denied after the stops and before Cedar; probation holds
//! for at least one approval. `decide` and `decide_reference` agree on every case.

use serde_json::{Value, json};
use tribune_policy::vetting::{description, description_hash};
use tribune_policy::{Facts, PrincipalKind, Request, Snapshot, Stop, StopScope, VettingFacts, VettingStatus};

fn snapshot(required: bool) -> Snapshot {
    let mut bundle = tribune_bundle::load_dir(&crate::examples_dir().join("quickstart")).unwrap();
    bundle.vetting.required = required;
    Snapshot::build(bundle).unwrap()
}

/// `outcome approvals stage/code` of the deciding reason.
fn decide(s: &Snapshot, tool: &str, args: Value, vetting: VettingFacts, stops: &[Stop]) -> String {
    let req = Request {
        kind: PrincipalKind::Agent,
        principal: "support-bot",
        tool,
        arguments: &args,
        session: None,
        context: None,
    };
    let facts = Facts {
        vetting,
        stops,
        ..Facts::default()
    };
    let d = s.decide(&req, &facts, 0);
    assert_eq!(
        d,
        s.decide_reference(&req, &facts, 0),
        "decide and decide_reference disagree"
    );
    let v = serde_json::to_value(&d).unwrap();
    let r = serde_json::to_value(d.primary_reason().unwrap()).unwrap();
    format!(
        "{} {} {}/{}",
        v["decision"].as_str().unwrap(),
        v["approvals_required"],
        r["stage"].as_str().unwrap(),
        r["code"].as_str().unwrap()
    )
}

fn facts(provider: VettingStatus, tool_quarantined: bool) -> VettingFacts {
    VettingFacts {
        provider,
        tool_quarantined,
    }
}

#[test]
fn each_status_gates_the_call() {
    use VettingStatus::*;
    let search = || json!({ "query": "q" });
    let ticket = || json!({ "ticket_id": "T-1", "status": "open" });
    // (required, status, quarantined, tool, arguments, expected)
    let cases = [
        (
            false,
            Unvetted,
            false,
            "search_docs",
            search(),
            "allow 0 policy/permitted",
        ),
        (
            true,
            Unvetted,
            false,
            "search_docs",
            search(),
            "deny 0 vetting/provider_unvetted",
        ),
        (
            true,
            Approved,
            false,
            "search_docs",
            search(),
            "allow 0 policy/permitted",
        ),
        (
            false,
            Rejected,
            false,
            "search_docs",
            search(),
            "deny 0 vetting/provider_rejected",
        ),
        (
            false,
            Expired,
            false,
            "search_docs",
            search(),
            "deny 0 vetting/vetting_expired",
        ),
        (
            true,
            Expired,
            false,
            "search_docs",
            search(),
            "deny 0 vetting/vetting_expired",
        ),
        (
            false,
            Probation,
            false,
            "search_docs",
            search(),
            "hold 1 vetting/provider_probation",
        ),
        // Probation adds nothing to a call already held for one approval.
        (
            false,
            Probation,
            false,
            "update_ticket",
            ticket(),
            "hold 1 autonomy/approval_required",
        ),
        (
            false,
            Approved,
            true,
            "search_docs",
            search(),
            "deny 0 vetting/tool_quarantined",
        ),
        (
            true,
            Unvetted,
            true,
            "search_docs",
            search(),
            "deny 0 vetting/tool_quarantined",
        ),
    ];
    let snapshots = [snapshot(false), snapshot(true)];
    for (required, status, quarantined, tool, args, expected) in cases {
        let s = &snapshots[usize::from(required)];
        let got = decide(s, tool, args, facts(status, quarantined), &[]);
        assert_eq!(
            got, expected,
            "required={required} {status:?} quarantined={quarantined} {tool}"
        );
    }
}

#[test]
fn stops_come_before_vetting_and_vetting_before_policy() {
    let s = snapshot(true);
    let stop = Stop {
        id: "stop-1".to_owned(),
        scope: StopScope::parse("all").unwrap(),
        reason: "drill".to_owned(),
        by: "human:alice".to_owned(),
    };
    let unvetted = VettingFacts::default();
    assert_eq!(
        decide(&s, "search_docs", json!({ "query": "q" }), unvetted, &[stop]),
        "deny 0 stop/stopped"
    );
    // Ticket deletion is forbidden by policy, but the vetting stage answers first.
    assert_eq!(
        decide(
            &s,
            "update_ticket",
            json!({ "ticket_id": "T-1", "status": "deleted" }),
            unvetted,
            &[]
        ),
        "deny 0 vetting/provider_unvetted"
    );
}

#[test]
fn a_stored_record_is_judged_at_the_decision_time() {
    use VettingStatus::*;
    let cases = [
        ("approved", 1000, 999, Some(Approved)),
        ("approved", 1000, 1000, Some(Expired)),
        ("probation", 1000, 10, Some(Probation)),
        ("probation", 1000, 2000, Some(Expired)),
        ("rejected", 0, 2000, Some(Rejected)),
        ("pending", 1000, 0, None),
    ];
    for (status, expires, now, expected) in cases {
        assert_eq!(
            VettingStatus::of_record(status, expires, now),
            expected,
            "{status} at {now}"
        );
    }
}

#[test]
fn the_pin_is_sha256_of_rfc8785_json() {
    let schema =
        json!({ "type": "object", "required": ["query"], "properties": { "query": { "type": "string" } } });
    let value = description("search_docs", Some("Search the product documentation."), &schema);
    // sha256 of `{"description":"Search the product documentation.","inputSchema":{"properties":
    // {"query":{"type":"string"}},"required":["query"],"type":"object"},"name":"search_docs"}`.
    assert_eq!(
        description_hash(&value).unwrap(),
        "731d510826295e430bd7457ef34f9184999d37bcda7142cd5bd8f631f130636c"
    );
    // Key order and whitespace do not matter; a changed description or schema does.
    let reordered: Value = serde_json::from_str(
        r#"{ "name": "search_docs", "inputSchema": { "properties": { "query": { "type": "string" } },
             "type": "object", "required": ["query"] }, "description": "Search the product documentation." }"#,
    )
    .unwrap();
    assert_eq!(description_hash(&reordered), description_hash(&value));
    let changed = description("search_docs", Some("Search the docs."), &schema);
    assert_ne!(description_hash(&changed), description_hash(&value));
    let no_description = description("search_docs", None, &schema);
    assert_ne!(description_hash(&no_description), description_hash(&value));
}
