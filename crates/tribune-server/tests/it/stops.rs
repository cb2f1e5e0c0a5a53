//! Emergency stops over the API: who may stop, every scope enforced on the very next decision,
//! pending approvals in scope cancelled, and resuming only by two distinct holders; a stop or
//! resume step whose ledger entry cannot be written changes nothing.

use serde_json::{Value, json};

use crate::harness::{ADMIN, Backend, Enrolled, TestServer};

on_both_backends!(
    each_scope_stops_the_next_decision_and_two_holders_resume_it,
    stopping_is_governed,
    a_step_whose_entry_fails_changes_nothing,
    class_and_tool_stops_cancel_the_approvals_they_cover,
);

/// The quick-start bundle with three more holders of stop authority (alice and bob hold it).
fn more_holders(bundle: &std::path::Path) {
    let path = bundle.join("tribune.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for h in ["dave", "erin", "fay"] {
        text.push_str(&format!(
            "\n[humans.{h}]\nroles = [\"reviewer\"]\nstop_authority = true\n"
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn call(tool: &str) -> Value {
    match tool {
        "search_docs" => json!({ "tool": tool, "arguments": { "query": "q" } }),
        "update_ticket" => json!({ "tool": tool, "arguments": { "ticket_id": "T-9", "status": "open" } }),
        _ => unreachable!(),
    }
}

async fn stop(s: &TestServer, who: &mut Enrolled, scope: &str) -> Value {
    let code = who.fresh_code().await;
    s.post(
        "/v1/stops",
        &who.token,
        json!({ "scope": scope, "reason": "drill", "mfa_code": code }),
    )
    .await
    .expect(201)
    .body
}

async fn resume(s: &TestServer, who: &mut Enrolled, id: &str) -> Value {
    let code = who.fresh_code().await;
    s.post(
        &format!("/v1/stops/{id}/resume"),
        &who.token,
        json!({ "mfa_code": code }),
    )
    .await
    .expect(200)
    .body
}

async fn each_scope_stops_the_next_decision_and_two_holders_resume_it(backend: Backend) {
    let s = TestServer::start_with(backend, more_holders).await;
    let mut holders = Vec::new();
    for h in ["alice", "bob", "dave", "erin", "fay"] {
        holders.push(s.enrol(h).await);
    }
    // (scope, a call it covers, a call it does not cover, if any)
    let cases = [
        ("agent:support-bot", "search_docs", None),
        ("class:support", "update_ticket", None),
        ("tool:search_docs", "search_docs", Some("update_ticket")),
        ("provider:helpdesk", "update_ticket", None),
        ("all", "search_docs", None),
    ];
    for (i, (scope, covered, other)) in cases.into_iter().enumerate() {
        let n = holders.len();
        let stopped = stop(&s, &mut holders[i % n], scope).await;
        assert_eq!(
            (&stopped["scope"], &stopped["active"]),
            (&json!(scope), &json!(true))
        );
        let id = stopped["id"].as_str().unwrap().to_owned();
        // The very next decision is a deny at the stop stage.
        let d = s.decide(&s.agent, call(covered)).await.expect(200).body;
        assert_eq!(d["decision"], "deny", "{scope}: {d:#}");
        assert_eq!(
            (
                &d["reasons"][0]["stage"],
                &d["reasons"][0]["code"],
                &d["reasons"][0]["rule"]
            ),
            (&json!("stop"), &json!("stopped"), &json!(format!("stop:{id}"))),
            "{scope}: {d:#}"
        );
        if let Some(other) = other {
            let d = s.decide(&s.agent, call(other)).await.expect(200).body;
            assert_ne!(
                d["reasons"][0]["stage"], "stop",
                "{scope} must not cover {other}: {d:#}"
            );
        }
        // One holder asking is not enough; the same one again does not count twice.
        let first = resume(&s, &mut holders[(i + 1) % n], &id).await;
        assert_eq!(first["status"], "resume_requested");
        let d = s.decide(&s.agent, call(covered)).await.expect(200).body;
        assert_eq!(d["reasons"][0]["code"], "stopped", "{scope}: {d:#}");
        let second = resume(&s, &mut holders[(i + 2) % n], &id).await;
        assert_eq!(second["status"], "resumed");
        let d = s.decide(&s.agent, call(covered)).await.expect(200).body;
        assert_ne!(d["reasons"][0]["code"], "stopped", "{scope}: {d:#}");
    }
    let all = s.get("/v1/stops?all=true", ADMIN).await.expect(200).body;
    assert_eq!(all["stops"].as_array().unwrap().len(), cases.len());
    assert!(
        all["stops"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["active"] == false)
    );
    assert_eq!(
        s.get("/v1/stops", ADMIN).await.expect(200).body["stops"],
        json!([])
    );

    // Every stop and resume step is in the ledger.
    let entries = s
        .get("/v1/audit/entries?limit=1000", ADMIN)
        .await
        .expect(200)
        .body;
    let events: Vec<String> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_class"] == "stop")
        .map(|e| {
            let p: Value = serde_json::from_str(e["payload"].as_str().unwrap()).unwrap();
            p["unmapped"]["tribune"]["event"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(events.len(), 3 * cases.len(), "{events:?}");
    assert_eq!(
        events.iter().filter(|e| *e == "emergency_stop").count(),
        cases.len()
    );
    s.stop().await;
}

async fn stopping_is_governed(backend: Backend) {
    let s = TestServer::start(backend).await;
    let stop_body =
        |scope: &str, code: Option<&str>| json!({ "scope": scope, "reason": "r", "mfa_code": code });
    // Carol holds no stop authority; agents and the admin token are not humans.
    let carol = s.token("human", Some("carol")).await;
    for token in [carol.as_str(), s.agent.as_str(), ADMIN] {
        s.post("/v1/stops", token, stop_body("all", None))
            .await
            .expect_error(403, "forbidden");
    }
    let mut alice = s.enrol("alice").await;
    let mut bob = s.enrol("bob").await;
    s.post("/v1/stops", &alice.token, stop_body("all", None))
        .await
        .expect_error(403, "mfa_required");
    for bad in ["everything", "agent:", "agent:ghost", "pool:x"] {
        s.post("/v1/stops", &alice.token, stop_body(bad, Some("000000")))
            .await
            .expect_error(422, "invalid_body");
    }
    s.post(
        "/v1/stops",
        &alice.token,
        json!({ "scope": "all", "reason": " ", "mfa_code": "000000" }),
    )
    .await
    .expect_error(422, "invalid_body");

    // A pending approval request in scope is cancelled by the stop.
    let held = s.decide(&s.agent, call("update_ticket")).await.expect(200).body;
    assert_eq!(held["decision"], "hold");
    let approval = held["approval_id"].as_str().unwrap();
    let stopped = stop(&s, &mut alice, "agent:support-bot").await;
    assert_eq!(stopped["cancelled_approvals"], 1);
    let r = s
        .get(&format!("/v1/approvals/{approval}"), ADMIN)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (&r["state"], &r["cancel_reason"]["kind"]),
        (&json!("cancelled"), &json!("stopped"))
    );
    let listed = s.get("/v1/stops", &carol).await.expect(200).body;
    assert_eq!(listed["stops"][0]["id"], stopped["id"]);
    s.get("/v1/stops", &s.agent).await.expect_error(403, "forbidden");

    // Resuming: the stopper may be one of the two, never both; unknown ids are 404.
    let id = stopped["id"].as_str().unwrap();
    assert_eq!(resume(&s, &mut alice, id).await["status"], "resume_requested");
    let code = alice.fresh_code().await;
    s.post(
        &format!("/v1/stops/{id}/resume"),
        &alice.token,
        json!({ "mfa_code": code }),
    )
    .await
    .expect_error(409, "conflict");
    assert_eq!(resume(&s, &mut bob, id).await["status"], "resumed");
    let code = bob.fresh_code().await;
    s.post("/v1/stops/nope/resume", &bob.token, json!({ "mfa_code": code }))
        .await
        .expect_error(404, "not_found");
    s.stop().await;
}

/// Makes every ledger append fail (its table is gone) until [`ledger_back`].
async fn ledger_away(s: &TestServer) {
    s.execute_raw("ALTER TABLE ledger_entries RENAME TO ledger_entries_away")
        .await;
}

async fn ledger_back(s: &TestServer) {
    s.execute_raw("ALTER TABLE ledger_entries_away RENAME TO ledger_entries")
        .await;
}

/// The `stop`-class events in the ledger, oldest first.
async fn stop_events(s: &TestServer) -> Vec<String> {
    s.ledger_events()
        .await
        .into_iter()
        .filter(|e| e.class == "stop")
        .map(|e| e.event)
        .collect()
}

async fn a_step_whose_entry_fails_changes_nothing(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut alice = s.enrol("alice").await;
    let mut bob = s.enrol("bob").await;
    let stopped = stop(&s, &mut alice, "tool:search_docs").await;
    let id = stopped["id"].as_str().unwrap().to_owned();
    let resume_path = format!("/v1/stops/{id}/resume");

    ledger_away(&s).await;
    // A stop whose entry cannot be written is not made: 503, and no stop in the store.
    let code = alice.fresh_code().await;
    s.post(
        "/v1/stops",
        &alice.token,
        json!({ "scope": "agent:support-bot", "reason": "r", "mfa_code": code }),
    )
    .await
    .expect_error(503, "unavailable");
    // Nor is a resume step: the stop stays in force with nobody having asked.
    let code = bob.fresh_code().await;
    s.post(&resume_path, &bob.token, json!({ "mfa_code": code }))
        .await
        .expect_error(503, "unavailable");
    ledger_back(&s).await;

    let all = s.get("/v1/stops?all=true", ADMIN).await.expect(200).body;
    let all = all["stops"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(
        (&all[0]["id"], &all[0]["active"], &all[0]["resume_requested_by"]),
        (&json!(id), &json!(true), &Value::Null)
    );
    let d = s.decide(&s.agent, call("update_ticket")).await.expect(200).body;
    assert_ne!(d["reasons"][0]["code"], "stopped", "{d:#}");
    let d = s.decide(&s.agent, call("search_docs")).await.expect(200).body;
    assert_eq!(d["reasons"][0]["code"], "stopped", "{d:#}");
    assert_eq!(stop_events(&s).await, ["emergency_stop"]);

    // With the ledger back, the same steps go through, each with its entry.
    assert_eq!(resume(&s, &mut bob, &id).await["status"], "resume_requested");
    assert_eq!(resume(&s, &mut alice, &id).await["status"], "resumed");
    assert_eq!(
        stop_events(&s).await,
        ["emergency_stop", "stop_resume_requested", "stop_resumed"]
    );
    s.stop().await;
}

async fn class_and_tool_stops_cancel_the_approvals_they_cover(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut alice = s.enrol("alice").await;
    let mut bob = s.enrol("bob").await;
    let carol = s.token("human", Some("carol")).await;
    for (scope, who) in [("class:support", 0), ("tool:update_ticket", 1)] {
        let held = s.decide(&s.agent, call("update_ticket")).await.expect(200).body;
        assert_eq!(held["decision"], "hold", "{scope}: {held:#}");
        let approval = held["approval_id"].as_str().unwrap().to_owned();
        let holder = if who == 0 { &mut alice } else { &mut bob };
        let stopped = stop(&s, holder, scope).await;
        assert_eq!(stopped["cancelled_approvals"], 1, "{scope}: {stopped:#}");
        let r = s
            .get(&format!("/v1/approvals/{approval}"), ADMIN)
            .await
            .expect(200)
            .body;
        assert_eq!(
            (&r["state"], &r["cancel_reason"]["kind"]),
            (&json!("cancelled"), &json!("stopped")),
            "{scope}"
        );
        // Only holders of stop authority resume: not carol (an auditor), an agent or the
        // admin token.
        let id = stopped["id"].as_str().unwrap().to_owned();
        for token in [carol.as_str(), s.agent.as_str(), ADMIN] {
            s.post(
                &format!("/v1/stops/{id}/resume"),
                token,
                json!({ "mfa_code": "000000" }),
            )
            .await
            .expect_error(403, "forbidden");
        }
        assert_eq!(resume(&s, &mut alice, &id).await["status"], "resume_requested");
        assert_eq!(resume(&s, &mut bob, &id).await["status"], "resumed");
    }
    s.stop().await;
}
