//! Many agents' requests at once: the group-commit writer acknowledges only durable records.

use std::sync::Arc;

use serde_json::json;

use crate::harness::{ADMIN, AGENT, Backend, TestServer, metric};

const TASKS: usize = 20;
const PER_TASK: usize = 10;

on_both_backends!(concurrent_decisions_are_all_recorded);

async fn concurrent_decisions_are_all_recorded(backend: Backend) {
    let s = Arc::new(TestServer::start(backend).await);
    let committed_before = metric(&s.metrics().await, "tribune_writer_records_committed");
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let s = Arc::clone(&s);
        tasks.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in 0..PER_TASK {
                let body = json!({
                    "tool": "search_docs",
                    "arguments": { "query": format!("task {t} call {i}") },
                    "session": format!("task-{t}"),
                });
                let answer = s.decide(&s.agent, body.clone()).await.expect(200).body;
                answers.push((body, answer));
            }
            answers
        }));
    }
    // Tokens issued meanwhile append to the same ledger, outside the decision writer.
    let issuer = {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            for _ in 0..10 {
                let body = json!({ "kind": "agent", "subject": AGENT });
                s.post("/v1/tokens", ADMIN, body).await.expect(201);
            }
        })
    };
    let mut answers = Vec::new();
    for task in tasks {
        answers.extend(task.await.unwrap());
    }
    issuer.await.unwrap();
    assert_eq!(answers.len(), TASKS * PER_TASK);
    // The class allows 120 calls a minute: exactly that many are allowed, the rest denied.
    let allowed = answers.iter().filter(|(_, a)| a["decision"] == "allow").count();
    let over = answers
        .iter()
        .filter(|(_, a)| {
            a["decision"] == "deny"
                && a["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["code"] == "quota_exceeded")
        })
        .count();
    assert_eq!((allowed, over), (120, TASKS * PER_TASK - 120));

    // Every answered decision is durable and reads back as answered.
    let mut ids = std::collections::BTreeSet::new();
    let mut indexes = std::collections::BTreeSet::new();
    for (asked, answer) in &answers {
        let id = answer["id"].as_str().unwrap();
        assert!(ids.insert(id.to_owned()), "id `{id}` given twice");
        let index = answer["ledger_index"].as_u64().unwrap();
        assert!(indexes.insert(index), "ledger index {index} given twice");
        let record = s
            .get(&format!("/v1/decisions/{id}"), &s.agent)
            .await
            .expect(200)
            .body;
        let mut expected = answer.clone();
        expected.as_object_mut().unwrap().remove("ledger_index");
        expected["arguments"] = asked["arguments"].clone();
        expected["session"] = asked["session"].clone();
        expected["context"] = serde_json::Value::Null;
        expected["outcome"] = serde_json::Value::Null;
        assert_eq!(record, expected);
    }
    let text = s.metrics().await;
    assert_eq!(
        metric(&text, "tribune_writer_records_committed") - committed_before,
        200.0,
        "{text}"
    );
    // The ledger holds every one of them at the index it was answered with, without gaps
    // (reading the entries is itself logged, after the metrics above).
    let entries = s
        .get("/v1/audit/entries?from=0&limit=10000", ADMIN)
        .await
        .expect(200)
        .body;
    let entries = entries["entries"].as_array().unwrap();
    for (i, entry) in entries.iter().enumerate() {
        assert_eq!(entry["index"], i, "the ledger has a gap before {entry:#}");
    }
    for (_, answer) in &answers {
        let entry = &entries[usize::try_from(answer["ledger_index"].as_u64().unwrap()).unwrap()];
        assert_eq!(
            (&entry["event_class"], &entry["correlation_uid"]),
            (&json!("decision"), &answer["id"])
        );
    }
    let issued = entries.iter().filter(|e| e["event_class"] == "identity").count();
    assert_eq!(
        issued,
        1 + 2 + 1 + 10,
        "bootstrap, the bundle's two agents (support-bot, canary) entering the identity registry, the harness's agent token and 10 more"
    );
    Arc::into_inner(s).unwrap().stop().await;
}
