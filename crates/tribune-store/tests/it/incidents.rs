//! Incidents: one open per trigger and subject, the opening's record, listing by state, and
//! closing once.

use serde_json::json;
use tribune_ledger::Entry;
use tribune_store::testing::TestStore;
use tribune_store::{
    Appended, EntryMeta, IncidentCheckpoint, IncidentRecord, IncidentState, LedgerAppend, SideRecord, Store,
    Write, Writes,
};

use crate::TestResult;

/// Commits `writes` with an entry of their own; whether it was appended (a guard may find its
/// row moved on).
async fn commit(store: &Store, writes: Writes) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let append = LedgerAppend {
        entry: Entry::from_json(&json!({ "event": "incident" }))?,
        meta: EntryMeta {
            event_class: "incident".to_owned(),
            classification: None,
            correlation_uid: None,
            created_at_ms: T0,
        },
        side: SideRecord::Writes(writes),
    };
    match store.append_ledger(&[append]).await?.as_slice() {
        [Appended::Entry { .. }] => Ok(true),
        [Appended::Stale] => Ok(false),
        other => Err(format!("unexpected append: {other:?}").into()),
    }
}

/// Opens `r` as the server does: guarded, so a second open incident is refused.
async fn open(store: &Store, r: &IncidentRecord) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    commit(store, Writes::guarded(r.open_write()?, 1, Vec::<Write>::new())).await
}

on_both_backends!(
    one_open_incident_per_trigger_and_subject,
    opening_is_recorded_and_listed_by_state,
);

const T0: i64 = 1_700_000_000_000;

fn incident(id: &str, trigger: &str, subject: &str, at: i64) -> IncidentRecord {
    IncidentRecord {
        id: id.to_owned(),
        trigger_id: trigger.to_owned(),
        kind: "denials".to_owned(),
        subject: subject.to_owned(),
        detail: json!({ "denials": 3 }),
        opened_at_ms: at,
        evidence: Some((4, 9)),
        checkpoint: None,
        actions: json!([]),
        ledger_index: None,
        state: IncidentState::Open,
        closed_by: None,
        closed_at_ms: None,
        close_reason: None,
        closed_ledger_index: None,
    }
}

async fn one_open_incident_per_trigger_and_subject(db: &TestStore) -> TestResult {
    let s = &db.store;
    assert!(open(s, &incident("i1", "burst", "agent:a", T0)).await?);
    // A second open incident of the trigger for the subject writes and appends nothing.
    let size = s.ledger_head().await?.size();
    assert!(!open(s, &incident("i2", "burst", "agent:a", T0 + 1)).await?);
    assert_eq!(s.ledger_head().await?.size(), size);
    assert_eq!(s.incident("i2").await?, None);
    // Another subject, or another trigger, is another incident.
    assert!(open(s, &incident("i3", "burst", "agent:b", T0 + 2)).await?);
    assert!(open(s, &incident("i4", "canary", "agent:a", T0 + 3)).await?);
    // Once closed, the trigger may open one again for the subject.
    let close = |id: &str, by: &str, at: i64| {
        Writes::guarded(
            IncidentRecord::close_write(id, by, "contained", at),
            1,
            Vec::new(),
        )
    };
    assert!(commit(s, close("i1", "human:bob", T0 + 4)).await?);
    let r = s.incident("i1").await?.ok_or("i1 is missing")?;
    assert_eq!(
        (
            r.state,
            r.closed_by.as_deref(),
            r.closed_at_ms,
            r.close_reason.as_deref()
        ),
        (
            IncidentState::Closed,
            Some("human:bob"),
            Some(T0 + 4),
            Some("contained")
        )
    );
    assert!(open(s, &incident("i2", "burst", "agent:a", T0 + 5)).await?);
    // Closing twice, or what does not exist, changes and appends nothing.
    let size = s.ledger_head().await?.size();
    assert!(!commit(s, close("i1", "human:alice", T0 + 6)).await?);
    assert!(!commit(s, close("nope", "human:alice", T0 + 6)).await?);
    assert_eq!(s.ledger_head().await?.size(), size);
    let r = s.incident("i1").await?.ok_or("i1 is missing")?;
    assert_eq!(r.closed_by.as_deref(), Some("human:bob"));
    Ok(())
}

async fn opening_is_recorded_and_listed_by_state(db: &TestStore) -> TestResult {
    let s = &db.store;
    assert!(open(s, &incident("i1", "burst", "agent:a", T0)).await?);
    let mut canary = incident("i2", "canary", "drill:d1", T0 + 1);
    canary.evidence = None;
    assert!(open(s, &canary).await?);
    let checkpoint = IncidentCheckpoint {
        size: 12,
        root: "r".repeat(44),
        note: "note".to_owned(),
    };
    let actions = json!([{ "action": "stop_agent", "result": "done", "stop": "stop-1" }]);
    let contained = IncidentRecord::contained_write("i1", &actions, Some(&checkpoint), 11)?;
    assert!(commit(s, Writes::of(vec![contained])).await?);
    let i1 = s.incident("i1").await?.ok_or("i1 is missing")?;
    assert_eq!(
        (i1.evidence, i1.checkpoint, i1.ledger_index, i1.actions, i1.detail),
        (
            Some((4, 9)),
            Some(checkpoint),
            Some(11),
            actions,
            json!({ "denials": 3 })
        )
    );
    assert_eq!(s.incident("i2").await?.ok_or("i2 is missing")?.evidence, None);
    assert_eq!(s.incident("nope").await?, None);

    let close = Writes::guarded(
        IncidentRecord::close_write("i1", "human:bob", "done", T0 + 2),
        1,
        Vec::new(),
    );
    assert!(commit(s, close).await?);
    assert!(s.set_incident_closed_index("i1", 12).await?);
    assert!(!s.set_incident_closed_index("i2", 13).await?, "i2 is open");
    let i1 = s.incident("i1").await?.ok_or("i1 is missing")?;
    assert_eq!(
        (i1.state, i1.closed_by.as_deref(), i1.closed_ledger_index),
        (IncidentState::Closed, Some("human:bob"), Some(12))
    );
    let ids = |list: Vec<IncidentRecord>| list.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.incidents(None, 10).await?), ["i2", "i1"]);
    assert_eq!(ids(s.incidents(Some(IncidentState::Open), 10).await?), ["i2"]);
    assert_eq!(ids(s.incidents(Some(IncidentState::Closed), 10).await?), ["i1"]);
    assert_eq!(ids(s.incidents(None, 1).await?), ["i2"]);
    Ok(())
}
