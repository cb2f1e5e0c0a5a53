//! Trust scores over the API: forbid hits push an agent into review (its writes are held) and
//! then into block (every call denied); decay brings it back; every event is in its history and
//! every crossing in the ledger. A human's refusal lowers the score, allowed calls raise it
//! (written together), replicas converge, and only auditors (or the subject) may look.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{ADMIN, Backend, TestServer};

on_both_backends!(
    forbid_hits_hold_then_block_and_decay_restores,
    a_refusal_lowers_the_score_without_trust_declared,
    allowed_calls_raise_the_score_and_are_written_together,
    scores_are_read_by_auditors_and_the_subject_only,
    a_provider_falls_into_review_and_block_and_recovers,
);

const SUBJECT: &str = "/v1/trust/agent:support-bot";

/// Writes need no approval from the floor, so a trust review is what holds them; scores start
/// at 900, are reviewed below 800 and blocked below 300, and halve their distance from 900
/// every second; a forbid hit weighs -300.
fn fast_trust(bundle: &std::path::Path) {
    let path = bundle.join("tribune.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("write = { approvals = 1 }", "write = { approvals = 0 }");
    let trust = "\n[trust]\nbaseline = 900\nreview_below = 800\nblock_below = 300\nhalf_life_secs = 1\n\
                 [trust.events]\nforbidden = -300\nprovider_forbidden = 0\n";
    std::fs::write(path, format!("{text}{trust}")).unwrap();
}

fn read() -> Value {
    json!({ "tool": "search_docs", "arguments": { "query": "q" } })
}

fn write() -> Value {
    json!({ "tool": "update_ticket", "arguments": { "ticket_id": "T-1", "status": "open" } })
}

fn forbidden() -> Value {
    json!({ "tool": "update_ticket", "arguments": { "ticket_id": "T-1", "status": "deleted" } })
}

/// The last reason's code.
fn last_code(d: &Value) -> String {
    d["reasons"].as_array().unwrap().last().unwrap()["code"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The `trust_band_changed` entries of the ledger: (subject, from, to, cause).
async fn crossings(s: &TestServer) -> Vec<(String, String, String, Value)> {
    let entries = s
        .get("/v1/audit/entries?from=0&limit=10000", ADMIN)
        .await
        .expect(200);
    entries.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_class"] == "trust")
        .map(|e| {
            let payload: Value = serde_json::from_str(e["payload"].as_str().unwrap()).unwrap();
            let t = &payload["unmapped"]["tribune"];
            assert_eq!(t["event"], "trust_band_changed");
            let d = &t["details"];
            (
                d["subject"].as_str().unwrap().to_owned(),
                d["from"].as_str().unwrap().to_owned(),
                d["to"].as_str().unwrap().to_owned(),
                d["cause"].clone(),
            )
        })
        .collect()
}

async fn forbid_hits_hold_then_block_and_decay_restores(backend: Backend) {
    let s = TestServer::start_with(backend, fast_trust).await;
    let carol = s.token("human", Some("carol")).await; // auditor
    assert_eq!(
        s.decide(&s.agent, write()).await.expect(200).body["decision"],
        "allow"
    );

    // One forbid hit: 600, below 800 — writes are held, reads go on.
    let hit = s.decide(&s.agent, forbidden()).await.expect(200).body;
    assert_eq!(last_code(&hit), "forbidden");
    let held = s.decide(&s.agent, write()).await.expect(200).body;
    assert_eq!(held["decision"], "hold", "{held:#}");
    assert_eq!(held["approvals_required"], 1);
    assert_eq!(last_code(&held), "trust_review");
    let reason = held["reasons"].as_array().unwrap().last().unwrap();
    assert_eq!(reason["stage"], "trust");
    assert!(
        reason["message"]
            .as_str()
            .unwrap()
            .starts_with("the trust score of agent:support-bot is "),
        "{reason:#}"
    );
    assert_eq!(
        s.decide(&s.agent, read()).await.expect(200).body["decision"],
        "allow"
    );

    // More forbid hits until the agent is blocked: then even reads are denied.
    let mut blocked = None;
    for _ in 0..12 {
        s.decide(&s.agent, forbidden()).await.expect(200);
        let d = s.decide(&s.agent, read()).await.expect(200).body;
        if d["decision"] == "deny" {
            blocked = Some(d);
            break;
        }
    }
    let blocked = blocked.expect("forbid hits never blocked the agent");
    assert_eq!(last_code(&blocked), "trust_blocked", "{blocked:#}");
    assert_eq!(
        blocked["reasons"].as_array().unwrap().last().unwrap()["rule"],
        "trust:block"
    );

    // The history shows each hit, with the decision it was and the score after it.
    let one = s.get(SUBJECT, &carol).await.expect(200).body;
    assert_eq!(one["enforced"], true);
    let history = one["history"].as_array().unwrap();
    let hits: Vec<&Value> = history.iter().filter(|e| e["kind"] == "forbidden").collect();
    assert!(hits.len() >= 2, "{one:#}");
    assert_eq!(hits[0]["delta"], -300);
    assert_eq!(hits[0]["reference"], hit["id"]);
    assert!(hits[0]["score_after"].as_u64().unwrap() < 800, "{one:#}");
    assert!(
        hits.last().unwrap()["score_after"].as_u64().unwrap() < 300,
        "{one:#}"
    );

    // Decay: reads come back first (above 300), then writes run alone again (800).
    let started = Instant::now();
    let mut saw_review = false;
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the score never recovered"
        );
        let r = s.decide(&s.agent, read()).await.expect(200).body;
        if r["decision"] == "allow" {
            let w = s.decide(&s.agent, write()).await.expect(200).body;
            if w["decision"] == "allow" {
                break;
            }
            assert_eq!(last_code(&w), "trust_review", "{w:#}");
            saw_review = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(saw_review, "between block and normal the agent is reviewed");

    // Every crossing is in the ledger once, down by events, up by decay.
    let expected = [
        ("normal", "review"),
        ("review", "blocked"),
        ("blocked", "review"),
        ("review", "normal"),
    ];
    let started = Instant::now();
    let seen = loop {
        let seen: Vec<_> = crossings(&s)
            .await
            .into_iter()
            .filter(|c| c.0 == "agent:support-bot")
            .collect();
        if seen.len() >= expected.len() || started.elapsed() > Duration::from_secs(10) {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let bands: Vec<(&str, &str)> = seen.iter().map(|c| (c.1.as_str(), c.2.as_str())).collect();
    assert_eq!(bands, expected, "{seen:#?}");
    assert_eq!(
        seen[0].3["kind"], "forbidden",
        "entering review was caused by a forbid hit"
    );
    assert_eq!(seen[0].3["reference"], hit["id"]);
    assert_eq!(seen[3].3, "decay");
    s.stop().await;
}

async fn a_refusal_lowers_the_score_without_trust_declared(backend: Backend) {
    let s = TestServer::start(backend).await;
    let bob = s.token("human", Some("bob")).await;
    // The quick-start bundle declares no [trust]: scores are kept, nothing is gated.
    let held = s.decide(&s.agent, write()).await.expect(200).body;
    assert_eq!(held["decision"], "hold");
    let approval = held["approval_id"].as_str().unwrap();
    s.post(
        &format!("/v1/approvals/{approval}/deny"),
        &bob,
        json!({ "rationale": "not this ticket" }),
    )
    .await
    .expect(200);
    let one = s.get(SUBJECT, ADMIN).await.expect(200).body;
    assert_eq!(one["enforced"], false);
    assert_eq!(one["score"], 625, "700 - 75: {one:#}");
    assert_eq!(one["band"], "normal");
    let history = one["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{one:#}");
    assert_eq!(history[0]["kind"], "approval_refused");
    assert_eq!(history[0]["delta"], -75);
    assert_eq!(history[0]["count"], 1);
    assert_eq!(history[0]["reference"], approval);
    assert_eq!(history[0]["score_after"], 625);
    assert_eq!(one["history_total"], 1);

    // A forbid hit weighs on the agent and, lightly, on the tool's provider.
    s.decide(&s.agent, forbidden()).await.expect(200);
    let list = s.get("/v1/trust", ADMIN).await.expect(200).body;
    let score = |subject: &str| {
        list["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["subject"] == subject)
            .unwrap_or_else(|| panic!("{subject} missing: {list:#}"))["score"]
            .clone()
    };
    assert_eq!(score("agent:support-bot"), 600);
    assert_eq!(score("provider:helpdesk"), 695);
    assert_eq!(score("provider:payments"), 700);
    assert_eq!(list["review_below"], 400);
    assert_eq!(list["events"]["forbidden"], -25);
    s.stop().await;
}

async fn allowed_calls_raise_the_score_and_are_written_together(backend: Backend) {
    let s = TestServer::start(backend).await;
    for _ in 0..3 {
        s.decide(&s.agent, read()).await.expect(200);
    }
    // Counted at once on this node, written within a few seconds as one row.
    let one = s.get(SUBJECT, &s.agent).await.expect(200).body;
    assert_eq!(one["score"], 703, "{one:#}");
    let started = Instant::now();
    let one = loop {
        let one = s.get(SUBJECT, &s.agent).await.expect(200).body;
        if one["pending_allowed"] == 0 || started.elapsed() > Duration::from_secs(15) {
            break one;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(one["score"], 703, "{one:#}");
    let history = one["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{one:#}");
    assert_eq!(history[0]["kind"], "allowed");
    assert_eq!(
        (history[0]["count"].clone(), history[0]["delta"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(history[0]["reference"], Value::Null);
    s.stop().await;
}

async fn scores_are_read_by_auditors_and_the_subject_only(backend: Backend) {
    let s = TestServer::start(backend).await;
    let bob = s.token("human", Some("bob")).await; // reviewer only
    let carol = s.token("human", Some("carol")).await; // auditor
    s.get("/v1/trust", &carol).await.expect(200);
    s.get("/v1/trust", &bob).await.expect_error(403, "forbidden");
    s.get("/v1/trust", &s.agent).await.expect_error(403, "forbidden");
    s.get(SUBJECT, &s.agent).await.expect(200);
    s.get("/v1/trust/agent%3Asupport-bot", &s.agent).await.expect(200);
    s.get("/v1/trust/provider:helpdesk", &s.agent)
        .await
        .expect_error(403, "forbidden");
    s.get("/v1/trust/provider:helpdesk", &carol).await.expect(200);
    s.get("/v1/trust/agent:nobody", &carol)
        .await
        .expect_error(404, "not_found");
    s.get("/v1/trust/robot:x", &carol)
        .await
        .expect_error(400, "invalid_query");
    s.get(&format!("{SUBJECT}?limit=0"), &carol)
        .await
        .expect_error(400, "invalid_query");
    s.get(&format!("{SUBJECT}?limit=1001"), &carol)
        .await
        .expect_error(400, "invalid_query");

    // A replica reads the events this node writes.
    let replica = s.replica().await;
    s.decide(&s.agent, forbidden()).await.expect(200);
    let started = Instant::now();
    loop {
        let one = replica.get(SUBJECT, &carol).await.expect(200).body;
        if one["score"] == 675 {
            assert_eq!(one["history"][0]["kind"], "forbidden");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the replica never saw the event: {one:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    replica.stop().await;
    s.stop().await;
}

/// As [`fast_trust`], but a forbid hit weighs on the tool's provider only.
fn fast_provider_trust(bundle: &std::path::Path) {
    fast_trust(bundle);
    let path = bundle.join("tribune.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "forbidden = -300\nprovider_forbidden = 0\n",
        "forbidden = 0\nprovider_forbidden = -300\n",
    );
    assert!(text.contains("provider_forbidden = -300"));
    std::fs::write(path, text).unwrap();
}

async fn a_provider_falls_into_review_and_block_and_recovers(backend: Backend) {
    let s = TestServer::start_with(backend, fast_provider_trust).await;
    const PROVIDER: &str = "/v1/trust/provider:helpdesk";
    // One forbid hit: the help desk's score is 600, below 800; the agent's is untouched.
    let hit = s.decide(&s.agent, forbidden()).await.expect(200).body;
    assert_eq!(last_code(&hit), "forbidden");
    let held = s.decide(&s.agent, write()).await.expect(200).body;
    assert_eq!(
        (&held["decision"], last_code(&held).as_str()),
        (&json!("hold"), "trust_review"),
        "{held:#}"
    );
    let reason = held["reasons"].as_array().unwrap().last().unwrap();
    assert!(
        reason["message"]
            .as_str()
            .unwrap()
            .starts_with("the trust score of provider `helpdesk` is "),
        "{reason:#}"
    );
    let agent = s.get(SUBJECT, ADMIN).await.expect(200).body;
    assert_eq!(agent["band"], "normal", "{agent:#}");

    // More hits until the provider is blocked: then every call to its tools is denied.
    let mut blocked = None;
    for _ in 0..12 {
        s.decide(&s.agent, forbidden()).await.expect(200);
        let d = s.decide(&s.agent, read()).await.expect(200).body;
        if d["decision"] == "deny" {
            blocked = Some(d);
            break;
        }
    }
    let blocked = blocked.expect("forbid hits never blocked the provider");
    assert_eq!(last_code(&blocked), "trust_blocked", "{blocked:#}");
    let one = s.get(PROVIDER, ADMIN).await.expect(200).body;
    assert_eq!(one["band"], "blocked", "{one:#}");
    assert!(
        one["history"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] == "forbidden" && e["delta"] == -300),
        "{one:#}"
    );

    // Decay brings it back: reads, then writes, go through again.
    let started = Instant::now();
    loop {
        let d = s.decide(&s.agent, write()).await.expect(200).body;
        if d["decision"] == "allow" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the provider never recovered: {d:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let started = Instant::now();
    let seen = loop {
        let seen: Vec<(String, String)> = crossings(&s)
            .await
            .into_iter()
            .filter(|c| c.0 == "provider:helpdesk")
            .map(|c| (c.1, c.2))
            .collect();
        if seen.len() >= 4 || started.elapsed() > Duration::from_secs(10) {
            break seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let expected = [
        ("normal", "review"),
        ("review", "blocked"),
        ("blocked", "review"),
        ("review", "normal"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    assert_eq!(seen, expected);
    s.stop().await;
}
