//! `/v1/audit/*`: the ledger over HTTP, exercised enough to hold it to the OpenAPI document
//! (every response here passes through `assert_conforms`) and to its access rules.

use serde_json::json;

use crate::harness::{ADMIN, Backend, Req, TestServer};

on_both_backends!(audit_endpoints_answer_as_documented, legal_holds_need_two_humans);

async fn audit_endpoints_answer_as_documented(backend: Backend) {
    let s = TestServer::start(backend).await;
    let carol = s.token("human", Some("carol")).await; // auditor
    let bob = s.token("human", Some("bob")).await; // reviewer only
    let decision = s
        .decide(
            &s.agent,
            json!({ "tool": "search_docs", "arguments": { "query": "q" } }),
        )
        .await
        .expect(200)
        .body;
    let index = decision["ledger_index"].as_u64().unwrap();

    // Open to any authenticated caller: the key, checkpoints and proofs.
    s.get("/v1/audit/key", &s.agent).await.expect(200);
    s.send(Req::new("GET", "/v1/audit/key"))
        .await
        .expect_error(401, "missing_token");
    let checkpoint = s.get("/v1/audit/checkpoint", &s.agent).await.expect(200).body;
    let size = checkpoint["size"].as_u64().unwrap();
    assert!(size > index, "the checkpoint covers the decision: {checkpoint:#}");
    s.get("/v1/audit/checkpoints", &bob).await.expect(200);
    s.get("/v1/audit/checkpoints?from=0&limit=1", &bob)
        .await
        .expect(200);
    let proof = s
        .get(&format!("/v1/audit/entries/{index}/proof?size={size}"), &s.agent)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (proof["leaf_index"].as_u64(), proof["tree_size"].as_u64()),
        (Some(index), Some(size))
    );
    s.get(&format!("/v1/audit/entries/{index}/proof"), &s.agent)
        .await
        .expect(200);
    s.get("/v1/audit/consistency?from=1", &s.agent).await.expect(200);
    s.get(&format!("/v1/audit/consistency?from=1&to={size}"), &s.agent)
        .await
        .expect(200);

    // Malformed or out-of-range parameters.
    for path in [
        "/v1/audit/consistency",
        "/v1/audit/consistency?from=x",
        "/v1/audit/checkpoints?colour=red",
        "/v1/audit/entries?limit=-1",
        "/v1/audit/entries/abc",
        "/v1/audit/entries/abc/proof",
        "/v1/audit/entries/0/proof?size=1000000",
        "/v1/audit/consistency?from=1000000",
    ] {
        s.get(path, ADMIN).await.expect_error(400, "invalid_query");
    }

    // Entries: auditors and admins only, and the read is logged.
    s.get("/v1/audit/entries", &s.agent)
        .await
        .expect_error(403, "forbidden");
    s.get("/v1/audit/entries", &bob)
        .await
        .expect_error(403, "forbidden");
    let entries = s
        .get("/v1/audit/entries?from=0&limit=10000", &carol)
        .await
        .expect(200)
        .body;
    let entries = entries["entries"].as_array().unwrap();
    let ours = entries.iter().find(|e| e["index"] == index).unwrap();
    assert_eq!(ours["event_class"], "decision");
    assert_eq!(ours["correlation_uid"], decision["id"]);
    let one = s
        .get(&format!("/v1/audit/entries/{index}"), ADMIN)
        .await
        .expect(200)
        .body;
    assert_eq!(&one, ours);
    s.get("/v1/audit/entries/1000000", ADMIN)
        .await
        .expect_error(404, "not_found");
    let after = s
        .get(&format!("/v1/audit/entries?from={size}"), ADMIN)
        .await
        .expect(200)
        .body;
    assert!(
        after["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_class"] == "audit_read"),
        "reads are logged: {after:#}"
    );

    // Retention: admin only; the quick-start bundle has no schedule, so nothing is pruned.
    s.send(Req::new("POST", "/v1/audit/retention/run").bearer(&carol))
        .await
        .expect_error(403, "forbidden");
    let report = s
        .send(Req::new("POST", "/v1/audit/retention/run").bearer(ADMIN))
        .await
        .expect(200)
        .body;
    assert_eq!(report, json!({}));
    s.stop().await;
}

async fn legal_holds_need_two_humans(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut alice_mfa = s.enrol("alice").await; // admin
    let mut carol_mfa = s.enrol("carol").await; // auditor
    let (alice, carol) = (alice_mfa.token.clone(), carol_mfa.token.clone());
    let bob = s.token("human", Some("bob")).await; // reviewer only
    let hold = json!({ "from": 0, "to": 3, "reason": "matter 2024-17" });

    for (body, code) in [
        (
            json!({ "from": 3, "to": 0, "reason": "backwards" }),
            "invalid_body",
        ),
        (json!({ "from": 0, "to": 3, "reason": " " }), "invalid_body"),
        (json!({ "from": 0, "to": 3 }), "invalid_body"),
        (json!({ "from": -1, "to": 3, "reason": "r" }), "invalid_body"),
    ] {
        s.post("/v1/audit/holds", ADMIN, body)
            .await
            .expect_error(422, code);
    }
    s.post("/v1/audit/holds", &bob, hold.clone())
        .await
        .expect_error(403, "forbidden");
    s.post("/v1/audit/holds", &s.agent, hold.clone())
        .await
        .expect_error(403, "forbidden");
    let placed = s.post("/v1/audit/holds", &carol, hold).await.expect(201).body;
    assert_eq!(
        (&placed["active"], &placed["placed_by"]),
        (&json!(true), &json!("human:carol"))
    );
    let id = placed["id"].as_str().unwrap();
    let listed = s.get("/v1/audit/holds", ADMIN).await.expect(200).body;
    assert_eq!(listed["holds"], json!([placed]));
    s.get("/v1/audit/holds", &bob)
        .await
        .expect_error(403, "forbidden");

    let release = format!("/v1/audit/holds/{id}/release");
    let step = |token: &str, code: Option<&str>| {
        Req::new("POST", &release)
            .bearer(token)
            .json(json!({ "mfa_code": code }))
    };
    // Only humans' personal tokens, only auditors or admins, each with a fresh TOTP code.
    s.send(step(ADMIN, None)).await.expect_error(403, "forbidden");
    s.send(step(&bob, None)).await.expect_error(403, "forbidden");
    s.send(step(&carol, None)).await.expect_error(403, "mfa_required");
    let code = carol_mfa.fresh_code().await;
    let first = s.send(step(&carol, Some(&code))).await.expect(200).body;
    assert_eq!(first["status"], "release_requested");
    s.send(step(&alice, Some(&code)))
        .await
        .expect_error(403, "mfa_invalid");
    let code = carol_mfa.fresh_code().await;
    s.send(step(&carol, Some(&code)))
        .await
        .expect_error(409, "conflict");
    let code = alice_mfa.fresh_code().await;
    let second = s.send(step(&alice, Some(&code))).await.expect(200).body;
    assert_eq!(second["status"], "released");
    s.send(step(&alice, Some(&code)))
        .await
        .expect_error(403, "mfa_replay");
    let code = alice_mfa.fresh_code().await;
    s.send(step(&alice, Some(&code)))
        .await
        .expect_error(409, "conflict");
    let listed = s.get("/v1/audit/holds", &carol).await.expect(200).body;
    assert_eq!(listed["holds"][0]["active"], false);
    assert_eq!(listed["holds"][0]["released_by"], "human:alice");
    // (Carol's third code may wait for the clock: two steps are usable at a time.)
    let code = carol_mfa.fresh_code().await;
    s.send(
        Req::new("POST", "/v1/audit/holds/nope/release")
            .bearer(&carol)
            .json(json!({ "mfa_code": code })),
    )
    .await
    .expect_error(404, "not_found");
    s.stop().await;
}
