//! The vetting stage: a quarantined tool, a rejected or expired provider and (unless `[vetting]
//! required = false`) an unvetted one are denied after the stops and before Cedar; probation
//! holds for at least one approval. Without a run-time record the bundle's declaration
//! decides; with both, the later is current. `decide` and `decide_reference` agree on every
//! case.

use serde_json::{Value, json};
use tribune_bundle::VettingVerdict;
use tribune_policy::vetting::{Current, current, description, description_hash};
use tribune_policy::{Facts, PrincipalKind, Request, Snapshot, Stop, StopScope, VettingFacts, VettingStatus};

/// The quick start without its declared vettings, so the facts alone decide.
fn snapshot(required: bool) -> Snapshot {
    let mut bundle = tribune_bundle::load_dir(&crate::examples_dir().join("quickstart")).unwrap();
    bundle.vetting.required = required;
    for p in bundle.providers.values_mut() {
        p.vetting = None;
    }
    Snapshot::build(bundle).unwrap()
}

/// The quick start with `helpdesk`'s declared vetting replaced by `status`, reviewed on
/// 2026-11-20 and expiring on 2027-11-30.
fn declared(status: VettingVerdict) -> Snapshot {
    let mut bundle = tribune_bundle::load_dir(&crate::examples_dir().join("quickstart")).unwrap();
    let declared = bundle
        .providers
        .get_mut("helpdesk")
        .unwrap()
        .vetting
        .as_mut()
        .unwrap();
    declared.status = status;
    assert_eq!(
        (declared.reviewed_at_ms(), declared.expires_at_ms()),
        (REVIEWED, EXPIRES)
    );
    Snapshot::build(bundle).unwrap()
}

/// 2026-11-20T00:00:00Z and 2027-11-30T00:00:00Z, the quick start's declared dates.
const REVIEWED: i64 = 1_795_132_800_000;
const EXPIRES: i64 = 1_827_532_800_000;

/// `decide` with the facts' `Unvetted` (no run-time record) at `now`.
fn decide_at(s: &Snapshot, now: i64) -> String {
    let args = json!({ "query": "q" });
    let req = Request {
        kind: PrincipalKind::Agent,
        principal: "support-bot",
        tool: "search_docs",
        arguments: &args,
        session: None,
        context: None,
    };
    let facts = Facts::default();
    let d = s.decide(&req, &facts, now);
    assert_eq!(d, s.decide_reference(&req, &facts, now));
    let r = serde_json::to_value(d.primary_reason().unwrap()).unwrap();
    format!(
        "{} {}/{}",
        serde_json::to_value(&d).unwrap()["decision"].as_str().unwrap(),
        r["stage"].as_str().unwrap(),
        r["code"].as_str().unwrap()
    )
}

#[test]
fn without_a_run_time_record_the_bundle_declaration_decides() {
    use VettingVerdict::*;
    let cases = [
        (Approved, REVIEWED, "allow policy/permitted"),
        // A declaration applies before its review day too, while nothing was recorded.
        (Approved, 0, "allow policy/permitted"),
        (Approved, EXPIRES - 1, "allow policy/permitted"),
        (Approved, EXPIRES, "deny vetting/vetting_expired"),
        (Probation, REVIEWED, "hold vetting/provider_probation"),
        (Probation, EXPIRES, "deny vetting/vetting_expired"),
        (Rejected, REVIEWED, "deny vetting/provider_rejected"),
        (Rejected, EXPIRES, "deny vetting/provider_rejected"),
    ];
    for (status, now, expected) in cases {
        assert_eq!(decide_at(&declared(status), now), expected, "{status:?} at {now}");
    }
    // The run-time facts, when the caller found a record, are what the stage judges.
    let s = declared(Approved);
    assert_eq!(
        decide(
            &s,
            "search_docs",
            json!({ "query": "q" }),
            facts(VettingStatus::Rejected, false),
            &[]
        ),
        "deny 0 vetting/provider_rejected"
    );
}

#[test]
fn the_later_record_is_current() {
    let bundle = tribune_bundle::load_dir(&crate::examples_dir().join("quickstart")).unwrap();
    let d = bundle.providers["helpdesk"].vetting.as_ref().unwrap();
    let recorded = |at: i64| Current::Recorded {
        status: "rejected",
        vetted_at_ms: at,
        expires_at_ms: i64::MAX,
    };
    let now = EXPIRES - 1;
    // (declared, recorded, now, current)
    let cases = [
        (None, Current::None, now, Current::None),
        (Some(d), Current::None, now, Current::Declared(d)),
        (None, recorded(REVIEWED - 1), now, recorded(REVIEWED - 1)),
        // Recorded before the review: the declaration is later.
        (Some(d), recorded(REVIEWED - 1), now, Current::Declared(d)),
        // A tie, or recorded after the review: the run-time record.
        (Some(d), recorded(REVIEWED), now, recorded(REVIEWED)),
        (Some(d), recorded(REVIEWED + 1), now, recorded(REVIEWED + 1)),
        // A review dated after now does not supersede a run-time record.
        (Some(d), recorded(0), REVIEWED - 1, recorded(0)),
    ];
    for (declared, recorded, now, expected) in cases {
        assert_eq!(
            current(declared, recorded, now),
            expected,
            "{recorded:?} at {now}"
        );
    }
    assert_eq!(Current::Declared(d).status(now), VettingStatus::Approved);
    assert_eq!(Current::Declared(d).status(EXPIRES), VettingStatus::Expired);
    assert_eq!(recorded(0).status(now), VettingStatus::Rejected);
    let unknown = Current::Recorded {
        status: "pending",
        vetted_at_ms: 0,
        expires_at_ms: i64::MAX,
    };
    assert_eq!(unknown.status(now), VettingStatus::Rejected, "fail closed");
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
