//! `POST /v1/tokens`: the admin issues tokens for what the bundle declares.

use serde_json::{Value, json};

use crate::harness::{ADMIN, AGENT, Backend, Req, TestServer, redact};

/// Issuing (as `token`) `body` answers `status` / `code`; the body is snapshotted as `name`.
async fn check(
    s: &TestServer,
    name: &str,
    token: &str,
    body: Value,
    status: u16,
    code: Option<&str>,
) -> Value {
    let reply = s.post("/v1/tokens", token, body).await;
    assert_eq!(
        (reply.status, reply.code()),
        (status, code),
        "case `{name}`: {:#}",
        reply.body
    );
    insta::assert_json_snapshot!(name, redact(&reply.body));
    reply.body
}

on_both_backends!(tokens_are_issued_for_declared_subjects_by_admins);

async fn tokens_are_issued_for_declared_subjects_by_admins(backend: Backend) {
    let s = TestServer::start(backend).await;
    let search = json!({ "tool": "search_docs", "arguments": { "query": "q" } });

    // An agent token, shown once, that works for deciding.
    let issued = check(
        &s,
        "agent_token",
        ADMIN,
        json!({ "kind": "agent", "subject": AGENT, "label": "support-bot in production" }),
        201,
        None,
    )
    .await;
    let token = issued["token"].as_str().unwrap();
    assert!(token.starts_with("trb_"));
    let decision = s.decide(token, search.clone()).await.expect(200).body;
    assert_eq!(decision["principal"], "agent:support-bot");
    // Each issue is a new secret.
    let second = check(
        &s,
        "agent_token_without_label",
        ADMIN,
        json!({ "kind": "agent", "subject": AGENT }),
        201,
        None,
    )
    .await;
    assert_ne!(second["token"], issued["token"]);
    assert_ne!(second["id"], issued["id"]);

    // What the active bundle does not declare, or a request of the wrong shape.
    for (name, body) in [
        ("undeclared_agent", json!({ "kind": "agent", "subject": "ghost" })),
        (
            "undeclared_human",
            json!({ "kind": "human", "subject": "mallory" }),
        ),
        (
            "undeclared_service",
            json!({ "kind": "service", "subject": "billing" }),
        ),
        (
            "a_human_named_as_an_agent",
            json!({ "kind": "agent", "subject": "alice" }),
        ),
        ("unknown_kind", json!({ "kind": "root" })),
        (
            "admin_with_a_subject",
            json!({ "kind": "admin", "subject": "alice" }),
        ),
        ("agent_without_a_subject", json!({ "kind": "agent" })),
        (
            "token_unknown_field",
            json!({ "kind": "admin", "scopes": ["all"] }),
        ),
        ("token_kind_missing", json!({ "subject": AGENT })),
    ] {
        check(&s, name, ADMIN, body, 422, Some("invalid_body")).await;
    }

    // Who may issue: the admin token and humans with the `admin` role; nobody else.
    let alice = s.token("human", Some("alice")).await;
    let bob = s.token("human", Some("bob")).await;
    let agent_token = json!({ "kind": "agent", "subject": AGENT });
    check(
        &s,
        "issued_by_an_agent",
        &s.agent,
        agent_token.clone(),
        403,
        Some("forbidden"),
    )
    .await;
    check(
        &s,
        "issued_by_a_reviewer",
        &bob,
        agent_token.clone(),
        403,
        Some("forbidden"),
    )
    .await;
    s.send(Req::new("POST", "/v1/tokens").json(agent_token.clone()))
        .await
        .expect_error(401, "missing_token");
    let by_alice = check(
        &s,
        "issued_by_a_human_admin",
        &alice,
        json!({ "kind": "human", "subject": "carol" }),
        201,
        None,
    )
    .await;
    // Carol is an auditor: she reads records but administers nothing.
    let carol = by_alice["token"].as_str().unwrap();
    s.get("/v1/bundle", carol).await.expect(200);
    s.post("/v1/tokens", carol, agent_token.clone())
        .await
        .expect_error(403, "forbidden");

    // An admin token administers.
    let admin = check(&s, "admin_token", ADMIN, json!({ "kind": "admin" }), 201, None).await;
    let admin = admin["token"].as_str().unwrap();
    s.post("/v1/tokens", admin, agent_token).await.expect(201);
    // But no token alone activates a bundle: that needs a human's fresh MFA code.
    s.post("/v1/bundle/reload", admin, json!({}))
        .await
        .expect_error(403, "forbidden");
    s.stop().await;
}
