//! Call outcomes: one per existing decision.

use serde_json::json;
use tribune_store::testing::TestStore;
use tribune_store::{Entity, OutcomeRecord, StoreError};

use crate::{TestResult, decision};

on_both_backends!(
    outcome_round_trips,
    outcome_needs_its_decision,
    second_outcome_conflicts
);

fn report(decision_id: &str, status: &str) -> OutcomeRecord {
    OutcomeRecord {
        decision_id: decision_id.to_owned(),
        recorded_at_ms: 1_700_000_000_500,
        status: status.to_owned(),
        body: json!({ "status": status, "duration_ms": 12, "error": null }),
    }
}

async fn outcome_round_trips(db: &TestStore) -> TestResult {
    let decided = decision(1);
    db.store.insert_decisions(std::slice::from_ref(&decided)).await?;
    assert_eq!(db.store.outcome(&decided.id).await?, None);

    let reported = report(&decided.id, "ok");
    db.store.insert_outcome(&reported).await?;
    assert_eq!(db.store.outcome(&decided.id).await?, Some(reported));
    Ok(())
}

async fn outcome_needs_its_decision(db: &TestStore) -> TestResult {
    let err = db
        .store
        .insert_outcome(&report("no-such-decision", "ok"))
        .await
        .err()
        .ok_or("outcome of a missing decision accepted")?;
    assert!(
        matches!(&err, StoreError::NotFound { entity: Entity::Decision, key } if key == "no-such-decision"),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "decision `no-such-decision` not found");
    Ok(())
}

async fn second_outcome_conflicts(db: &TestStore) -> TestResult {
    let decided = decision(1);
    db.store.insert_decisions(std::slice::from_ref(&decided)).await?;
    let first = report(&decided.id, "ok");
    db.store.insert_outcome(&first).await?;

    let err = db
        .store
        .insert_outcome(&report(&decided.id, "error"))
        .await
        .err()
        .ok_or("second outcome accepted")?;
    assert!(
        matches!(&err, StoreError::Conflict { entity: Entity::Outcome, key } if *key == decided.id),
        "{err:?}"
    );
    // The first report stands.
    assert_eq!(db.store.outcome(&decided.id).await?, Some(first));
    Ok(())
}
