//! Activity reviews: written only with their ledger entry, read back newest first, and a
//! review whose id is taken fails its whole batch (no entry without its review).

use serde_json::json;
use tribune_ledger::Entry;
use tribune_store::testing::TestStore;
use tribune_store::{
    ActivityReviewRecord, Appended, Entity, EntryMeta, LedgerAppend, SideRecord, StoreError,
};

use crate::TestResult;

on_both_backends!(
    a_review_is_written_with_its_entry,
    a_taken_review_id_appends_nothing
);

fn review(id: &str, at: i64) -> ActivityReviewRecord {
    ActivityReviewRecord {
        id: id.to_owned(),
        reviewed_by: "human:carol".to_owned(),
        reviewed_at_ms: at,
        checkpoint_size: 42,
        checkpoint_root: "cm9vdA==".to_owned(),
        note: format!("reviewed at {at}"),
    }
}

fn append(r: &ActivityReviewRecord) -> Result<LedgerAppend, tribune_ledger::Error> {
    Ok(LedgerAppend {
        entry: Entry::from_json(&json!({ "event": "activity_reviewed", "id": r.id }))?,
        meta: EntryMeta {
            event_class: "audit_review".to_owned(),
            classification: None,
            correlation_uid: Some(r.id.clone()),
            created_at_ms: r.reviewed_at_ms,
        },
        side: SideRecord::ActivityReview(r.clone()),
    })
}

async fn a_review_is_written_with_its_entry(db: &TestStore) -> TestResult {
    assert!(db.store.activity_reviews(10).await?.is_empty());
    let (first, second) = (review("r-1", 1_000), review("r-2", 2_000));
    let done = db
        .store
        .append_ledger(&[append(&first)?, append(&second)?])
        .await?;
    assert_eq!(done, [Appended::Entry { index: 0 }, Appended::Entry { index: 1 }]);
    assert_eq!(db.store.activity_reviews(10).await?, [second.clone(), first]);
    assert_eq!(db.store.activity_reviews(1).await?, [second]);
    Ok(())
}

async fn a_taken_review_id_appends_nothing(db: &TestStore) -> TestResult {
    db.store.append_ledger(&[append(&review("r-1", 1_000))?]).await?;
    let Err(err) = db.store.append_ledger(&[append(&review("r-1", 2_000))?]).await else {
        return Err("a review with a taken id was appended".into());
    };
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                entity: Entity::ActivityReview,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(db.store.activity_reviews(10).await?.len(), 1);
    assert_eq!(db.store.ledger_head().await?.size(), 1);
    Ok(())
}
