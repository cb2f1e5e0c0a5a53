//! Two replicas on one database: a stop, a suspension, a decommission and a credential
//! revocation made on one are enforced by the other within a second (each replica reads the store every 250 ms).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{ADMIN, AGENT, Backend, TestServer};

on_both_backends!(
    changes_on_one_replica_reach_the_other_within_a_second,
    a_decommission_on_one_replica_cuts_off_a_credential_on_the_other,
);

fn search() -> Value {
    json!({ "tool": "search_docs", "arguments": { "query": "q" } })
}

/// Asks `s` for decisions until one is denied with `code`; the time it took.
async fn until_denied(s: &TestServer, token: &str, code: &str) -> Duration {
    let started = Instant::now();
    loop {
        let d = s.decide(token, search()).await.expect(200).body;
        if d["decision"] == "deny" && d["reasons"][0]["code"] == code {
            return started.elapsed();
        }
        assert_eq!(d["decision"], "allow", "{d:#}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the replica never enforced `{code}`"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `action` (`suspend`, `decommission`) of the test agent on replica `a`: within a second,
/// replica `b` denies `credential` with `code`.
async fn identity_change_reaches(a: &TestServer, b: &TestServer, credential: &str, action: &str, code: &str) {
    a.post(
        &format!("/v1/identities/agent:{AGENT}/{action}"),
        ADMIN,
        json!({ "reason": "replica test" }),
    )
    .await
    .expect(200);
    let took = until_denied(b, credential, code).await;
    assert!(
        took < Duration::from_secs(1),
        "`{action}` reached the replica in {took:?}"
    );
}

async fn changes_on_one_replica_reach_the_other_within_a_second(backend: Backend) {
    let a = TestServer::start(backend).await;
    let b = a.replica().await;
    let credential = a
        .post("/v1/credentials", &a.agent, json!({}))
        .await
        .expect(201)
        .body;
    let credential = credential["credential"].as_str().unwrap().to_owned();
    // B verifies A's credential (they share the key) and caches it.
    assert_eq!(
        b.decide(&credential, search()).await.expect(200).body["decision"],
        "allow"
    );

    let mut alice = a.enrol("alice").await;
    let code = alice.fresh_code().await;
    let stop = a
        .post(
            "/v1/stops",
            &alice.token,
            json!({ "scope": format!("agent:{AGENT}"), "reason": "replica test", "mfa_code": code }),
        )
        .await
        .expect(201)
        .body;
    let took = until_denied(&b, &b.agent, "stopped").await;
    assert!(
        took < Duration::from_secs(1),
        "stop reached the replica in {took:?}"
    );
    // Resume (two holders) on A; B allows again.
    let mut bob = a.enrol("bob").await;
    for who in [&mut alice, &mut bob] {
        let code = who.fresh_code().await;
        a.post(
            &format!("/v1/stops/{}/resume", stop["id"].as_str().unwrap()),
            &who.token,
            json!({ "mfa_code": code }),
        )
        .await
        .expect(200);
    }
    let started = Instant::now();
    while b.decide(&credential, search()).await.expect(200).body["decision"] != "allow" {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the resume never reached the replica"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A suspension on A: B refuses the cached credential within a second.
    identity_change_reaches(&a, &b, &credential, "suspend", "identity_suspended").await;
    b.stop().await;
    a.stop().await;
}

async fn a_decommission_on_one_replica_cuts_off_a_credential_on_the_other(backend: Backend) {
    let a = TestServer::start(backend).await;
    let b = a.replica().await;
    let credential = b
        .post("/v1/credentials", &b.agent, json!({}))
        .await
        .expect(201)
        .body;
    let credential = credential["credential"].as_str().unwrap().to_owned();
    // B issued it and has verified it: it is in B's cache.
    assert_eq!(
        b.decide(&credential, search()).await.expect(200).body["decision"],
        "allow"
    );
    identity_change_reaches(&a, &b, &credential, "decommission", "identity_decommissioned").await;
    b.stop().await;
    a.stop().await;
}
