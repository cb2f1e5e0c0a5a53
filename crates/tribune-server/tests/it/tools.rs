//! `GET /v1/tools`: what a principal may call, as the MCP gateway asks for it.

use serde_json::{Value, json};

use crate::harness::{ADMIN, Backend, TestServer};

on_both_backends!(
    an_agent_lists_its_reachable_tools,
    naming_another_principal_is_governed
);

fn names(body: &Value) -> Vec<(String, String, u64, bool)> {
    body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap().to_owned(),
                t["access"].as_str().unwrap().to_owned(),
                t["approvals"].as_u64().unwrap(),
                t["mfa"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn an_agent_lists_its_reachable_tools(backend: Backend) {
    let s = TestServer::start(backend).await;
    let mut admins = s.step_up(&["alice"]).await;
    let agent = s.token("agent", Some("support-bot")).await;
    let body = s.get("/v1/tools", &agent).await.expect(200).body;
    assert_eq!(body["principal"], "agent:support-bot");
    assert_eq!(
        names(&body),
        vec![
            ("issue_refund".to_owned(), "approval".to_owned(), 2, true),
            ("search_docs".to_owned(), "alone".to_owned(), 0, false),
            ("update_ticket".to_owned(), "approval".to_owned(), 1, false),
        ]
    );

    // Lowering the class ceiling to `write` takes `issue_refund` off the list at the next
    // activation: the built-in ceiling forbid has no conditions, so no call could pass.
    s.edit_bundle("tribune.toml", |t| {
        t.replace("ceiling = \"irreversible\"\nquota", "ceiling = \"write\"\nquota")
    });
    s.reload(&mut admins).await.expect(200);
    let body = s.get("/v1/tools", &agent).await.expect(200).body;
    assert_eq!(
        names(&body).into_iter().map(|t| t.0).collect::<Vec<_>>(),
        vec!["search_docs", "update_ticket"]
    );
    s.stop().await;
}

async fn naming_another_principal_is_governed(backend: Backend) {
    let s = TestServer::start(backend).await;
    let agent = s.token("agent", Some("support-bot")).await;
    let body = s.get("/v1/tools?agent=support-bot", ADMIN).await.expect(200).body;
    assert_eq!(names(&body).len(), 3);
    s.get("/v1/tools?agent=support-bot", &agent)
        .await
        .expect_error(403, "forbidden");
    s.get("/v1/tools", ADMIN).await.expect_error(400, "invalid_query");
    s.get("/v1/tools?agent=a&service=b", ADMIN)
        .await
        .expect_error(400, "invalid_query");
    // An undeclared agent may call nothing.
    let body = s.get("/v1/tools?agent=ghost", ADMIN).await.expect(200).body;
    assert_eq!(body["tools"], json!([]));
    s.stop().await;
}
