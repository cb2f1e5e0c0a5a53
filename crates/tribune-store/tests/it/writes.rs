//! Governance changes written as statements with their ledger entry (`SideRecord::Writes`): the
//! change and the entry commit together or not at all, and a guarded change that finds its row
//! moved on writes nothing and appends nothing.

use serde_json::json;
use tribune_ledger::Entry;
use tribune_store::testing::TestStore;
use tribune_store::{Appended, EntryMeta, LedgerAppend, SideRecord, StopRecord, Write, Writes};

use crate::TestResult;

on_both_backends!(
    statements_commit_with_their_entry,
    a_stale_guard_writes_and_appends_nothing,
    a_guard_that_matches_too_many_rows_is_undone,
    a_failing_statement_appends_nothing,
    a_stale_change_leaves_its_batch_neighbours_alone
);

const INSERT_STOP: &str =
    "INSERT INTO stops (id, scope, reason, stopped_by, stopped_at_ms) VALUES ($1, $2, $3, $4, $5)";
const RESUME_ALL: &str = "UPDATE stops SET resumed_at_ms = $1, resumed_by = $2 WHERE resumed_at_ms IS NULL";
const RESUME_ONE: &str =
    "UPDATE stops SET resumed_at_ms = $1, resumed_by = $2 WHERE id = $3 AND resumed_at_ms IS NULL";

fn insert_stop(id: &str, at: i64) -> Write {
    Write::new(INSERT_STOP)
        .bind(id)
        .bind("agent:summariser")
        .bind(format!("test stop {id}"))
        .bind("human:alice")
        .bind(at)
}

fn append(event: &str, at: i64, writes: Writes) -> Result<LedgerAppend, tribune_ledger::Error> {
    Ok(LedgerAppend {
        entry: Entry::from_json(&json!({ "event": event, "at": at }))?,
        meta: EntryMeta {
            event_class: "stop".to_owned(),
            classification: None,
            correlation_uid: None,
            created_at_ms: at,
        },
        side: SideRecord::Writes(writes),
    })
}

fn ids(stops: &[StopRecord]) -> Vec<&str> {
    stops.iter().map(|s| s.id.as_str()).collect()
}

async fn statements_commit_with_their_entry(db: &TestStore) -> TestResult {
    let done = db
        .store
        .append_ledger(&[append(
            "stopped",
            1_000,
            Writes::of(vec![insert_stop("s-1", 1_000), insert_stop("s-2", 1_001)]),
        )?])
        .await?;
    assert_eq!(done, [Appended::Entry { index: 0 }]);
    assert_eq!(ids(&db.store.active_stops().await?), ["s-1", "s-2"]);

    // A guarded change whose guard matches exactly: the guard and what follows are written.
    let resume = Write::new(RESUME_ONE)
        .bind(2_000_i64)
        .bind("human:bob")
        .bind("s-1");
    let done = db
        .store
        .append_ledger(&[append(
            "resumed",
            2_000,
            Writes::guarded(resume, 1, vec![insert_stop("s-3", 2_000)]),
        )?])
        .await?;
    assert_eq!(done, [Appended::Entry { index: 1 }]);
    let stops = db.store.stops(10).await?;
    let resumed = stops.iter().find(|s| s.id == "s-1").ok_or("s-1 is gone")?;
    assert_eq!(resumed.resumed_by.as_deref(), Some("human:bob"));
    assert_eq!(resumed.resumed_at_ms, Some(2_000));
    assert_eq!(ids(&db.store.active_stops().await?), ["s-2", "s-3"]);
    assert_eq!(db.store.ledger_head().await?.size(), 2);
    Ok(())
}

async fn a_stale_guard_writes_and_appends_nothing(db: &TestStore) -> TestResult {
    db.store
        .append_ledger(&[append(
            "stopped",
            1_000,
            Writes::of(vec![insert_stop("s-1", 1_000)]),
        )?])
        .await?;
    // The stop asked for does not exist: the guard changes no row.
    let resume = Write::new(RESUME_ONE)
        .bind(2_000_i64)
        .bind("human:bob")
        .bind("s-404");
    let done = db
        .store
        .append_ledger(&[append(
            "resumed",
            2_000,
            Writes::guarded(resume, 1, vec![insert_stop("s-2", 2_000)]),
        )?])
        .await?;
    assert_eq!(done, [Appended::Stale]);
    assert_eq!(ids(&db.store.active_stops().await?), ["s-1"]);
    assert_eq!(db.store.ledger_head().await?.size(), 1);
    Ok(())
}

async fn a_guard_that_matches_too_many_rows_is_undone(db: &TestStore) -> TestResult {
    db.store
        .append_ledger(&[append(
            "stopped",
            1_000,
            Writes::of(vec![insert_stop("s-1", 1_000), insert_stop("s-2", 1_001)]),
        )?])
        .await?;
    // Two rows match a guard that expects one: its update is rolled back, not half kept.
    let resume_all = Write::new(RESUME_ALL).bind(2_000_i64).bind("human:bob");
    let done = db
        .store
        .append_ledger(&[append(
            "resumed",
            2_000,
            Writes::guarded(resume_all, 1, Vec::new()),
        )?])
        .await?;
    assert_eq!(done, [Appended::Stale]);
    assert_eq!(ids(&db.store.active_stops().await?), ["s-1", "s-2"]);
    assert_eq!(db.store.ledger_head().await?.size(), 1);
    Ok(())
}

async fn a_failing_statement_appends_nothing(db: &TestStore) -> TestResult {
    db.store
        .append_ledger(&[append(
            "stopped",
            1_000,
            Writes::of(vec![insert_stop("s-1", 1_000)]),
        )?])
        .await?;
    // The second statement clashes with an existing id: the first is not kept either.
    let clash = append(
        "stopped",
        2_000,
        Writes::of(vec![insert_stop("s-2", 2_000), insert_stop("s-1", 2_000)]),
    )?;
    if db.store.append_ledger(&[clash]).await.is_ok() {
        return Err("a change whose statement failed was appended".into());
    }
    assert_eq!(ids(&db.store.active_stops().await?), ["s-1"]);
    assert_eq!(db.store.ledger_head().await?.size(), 1);
    Ok(())
}

async fn a_stale_change_leaves_its_batch_neighbours_alone(db: &TestStore) -> TestResult {
    let stale = Write::new(RESUME_ONE)
        .bind(2_000_i64)
        .bind("human:bob")
        .bind("s-404");
    let done = db
        .store
        .append_ledger(&[
            append("stopped", 1_000, Writes::of(vec![insert_stop("s-1", 1_000)]))?,
            append("resumed", 1_500, Writes::guarded(stale, 1, Vec::new()))?,
            append("stopped", 2_000, Writes::of(vec![insert_stop("s-2", 2_000)]))?,
        ])
        .await?;
    assert_eq!(
        done,
        [
            Appended::Entry { index: 0 },
            Appended::Stale,
            Appended::Entry { index: 1 }
        ]
    );
    assert_eq!(ids(&db.store.active_stops().await?), ["s-1", "s-2"]);
    assert_eq!(db.store.ledger_head().await?.size(), 2);
    Ok(())
}
