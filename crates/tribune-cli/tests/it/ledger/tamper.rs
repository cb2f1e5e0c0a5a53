//! A clean log verifies; any change made directly in the database — a byte of a payload, a
//! deleted row, swapped rows, a forged row — makes `tribune audit verify` fail naming the
//! first index it cannot vouch for.

use serde_json::{Value, json};

use super::support::{ADMIN, Api, Backend, Db, Deployment, LedgerDeployment, Row, flip_one_byte, verify};

/// What [`populate`] recorded, by ledger index.
struct Populated {
    agent: String,
    /// (decision id, ledger index, outcome) of each decision.
    decisions: Vec<(String, u64, String)>,
    /// Ledger index of the outcome report.
    outcome: u64,
}

fn index_of(answer: &Value) -> u64 {
    answer["ledger_index"]
        .as_u64()
        .unwrap_or_else(|| panic!("no ledger_index in {answer}"))
}

/// A token issuance, an allow, a hold, a deny, a refused unknown tool and an outcome report.
async fn populate(api: &Api) -> Populated {
    let agent = api.token("agent", "support-bot").await;
    let mut decisions = Vec::new();
    let cases = [
        ("search_docs", json!({ "query": "refunds" }), 200, "allow"),
        (
            "update_ticket",
            json!({ "ticket_id": "T-1", "status": "solved" }),
            200,
            "hold",
        ),
        (
            "issue_refund",
            json!({ "order_id": "O-1", "amount": 501 }),
            200,
            "deny",
        ),
        ("wire_money", json!({ "amount": 1 }), 404, "deny"),
    ];
    for (tool, args, status, outcome) in cases {
        let (got, body) = api.decide(&agent, tool, args).await;
        assert_eq!(got, status, "{tool}: {body}");
        // A refusal carries the recorded decision with it.
        let answer = if status == 200 {
            body
        } else {
            body["decision"].clone()
        };
        assert_eq!(answer["decision"], outcome, "{tool}: {answer}");
        decisions.push((
            answer["id"].as_str().unwrap().to_owned(),
            index_of(&answer),
            outcome.to_owned(),
        ));
    }
    let (status, body) = api
        .post(
            &agent,
            &format!("/v1/decisions/{}/outcome", decisions[0].0),
            &json!({ "status": "succeeded", "summary": "3 articles", "duration_ms": 12 }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let outcome = index_of(&body);
    Populated {
        agent,
        decisions,
        outcome,
    }
}

async fn clean_log_verifies(backend: Backend) {
    let d = Deployment::quickstart(backend).await;
    let server = d.serve();
    let api = Api::new(&server);
    let key = d.verifier_key();
    // The server publishes the same key the data directory holds.
    let (_, published) = api.get(ADMIN, "/v1/audit/key").await;
    assert_eq!(published["verifier_key"], key.as_str());

    let p = populate(&api).await;
    let size = api.checkpoint().await;
    assert!(
        size > p.outcome,
        "the forced checkpoint covers every entry so far"
    );

    let (entries, pruned, proven) = verify(&server, &key).ok();
    assert_eq!(pruned, 0);
    assert!(proven >= size && entries >= proven, "{entries} {proven} {size}");

    // Each entry is where its answer said, linked to its decision, and shaped as OCSF 6003.
    let all = api.entries().await;
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["index"], i as u64, "entries are numbered without gaps");
    }
    for (id, index, outcome) in &p.decisions {
        let e = &all[*index as usize];
        assert_eq!(e["event_class"], "decision");
        assert_eq!(e["correlation_uid"], id.as_str());
        let payload: Value = serde_json::from_str(e["payload"].as_str().unwrap()).unwrap();
        assert_eq!(payload["class_uid"], 6003, "{payload}");
        assert_eq!(payload["metadata"]["correlation_uid"], id.as_str(), "{payload}");
        let (status, stored) = api.get(ADMIN, &format!("/v1/decisions/{id}")).await;
        assert_eq!(status, 200);
        assert_eq!(stored["decision"], outcome.as_str());
    }
    let o = &all[p.outcome as usize];
    assert_eq!(o["event_class"], "outcome");
    assert_eq!(o["correlation_uid"], p.decisions[0].0.as_str());
    assert!(
        all.iter().any(|e| e["event_class"] == "identity"),
        "the token issuance is an entry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_log_verifies_on_sqlite() {
    clean_log_verifies(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_log_verifies_on_postgres() {
    clean_log_verifies(Backend::Postgres).await;
}

/// Swaps two rows' payloads, or (with `with_hashes`) their payloads and leaf hashes.
async fn swap(db: &Db, a: u64, b: u64, with_hashes: bool) -> (Row, Row) {
    let (ra, rb) = (db.row(a).await, db.row(b).await);
    if with_hashes {
        db.set_row(a, &rb).await;
        db.set_row(b, &ra).await;
    } else {
        db.set_payload(a, rb.payload.as_ref().unwrap()).await;
        db.set_payload(b, ra.payload.as_ref().unwrap()).await;
    }
    (ra, rb)
}

async fn tampering_is_caught(backend: Backend) {
    let d = Deployment::quickstart(backend).await;
    let server = d.serve();
    let api = Api::new(&server);
    let key = d.verifier_key();
    let p = populate(&api).await;
    // More decisions, with a checkpoint forced after each, so checkpoints are dense.
    for i in 0..6 {
        let (status, body) = api
            .decide(&p.agent, "search_docs", json!({ "query": format!("q{i}") }))
            .await;
        assert_eq!(status, 200, "{body}");
        api.checkpoint().await;
    }
    let size = api.checkpoint().await;
    verify(&server, &key).ok();
    let db = d.db().await;

    // One byte of any entry's payload: the verifier names exactly that entry.
    for n in 0..size {
        let original = db.row(n).await;
        let (at, changed) = flip_one_byte(original.payload.as_ref().unwrap());
        db.set_payload(n, &changed).await;
        let v = verify(&server, &key);
        v.failed_at(n);
        assert!(
            v.stdout.contains("does not match its stored leaf hash"),
            "entry {n}, byte {at}:\n{}",
            v.stdout
        );
        db.set_row(n, &original).await;
    }
    verify(&server, &key).ok();

    // A deleted row: the verifier names the missing index.
    let gone = p.decisions[1].1;
    let row = db.row(gone).await;
    db.delete(gone).await;
    let v = verify(&server, &key);
    v.failed_at(gone);
    assert!(v.stdout.contains("it is missing"), "{v:?}");
    db.insert(gone, &row, "decision").await;
    verify(&server, &key).ok();

    // Two rows' payloads swapped: the first of them is named.
    let (a, b) = (p.decisions[0].1, p.decisions[2].1);
    let (ra, rb) = swap(&db, a, b, false).await;
    verify(&server, &key).failed_at(a);
    db.set_row(a, &ra).await;
    db.set_row(b, &rb).await;
    verify(&server, &key).ok();

    // Payloads swapped together with their leaf hashes: every row is self-consistent, so only
    // the signed checkpoints catch it, and the verifier promises (tribune_ledger::Error::
    // first_bad_index) the first index after the last checkpoint that still matched — the
    // largest checkpoint size not above `a`.
    let (a, b) = (p.decisions[1].1, size - 2);
    let checkpoints = api.checkpoint_sizes().await;
    assert!(
        checkpoints.iter().any(|&s| s > b),
        "a checkpoint covers both rows"
    );
    let expected = checkpoints.iter().copied().filter(|&s| s <= a).max().unwrap_or(0);
    let (ra, rb) = swap(&db, a, b, true).await;
    let v = verify(&server, &key);
    v.failed_at(expected);
    assert!(
        v.stdout.contains("does not match the log"),
        "a checkpoint root mismatch: {v:?}"
    );
    db.set_row(a, &ra).await;
    db.set_row(b, &rb).await;
    verify(&server, &key).ok();

    // A forged entry appended at the end, with a valid leaf hash but no signature: nothing may
    // vouch for it. It takes the index the next real entry needs, so the ledger can take no
    // more entries; decisions are then denied (503 unrecorded), never answered unrecorded.
    let forged_at = db.head_size().await;
    let payload = br#"{"activity_name":"forged","class_uid":6003}"#.to_vec();
    let forged = Row {
        leaf_hash: tribune_ledger::leaf_hash(&payload).as_bytes().to_vec(),
        payload: Some(payload),
    };
    db.insert(forged_at, &forged, "decision").await;
    let v = verify(&server, &key);
    assert_ne!(v.code, 0, "{v:?}");
    assert!(!v.stdout.contains("ok:"), "{v:?}");
    let (status, body) = api
        .decide(&p.agent, "search_docs", json!({ "query": "after the forgery" }))
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unrecorded", "{body}");
    assert!(body.get("decision").is_none(), "{body}");
    // Removing it lets the ledger go on, and the log verifies again.
    db.delete(forged_at).await;
    let (status, body) = api
        .decide(&p.agent, "search_docs", json!({ "query": "recovered" }))
        .await;
    assert_eq!(status, 200, "{body}");
    let (entries, _, proven) = verify(&server, &key).ok();
    assert!(proven <= entries);
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_caught_on_sqlite() {
    tampering_is_caught(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_is_caught_on_postgres() {
    tampering_is_caught(Backend::Postgres).await;
}
