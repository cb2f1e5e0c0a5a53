//! Incident response against a real server: a denial burst opens one incident that stops the
//! agent, revokes its credentials and suspends it, holds the evidence and is in the ledger;
//! canary, forbid, DLP (in arguments and in results), trust and drill triggers; a containment
//! step whose change cannot be recorded says it failed; and closing, which only the right
//! humans may do and which lifts nothing the incident did.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{ADMIN, AGENT, Backend, TestServer, manifest_tail};

on_both_backends!(
    a_denial_burst_stops_revokes_and_holds_the_evidence,
    canary_and_forbid_triggers_fire_on_their_calls_only,
    closing_is_governed_and_lifts_nothing,
    a_dlp_hit_in_the_arguments_opens_an_incident,
    a_withheld_result_weighs_on_trust_and_opens_a_dlp_incident,
    falling_trust_opens_incidents_for_agents_and_providers,
    a_failed_drill_opens_an_incident_over_its_entries,
    a_step_whose_change_cannot_be_recorded_fails,
);

/// The quick-start bundle with a canary tool and `triggers` (TOML) appended.
fn with_triggers(triggers: &'static str) -> impl FnOnce(&Path) {
    manifest_tail(format!(
        r#"
[tools.export_customers]
provider = "helpdesk"
tier = "read"
classification = "restricted"
description = "A honeytoken: no legitimate agent exports the customer base."
{triggers}"#
    ))
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
    s.ledger_events()
        .await
        .into_iter()
        .filter(|e| !e.event.is_empty())
        .map(|e| {
            let correlation = e.payload["metadata"]["correlation_uid"].clone();
            (e.event.clone(), e.details().clone(), correlation)
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

    // The agent is suspended (so its token and its credential from before the burst are both
    // refused first, at authentication) and may not mint a fresh credential.
    assert_eq!(actions[1]["suspended"], true);
    for token in [s.agent.as_str(), credential.as_str()] {
        let d = s.decide(token, search()).await.expect(200).body;
        assert_eq!(reason(&d), ("authenticate", "identity_suspended"), "{d:#}");
    }
    s.post("/v1/credentials", &s.agent, json!({}))
        .await
        .expect_error(403, "forbidden");

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
    for key in ["trigger", "subject", "evidence", "detail"] {
        assert_eq!(details[key], incident[key], "{key}");
    }
    let contained: Vec<&(String, Value, Value)> =
        events.iter().filter(|e| e.0 == "incident_contained").collect();
    assert_eq!(contained.len(), 1, "{events:#?}");
    let (_, details, correlation) = contained[0];
    assert_eq!(correlation, &json!(id));
    for key in ["checkpoint", "actions"] {
        assert_eq!(details[key], incident[key], "{key}");
    }
    assert_eq!(details["opened_ledger_index"], incident["ledger_index"]);
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

const CARD: &str = "4111 1111 1111 1111";

/// Cards keep the built-ins' class, the top of the scale (`restricted`), and are denied in
/// arguments and withheld from results; e-mail addresses are `internal` and pass.
const DLP: &str = r#"
[dlp.classifications]
email = "internal"

[dlp.actions]
restricted = "deny"
"#;

const DLP_TRIGGER: &str = r#"
[[incidents.triggers]]
id = "card-leak"
on = "dlp"
classification = "confidential"
actions = ["legal_hold"]
"#;

/// The subject's trust record.
async fn trust_of(s: &TestServer, subject: &str) -> Value {
    s.get(&format!("/v1/trust/{subject}"), ADMIN)
        .await
        .expect(200)
        .body
}

/// The subject's trust record once its history holds an event of `kind` (an incident's is
/// written just after the incident's containment is).
async fn trust_with(s: &TestServer, subject: &str, kind: &str) -> Value {
    let start = Instant::now();
    loop {
        let trust = trust_of(s, subject).await;
        if trust["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == kind)
        {
            return trust;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no {kind} event for {subject}: {trust:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_dlp_hit_in_the_arguments_opens_an_incident(backend: Backend) {
    let s = TestServer::start_with(backend, manifest_tail(format!("{DLP}{DLP_TRIGGER}"))).await;
    // Data the bundle lets pass is no hit.
    let d = s
        .decide(
            &s.agent,
            json!({ "tool": "search_docs", "arguments": { "query": "mail a@example.com" } }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(d["decision"], "allow", "{d:#}");
    // A card in a public tool's arguments: the data's class reaches the trigger's.
    let d = s
        .decide(
            &s.agent,
            json!({ "tool": "search_docs", "arguments": { "query": format!("card {CARD}") } }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(d["decision"], "deny", "{d:#}");
    let index = d["ledger_index"].as_u64().unwrap();
    let list = incidents(&s, 1).await;
    let incident = &list[0];
    assert_eq!(
        (
            &incident["trigger"],
            &incident["kind"],
            &incident["subject"],
            &incident["evidence"]
        ),
        (
            &json!("card-leak"),
            &json!("dlp"),
            &json!("agent:support-bot"),
            &json!({ "from": index, "to": index })
        )
    );
    assert_eq!(
        (
            &incident["detail"]["decision"],
            &incident["detail"]["data_class"],
            &incident["detail"]["code"],
            &incident["detail"]["rule"]
        ),
        (
            &d["id"],
            &json!("restricted"),
            &json!("dlp_blocked"),
            &json!("dlp:payment-card")
        )
    );
    assert_eq!(
        (
            &incident["actions"][0]["action"],
            &incident["actions"][0]["result"]
        ),
        (&json!("legal_hold"), &json!("done"))
    );
    assert!(!incident.to_string().contains(CARD), "{incident:#}");
    // The hit cost the agent a `dlp` event about the decision, the incident an `incident`
    // event about the incident (both at their default weights).
    let trust = trust_with(&s, "agent:support-bot", "incident").await;
    let event = |kind: &str| {
        trust["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == kind)
            .map(|e| (e["delta"].clone(), e["reference"].clone()))
    };
    assert_eq!(event("dlp"), Some((json!(-50), d["id"].clone())), "{trust:#}");
    assert_eq!(
        event("incident"),
        Some((json!(-200), incident["id"].clone())),
        "{trust:#}"
    );
    s.stop().await;
}

async fn a_withheld_result_weighs_on_trust_and_opens_a_dlp_incident(backend: Backend) {
    let s = TestServer::start_with(backend, manifest_tail(format!("{DLP}{DLP_TRIGGER}"))).await;
    let d = s
        .decide(
            &s.agent,
            json!({ "tool": "search_docs", "arguments": { "query": "q" } }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(d["decision"], "allow", "{d:#}");
    let id = d["id"].as_str().unwrap();
    let before_agent = trust_of(&s, "agent:support-bot").await["score"].as_i64().unwrap();
    let before_provider = trust_of(&s, "provider:helpdesk").await["score"].as_i64().unwrap();
    let result = json!({ "content": [{ "type": "text", "text": format!("card {CARD}") }], "isError": false });
    let answer = s
        .post(
            &format!("/v1/decisions/{id}/outcome"),
            &s.agent,
            json!({ "status": "succeeded", "result": result }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(answer["release"], "withheld", "{answer:#}");
    let index = answer["ledger_index"].as_u64().unwrap();

    // Trust: a `dlp` event against the agent (-50) and, lightly, the provider that returned
    // the data (-5), both about the decision, written before the report was answered.
    let agent = trust_of(&s, "agent:support-bot").await;
    let provider = trust_of(&s, "provider:helpdesk").await;
    // (The incident this opens costs the agent too, once it is open: its event may be in.)
    let incident_cost: i64 = agent["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "incident")
        .map(|e| e["delta"].as_i64().unwrap())
        .sum();
    assert_eq!(
        agent["score"].as_i64().unwrap(),
        before_agent - 50 + incident_cost,
        "{agent:#}"
    );
    assert_eq!(
        provider["score"].as_i64().unwrap(),
        before_provider - 5,
        "{provider:#}"
    );
    for (trust, delta) in [(&agent, -50), (&provider, -5)] {
        let dlp: Vec<&Value> = trust["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "dlp")
            .collect();
        assert_eq!(dlp.len(), 1, "{trust:#}");
        assert_eq!(
            (&dlp[0]["delta"], &dlp[0]["reference"]),
            (&json!(delta), &json!(id)),
            "{trust:#}"
        );
    }

    // The incident: the outcome's entry is its evidence.
    let list = incidents(&s, 1).await;
    let incident = &list[0];
    assert_eq!(
        (&incident["kind"], &incident["subject"], &incident["evidence"]),
        (
            &json!("dlp"),
            &json!("agent:support-bot"),
            &json!({ "from": index, "to": index })
        )
    );
    assert_eq!(
        (
            &incident["detail"]["decision"],
            &incident["detail"]["release"],
            &incident["detail"]["data_class"]
        ),
        (&json!(id), &json!("withheld"), &json!("restricted"))
    );
    assert_eq!(incident["actions"][0]["result"], "done", "{incident:#}");
    s.stop().await;
}

/// Scores start at 900 and barely decay; a forbid hit costs the agent 300 and the tool's
/// provider 300; a score under 500 opens an incident that contains its subject.
const TRUST_BELOW: &str = r#"
[trust]
baseline = 900
review_below = 400
block_below = 100
half_life_hours = 8760

[trust.events]
forbidden = -300
provider_forbidden = -300

[[incidents.triggers]]
id = "untrusted"
on = "trust_below"
threshold = 500
actions = ["stop_agent", "revoke_credentials", "legal_hold"]
"#;

async fn falling_trust_opens_incidents_for_agents_and_providers(backend: Backend) {
    let s = TestServer::start_with(backend, manifest_tail(TRUST_BELOW)).await;
    let first = s.decide(&s.agent, deleting()).await.expect(200).body;
    assert_eq!(reason(&first), ("policy", "forbidden"), "{first:#}");
    assert_eq!(
        s.get("/v1/incidents", ADMIN).await.expect(200).body["incidents"],
        json!([]),
        "600 is above the threshold"
    );
    let second = s.decide(&s.agent, deleting()).await.expect(200).body;
    assert_eq!(reason(&second), ("policy", "forbidden"), "{second:#}");
    let index = second["ledger_index"].as_u64().unwrap();

    // Both fell to 300: one incident for the agent, one for the provider, each holding the
    // forbid hit that moved the score.
    let list = incidents(&s, 2).await;
    let of = |subject: &str| {
        list.iter()
            .find(|i| i["subject"] == subject)
            .unwrap_or_else(|| panic!("no incident for {subject}: {list:#?}"))
            .clone()
    };
    let agent = of("agent:support-bot");
    let provider = of("provider:helpdesk");
    for incident in [&agent, &provider] {
        assert_eq!(
            (
                &incident["kind"],
                &incident["evidence"],
                &incident["detail"]["threshold"]
            ),
            (
                &json!("trust_below"),
                &json!({ "from": index, "to": index }),
                &json!(500)
            ),
            "{incident:#}"
        );
        assert!(
            incident["detail"]["score"].as_u64().unwrap() < 500,
            "{incident:#}"
        );
    }
    let steps = |i: &Value| -> Vec<(String, String)> {
        i["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["action"].as_str().unwrap().to_owned(),
                    a["result"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let step = |a: &str, r: &str| (a.to_owned(), r.to_owned());
    assert_eq!(
        steps(&agent),
        [
            step("stop_agent", "done"),
            step("revoke_credentials", "done"),
            step("legal_hold", "done")
        ],
        "{agent:#}"
    );
    // A provider is no agent: only the hold applies.
    assert_eq!(
        steps(&provider),
        [
            step("stop_agent", "skipped"),
            step("revoke_credentials", "skipped"),
            step("legal_hold", "done")
        ],
        "{provider:#}"
    );

    // The containment is real: the agent is suspended and cannot mint a credential.
    let d = s.decide(&s.agent, search()).await.expect(200).body;
    assert_eq!(reason(&d), ("authenticate", "identity_suspended"), "{d:#}");
    s.post("/v1/credentials", &s.agent, json!({}))
        .await
        .expect_error(403, "forbidden");

    // Each incident cost its subject the incident weight (-200), about the incident.
    for (subject, incident) in [("agent:support-bot", &agent), ("provider:helpdesk", &provider)] {
        let trust = trust_with(&s, subject, "incident").await;
        let event = trust["history"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "incident")
            .unwrap_or_else(|| panic!("no incident event for {subject}: {trust:#}"))
            .clone();
        assert_eq!(
            (&event["delta"], &event["reference"]),
            (&json!(-200), &incident["id"]),
            "{subject}"
        );
        assert_eq!(trust["score"], 100, "{subject}: 900 - 300 - 300 - 200: {trust:#}");
    }
    s.stop().await;
}

async fn a_failed_drill_opens_an_incident_over_its_entries(backend: Backend) {
    let trigger =
        "\n[[incidents.triggers]]\nid = \"drill-watch\"\non = \"drill_failed\"\nactions = [\"legal_hold\"]\n";
    let s = TestServer::start_with(backend, |bundle: &Path| {
        crate::drills::idle_agent_no_cadence(bundle);
        manifest_tail(trigger)(bundle);
    })
    .await;
    let mut alice = s.enrol("alice").await;
    let code = alice.fresh_code().await;
    let drill = s
        .post(
            "/v1/drills",
            &alice.token,
            json!({ "scope": "agent:idle", "mfa_code": code }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(drill["passed"], false, "{drill:#}");
    let drill_id = drill["id"].as_str().unwrap();

    // The evidence runs from the drill's stop to its recorded result.
    let entries = s
        .get("/v1/audit/entries?limit=10000", ADMIN)
        .await
        .expect(200)
        .body;
    let index_of = |event: &str| {
        entries["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                let p: Value = serde_json::from_str(e["payload"].as_str().unwrap()).unwrap();
                let t = &p["unmapped"]["tribune"];
                t["event"] == event && (t["details"]["drill"] == drill_id || t["details"]["id"] == drill_id)
            })
            .unwrap_or_else(|| panic!("no {event} entry for the drill"))["index"]
            .as_u64()
            .unwrap()
    };
    let (from, to) = (index_of("emergency_stop"), index_of("stop_drill"));
    assert!(from < to);
    let list = incidents(&s, 1).await;
    let incident = &list[0];
    assert_eq!(
        (&incident["kind"], &incident["subject"], &incident["evidence"]),
        (
            &json!("drill_failed"),
            &json!(format!("drill:{drill_id}")),
            &json!({ "from": from, "to": to })
        )
    );
    assert_eq!(incident["detail"]["failure"], drill["failure"]);
    let actions = incident["actions"].as_array().unwrap();
    assert_eq!(
        (
            &actions[0]["action"],
            &actions[0]["result"],
            &actions[0]["from"],
            &actions[0]["to"]
        ),
        (&json!("legal_hold"), &json!("done"), &json!(from), &json!(to)),
        "{actions:#?}"
    );
    s.stop().await;
}

async fn a_step_whose_change_cannot_be_recorded_fails(backend: Backend) {
    let s = TestServer::start_with(backend, with_triggers(CANARY)).await;
    // The stops table is gone: the stop's write fails inside its entry's transaction.
    s.execute_raw("ALTER TABLE stops RENAME TO stops_away").await;
    s.decide(&s.agent, canary()).await.expect(200);
    let list = incidents(&s, 1).await;
    s.execute_raw("ALTER TABLE stops_away RENAME TO stops").await;
    let actions = list[0]["actions"].as_array().unwrap();
    assert_eq!(
        (&actions[0]["action"], &actions[0]["result"]),
        (&json!("stop_agent"), &json!("failed")),
        "{actions:#?}"
    );
    assert!(
        actions[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("the stop could not be recorded"),
        "{actions:#?}"
    );
    assert_eq!(actions[1]["result"], "done", "{actions:#?}");
    // Neither the stop nor its entry exists; the agent goes on.
    assert_eq!(
        s.get("/v1/stops?all=true", ADMIN).await.expect(200).body["stops"],
        json!([])
    );
    assert!(!events(&s).await.iter().any(|(e, _, _)| e == "emergency_stop"));
    let d = s.decide(&s.agent, search()).await.expect(200).body;
    assert_eq!(d["decision"], "allow", "{d:#}");
    s.stop().await;
}
