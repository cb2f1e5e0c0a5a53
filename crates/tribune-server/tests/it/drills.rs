//! Emergency-stop drills over the API: a drill stops its declared scope for real, proves the
//! stop enforced in time, resumes it at once and is recorded; who may drill, which scopes, and
//! where the deployment stands against its cadence.
//!
//! A real decision by the canary cannot be interleaved with a drill deterministically (the stop
//! is in force for a few milliseconds), so enforcement is asserted through what the drill
//! recorded: the drill, its stop record and their ledger entries.

use serde_json::{Value, json};

use crate::harness::{ADMIN, Backend, TestServer};

on_both_backends!(
    a_drill_stops_the_scope_proves_it_and_resumes,
    drilling_is_governed,
    without_a_cadence_nothing_is_overdue_and_failed_drills_are_recorded
);

const DAY_MS: i64 = 86_400_000;

fn search() -> Value {
    json!({ "tool": "search_docs", "arguments": { "query": "q" } })
}

/// The `stop` entries of the ledger: (event, actor, details), in ledger order.
async fn stop_events(s: &TestServer) -> Vec<(String, String, Value)> {
    s.ledger_events()
        .await
        .into_iter()
        .filter(|e| e.class == "stop")
        .map(|e| {
            let actor = e.payload["actor"]["user"]["uid"].as_str().unwrap().to_owned();
            (e.event.clone(), actor, e.details().clone())
        })
        .collect()
}

/// The quick start with a drill target a loaded test machine always meets: these tests check
/// what a drill does, not how fast (BENCHMARKS.md measures that).
fn generous_target(bundle: &std::path::Path) {
    let path = bundle.join("tribune.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen("cadence_days = 30\n", "cadence_days = 30\ntarget_ms = 10000\n", 1);
    assert!(text.contains("target_ms = 10000"));
    std::fs::write(path, text).unwrap();
}

async fn a_drill_stops_the_scope_proves_it_and_resumes(backend: Backend) {
    let s = TestServer::start_with(backend, generous_target).await;
    let carol = s.token("human", Some("carol")).await; // auditor
    let canary = s.token("agent", Some("canary")).await;

    // Before any drill the quick start's 30-day cadence is overdue.
    let before = s.get("/v1/drills", &carol).await.expect(200).body;
    assert_eq!(
        before,
        json!({
            "drills": [], "scopes": ["agent:canary"], "cadence_days": 30,
            "last_passed_at_ms": null, "due_at_ms": null, "overdue": true,
        })
    );

    // A pending approval request of the canary's, which a drill must leave alone.
    let held = s
        .decide(
            &canary,
            json!({ "tool": "update_ticket", "arguments": { "ticket_id": "T-1", "status": "open" } }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(held["decision"], "hold", "{held:#}");
    let approval = held["approval_id"].as_str().unwrap().to_owned();

    let mut alice = s.enrol("alice").await;
    let code = alice.fresh_code().await;
    let drill = s
        .post(
            "/v1/drills",
            &alice.token,
            json!({ "scope": "agent:canary", "mfa_code": code }),
        )
        .await
        .expect(201)
        .body;
    let enforced_ms = drill["enforced_ms"].as_f64().unwrap();
    assert!(enforced_ms > 0.0 && enforced_ms < 10_000.0, "{drill:#}");
    assert_eq!(
        (&drill["passed"], &drill["failure"], &drill["target_ms"]),
        (&json!(true), &Value::Null, &json!(10_000)),
        "{drill:#}"
    );
    assert_eq!(drill["scope"], "agent:canary");
    assert_eq!(drill["drilled_by"], "human:alice");
    // The representative call: the canary's first tool by id that it may call alone.
    assert_eq!(
        drill["call"],
        json!({ "principal": "agent:canary", "tool": "search_docs" })
    );
    let started = drill["started_at_ms"].as_i64().unwrap();
    assert!(drill["resumed_at_ms"].as_i64().unwrap() >= started);

    // The drill's stop was a real stop in the stops table, resumed by the system.
    let stops = s.get("/v1/stops?all=true", &carol).await.expect(200).body;
    let stops = stops["stops"].as_array().unwrap();
    assert_eq!(stops.len(), 1, "{stops:#?}");
    let stop = &stops[0];
    assert_eq!(stop["id"], drill["stop_id"]);
    assert_eq!(
        (
            &stop["scope"],
            &stop["reason"],
            &stop["stopped_by"],
            &stop["active"],
            &stop["resumed_by"]
        ),
        (
            &json!("agent:canary"),
            &json!("drill"),
            &json!("human:alice"),
            &json!(false),
            &json!("tribune:drill")
        )
    );
    assert_eq!(
        s.get("/v1/stops", &carol).await.expect(200).body["stops"],
        json!([])
    );

    // Resumed: the canary's next real decision is allowed, and the drill cancelled nothing.
    let next = s.decide(&canary, search()).await.expect(200).body;
    assert_eq!(next["decision"], "allow", "{next:#}");
    let request = s
        .get(&format!("/v1/approvals/{approval}"), ADMIN)
        .await
        .expect(200)
        .body;
    assert_eq!(request["state"], "pending", "{request:#}");

    // The ledger: the stop (as `POST /v1/stops` records it), its resume by the system, and the
    // drill with its measured time.
    let events = stop_events(&s).await;
    let names: Vec<&str> = events.iter().map(|(e, _, _)| e.as_str()).collect();
    assert_eq!(names, ["emergency_stop", "stop_resumed", "stop_drill"]);
    let (_, by, stopped) = &events[0];
    assert_eq!(by, "human:alice");
    assert_eq!(
        (
            &stopped["stop"],
            &stopped["scope"],
            &stopped["reason"],
            &stopped["drill"]
        ),
        (
            &drill["stop_id"],
            &json!("agent:canary"),
            &json!("drill"),
            &drill["id"]
        )
    );
    assert_eq!(events[1].1, "tribune:drill");
    assert_eq!(events[1].2["stop"], drill["stop_id"]);
    let (_, by, recorded) = &events[2];
    assert_eq!(by, "human:alice");
    assert_eq!(
        (&recorded["id"], &recorded["passed"], &recorded["call"]),
        (&drill["id"], &drill["passed"], &drill["call"])
    );
    assert_eq!(recorded["enforced_ms"].as_f64(), Some(enforced_ms));

    // Listed, newest first, and the cadence is met until 30 days after the drill.
    let after = s.get("/v1/drills", &carol).await.expect(200).body;
    assert_eq!(after["drills"], json!([drill]));
    assert_eq!(
        (
            &after["overdue"],
            &after["last_passed_at_ms"],
            &after["due_at_ms"]
        ),
        (&json!(false), &json!(started), &json!(started + 30 * DAY_MS))
    );
    s.stop().await;
}

async fn drilling_is_governed(backend: Backend) {
    let s = TestServer::start(backend).await;
    let body = |scope: &str, code: Option<&str>| json!({ "scope": scope, "mfa_code": code });

    // Only humans with stop authority: not carol (an auditor), an agent or the admin token.
    let carol = s.token("human", Some("carol")).await;
    for token in [carol.as_str(), s.agent.as_str(), ADMIN] {
        s.post("/v1/drills", token, body("agent:canary", Some("000000")))
            .await
            .expect_error(403, "forbidden");
    }
    // Bob holds stop authority but has no MFA enrolment.
    let bob = s.token("human", Some("bob")).await;
    s.post("/v1/drills", &bob, body("agent:canary", Some("000000")))
        .await
        .expect_error(403, "mfa_not_enrolled");

    let mut alice = s.enrol("alice").await;
    s.post("/v1/drills", &alice.token, body("agent:canary", None))
        .await
        .expect_error(403, "mfa_required");
    s.post("/v1/drills", &alice.token, body("agent:canary", Some("12345")))
        .await
        .expect_error(403, "mfa_invalid");
    // Only the bundle's drill scopes: a declared agent that is not one, everything, an
    // undeclared agent, and what is not a scope at all.
    for scope in [
        "agent:support-bot",
        "all",
        "class:support",
        "agent:ghost",
        "everything",
    ] {
        s.post("/v1/drills", &alice.token, body(scope, Some("000000")))
            .await
            .expect_error(422, "invalid_body");
    }
    s.post(
        "/v1/drills",
        &alice.token,
        json!({ "scope": "agent:canary", "mfa_code": "000000", "reason": "x" }),
    )
    .await
    .expect_error(422, "invalid_body");
    assert!(stop_events(&s).await.is_empty(), "nothing refused was recorded");

    // A code is accepted once: the same code again is a replay.
    let code = alice.fresh_code().await;
    s.post("/v1/drills", &alice.token, body("agent:canary", Some(&code)))
        .await
        .expect(201);
    s.post("/v1/drills", &alice.token, body("agent:canary", Some(&code)))
        .await
        .expect_error(403, "mfa_replay");

    // Listing: holders of stop authority, auditors and admins; never agents.
    for token in [bob.as_str(), carol.as_str(), ADMIN] {
        let listed = s.get("/v1/drills", token).await.expect(200).body;
        assert_eq!(listed["drills"].as_array().unwrap().len(), 1);
    }
    s.get("/v1/drills", &s.agent).await.expect_error(403, "forbidden");
    s.get("/v1/drills?limit=x", ADMIN)
        .await
        .expect_error(400, "invalid_query");
    s.stop().await;
}

/// The quick start without its `[drills]` cadence, and with an agent that may call nothing
/// added to the drill scopes.
pub(crate) fn idle_agent_no_cadence(bundle: &std::path::Path) {
    let path = bundle.join("tribune.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace("cadence_days = 30\n", "").replace(
        "scopes = [\"agent:canary\"]",
        "scopes = [\"agent:canary\", \"agent:idle\"]",
    );
    let text = format!("{text}\n[agents.idle]\nclass = \"support\"\nowner = \"alice\"\nscopes = []\n");
    std::fs::write(path, text).unwrap();
}

async fn without_a_cadence_nothing_is_overdue_and_failed_drills_are_recorded(backend: Backend) {
    let s = TestServer::start_with(backend, idle_agent_no_cadence).await;
    let listed = s.get("/v1/drills", ADMIN).await.expect(200).body;
    assert_eq!(
        (&listed["cadence_days"], &listed["overdue"], &listed["due_at_ms"]),
        (&Value::Null, &json!(false), &Value::Null)
    );

    // The idle agent may call no tool, so no call can show its stop: the drill fails, is
    // recorded with the reason, and its stop is resumed all the same.
    let mut alice = s.enrol("alice").await;
    let code = alice.fresh_code().await;
    let failed = s
        .post(
            "/v1/drills",
            &alice.token,
            json!({ "scope": "agent:idle", "mfa_code": code }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(
        (&failed["passed"], &failed["enforced_ms"], &failed["call"]),
        (&json!(false), &Value::Null, &Value::Null),
        "{failed:#}"
    );
    assert!(
        failed["failure"]
            .as_str()
            .unwrap()
            .contains("no principal in `agent:idle` may call any tool"),
        "{failed:#}"
    );
    assert_eq!(
        s.get("/v1/stops", ADMIN).await.expect(200).body["stops"],
        json!([])
    );
    let listed = s.get("/v1/drills", ADMIN).await.expect(200).body;
    assert_eq!(listed["drills"], json!([failed]));
    assert_eq!(
        listed["last_passed_at_ms"],
        Value::Null,
        "a failed drill never counts"
    );
    let events: Vec<String> = stop_events(&s).await.into_iter().map(|(e, _, _)| e).collect();
    assert_eq!(events, ["emergency_stop", "stop_resumed", "stop_drill"]);
    s.stop().await;
}
