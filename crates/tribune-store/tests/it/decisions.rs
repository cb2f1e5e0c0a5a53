//! Decisions: batch insert in one transaction, exact read-back of the JSON body.

use serde_json::json;
use tribune_store::testing::TestStore;
use tribune_store::{Entity, StoreError};

use crate::{TestResult, decision, execute_raw};

on_both_backends!(
    batch_reads_back_exactly,
    batch_is_all_or_nothing,
    unknown_outcome_is_rejected,
    corrupt_body_is_reported,
);

async fn batch_reads_back_exactly(db: &TestStore) -> TestResult {
    let store = &db.store;
    let mut batch: Vec<_> = (0..3).map(decision).collect();
    // Bodies that a JSONB column or a lossy float parser would not give back unchanged.
    batch[0].body = json!({
        "z": 1, "a": [true, null, {"nested": {"deeper": []}}],
        "text": "naïve — 日本語 🚦 \u{0000} \"quoted\" \\ \n",
    });
    batch[1].body = json!({
        "u64_max": u64::MAX, "i64_min": i64::MIN,
        "floats": [0.1, 1e-300, 5e-324, 1.7976931348623157e308, -0.0, 123456.789012345],
        // Shortest representations that serde_json's default (fast) parser reads back wrong.
        "hard_floats": [1.0715660391465826e-75, -1.81996730402717e-179, -1.603964615428183e143],
    });
    batch[2].body = json!("a bare string is JSON too");
    store.insert_decisions(&batch).await?;

    for expected in &batch {
        assert_eq!(store.decision(&expected.id).await?.as_ref(), Some(expected));
    }
    assert_eq!(store.decision("no-such-decision").await?, None);
    // An empty batch is a no-op, not an error.
    store.insert_decisions(&[]).await?;
    Ok(())
}

async fn batch_is_all_or_nothing(db: &TestStore) -> TestResult {
    let store = &db.store;
    let existing = decision(1);
    store.insert_decisions(std::slice::from_ref(&existing)).await?;

    let fresh = decision(2);
    let also_fresh = decision(3);
    let batch = [fresh.clone(), existing.clone(), also_fresh.clone()];
    let err = store
        .insert_decisions(&batch)
        .await
        .err()
        .ok_or("duplicate decision id accepted")?;
    assert!(
        matches!(&err, StoreError::Conflict { entity: Entity::Decision, key } if *key == existing.id),
        "{err:?}"
    );
    assert_eq!(store.decision(&fresh.id).await?, None);
    assert_eq!(store.decision(&also_fresh.id).await?, None);
    assert_eq!(store.decision(&existing.id).await?, Some(existing));
    Ok(())
}

async fn unknown_outcome_is_rejected(db: &TestStore) -> TestResult {
    let mut bad = decision(1);
    bad.outcome = "maybe".to_owned();
    let err = db
        .store
        .insert_decisions(std::slice::from_ref(&bad))
        .await
        .err()
        .ok_or("outcome `maybe` accepted")?;
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    assert_eq!(db.store.decision(&bad.id).await?, None);
    Ok(())
}

async fn corrupt_body_is_reported(db: &TestStore) -> TestResult {
    execute_raw(
        db,
        "INSERT INTO decisions
           (id, created_at_ms, principal, tool, outcome, arguments_hash, bundle_hash, body)
         VALUES ('hand-edited', 0, 'agent:x', 'fs.read', 'deny', '', '', '{not json')",
    )
    .await?;
    let err = db
        .store
        .decision("hand-edited")
        .await
        .err()
        .ok_or("corrupt body parsed")?;
    assert!(
        matches!(&err, StoreError::CorruptJson { entity: Entity::Decision, key, .. } if key == "hand-edited"),
        "{err:?}"
    );
    Ok(())
}
