//! Incidents: one open per trigger and subject, the opening's record, listing by state, and
//! closing once.

use serde_json::json;
use tribune_store::testing::TestStore;
use tribune_store::{CloseOutcome, Entity, IncidentCheckpoint, IncidentRecord, IncidentState, StoreError};

use crate::TestResult;

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
    }
}

async fn one_open_incident_per_trigger_and_subject(db: &TestStore) -> TestResult {
    let s = &db.store;
    s.open_incident(&incident("i1", "burst", "agent:a", T0)).await?;
    let again = s.open_incident(&incident("i2", "burst", "agent:a", T0 + 1)).await;
    assert!(
        matches!(again, Err(StoreError::Conflict { entity: Entity::Incident, ref key }) if key == "i2"),
        "{again:?}"
    );
    // Another subject, or another trigger, is another incident.
    s.open_incident(&incident("i3", "burst", "agent:b", T0 + 2))
        .await?;
    s.open_incident(&incident("i4", "canary", "agent:a", T0 + 3))
        .await?;
    // Once closed, the trigger may open one again for the subject.
    let closed = s.close_incident("i1", "human:bob", "contained", T0 + 4).await?;
    let CloseOutcome::Closed(r) = closed else {
        return Err(format!("not closed: {closed:?}").into());
    };
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
    s.open_incident(&incident("i2", "burst", "agent:a", T0 + 5))
        .await?;
    // Closing twice, or what does not exist.
    let twice = s.close_incident("i1", "human:alice", "again", T0 + 6).await?;
    assert!(
        matches!(&twice, CloseOutcome::AlreadyClosed(r) if r.closed_by.as_deref() == Some("human:bob")),
        "{twice:?}"
    );
    assert_eq!(
        s.close_incident("nope", "human:bob", "x", T0).await?,
        CloseOutcome::NotFound
    );
    Ok(())
}

async fn opening_is_recorded_and_listed_by_state(db: &TestStore) -> TestResult {
    let s = &db.store;
    s.open_incident(&incident("i1", "burst", "agent:a", T0)).await?;
    let mut canary = incident("i2", "canary", "drill:d1", T0 + 1);
    canary.evidence = None;
    s.open_incident(&canary).await?;
    let checkpoint = IncidentCheckpoint {
        size: 12,
        root: "r".repeat(44),
        note: "note".to_owned(),
    };
    let actions = json!([{ "action": "stop_agent", "result": "done", "stop": "stop-1" }]);
    assert!(
        s.record_incident_opening("i1", &actions, Some(&checkpoint), Some(11))
            .await?
    );
    assert!(!s.record_incident_opening("nope", &actions, None, None).await?);
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

    s.close_incident("i1", "human:bob", "done", T0 + 2).await?;
    let ids = |list: Vec<IncidentRecord>| list.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(s.incidents(None, 10).await?), ["i2", "i1"]);
    assert_eq!(ids(s.incidents(Some(IncidentState::Open), 10).await?), ["i2"]);
    assert_eq!(ids(s.incidents(Some(IncidentState::Closed), 10).await?), ["i1"]);
    assert_eq!(ids(s.incidents(None, 1).await?), ["i2"]);
    Ok(())
}
