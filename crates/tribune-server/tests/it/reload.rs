//! `GET /v1/bundle` and `POST /v1/bundle/reload`: one path for change, and a broken bundle never
//! replaces a working one.

use serde_json::{Value, json};

use crate::harness::{ADMIN, Backend, Reply, Req, TestServer, all_admins, metric, redact};

fn search() -> Value {
    json!({ "tool": "search_docs", "arguments": { "query": "q" } })
}

async fn reload(s: &TestServer, token: &str, code: Option<&str>) -> Reply {
    s.post("/v1/bundle/reload", token, json!({ "mfa_code": code }))
        .await
}

async fn active(s: &TestServer) -> Value {
    s.get("/v1/bundle", ADMIN).await.expect(200).body
}

/// The 1-based line of the first line of `file` in the bundle that contains `needle`.
fn line_of(s: &TestServer, file: &str, needle: &str) -> usize {
    let text = std::fs::read_to_string(s.bundle_dir.join(file)).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

on_both_backends!(
    reload_applies_changes_and_refuses_broken_bundles,
    only_admins_with_a_fresh_code_reload,
    an_agent_removed_from_the_bundle_is_an_unknown_principal,
    pending_requests_the_new_bundle_no_longer_fits_are_cancelled,
    a_reload_keeps_the_identity_registry_in_step_on_the_record,
);

async fn reload_applies_changes_and_refuses_broken_bundles(backend: Backend) {
    let s = TestServer::start_with(backend, all_admins).await;
    let mut admins = s.step_up(&["alice", "bob", "carol"]).await;
    let original = active(&s).await;
    assert_eq!(
        original["declares"],
        json!({ "humans": 3, "agent_classes": 1, "agents": 2, "services": 0, "providers": 2, "tools": 3, "policy_files": 1 })
    );
    assert_eq!(original["deployment"], "example.com/quickstart");
    insta::assert_json_snapshot!("bundle", redact(&original));

    // Nothing changed on disk: nothing changes.
    let same = s.reload(&mut admins).await.expect(200).body;
    assert_eq!(same["changed"], false);
    assert_eq!(same["hash"], original["hash"]);
    assert_eq!(same["activated_at_ms"], original["activated_at_ms"]);

    // A tool's tier changes, and the version is set: the next decision follows.
    s.edit_bundle("tribune.toml", |t| {
        let t = t.replacen("tier = \"read\"", "tier = \"write\"", 1);
        t.replacen("[deployment]\n", "[deployment]\nversion = \"2024.2\"\n", 1)
    });
    let tiered = s.reload(&mut admins).await.expect(200).body;
    assert_eq!(tiered["changed"], true);
    assert_ne!(tiered["hash"], original["hash"]);
    assert_eq!(tiered["version"], "2024.2");
    insta::assert_json_snapshot!("reload_changed", redact(&tiered));
    let decision = s.decide(&s.agent, search()).await.expect(200).body;
    assert_eq!(
        (
            &decision["decision"],
            &decision["approvals_required"],
            &decision["tier"]
        ),
        (&json!("hold"), &json!(1), &json!("write"))
    );
    assert_eq!(decision["bundle"], tiered["hash"]);
    assert_eq!(active(&s).await["hash"], tiered["hash"]);

    // A forbid policy is added.
    s.edit_bundle("policies/no-search.cedar", |_| {
        "@id(\"no-search\")\n@reason(\"search is switched off\")\nforbid (principal, action == Action::\"search_docs\", resource);\n".to_owned()
    });
    let forbidding = s.reload(&mut admins).await.expect(200).body;
    assert_eq!(forbidding["changed"], true);
    assert_eq!(forbidding["declares"]["policy_files"], 2);
    let decision = s.decide(&s.agent, search()).await.expect(200).body;
    assert_eq!(
        (&decision["decision"], &decision["reasons"][0]["rule"]),
        (&json!("deny"), &json!("no-search"))
    );

    // An unknown key: refused with located diagnostics, and the active bundle keeps serving.
    s.edit_bundle("tribune.toml", |t| {
        t.replacen("[deployment]\n", "[deployment]\ncolour = \"blue\"\n", 1)
    });
    let broken = s
        .reload(&mut admins)
        .await
        .expect_error(422, "invalid_bundle")
        .body;
    let diagnostics = broken["error"]["diagnostics"].as_array().unwrap();
    assert!(
        diagnostics.iter().any(|d| d["location"]
            == format!("tribune.toml:{}:1", line_of(&s, "tribune.toml", "colour"))
            && d["severity"] == "error"),
        "{broken:#}"
    );
    insta::assert_json_snapshot!("reload_unknown_key", redact(&broken));
    let decision = s.decide(&s.agent, search()).await.expect(200).body;
    assert_eq!(decision["reasons"][0]["rule"], "no-search");
    assert_eq!(decision["bundle"], forbidding["hash"]);
    assert_eq!(active(&s).await["hash"], forbidding["hash"]);

    // A policy that does not parse: located in its file.
    s.edit_bundle("tribune.toml", |t| t.replacen("colour = \"blue\"\n", "", 1));
    s.edit_bundle("policies/broken.cedar", |_| {
        "// half a policy\npermit (principal, action\n".to_owned()
    });
    let broken = s
        .reload(&mut admins)
        .await
        .expect_error(422, "invalid_bundle")
        .body;
    assert!(
        broken["error"]["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["location"]
                .as_str()
                .unwrap()
                .starts_with("policies/broken.cedar:")),
        "{broken:#}"
    );
    insta::assert_json_snapshot!("reload_broken_policy", redact(&broken));
    assert_eq!(active(&s).await["hash"], forbidding["hash"]);

    // Repaired to what is active: it loads, and nothing changes.
    std::fs::remove_file(s.bundle_dir.join("policies/broken.cedar")).unwrap();
    let repaired = s.reload(&mut admins).await.expect(200).body;
    assert_eq!(repaired["changed"], false);
    assert_eq!(repaired["hash"], forbidding["hash"]);

    let text = s.metrics().await;
    assert_eq!(
        metric(&text, "tribune_bundle_reloads_total{result=\"ok\"}"),
        4.0,
        "{text}"
    );
    assert_eq!(
        metric(&text, "tribune_bundle_reloads_total{result=\"error\"}"),
        2.0,
        "{text}"
    );
    // The readiness probe reports the active bundle.
    let ready = s.send(Req::new("GET", "/readyz")).await.expect(200).body;
    assert_eq!(ready["bundle"], forbidding["hash"]);
    s.stop().await;
}

async fn only_admins_with_a_fresh_code_reload(backend: Backend) {
    let s = TestServer::start(backend).await;
    let bob = s.token("human", Some("bob")).await;
    let refused = reload(&s, &s.agent, None).await.expect_error(403, "forbidden");
    insta::assert_json_snapshot!("reload_by_an_agent", redact(&refused.body));
    // Bob is a reviewer, not an admin; the bootstrap token is not a human and has no code.
    reload(&s, &bob, None).await.expect_error(403, "forbidden");
    reload(&s, ADMIN, None).await.expect_error(403, "forbidden");
    s.send(Req::new("POST", "/v1/bundle/reload"))
        .await
        .expect_error(401, "missing_token");
    s.send(Req::new("GET", "/v1/bundle"))
        .await
        .expect_error(401, "missing_token");
    s.send(Req::new("GET", "/v1/bundle").bearer("trb_nobody"))
        .await
        .expect_error(401, "invalid_token");
    // Any known caller may read what is in force.
    s.get("/v1/bundle", &s.agent).await.expect(200);
    s.get("/v1/bundle", &bob).await.expect(200);

    // Alice is an admin: without a code, then before she enrols, she is refused.
    let plain = s.token("human", Some("alice")).await;
    reload(&s, &plain, None).await.expect_error(403, "mfa_required");
    reload(&s, &plain, Some("123456"))
        .await
        .expect_error(403, "mfa_not_enrolled");
    let mut alice = s.enrol("alice").await;
    reload(&s, &alice.token, Some("12"))
        .await
        .expect_error(403, "mfa_invalid");
    let code = alice.fresh_code().await;
    assert_eq!(
        reload(&s, &alice.token, Some(&code)).await.expect(200).body["changed"],
        false
    );
    // A code is accepted once.
    reload(&s, &alice.token, Some(&code))
        .await
        .expect_error(403, "mfa_replay");
    // The body is JSON with nothing but the code.
    let code = alice.fresh_code().await;
    s.post(
        "/v1/bundle/reload",
        &alice.token,
        json!({ "mfa_code": code, "force": true }),
    )
    .await
    .expect_error(422, "invalid_body");
    s.send(
        Req::new("POST", "/v1/bundle/reload")
            .bearer(&alice.token)
            .raw(Some("text/plain"), "x"),
    )
    .await
    .expect_error(415, "unsupported_media_type");

    // The activation is in the ledger, naming the human and the MFA.
    s.edit_bundle("tribune.toml", |t| {
        t.replacen("[deployment]\n", "[deployment]\nversion = \"2\"\n", 1)
    });
    let code = alice.fresh_code().await;
    let active = reload(&s, &alice.token, Some(&code)).await.expect(200).body;
    assert_eq!(active["changed"], true);
    let entries = s
        .get("/v1/audit/entries?limit=1000", ADMIN)
        .await
        .expect(200)
        .body;
    let activation = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["event_class"] == "activation")
        .unwrap_or_else(|| panic!("no activation entry: {entries:#}"));
    let payload: Value = serde_json::from_str(activation["payload"].as_str().unwrap()).unwrap();
    let details = &payload["unmapped"]["tribune"]["details"];
    assert_eq!(
        (
            &details["by"],
            &details["mfa"],
            &details["source"],
            &details["bundle_hash"]
        ),
        (
            &json!("human:alice"),
            &json!(true),
            &json!("api"),
            &active["hash"]
        ),
        "{payload:#}"
    );
    assert_eq!(payload["actor"]["user"]["uid"], "human:alice");
    s.stop().await;
}

async fn an_agent_removed_from_the_bundle_is_an_unknown_principal(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut admins = s.step_up(&["alice"]).await;
    s.decide(&s.agent, search()).await.expect(200);
    s.edit_bundle("tribune.toml", |t| {
        let start = t.find("[agents.support-bot]").unwrap();
        let end = start + t[start..].find("\n\n").unwrap();
        format!("{}{}", &t[..start], &t[end..])
    });
    assert_eq!(
        s.reload(&mut admins).await.expect(200).body["declares"]["agents"],
        1,
        "the canary stays"
    );
    // The token still authenticates, but the agent is no longer declared: a recorded deny.
    let refused = s
        .decide(&s.agent, search())
        .await
        .expect_error(404, "unknown_principal")
        .body;
    insta::assert_json_snapshot!("removed_agent", redact(&refused));
    s.post(
        "/v1/tokens",
        ADMIN,
        json!({ "kind": "agent", "subject": "support-bot" }),
    )
    .await
    .expect_error(422, "invalid_body");
    s.stop().await;
}

async fn pending_requests_the_new_bundle_no_longer_fits_are_cancelled(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut admins = s.step_up(&["alice"]).await;
    let hold = |tool: &str, args: Value| json!({ "tool": tool, "arguments": args });
    let ticket = s
        .decide(
            &s.agent,
            hold("update_ticket", json!({ "ticket_id": "T-1", "status": "solved" })),
        )
        .await
        .expect(200)
        .body;
    let refund = s
        .decide(
            &s.agent,
            hold("issue_refund", json!({ "order_id": "O-1", "amount": 10 })),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (&ticket["decision"], &refund["decision"]),
        (&json!("hold"), &json!("hold"))
    );
    let state = |body: &Value| body["state"].clone();

    // An unrelated change (a description) leaves both pending.
    s.edit_bundle("tribune.toml", |t| {
        t.replacen("Answers tickets in the help desk.", "Answers tickets.", 1)
    });
    assert_eq!(s.reload(&mut admins).await.expect(200).body["changed"], true);
    for d in [&ticket, &refund] {
        let id = d["approval_id"].as_str().unwrap();
        let r = s
            .get(&format!("/v1/approvals/{id}"), ADMIN)
            .await
            .expect(200)
            .body;
        assert_eq!(state(&r), "pending", "{r:#}");
    }

    // Writes now need two approvals: the ticket request asks for one, so it is cancelled; the
    // refund request is untouched.
    s.edit_bundle("tribune.toml", |t| {
        t.replacen("write = { approvals = 1 }", "write = { approvals = 2 }", 1)
    });
    assert_eq!(s.reload(&mut admins).await.expect(200).body["changed"], true);
    let id = ticket["approval_id"].as_str().unwrap();
    let r = s
        .get(&format!("/v1/approvals/{id}"), ADMIN)
        .await
        .expect(200)
        .body;
    assert_eq!(state(&r), "cancelled", "{r:#}");
    assert_eq!(r["cancel_reason"]["kind"], "bundle_changed", "{r:#}");
    let id = refund["approval_id"].as_str().unwrap();
    let r = s
        .get(&format!("/v1/approvals/{id}"), ADMIN)
        .await
        .expect(200)
        .body;
    assert_eq!(state(&r), "pending", "{r:#}");

    // The same call again opens a new request on the new terms.
    let again = s
        .decide(
            &s.agent,
            hold("update_ticket", json!({ "ticket_id": "T-1", "status": "solved" })),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(again["approvals_required"], 2);
    assert_ne!(again["approval_id"], ticket["approval_id"]);
    s.stop().await;
}

/// The `details` of every ledger entry `event` about `identity`, oldest first.
async fn identity_entries(s: &TestServer, event: &str, identity: &str) -> Vec<Value> {
    s.ledger_events()
        .await
        .into_iter()
        .filter(|e| e.event == event && e.details()["identity"] == identity)
        .map(|e| e.details().clone())
        .collect()
}

async fn a_reload_keeps_the_identity_registry_in_step_on_the_record(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut admins = s.step_up(&["alice"]).await;
    let original = std::fs::read_to_string(s.bundle_dir.join("tribune.toml")).unwrap();
    let credential = s
        .post("/v1/credentials", &s.agent, json!({}))
        .await
        .expect(201)
        .body;
    let credential = credential["credential"].as_str().unwrap().to_owned();
    // A new agent, the canary handed to bob, and support-bot gone.
    s.edit_bundle("tribune.toml", |t| {
        let start = t.find("[agents.support-bot]").unwrap();
        let end = start + t[start..].find("\n\n").unwrap();
        let t = format!("{}{}", &t[..start], &t[end..]);
        let canary = t.find("[agents.canary]").unwrap();
        let t = format!(
            "{}{}",
            &t[..canary],
            t[canary..].replacen("owner = \"alice\"", "owner = \"bob\"", 1)
        );
        format!("{t}\n[agents.triage]\nclass = \"support\"\nowner = \"carol\"\n")
    });
    let reloaded = s.reload(&mut admins).await.expect(200).body;
    assert_eq!(reloaded["changed"], true);
    let hash = reloaded["hash"].as_str().unwrap();

    let triage = s.get("/v1/identities/agent:triage", ADMIN).await.expect(200).body;
    assert_eq!(
        (&triage["origin"], &triage["owner"], &triage["state"]),
        (&json!("bundle"), &json!("carol"), &json!("active"))
    );
    let canary = s.get("/v1/identities/agent:canary", ADMIN).await.expect(200).body;
    assert_eq!(canary["owner"], "bob");
    let removed = s
        .get("/v1/identities/agent:support-bot", ADMIN)
        .await
        .expect(200)
        .body;
    assert_eq!(removed["state"], "suspended", "{removed:#}");
    assert_eq!(removed["state_reason"], "removed from bundle");

    // Each change is on the record, with the bundle that made it.
    let created = identity_entries(&s, "identity_created", "agent:triage").await;
    assert_eq!(created.len(), 1, "{created:#?}");
    assert_eq!(
        (&created[0]["bundle_hash"], &created[0]["owner"]),
        (&json!(hash), &json!("carol"))
    );
    let updated = identity_entries(&s, "identity_updated", "agent:canary").await;
    assert_eq!(updated.len(), 1, "{updated:#?}");
    assert_eq!(
        (&updated[0]["bundle_hash"], &updated[0]["owner"]),
        (&json!(hash), &json!("bob"))
    );
    let suspended = identity_entries(&s, "identity_suspended", "agent:support-bot").await;
    assert_eq!(suspended.len(), 1, "{suspended:#?}");
    assert_eq!(suspended[0]["reason"], "removed from bundle");

    // The removed agent's secret and credential no longer act.
    s.post("/v1/credentials", &s.agent, json!({}))
        .await
        .expect_error(403, "forbidden");
    for token in [&s.agent, &credential] {
        let r = s.decide(token, search()).await;
        assert!(
            r.body["decision"] != "allow",
            "a removed agent still acts: {:#}",
            r.body
        );
    }

    // Declared again, it acts again, on the record.
    s.edit_bundle("tribune.toml", |_| original.clone());
    s.reload(&mut admins).await.expect(200);
    let back = s
        .get("/v1/identities/agent:support-bot", ADMIN)
        .await
        .expect(200)
        .body;
    assert_eq!(back["state"], "active", "{back:#}");
    assert_eq!(
        identity_entries(&s, "identity_reinstated", "agent:support-bot")
            .await
            .len(),
        1
    );
    assert_eq!(
        s.decide(&s.agent, search()).await.expect(200).body["decision"],
        "allow"
    );
    // The activations and the registry's entries were recorded once each, not lost or doubled.
    assert_eq!(
        identity_entries(&s, "identity_created", "agent:triage")
            .await
            .len(),
        1
    );
    s.stop().await;
}
