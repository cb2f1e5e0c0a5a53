//! Short-lived credentials against a real server: each way a credential can be wrong is
//! refused with its own reason, and revocation, rotation and decommission take effect on the
//! very next decision, cached credential or not.

use serde_json::{Value, json};

use crate::harness::{ADMIN, AGENT, Backend, Req, TestServer, manifest_tail};

on_both_backends!(
    a_credential_decides_within_its_scopes,
    every_bad_credential_is_refused_with_its_own_reason,
    revocation_and_rotation_cut_off_the_next_decision,
    decommission_cuts_off_a_cached_credential,
    delegation_is_narrower_and_shows_its_chain,
    runtime_identities_follow_the_bundle_rules,
    require_credentials_refuses_registration_secrets,
    lapsed_rotation_and_review_are_enforced,
    a_lapsed_secret_gets_no_credential_when_only_credentials_are_accepted,
    a_revocation_holds_while_the_registry_is_refreshed_concurrently,
    every_registry_change_is_on_the_record_with_its_change,
    a_credential_expires_on_the_server,
    a_provider_scope_covers_its_tools,
);

const SEARCH: &str = "search_docs";
const UPDATE: &str = "update_ticket";

fn search() -> Value {
    json!({ "tool": SEARCH, "arguments": { "query": "refund policy" } })
}

fn update() -> Value {
    json!({ "tool": UPDATE, "arguments": { "ticket_id": "T-1", "status": "open" } })
}

/// A credential for the quick-start agent, from its registration secret.
async fn credential(s: &TestServer, body: Value) -> Value {
    s.post("/v1/credentials", &s.agent, body).await.expect(201).body
}

/// The first reason of a decision: (stage, code).
fn reason(d: &Value) -> (String, String) {
    (
        d["reasons"][0]["stage"].as_str().unwrap_or_default().to_owned(),
        d["reasons"][0]["code"].as_str().unwrap_or_default().to_owned(),
    )
}

fn denied_at_authenticate(d: &Value, code: &str) {
    assert_eq!(d["decision"], "deny", "{d:#}");
    assert_eq!(reason(d), ("authenticate".to_owned(), code.to_owned()), "{d:#}");
}

fn claims(
    sub: &str,
    aud: &str,
    iat: i64,
    exp: i64,
    scopes: &[&str],
    generation: u32,
) -> tribune_identity::Claims {
    tribune_identity::Claims {
        iss: "tribune".to_owned(),
        sub: sub.to_owned(),
        aud: aud.to_owned(),
        iat,
        nbf: iat,
        exp,
        jti: uuid::Uuid::now_v7().to_string(),
        scope: scopes.iter().copied().collect(),
        generation,
        cls: Some("support".to_owned()),
        act: None,
        anc: Vec::new(),
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn a_credential_decides_within_its_scopes(backend: Backend) {
    let s = TestServer::start(backend).await;
    // The JWK Set is public and holds the key credentials verify with.
    let jwks = s
        .send(Req::new("GET", "/v1/credentials/jwks"))
        .await
        .expect(200)
        .body;
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
    assert_eq!(jwks["keys"][0]["kid"], s.credential_issuer().kid());

    let c = credential(&s, json!({ "scopes": [SEARCH], "ttl_secs": 600 })).await;
    assert_eq!(c["subject"], format!("agent:{AGENT}"));
    assert_eq!(c["scopes"], json!([SEARCH]));
    assert_eq!(c["chain"], json!([format!("agent:{AGENT}")]));
    let token = c["credential"].as_str().unwrap();
    let d = s.decide(token, search()).await.expect(200).body;
    assert_eq!(d["decision"], "allow", "{d:#}");
    assert_eq!(d["credential"]["jti"], c["jti"]);
    // Over-scoped: the credential does not cover the tool, whatever the policy would say.
    let d = s.decide(token, update()).await.expect(200).body;
    denied_at_authenticate(&d, "out_of_scope");
    // And a credential for a tool beyond the identity's reach is not issued at all.
    let r = s
        .post("/v1/credentials", &s.agent, json!({ "scopes": ["no_such_tool"] }))
        .await
        .expect_error(403, "forbidden");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("outside its scopes")
    );
    // Without scopes, it covers everything the agent reaches, and its lifetime is the default.
    let c = credential(&s, json!({})).await;
    let scopes: Vec<&str> = c["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(scopes.contains(&SEARCH) && scopes.contains(&UPDATE), "{c:#}");
    let lifetime = c["expires_at_ms"].as_i64().unwrap() / 1000 - now_secs();
    assert!((3590..=3600).contains(&lifetime), "{lifetime}");
    s.post("/v1/credentials", &s.agent, json!({ "ttl_secs": 3601 }))
        .await
        .expect_error(422, "invalid_body");
    // A credential cannot mint a root credential, and humans hold none.
    s.post("/v1/credentials", c["credential"].as_str().unwrap(), json!({}))
        .await
        .expect_error(403, "forbidden");
    s.post("/v1/credentials", ADMIN, json!({}))
        .await
        .expect_error(403, "forbidden");
    s.stop().await;
}

async fn every_bad_credential_is_refused_with_its_own_reason(backend: Backend) {
    let s = TestServer::start(backend).await;
    let issuer = s.credential_issuer();
    let sub = format!("agent:{AGENT}");
    let now = now_secs();
    let good = credential(&s, json!({ "scopes": [SEARCH] })).await;
    let good = good["credential"].as_str().unwrap().to_owned();

    let expired = issuer
        .issue(&claims(&sub, "tribune", now - 7200, now - 3600, &[SEARCH], 1))
        .unwrap();
    let future = issuer
        .issue(&claims(&sub, "tribune", now + 3600, now + 7200, &[SEARCH], 1))
        .unwrap();
    let elsewhere = issuer
        .issue(&claims(&sub, "other-deployment", now, now + 600, &[SEARCH], 1))
        .unwrap();
    let stranger = tribune_identity::Issuer::from_seed([9; 32], "tribune")
        .issue(&claims(&sub, "tribune", now, now + 600, &[SEARCH], 1))
        .unwrap();
    // Tampered: widen the scope in the payload, keep the signature.
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let payload = base64_decode(&parts[1]);
    let mut payload: Value = serde_json::from_slice(&payload).unwrap();
    payload["scope"] = json!(format!("{SEARCH} {UPDATE}"));
    parts[1] = base64_encode(&serde_json::to_vec(&payload).unwrap());
    let tampered = parts.join(".");

    for (token, code) in [
        (expired.as_str(), "credential_expired"),
        (future.as_str(), "credential_not_yet_valid"),
        (elsewhere.as_str(), "credential_wrong_audience"),
        (stranger.as_str(), "credential_bad_signature"),
        (tampered.as_str(), "credential_bad_signature"),
        ("eyJhbGciOiJub25lIn0.e30.", "credential_unsupported_algorithm"),
        ("not-a.jwt-at.all", "credential_malformed"),
    ] {
        let r = s.decide(token, search()).await;
        assert_eq!((r.status, r.code()), (401, Some(code)), "{token}: {:#}", r.body);
    }
    // The good one still works.
    let d = s.decide(&good, search()).await.expect(200).body;
    assert_eq!(d["decision"], "allow", "{d:#}");
    s.stop().await;
}

async fn revocation_and_rotation_cut_off_the_next_decision(backend: Backend) {
    let s = TestServer::start(backend).await;
    let id = format!("agent:{AGENT}");
    let a = credential(&s, json!({ "scopes": [SEARCH] })).await;
    let b = credential(&s, json!({ "scopes": [SEARCH] })).await;
    let (a_token, b_token) = (
        a["credential"].as_str().unwrap(),
        b["credential"].as_str().unwrap(),
    );
    // Both verified once, so both are in the verifier's cache.
    for t in [a_token, b_token] {
        assert_eq!(s.decide(t, search()).await.expect(200).body["decision"], "allow");
    }
    let jti = a["jti"].as_str().unwrap();
    let r = s
        .post(
            &format!("/v1/credentials/{jti}/revoke"),
            ADMIN,
            json!({ "reason": "leaked in a log" }),
        )
        .await
        .expect(200);
    assert_eq!(r.body["revoked"], 1);
    let d = s.decide(a_token, search()).await.expect(200).body;
    denied_at_authenticate(&d, "credential_revoked");
    assert_eq!(
        s.decide(b_token, search()).await.expect(200).body["decision"],
        "allow"
    );

    // Rotation: a new secret; the old secret and every credential issued under it stop working.
    let old_secret = s.agent.clone();
    let rotated = s
        .post(&format!("/v1/identities/{id}/rotate"), ADMIN, json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(rotated["generation"], 2);
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    let d = s.decide(b_token, search()).await.expect(200).body;
    denied_at_authenticate(&d, "credential_rotated");
    s.decide(&old_secret, search())
        .await
        .expect_error(401, "revoked_token");
    let fresh = s
        .post("/v1/credentials", &new_secret, json!({ "scopes": [SEARCH] }))
        .await
        .expect(201)
        .body;
    let d = s
        .decide(fresh["credential"].as_str().unwrap(), search())
        .await
        .expect(200)
        .body;
    assert_eq!(d["decision"], "allow", "{d:#}");

    // Each step is in the ledger.
    let events = identity_events(&s).await;
    for e in ["credential_issued", "credential_revoked", "identity_rotated"] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }
    s.stop().await;
}

async fn decommission_cuts_off_a_cached_credential(backend: Backend) {
    let s = TestServer::start(backend).await;
    let id = format!("agent:{AGENT}");
    let c = credential(&s, json!({})).await;
    let token = c["credential"].as_str().unwrap();
    assert_eq!(
        s.decide(token, search()).await.expect(200).body["decision"],
        "allow"
    );
    assert_eq!(
        s.decide(token, search()).await.expect(200).body["decision"],
        "allow"
    );

    // Suspension first: refused, then reinstated.
    s.post(
        &format!("/v1/identities/{id}/suspend"),
        ADMIN,
        json!({ "reason": "odd traffic" }),
    )
    .await
    .expect(200);
    let d = s.decide(token, search()).await.expect(200).body;
    denied_at_authenticate(&d, "identity_suspended");
    assert_eq!(
        d["reasons"][0]["message"],
        format!("`{id}` is suspended: odd traffic")
    );
    let d = s.decide(&s.agent, search()).await.expect(200).body;
    denied_at_authenticate(&d, "identity_suspended");
    s.post(&format!("/v1/identities/{id}/reinstate"), ADMIN, json!({}))
        .await
        .expect(200);
    assert_eq!(
        s.decide(token, search()).await.expect(200).body["decision"],
        "allow"
    );

    let r = s
        .post(
            &format!("/v1/identities/{id}/decommission"),
            ADMIN,
            json!({ "reason": "retired" }),
        )
        .await
        .expect(200)
        .body;
    assert_eq!(r["state"], "decommissioned");
    assert_eq!(r["revoked_credentials"], 1);
    assert_eq!(r["revoked_secrets"], 1);
    let d = s.decide(token, search()).await.expect(200).body;
    denied_at_authenticate(&d, "identity_decommissioned");
    s.decide(&s.agent, search())
        .await
        .expect_error(401, "revoked_token");
    // Decommissioned is terminal: no reinstatement, and no new secret.
    s.post(&format!("/v1/identities/{id}/reinstate"), ADMIN, json!({}))
        .await
        .expect_error(409, "conflict");
    s.post("/v1/tokens", ADMIN, json!({ "kind": "agent", "subject": AGENT }))
        .await
        .expect_error(409, "conflict");
    let shown = s
        .get(&format!("/v1/identities/{id}"), ADMIN)
        .await
        .expect(200)
        .body;
    assert!(
        shown["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["revoked_reason"] == "decommissioned")
    );
    s.stop().await;
}

async fn delegation_is_narrower_and_shows_its_chain(backend: Backend) {
    let s = TestServer::start(backend).await;
    let parent = credential(&s, json!({ "scopes": [SEARCH, UPDATE], "ttl_secs": 600 })).await;
    let parent_token = parent["credential"].as_str().unwrap();
    let child = s
        .post(
            "/v1/credentials/delegate",
            parent_token,
            json!({ "actor": "researcher", "scopes": [SEARCH], "ttl_secs": 3600 }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(child["scopes"], json!([SEARCH]));
    assert_eq!(child["chain"], json!([format!("agent:{AGENT}"), "researcher"]));
    // Never past the parent's expiry, whatever was asked.
    assert!(child["expires_at_ms"].as_i64() <= parent["expires_at_ms"].as_i64());
    let child_token = child["credential"].as_str().unwrap();
    let d = s.decide(child_token, search()).await.expect(200).body;
    assert_eq!(d["decision"], "allow", "{d:#}");
    assert_eq!(
        d["credential"]["chain"],
        json!([format!("agent:{AGENT}"), "researcher"])
    );
    // The record shows the chain: the decision's entry and the delegation's.
    let entries = ledger_events(&s).await;
    let decided = entries
        .iter()
        .find(|(_, p)| p.to_string().contains(d["id"].as_str().unwrap()))
        .map(|(_, p)| p.clone())
        .unwrap_or_else(|| panic!("no entry for decision {}", d["id"]));
    assert!(
        decided
            .to_string()
            .contains(&json!([format!("agent:{AGENT}"), "researcher"]).to_string()),
        "the decision's entry lacks the chain: {decided:#}"
    );
    let delegated = entries
        .iter()
        .find(|(e, p)| {
            e == "credential_delegated" && p["unmapped"]["tribune"]["details"]["jti"] == child["jti"]
        })
        .map(|(_, p)| p["unmapped"]["tribune"]["details"].clone())
        .unwrap_or_else(|| panic!("no credential_delegated entry in {entries:#?}"));
    assert_eq!(
        delegated["chain"],
        json!([format!("agent:{AGENT}"), "researcher"])
    );
    assert_eq!(delegated["parent_jti"], parent["jti"]);
    assert_eq!(delegated["ancestors"], json!([parent["jti"]]));
    let d = s.decide(child_token, update()).await.expect(200).body;
    denied_at_authenticate(&d, "out_of_scope");
    // Wider than the parent: refused. From a secret: refused.
    s.post(
        "/v1/credentials/delegate",
        child_token,
        json!({ "actor": "fetcher", "scopes": [SEARCH, UPDATE] }),
    )
    .await
    .expect_error(403, "forbidden");
    s.post("/v1/credentials/delegate", &s.agent, json!({ "actor": "x" }))
        .await
        .expect_error(403, "forbidden");
    // Revoking the parent revokes the child, even though the child was never revoked itself.
    let jti = parent["jti"].as_str().unwrap();
    let r = s
        .post(&format!("/v1/credentials/{jti}/revoke"), ADMIN, json!({}))
        .await
        .expect(200);
    assert_eq!(r.body["revoked"], 2);
    let d = s.decide(child_token, search()).await.expect(200).body;
    denied_at_authenticate(&d, "credential_revoked");
    s.stop().await;
}

async fn runtime_identities_follow_the_bundle_rules(backend: Backend) {
    let s = TestServer::start_with(backend, manifest_tail("[identities]\nrequire_approval = true\n")).await;
    // Refused: undeclared owner, class, tool; a declared id; no class for an agent.
    for (body, code) in [
        (
            json!({ "id": "agent:helper", "owner": "nobody", "class": "support" }),
            "invalid_body",
        ),
        (
            json!({ "id": "agent:helper", "owner": "alice", "class": "nope" }),
            "invalid_body",
        ),
        (
            json!({ "id": "agent:helper", "owner": "alice", "class": "support", "scopes": ["nope"] }),
            "invalid_body",
        ),
        (json!({ "id": "agent:helper", "owner": "alice" }), "invalid_body"),
        (
            json!({ "id": format!("agent:{AGENT}"), "owner": "alice", "class": "support" }),
            "conflict",
        ),
        (json!({ "id": "robot:helper", "owner": "alice" }), "invalid_body"),
    ] {
        let r = s.post("/v1/identities", ADMIN, body.clone()).await;
        assert_eq!(r.code(), Some(code), "{body}: {:#}", r.body);
    }
    // An agent may not register identities.
    s.post(
        "/v1/identities",
        &s.agent,
        json!({ "id": "agent:x", "owner": "alice", "class": "support" }),
    )
    .await
    .expect_error(403, "forbidden");
    let created = s
        .post(
            "/v1/identities",
            ADMIN,
            json!({ "id": "agent:helper", "owner": "alice", "class": "support", "scopes": [SEARCH] }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(created["state"], "pending");
    assert_eq!(created["origin"], "runtime");
    // Pending: no secret yet, none to be had from the token API or by rotating, and the admin
    // may not ask for decisions on its behalf either.
    assert!(created.get("secret").is_none(), "{created:#}");
    s.post(
        "/v1/tokens",
        ADMIN,
        json!({ "kind": "agent", "subject": "helper" }),
    )
    .await
    .expect_error(409, "conflict");
    s.post("/v1/identities/agent:helper/rotate", ADMIN, json!({}))
        .await
        .expect_error(409, "conflict");
    let d = s
        .decide(
            ADMIN,
            json!({ "agent": "helper", "tool": SEARCH, "arguments": { "query": "q" } }),
        )
        .await
        .expect(200)
        .body;
    denied_at_authenticate(&d, "identity_pending");
    // The admin token cannot approve (a human must), and neither can the creator.
    s.post("/v1/identities/agent:helper/approve", ADMIN, json!({}))
        .await
        .expect_error(403, "forbidden");
    // alice is the quick-start bundle's human admin; bob is not an admin.
    let bob = s.token("human", Some("bob")).await;
    s.post("/v1/identities/agent:helper/approve", &bob, json!({}))
        .await
        .expect_error(403, "forbidden");
    let alice = s.token("human", Some("alice")).await;
    let approved = s
        .post("/v1/identities/agent:helper/approve", &alice, json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(approved["state"], "active");
    assert_eq!(approved["approved_by"], "human:alice");
    // The approval hands its registration secret to the approver, once.
    let secret = approved["secret"].as_str().unwrap().to_owned();
    s.post("/v1/identities/agent:helper/approve", &alice, json!({}))
        .await
        .expect_error(409, "conflict");
    // Now it is an agent like a declared one, held to its class and its scopes.
    let c = s
        .post("/v1/credentials", &secret, json!({}))
        .await
        .expect(201)
        .body;
    assert_eq!(c["scopes"], json!([SEARCH]));
    let d = s
        .decide(c["credential"].as_str().unwrap(), search())
        .await
        .expect(200)
        .body;
    assert_eq!(d["decision"], "allow", "{d:#}");
    let d = s.decide(&secret, update()).await.expect(200).body;
    assert_eq!(d["decision"], "deny", "{d:#}");
    assert_eq!(d["reasons"][0]["rule"], "builtin:scope:helper", "{d:#}");
    let listed = s.get("/v1/identities", ADMIN).await.expect(200).body;
    let ids: Vec<&str> = listed["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(&"agent:helper") && ids.contains(&format!("agent:{AGENT}").as_str()),
        "{ids:?}"
    );
    s.stop().await;
}

async fn require_credentials_refuses_registration_secrets(backend: Backend) {
    let s = TestServer::start_with(
        backend,
        manifest_tail("[identities]\nrequire_credentials = true\n"),
    )
    .await;
    let d = s.decide(&s.agent, search()).await.expect(200).body;
    denied_at_authenticate(&d, "credential_required");
    let c = credential(&s, json!({})).await;
    let d = s
        .decide(c["credential"].as_str().unwrap(), search())
        .await
        .expect(200)
        .body;
    assert_eq!(d["decision"], "allow", "{d:#}");
    s.stop().await;
}

async fn lapsed_rotation_and_review_are_enforced(backend: Backend) {
    let s = TestServer::start_with(backend, manifest_tail("[identities]\nrotation_days = 30\nrotation_grace_days = 5\nreview_days = 90\nreview_grace_days = 10\n"))
    .await;
    let id = format!("agent:{AGENT}");
    // A credential taken while the secret is current.
    let c = credential(&s, json!({ "scopes": [SEARCH] })).await;
    let token = c["credential"].as_str().unwrap().to_owned();
    // Its secret was last rotated 36 days ago (30 + 5 days of grace have passed): the secret
    // is refused, both for decisions and for new credentials.
    s.execute_raw("UPDATE identities SET secret_rotated_at_ms = secret_rotated_at_ms - 3110400000")
        .await;
    let started = std::time::Instant::now();
    loop {
        let d = s.decide(&s.agent, search()).await.expect(200).body;
        if d["reasons"][0]["code"] == "rotation_overdue" {
            denied_at_authenticate(&d, "rotation_overdue");
            break;
        }
        // The registry view catches up with a change made behind the server's back by its poll.
        assert!(started.elapsed().as_secs() < 5, "{d:#}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    s.post("/v1/credentials", &s.agent, json!({}))
        .await
        .expect_error(403, "forbidden");
    // The audit says so.
    let audit = s.get("/v1/identities/audit", ADMIN).await.expect(200).body;
    let kinds: Vec<&str> = audit["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["identity"] == id.as_str())
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["rotation_expired"], "{audit:#}");
    // Rotating gives a working secret again.
    let rotated = s
        .post(&format!("/v1/identities/{id}/rotate"), ADMIN, json!({}))
        .await
        .expect(200)
        .body;
    let secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        s.decide(&secret, search()).await.expect(200).body["decision"],
        "allow"
    );
    // The credential from before the rotation is refused.
    denied_at_authenticate(
        &s.decide(&token, search()).await.expect(200).body,
        "credential_rotated",
    );

    // Never reviewed, created 101 days ago (90 + 10 days of grace have passed): the lifecycle
    // pass (every 15 s) suspends it, on the record.
    s.execute_raw("UPDATE identities SET created_at_ms = created_at_ms - 8726400000")
        .await;
    let started = std::time::Instant::now();
    loop {
        let d = s.decide(&secret, search()).await.expect(200).body;
        if d["reasons"][0]["code"] == "identity_suspended" {
            assert_eq!(
                d["reasons"][0]["message"],
                format!("`{id}` is suspended: review overdue past its grace period")
            );
            break;
        }
        assert!(started.elapsed().as_secs() < 30, "not suspended: {d:#}");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(
        identity_events(&s)
            .await
            .iter()
            .any(|e| e == "identity_suspended")
    );
    // A review lifts a suspension for a lapsed review.
    let reviewed = s
        .post(&format!("/v1/identities/{id}/review"), ADMIN, json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(reviewed["state"], "active");
    assert_eq!(
        s.decide(&secret, search()).await.expect(200).body["decision"],
        "allow"
    );
    s.stop().await;
}

async fn a_lapsed_secret_gets_no_credential_when_only_credentials_are_accepted(backend: Backend) {
    let s = TestServer::start_with(
        backend,
        manifest_tail(
            "[identities]\nrequire_credentials = true\nrotation_days = 30\nrotation_grace_days = 5\n",
        ),
    )
    .await;
    // While the secret is current, it is exchanged for a credential (and only that).
    credential(&s, json!({})).await;
    denied_at_authenticate(
        &s.decide(&s.agent, search()).await.expect(200).body,
        "credential_required",
    );
    // 36 days since the last rotation: past 30 days and 5 of grace.
    s.execute_raw("UPDATE identities SET secret_rotated_at_ms = secret_rotated_at_ms - 3110400000")
        .await;
    let started = std::time::Instant::now();
    loop {
        let d = s.decide(&s.agent, search()).await.expect(200).body;
        if d["reasons"][0]["code"] == "rotation_overdue" {
            break;
        }
        assert!(started.elapsed().as_secs() < 5, "{d:#}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The lapsed secret mints nothing.
    let refused = s
        .post("/v1/credentials", &s.agent, json!({}))
        .await
        .expect_error(403, "forbidden")
        .body;
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rotation_overdue"),
        "{refused:#}"
    );
    s.stop().await;
}

async fn a_revocation_holds_while_the_registry_is_refreshed_concurrently(backend: Backend) {
    let s = std::sync::Arc::new(TestServer::start(backend).await);
    // Each revocation of a decoy refreshes the registry view, on top of the 250 ms poll.
    let mut decoys = Vec::new();
    for _ in 0..40 {
        decoys.push(
            credential(&s, json!({ "scopes": [SEARCH] })).await["jti"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let churn = {
        let s = std::sync::Arc::clone(&s);
        tokio::spawn(async move {
            for jti in decoys {
                s.post(&format!("/v1/credentials/{jti}/revoke"), ADMIN, json!({}))
                    .await
                    .expect(200);
            }
        })
    };
    // Few enough decisions to stay within the class's quota (120 a minute).
    for _ in 0..5 {
        let c = credential(&s, json!({ "scopes": [SEARCH] })).await;
        let token = c["credential"].as_str().unwrap();
        let d = s.decide(token, search()).await.expect(200).body;
        assert_eq!(d["decision"], "allow", "{d:#}");
        let jti = c["jti"].as_str().unwrap();
        s.post(&format!("/v1/credentials/{jti}/revoke"), ADMIN, json!({}))
            .await
            .expect(200);
        // The very next decision and every one after it, across more than one poll: denied.
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(300) {
            let d = s.decide(token, search()).await.expect(200).body;
            denied_at_authenticate(&d, "credential_revoked");
            tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        }
    }
    churn.await.unwrap();
    std::sync::Arc::into_inner(s).unwrap().stop().await;
}

async fn every_registry_change_is_on_the_record_with_its_change(backend: Backend) {
    let s = TestServer::start_with(backend, manifest_tail("[identities]\nrequire_approval = true\n")).await;
    let id = "agent:helper";
    s.post(
        "/v1/identities",
        ADMIN,
        json!({ "id": id, "owner": "alice", "class": "support", "scopes": [SEARCH] }),
    )
    .await
    .expect(201);
    // Registered twice: refused, and only one entry.
    s.post(
        "/v1/identities",
        ADMIN,
        json!({ "id": id, "owner": "alice", "class": "support", "scopes": [SEARCH] }),
    )
    .await
    .expect_error(409, "conflict");
    let alice = s.token("human", Some("alice")).await;
    let approved = s
        .post(&format!("/v1/identities/{id}/approve"), &alice, json!({}))
        .await
        .expect(200)
        .body;
    let secret = approved["secret"].as_str().unwrap().to_owned();
    let c = s
        .post("/v1/credentials", &secret, json!({}))
        .await
        .expect(201)
        .body;
    s.post(
        &format!("/v1/identities/{id}/suspend"),
        &alice,
        json!({ "reason": "checking" }),
    )
    .await
    .expect(200);
    // Suspended twice: the second finds it moved on.
    s.post(&format!("/v1/identities/{id}/suspend"), &alice, json!({}))
        .await
        .expect_error(409, "conflict");
    s.post(&format!("/v1/identities/{id}/reinstate"), ADMIN, json!({}))
        .await
        .expect(200);
    s.post(&format!("/v1/identities/{id}/review"), &alice, json!({}))
        .await
        .expect(200);
    let rotated = s
        .post(&format!("/v1/identities/{id}/rotate"), &alice, json!({}))
        .await
        .expect(200)
        .body;
    let decommissioned = s
        .post(
            &format!("/v1/identities/{id}/decommission"),
            &alice,
            json!({ "reason": "done" }),
        )
        .await
        .expect(200)
        .body;
    // The credential was already revoked by the rotation; the rotated secret goes now.
    assert_eq!(decommissioned["revoked_credentials"], 0, "{decommissioned:#}");
    assert_eq!(decommissioned["revoked_secrets"], 1, "{decommissioned:#}");
    s.post(&format!("/v1/identities/{id}/decommission"), &alice, json!({}))
        .await
        .expect_error(409, "conflict");
    s.post(&format!("/v1/identities/{id}/rotate"), &alice, json!({}))
        .await
        .expect_error(409, "conflict");
    // Decommissioned, a runtime identity leaves the bundle's view: no secret for it either.
    s.post(
        "/v1/tokens",
        ADMIN,
        json!({ "kind": "agent", "subject": "helper" }),
    )
    .await
    .expect_error(422, "invalid_body");

    let about: Vec<(String, Value)> = ledger_events(&s)
        .await
        .into_iter()
        .filter(|(_, p)| p["unmapped"]["tribune"]["details"]["identity"] == id)
        .map(|(e, p)| (e, p["unmapped"]["tribune"]["details"].clone()))
        .collect();
    let events: Vec<&str> = about.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(
        events,
        [
            "identity_created",
            "identity_approved",
            "credential_issued",
            "identity_suspended",
            "identity_reinstated",
            "identity_reviewed",
            "identity_rotated",
            "identity_decommissioned",
        ]
    );
    // Each entry names what its transaction wrote: the secret issued on approval and rotation
    // is the one the store holds, and the stored state is what the last entry says.
    let tokens = s.side_store().await.list_tokens().await.unwrap();
    let secret_of = |(_, d): &(String, Value)| {
        let token_id = d["secret_token_id"].as_str().unwrap().to_owned();
        tokens.iter().find(|t| t.id == token_id).cloned().unwrap()
    };
    let first = secret_of(&about[1]);
    let second = secret_of(&about[6]);
    assert_eq!(first.subject.as_deref(), Some("helper"));
    assert!(first.revoked_at_ms.is_some() && second.revoked_at_ms.is_some());
    assert_eq!(about[6].1["generation"], rotated["generation"]);
    assert!(
        about[0].1["secret_token_id"].is_null(),
        "a pending identity gets no secret"
    );
    let stored = s.side_store().await.identity(id).await.unwrap().unwrap();
    assert_eq!(stored.state.as_str(), "decommissioned");
    assert_eq!(stored.state_reason.as_deref(), Some("done"));
    let credential = s
        .side_store()
        .await
        .credential(c["jti"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(credential.revoked_reason.as_deref(), Some("rotated"));
    s.stop().await;
}

async fn a_credential_expires_on_the_server(backend: Backend) {
    let s = TestServer::start(backend).await;
    let c = credential(&s, json!({ "scopes": [SEARCH], "ttl_secs": 1 })).await;
    let token = c["credential"].as_str().unwrap();
    // Verified once, so the verifier caches it; the cache still checks the expiry.
    assert_eq!(
        s.decide(token, search()).await.expect(200).body["decision"],
        "allow"
    );
    // Past `exp` and the verifier's 5 s leeway.
    tokio::time::sleep(std::time::Duration::from_millis(7_500)).await;
    let r = s
        .decide(token, search())
        .await
        .expect_error(401, "credential_expired");
    assert!(
        r.body["error"]["message"].as_str().unwrap().contains("expired"),
        "{:#}",
        r.body
    );
    s.stop().await;
}

async fn a_provider_scope_covers_its_tools(backend: Backend) {
    let s = TestServer::start(backend).await;
    // `provider:helpdesk` is search_docs and update_ticket, expanded when it is issued.
    let c = credential(&s, json!({ "scopes": ["provider:helpdesk"] })).await;
    assert_eq!(c["scopes"], json!([SEARCH, UPDATE]));
    let token = c["credential"].as_str().unwrap();
    assert_eq!(
        s.decide(token, search()).await.expect(200).body["decision"],
        "allow"
    );
    let refund = json!({ "tool": "issue_refund", "arguments": { "order_id": "O-1", "amount": 10 } });
    denied_at_authenticate(&s.decide(token, refund).await.expect(200).body, "out_of_scope");
    // Delegation narrows by provider too, and never beyond the parent.
    let child = s
        .post(
            "/v1/credentials/delegate",
            token,
            json!({ "actor": "reader", "scopes": ["provider:helpdesk"] }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(child["scopes"], json!([SEARCH, UPDATE]));
    s.post(
        "/v1/credentials/delegate",
        token,
        json!({ "actor": "payer", "scopes": ["provider:payments"] }),
    )
    .await
    .expect_error(403, "forbidden");
    // An undeclared provider is not a scope.
    s.post(
        "/v1/credentials",
        &s.agent,
        json!({ "scopes": ["provider:nope"] }),
    )
    .await
    .expect_error(422, "invalid_body");
    s.stop().await;
}

/// Every ledger entry's event name and OCSF payload, oldest first.
async fn ledger_events(s: &TestServer) -> Vec<(String, Value)> {
    s.ledger_events()
        .await
        .into_iter()
        .map(|e| (e.event, e.payload))
        .collect()
}

/// The event names of the ledger's identity entries, oldest first.
async fn identity_events(s: &TestServer) -> Vec<String> {
    s.ledger_events()
        .await
        .into_iter()
        .filter(|e| e.class == "identity")
        .map(|e| e.event)
        .collect()
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}
