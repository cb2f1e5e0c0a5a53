//! Incident response against a real server: a denial burst opens one incident that stops the
//! agent, revokes its credentials, holds the evidence and is in the ledger; canary and
//! forbid-on-classification triggers; and closing, which only the right humans may do and which
//! lifts nothing the incident did.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{ADMIN, AGENT, Backend, TestServer};

on_both_backends!(
    a_denial_burst_stops_revokes_and_holds_the_evidence,
    canary_and_forbid_triggers_fire_on_their_calls_only,
    closing_is_governed_and_lifts_nothing,
);

/// The quick-start bundle with a canary tool and `triggers` (TOML) appended.
fn with_triggers(triggers: &'static str) -> impl FnOnce(&Path) {
    move |bundle: &Path| {
        let path = bundle.join("tribune.toml");
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(
            r#"
[tools.export_customers]
provider = "helpdesk"
tier = "read"
classification = "restricted"
description = "A honeytoken: no legitimate agent exports the customer base."
"#,
        );
        text.push_str(triggers);
        std::fs::write(path, text).unwrap();
    }
}

const BURST: &str = r#"
[[incidents.triggers]]
id = "denial-burst"
on = "denials"
count = 3
window_secs = 60
# Written in any order; they run stops first, notify last.
actions = ["notify", "legal_hold", "revoke_credentials", "stop_agent"]
"#;

const CANARY_AND_FORBID: &str = r#"
[[incidents.triggers]]
id = "honeytoken"
on = "canary"
tool = "export_customers"
actions = ["stop_class", "legal_hold"]

[[incidents.triggers]]
id = "refund-forbid"
on = "forbid"
classification = "confidential"
actions = ["legal_hold"]
"#;

const CANARY: &str = r#"
[[incidents.triggers]]
id = "honeytoken"
on = "canary"
tool = "export_customers"
actions = ["stop_agent", "legal_hold"]
"#;

fn deleting() -> Value {
    json!({ "tool": "update_ticket", "arguments": { "ticket_id": "T-9", "status": "deleted" } })
}

fn search() -> Value {
    json!({ "tool": "search_docs", "arguments": { "query": "q" } })
}

fn canary() -> Value {
    json!({ "tool": "export_customers", "arguments": {} })
}

/// The first reason of a decision: (stage, code).
fn reason(d: &Value) -> (&str, &str) {
    (
        d["reasons"][0]["stage"].as_str().unwrap_or_default(),
        d["reasons"][0]["code"].as_str().unwrap_or_default(),
    )
}

/// Waits until `n` incidents exist, each with its containment recorded; returns them, newest
/// first.
async fn incidents(s: &TestServer, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let list = s.get("/v1/incidents", ADMIN).await.expect(200).body["incidents"].clone();
        let list = list.as_array().unwrap().clone();
        assert!(list.len() <= n, "more incidents than expected: {list:#?}");
        if list.len() == n && list.iter().all(|i| i["ledger_index"].is_u64()) {
            return list;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no {n} contained incidents after 10 s: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ledger's entries as (event, details, correlation uid) of every governance event.
async fn events(s: &TestServer) -> Vec<(String, Value, Value)> {
    let entries = s
        .get("/v1/audit/entries?limit=10000", ADMIN)
        .await
        .expect(200)
        .body;
    entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let p: Value = serde_json::from_str(e["payload"].as_str()?).unwrap();
            let t = &p["unmapped"]["tribune"];
            Some((
                t["event"].as_str()?.to_owned(),
                t["details"].clone(),
                p["metadata"]["correlation_uid"].clone(),
            ))
        })
        .collect()
}

async fn a_denial_burst_stops_revokes_and_holds_the_evidence(backend: Backend) {
    let s = TestServer::start_with(backend, with_triggers(BURST)).await;
    // A credential taken before the burst works until then.
    let credential = s
        .post("/v1/credentials", &s.agent, json!({}))
        .await
        .expect(201)
        .body;
    let credential = credential["credential"].as_str().unwrap().to_owned();
    let d = s.decide(&credential, search()).await.expect(200).body;
    assert_eq!(d["decision"], "allow", "{d:#}");

    // Three forbidden calls within the window: each answered as decided, a plain deny.
    let mut indices = Vec::new();
    for _ in 0..3 {
        let d = s.decide(&s.agent, deleting()).await.expect(200).body;
        assert_eq!(reason(&d), ("policy", "forbidden"), "{d:#}");
        indices.push(d["ledger_index"].as_u64().unwrap());
    }
    let list = incidents(&s, 1).await;
    let incident = &list[0];
    let id = incident["id"].as_str().unwrap();
    assert_eq!(
        (
            &incident["trigger"],
            &incident["kind"],
            &incident["subject"],
            &incident["state"]
        ),
        (
            &json!("denial-burst"),
            &json!("denials"),
            &json!("agent:support-bot"),
            &json!("open")
        )
    );
    let (from, to) = (indices[0], indices[2]);
    assert_eq!(incident["evidence"], json!({ "from": from, "to": to }));
    assert_eq!(
        (&incident["detail"]["denials"], &incident["detail"]["window_secs"]),
        (&json!(3), &json!(60))
    );
    let checkpoint = &incident["checkpoint"];
    assert!(checkpoint["size"].as_u64().unwrap() > to, "{checkpoint:#}");
    assert!(
        checkpoint["note"]
            .as_str()
            .unwrap()
            .contains(checkpoint["root"].as_str().unwrap())
    );

    // The containment, in its fixed order, each step with its result.
    let actions = incident["actions"].as_array().unwrap();
    let steps: Vec<(&str, &str)> = actions
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("stop_agent", "done"),
            ("revoke_credentials", "done"),
            ("legal_hold", "done"),
            ("notify", "skipped"),
        ],
        "{actions:#?}"
    );
    assert_eq!(actions[0]["scope"], "agent:support-bot");
    assert_eq!(actions[1]["revoked"], 1);
    assert_eq!(
        (&actions[2]["from"], &actions[2]["to"]),
        (&json!(from), &json!(to))
    );
    let stop_id = actions[0]["stop"].as_str().unwrap();
    let hold_id = actions[2]["hold"].as_str().unwrap();

    // The agent is stopped: its next call is denied at the stop stage, by the incident's stop.
    let d = s.decide(&s.agent, search()).await.expect(200).body;
    assert_eq!(reason(&d), ("stop", "stopped"), "{d:#}");
    assert_eq!(d["reasons"][0]["rule"], format!("stop:{stop_id}"));
    // Its credential from before the burst is revoked.
    let d = s.decide(&credential, search()).await.expect(200).body;
    assert_eq!(reason(&d), ("authenticate", "credential_revoked"), "{d:#}");

    // The stop and the hold are real ones, made by `tribune`, released the usual way.
    let why = format!("incident {id}: denial-burst");
    let stops = s.get("/v1/stops", ADMIN).await.expect(200).body;
    assert_eq!(
        (
            &stops["stops"][0]["id"],
            &stops["stops"][0]["stopped_by"],
            &stops["stops"][0]["reason"]
        ),
        (&json!(stop_id), &json!("tribune"), &json!(why))
    );
    let holds = s.get("/v1/audit/holds", ADMIN).await.expect(200).body;
    let hold = &holds["holds"][0];
    assert_eq!(
        (
            &hold["id"],
            &hold["from"],
            &hold["to"],
            &hold["placed_by"],
            &hold["active"]
        ),
        (
            &json!(hold_id),
            &json!(from),
            &json!(to),
            &json!("tribune"),
            &json!(true)
        )
    );

    // Further denials while it is open open nothing more.
    for _ in 0..3 {
        s.decide(&credential, deleting()).await.expect(200);
        s.decide(&s.agent, deleting()).await.expect(200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(incidents(&s, 1).await[0]["id"], incident["id"]);

    // The record is in the ledger: the opening with everything above, and each step's entry,
    // all correlated with the incident.
    let events = events(&s).await;
    let opened: Vec<&(String, Value, Value)> = events.iter().filter(|e| e.0 == "incident_opened").collect();
    assert_eq!(opened.len(), 1, "{events:#?}");
    let (_, details, correlation) = opened[0];
    assert_eq!(correlation, &json!(id));
    for key in [
        "trigger",
        "subject",
        "evidence",
        "checkpoint",
        "actions",
        "detail",
    ] {
        assert_eq!(details[key], incident[key], "{key}");
    }
    for step in ["emergency_stop", "credentials_revoked", "legal_hold_placed"] {
        assert!(
            events.iter().any(|(e, _, c)| e == step && c == &json!(id)),
            "{step} missing: {events:#?}"
        );
    }
    let shown = s
        .get(&format!("/v1/incidents/{id}"), ADMIN)
        .await
        .expect(200)
        .body;
    assert_eq!(&shown, incident);
    s.stop().await;
}

async fn canary_and_forbid_triggers_fire_on_their_calls_only(backend: Backend) {
    let s = TestServer::start_with(backend, with_triggers(CANARY_AND_FORBID)).await;
    // A forbidden call on an `internal` tool is below the trigger's `confidential`.
    let d = s.decide(&s.agent, deleting()).await.expect(200).body;
    assert_eq!(reason(&d), ("policy", "forbidden"));
    // A refund over the limit is forbidden on a `confidential` tool: an incident, and the
    // decision stays what it was.
    let refund = json!({ "tool": "issue_refund", "arguments": { "order_id": "O-1", "amount": 900 } });
    let d = s.decide(&s.agent, refund).await.expect(200).body;
    assert_eq!(reason(&d), ("policy", "forbidden"), "{d:#}");
    let index = d["ledger_index"].as_u64().unwrap();
    let list = incidents(&s, 1).await;
    let forbid = &list[0];
    assert_eq!(
        (&forbid["trigger"], &forbid["kind"], &forbid["evidence"]),
        (
            &json!("refund-forbid"),
            &json!("forbid"),
            &json!({ "from": index, "to": index })
        )
    );
    assert_eq!(
        (
            &forbid["detail"]["decision"],
            &forbid["detail"]["rule"],
            &forbid["detail"]["classification"]
        ),
        (&d["id"], &json!("refund-limit"), &json!("confidential"))
    );
    assert_eq!(forbid["actions"][0]["result"], "done", "{forbid:#}");
    // Nothing stopped the agent: that trigger only holds the evidence.
    assert_eq!(
        s.decide(&s.agent, search()).await.expect(200).body["decision"],
        "allow"
    );

    // The canary fires whatever its decision (here an allow: the help-desk policy covers it;
    // the tool is the bait) and stops the agent's whole class.
    let d = s.decide(&s.agent, canary()).await.expect(200).body;
    assert_eq!(d["decision"], "allow", "{d:#}");
    let list = incidents(&s, 2).await;
    let honeytoken = &list[0];
    assert_eq!(
        (
            &honeytoken["trigger"],
            &honeytoken["kind"],
            &honeytoken["detail"]["tool"]
        ),
        (&json!("honeytoken"), &json!("canary"), &json!("export_customers"))
    );
    let stop = &honeytoken["actions"][0];
    assert_eq!(
        (&stop["action"], &stop["result"], &stop["scope"]),
        (&json!("stop_class"), &json!("done"), &json!("class:support"))
    );
    let d = s.decide(&s.agent, search()).await.expect(200).body;
    assert_eq!(reason(&d), ("stop", "stopped"), "{d:#}");
    let open = s
        .get("/v1/incidents?state=open&limit=10", ADMIN)
        .await
        .expect(200)
        .body;
    assert_eq!(open["incidents"].as_array().unwrap().len(), 2);
    s.stop().await;
}

async fn closing_is_governed_and_lifts_nothing(backend: Backend) {
    let s = TestServer::start_with(backend, with_triggers(CANARY)).await;
    // An admin's dry run is not the agent calling: it fires nothing.
    let dry = json!({ "agent": AGENT, "tool": "export_customers", "arguments": {} });
    s.decide(ADMIN, dry).await.expect(200);
    let d = s.decide(&s.agent, canary()).await.expect(200).body;
    let list = incidents(&s, 1).await;
    let index = d["ledger_index"].as_u64().unwrap();
    assert_eq!(
        list[0]["evidence"],
        json!({ "from": index, "to": index }),
        "fired by the dry run"
    );
    let id = list[0]["id"].as_str().unwrap().to_owned();
    let close = format!("/v1/incidents/{id}/close");

    // Who may read: not agents; auditors and holders of stop authority may.
    let carol = s.token("human", Some("carol")).await;
    let bob = s.token("human", Some("bob")).await;
    s.get("/v1/incidents", &s.agent)
        .await
        .expect_error(403, "forbidden");
    s.get(&format!("/v1/incidents/{id}"), &s.agent)
        .await
        .expect_error(403, "forbidden");
    s.get("/v1/incidents", &carol).await.expect(200);
    s.get(&format!("/v1/incidents/{id}"), &bob).await.expect(200);
    s.get("/v1/incidents/nope", &bob)
        .await
        .expect_error(404, "not_found");
    s.get("/v1/incidents?state=maybe", &bob)
        .await
        .expect_error(400, "invalid_query");

    // Who may close: a human with stop authority or the admin role; not an auditor, an agent
    // or the admin token.
    let because = json!({ "reason": "the agent's prompt was injected; rotated its secret" });
    for token in [carol.as_str(), s.agent.as_str(), ADMIN] {
        s.post(&close, token, because.clone())
            .await
            .expect_error(403, "forbidden");
    }
    s.post(&close, &bob, json!({ "reason": "  " }))
        .await
        .expect_error(422, "invalid_body");
    s.post(&close, &bob, json!({}))
        .await
        .expect_error(422, "invalid_body");
    s.post("/v1/incidents/nope/close", &bob, because.clone())
        .await
        .expect_error(404, "not_found");
    let closed = s.post(&close, &bob, because.clone()).await.expect(200).body;
    assert_eq!(
        (&closed["state"], &closed["closed_by"], &closed["close_reason"]),
        (&json!("closed"), &json!("human:bob"), &because["reason"])
    );
    assert!(closed["closed_at_ms"].is_u64() && closed["closed_ledger_index"].is_u64());
    let alice = s.token("human", Some("alice")).await;
    s.post(&close, &alice, because.clone())
        .await
        .expect_error(409, "conflict");

    // Closing lifts nothing: the stop and the hold stay.
    let d = s.decide(&s.agent, search()).await.expect(200).body;
    assert_eq!(reason(&d), ("stop", "stopped"), "{d:#}");
    let holds = s.get("/v1/audit/holds", ADMIN).await.expect(200).body;
    assert_eq!(holds["holds"][0]["active"], true);
    assert!(
        events(&s)
            .await
            .iter()
            .any(|(e, details, c)| e == "incident_closed" && details["by"] == "human:bob" && c == &json!(id))
    );
    let closed_list = s.get("/v1/incidents?state=closed", &carol).await.expect(200).body;
    assert_eq!(closed_list["incidents"][0]["id"], json!(id));
    let open = s.get("/v1/incidents?state=open", &carol).await.expect(200).body;
    assert_eq!(open["incidents"], json!([]));

    // Closed, the trigger is armed again: the canary called (and denied, stopped) opens another.
    s.decide(&s.agent, canary()).await.expect(200);
    let list = incidents(&s, 2).await;
    assert_ne!(list[0]["id"], json!(id));
    assert_eq!(list[0]["state"], "open");
    s.stop().await;
}
