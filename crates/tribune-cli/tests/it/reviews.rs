//! Activity reviews end to end: `tribune serve` as a real process on the clinical HIPAA example
//! (`activity_review_days = 7`), on SQLite and on PostgreSQL. Before any review, `tribune check
//! --server` reports HIPAA's activity review as a gap; the admin token and an agent may not
//! record one; the auditor's `tribune audit review` verifies the whole ledger, records the
//! review with its ledger entry, and the gap is gone; a review of a checkpoint the server does
//! not hold is refused; and a tampered ledger gets no review.

use serde_json::{Value, json};

use crate::deployment::{ADMIN, Api, Backend, Deployment, block_on};
use crate::ledger::support::{LedgerDeployment, flip_one_byte};
use crate::{stderr, stdout};

const ACTIVITY_REVIEW: &str = "HIPAA-164.308(a)(1)(ii)(D)";

/// The HIPAA activity-review requirement in `tribune check --format json` output.
fn activity_review(check: &Value) -> &Value {
    check["mandates"][0]["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == ACTIVITY_REVIEW)
        .unwrap()
}

fn reviews_end_to_end(backend: Backend) {
    let s = block_on(Deployment::of(backend, "examples/clinical-hipaa")).start();
    let bundle = s.deployment.bundle.to_str().unwrap().to_owned();
    let key = s.deployment.verifier_key();
    let sam = s.token("human", "sam"); // auditor
    let agent = s.token("agent", "summariser-1");
    let out = s.cli(
        &agent,
        &[
            "decide",
            "--tool",
            "ehr_read_chart",
            "--args",
            r#"{"patient_id":"P-1"}"#,
        ],
    );
    assert!(
        stdout(&out).contains("decision id"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );

    // No review yet: a gap at the declared interval, and `check` fails.
    let out = s.cli(&sam, &["check", &bundle, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let check: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = activity_review(&check);
    assert_eq!(r["status"], "gap", "{r:#}");
    assert!(
        r["gaps"][0]["message"]
            .as_str()
            .unwrap()
            .contains("no activity review is recorded"),
        "{r:#}"
    );

    // The admin token is nobody in particular, and an agent reviews nothing.
    for token in [ADMIN, agent.as_str()] {
        let out = s.cli(token, &["audit", "review", "--key", &key, "--note", "looked"]);
        assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
        assert!(stderr(&out).contains("forbidden"), "{}", stderr(&out));
    }
    let list = s.json(&sam, &["audit", "reviews"]);
    assert_eq!(list["reviews"], json!([]));

    let text = s.ok(
        &sam,
        &[
            "audit",
            "review",
            "--key",
            &key,
            "--note",
            "weekly review: nothing unusual",
        ],
    );
    assert!(text.contains("recorded by human:sam"), "{text}");
    let list = s.json(&sam, &["audit", "reviews"]);
    let review = &list["reviews"][0];
    assert_eq!(list["reviews"].as_array().unwrap().len(), 1, "{list:#}");
    assert_eq!(review["reviewed_by"], "human:sam");
    assert_eq!(review["note"], "weekly review: nothing unusual");
    let size = review["checkpoint_size"].as_u64().unwrap();
    assert!(size >= 3, "the review covers the activity before it: {review:#}");
    assert!(
        s.ok(&sam, &["audit", "reviews"])
            .contains("weekly review: nothing unusual")
    );

    // The review is itself a ledger entry.
    let entries = block_on(Api::new(&s).entries());
    assert!(
        entries.iter().any(|e| e["event_class"] == "audit_review"
            && e["payload"].as_str().unwrap().contains("weekly review")),
        "no `audit_review` entry"
    );

    // Now the requirement is met, and says what shows it.
    let out = s.cli(&sam, &["check", &bundle, "--format", "json"]);
    let check: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let r = activity_review(&check);
    assert_eq!(r["status"], "met", "{r:#}");
    assert!(
        r["observed"]
            .to_string()
            .contains("human:sam reviewed the ledger's activity"),
        "{r:#}"
    );

    // A review must rest on a checkpoint this server signed.
    block_on(async {
        let api = Api::new(&s);
        let (status, body) = api
            .post(
                &sam,
                "/v1/audit/reviews",
                &json!({ "checkpoint_size": size, "checkpoint_root": "AAAA", "note": "forged" }),
            )
            .await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (409, &json!("conflict")),
            "{body}"
        );
        let (status, body) = api
            .post(
                &sam,
                "/v1/audit/reviews",
                &json!({ "checkpoint_size": 1_000_000, "checkpoint_root": "AAAA", "note": "future" }),
            )
            .await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (404, &json!("not_found")),
            "{body}"
        );
    });

    // A tampered ledger gets no review.
    block_on(async {
        let db = s.deployment.db().await;
        let row = db.row(1).await;
        let (_, tampered) = flip_one_byte(row.payload.as_ref().unwrap());
        db.set_payload(1, &tampered).await;
    });
    let out = s.cli(&sam, &["audit", "review", "--key", &key, "--note", "second look"]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("FAILED at entry 1"), "{}", stdout(&out));
    assert!(stdout(&out).contains("no review recorded"), "{}", stdout(&out));
    let list = s.json(&sam, &["audit", "reviews"]);
    assert_eq!(list["reviews"].as_array().unwrap().len(), 1, "{list:#}");
}

#[test]
fn reviews_end_to_end_on_sqlite() {
    reviews_end_to_end(Backend::Sqlite);
}

#[test]
fn reviews_end_to_end_on_postgres() {
    reviews_end_to_end(Backend::Postgres);
}
