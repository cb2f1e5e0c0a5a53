//! Approval requests and TOTP enrolments: atomic admission, compare-and-set updates written
//! with their ledger entries, the queue's queries, and replay-proof step check-off.

use std::sync::Arc;

use serde_json::json;
use tribune_ledger::Entry;
use tribune_store::testing::TestStore;
use tribune_store::{
    Appended, ApprovalFilter, ApprovalRecord, EntryMeta, LedgerAppend, MfaEnrollmentRecord, QueueProbe,
    SideRecord, Store,
};

use crate::{TestResult, decision};

on_both_backends!(
    concurrent_admission_never_overshoots_a_cap,
    requests_read_back_and_list_in_risk_order,
    updates_are_compare_and_set_with_their_entry,
    a_decision_using_an_approval_is_all_or_nothing,
    discarding_removes_only_an_untouched_request,
    mfa_steps_only_grow
);

const NOW: i64 = 1_700_000_000_000;

fn request(n: u64, principal: &str, tier_rank: i64, class_rank: Option<i64>) -> ApprovalRecord {
    ApprovalRecord {
        id: format!("req-{n:04}"),
        revision: 0,
        decision_id: format!("dec-{n:04}"),
        state: "pending".to_owned(),
        principal: principal.to_owned(),
        pool: "leads".to_owned(),
        tool: "update_ticket".to_owned(),
        arguments_hash: format!("{n:064x}"),
        tier_rank,
        class_rank,
        trust: None,
        created_at_ms: NOW + n as i64,
        expires_at_ms: NOW + 60_000,
        usable_until_ms: None,
        resolved_at_ms: None,
        assignees: vec!["alice".to_owned(), "bob".to_owned()],
        body: json!({ "n": n, "note": "the approvals core's JSON" }),
    }
}

fn probe<'a>(r: &'a ApprovalRecord, now_ms: i64) -> QueueProbe<'a> {
    QueueProbe {
        principal: &r.principal,
        tool: &r.tool,
        arguments_hash: &r.arguments_hash,
        pool: &r.pool,
        now_ms,
        created_after_ms: now_ms - 60_000,
    }
}

/// Admits `r` unconditionally; returns the counts admission saw.
async fn insert(store: &Store, r: &ApprovalRecord) -> TestResult {
    let inserted = r.clone();
    store
        .admit_approval(&probe(r, NOW), |_| (Some(inserted), ()))
        .await?;
    Ok(())
}

// A small JSON object is always a valid entry.
#[allow(clippy::unwrap_used)]
fn entry(n: u64) -> Entry {
    Entry::from_json(&json!({ "event": "test", "n": n })).unwrap()
}

fn meta() -> EntryMeta {
    EntryMeta {
        event_class: "approval".to_owned(),
        classification: None,
        correlation_uid: None,
        created_at_ms: NOW,
    }
}

async fn concurrent_admission_never_overshoots_a_cap(db: &TestStore) -> TestResult {
    const CAP: u32 = 5;
    // Two stores on one database: two server processes.
    let stores = [db.store.clone(), Store::connect(db.url()).await?];
    let admitted = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut tasks = Vec::new();
    for n in 0..40u64 {
        let store = stores[(n % 2) as usize].clone();
        let admitted = Arc::clone(&admitted);
        tasks.push(tokio::spawn(async move {
            let r = request(n, "agent:flood", 1, Some(1));
            let inserted = r.clone();
            store
                .admit_approval(&probe(&r, NOW + 1_000), move |counts| {
                    if counts.pending_for_principal < CAP {
                        admitted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        (Some(inserted), true)
                    } else {
                        (None, false)
                    }
                })
                .await
        }));
    }
    let mut yes = 0;
    for t in tasks {
        if t.await?? {
            yes += 1;
        }
    }
    assert_eq!(yes, CAP);
    let pending = db
        .store
        .approvals(&ApprovalFilter {
            state: Some("pending".to_owned()),
            principal: Some("agent:flood".to_owned()),
            limit: 100,
            ..ApprovalFilter::default()
        })
        .await?;
    assert_eq!(pending.len(), CAP as usize);
    // What admission sees: the identical call, the principal's and the pool's counts, loads.
    let probe_of = pending[0].clone();
    let counts = db
        .store
        .admit_approval(&probe(&probe_of, NOW + 2_000), |c| (None, c.clone()))
        .await?;
    assert_eq!(counts.identical.as_deref(), Some(probe_of.id.as_str()));
    assert_eq!((counts.pending_for_principal, counts.created_in_pool), (CAP, CAP));
    assert_eq!(counts.open_assignments.get("alice"), Some(&CAP));
    // Past their expiry, requests no longer count as pending (the rate window still counts them).
    let mut at_expiry = probe(&probe_of, NOW + 60_000);
    at_expiry.created_after_ms = NOW - 1;
    let later = db.store.admit_approval(&at_expiry, |c| (None, c.clone())).await?;
    assert_eq!(
        (
            later.identical,
            later.pending_for_principal,
            later.created_in_pool
        ),
        (None, 0, CAP)
    );
    assert!(later.open_assignments.is_empty());
    stores[1].close().await;
    Ok(())
}

async fn requests_read_back_and_list_in_risk_order(db: &TestStore) -> TestResult {
    let low = request(1, "agent:a", 1, Some(0));
    let high = request(2, "agent:a", 2, Some(0));
    let sensitive = request(3, "agent:b", 1, Some(3));
    let unknown_class = request(4, "agent:b", 1, None);
    let mut approved = request(5, "agent:b", 1, Some(3));
    for r in [&low, &high, &sensitive, &unknown_class, &approved] {
        insert(&db.store, r).await?;
    }
    assert_eq!(db.store.approval(&low.id).await?, Some(low.clone()));
    assert_eq!(db.store.approval("nope").await?, None);

    // Approve #5 so it is usable until NOW + 30 s.
    approved.revision = 1;
    approved.state = "approved".to_owned();
    approved.usable_until_ms = Some(NOW + 30_000);
    approved.resolved_at_ms = Some(NOW + 10);
    let appended = db
        .store
        .append_ledger(&[LedgerAppend {
            entry: entry(1),
            meta: meta(),
            side: SideRecord::Approval {
                record: Box::new(approved.clone()),
                expected_revision: 0,
            },
        }])
        .await?;
    assert!(matches!(appended[..], [Appended::Entry { .. }]));

    let all = db
        .store
        .approvals(&ApprovalFilter {
            limit: 100,
            ..ApprovalFilter::default()
        })
        .await?;
    let order: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        order,
        ["req-0002", "req-0003", "req-0005", "req-0001", "req-0004"]
    );
    let pending_b = db
        .store
        .approvals(&ApprovalFilter {
            state: Some("pending".to_owned()),
            principal: Some("agent:b".to_owned()),
            pool: Some("leads".to_owned()),
            limit: 1,
        })
        .await?;
    assert_eq!(pending_b.len(), 1);
    assert_eq!(pending_b[0].id, "req-0003");

    let usable = |now| {
        db.store
            .usable_approval("agent:b", "update_ticket", &approved.arguments_hash, now)
    };
    assert_eq!(usable(NOW + 29_999).await?, Some(approved.clone()));
    assert_eq!(usable(NOW + 30_000).await?, None);
    assert_eq!(
        db.store
            .usable_approval("agent:b", "update_ticket", &low.arguments_hash, NOW)
            .await?,
        None
    );

    let due: Vec<String> = db
        .store
        .due_approvals(NOW + 60_000, 10)
        .await?
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(due, ["req-0001", "req-0002", "req-0003", "req-0004"]);
    assert!(db.store.due_approvals(NOW + 59_999, 10).await?.is_empty());

    let stats = db.store.approval_queue_stats(NOW).await?;
    assert_eq!(stats.pending_by_pool.get("leads"), Some(&4));
    assert_eq!(stats.open_assignments.get("bob"), Some(&4));
    Ok(())
}

async fn updates_are_compare_and_set_with_their_entry(db: &TestStore) -> TestResult {
    let r = request(1, "agent:a", 1, None);
    insert(&db.store, &r).await?;
    let mut next = r.clone();
    next.revision = 1;
    next.state = "denied".to_owned();
    next.resolved_at_ms = Some(NOW + 5);
    next.body = json!({ "denied": true });
    let update = |expected_revision| LedgerAppend {
        entry: entry(expected_revision),
        meta: meta(),
        side: SideRecord::Approval {
            record: Box::new(next.clone()),
            expected_revision,
        },
    };
    let before = db.store.ledger_head().await?.size();
    let first = db.store.append_ledger(&[update(0)]).await?;
    assert!(matches!(first[..], [Appended::Entry { .. }]));
    // A second writer that read revision 0 loses, and appends nothing.
    let second = db.store.append_ledger(&[update(0)]).await?;
    assert_eq!(second, [Appended::Stale]);
    assert_eq!(db.store.ledger_head().await?.size(), before + 1);
    assert_eq!(db.store.approval(&r.id).await?, Some(next.clone()));
    Ok(())
}

async fn a_decision_using_an_approval_is_all_or_nothing(db: &TestStore) -> TestResult {
    let mut r = request(1, "agent:a", 1, None);
    r.state = "approved".to_owned();
    r.resolved_at_ms = Some(NOW);
    r.usable_until_ms = Some(NOW + 1_000);
    insert(&db.store, &r).await?;
    let mut used = r.clone();
    used.revision = 1;
    used.usable_until_ms = None;
    let first = decision(1);
    let second = decision(2);
    let using = |d: &tribune_store::DecisionRecord| LedgerAppend {
        entry: entry(9),
        meta: meta(),
        side: SideRecord::DecisionUsingApproval {
            decision: d.clone(),
            approval: Box::new(used.clone()),
            expected_revision: 0,
        },
    };
    let out = db.store.append_ledger(&[using(&first), using(&second)]).await?;
    assert!(
        matches!(out[..], [Appended::Entry { .. }, Appended::Stale]),
        "{out:?}"
    );
    assert!(db.store.decision(&first.id).await?.is_some());
    assert_eq!(
        db.store.decision(&second.id).await?,
        None,
        "the losing decision is not written"
    );
    assert_eq!(
        db.store
            .usable_approval("agent:a", "update_ticket", &r.arguments_hash, NOW)
            .await?,
        None
    );
    Ok(())
}

async fn discarding_removes_only_an_untouched_request(db: &TestStore) -> TestResult {
    let fresh = request(1, "agent:a", 1, None);
    let touched = request(2, "agent:a", 1, None);
    insert(&db.store, &fresh).await?;
    insert(&db.store, &touched).await?;
    let mut voted = touched.clone();
    voted.revision = 1;
    db.store
        .append_ledger(&[LedgerAppend {
            entry: entry(1),
            meta: meta(),
            side: SideRecord::Approval {
                record: Box::new(voted),
                expected_revision: 0,
            },
        }])
        .await?;
    assert!(db.store.discard_approval(&fresh.id).await?);
    assert!(!db.store.discard_approval(&touched.id).await?);
    assert_eq!(db.store.approval(&fresh.id).await?, None);
    assert!(db.store.approval(&touched.id).await?.is_some());
    Ok(())
}

async fn mfa_steps_only_grow(db: &TestStore) -> TestResult {
    let enrol = |id: &str| MfaEnrollmentRecord {
        human: "alice".to_owned(),
        id: id.to_owned(),
        secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".to_owned(),
        algorithm: "SHA1".to_owned(),
        digits: 6,
        enrolled_at_ms: NOW,
        last_used_step: None,
    };
    let write = |e: MfaEnrollmentRecord| LedgerAppend {
        entry: entry(3),
        meta: meta(),
        side: SideRecord::MfaEnrollment(e),
    };
    assert_eq!(db.store.mfa_enrollment("alice").await?, None);
    db.store.append_ledger(&[write(enrol("e1"))]).await?;
    assert_eq!(db.store.mfa_enrollment("alice").await?, Some(enrol("e1")));
    assert!(format!("{:?}", enrol("e1")).contains("[redacted]"));

    assert!(db.store.use_mfa_step("alice", "e1", 100).await?);
    assert!(!db.store.use_mfa_step("alice", "e1", 100).await?, "a replay");
    assert!(!db.store.use_mfa_step("alice", "e1", 99).await?, "an older code");
    assert!(db.store.use_mfa_step("alice", "e1", 101).await?);
    assert!(
        !db.store.use_mfa_step("alice", "e0", 102).await?,
        "another enrolment"
    );
    assert!(!db.store.use_mfa_step("bob", "e1", 102).await?, "another human");
    assert_eq!(
        db.store
            .mfa_enrollment("alice")
            .await?
            .and_then(|e| e.last_used_step),
        Some(101)
    );
    // Re-enrolment replaces the secret and starts over; the old enrolment's codes are dead.
    db.store.append_ledger(&[write(enrol("e2"))]).await?;
    assert!(!db.store.use_mfa_step("alice", "e1", 200).await?);
    assert!(db.store.use_mfa_step("alice", "e2", 1).await?);
    Ok(())
}
