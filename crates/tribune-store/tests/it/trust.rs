//! Trust bands: each crossing is a compare-and-set committed with its ledger entry, so one
//! replica records it, and a replica that read less, or saw another band, records nothing.

use serde_json::json;
use tribune_ledger::Entry;
use tribune_store::testing::TestStore;
use tribune_store::{Appended, EntryMeta, LedgerAppend, SideRecord, Store, TrustBandRecord, Write, Writes};

use crate::TestResult;

on_both_backends!(a_crossing_is_recorded_once);

/// Records the crossing of `subject` from `from` to `to` (read up to event `seq`) with an
/// entry; whether it was appended.
async fn cross(
    store: &Store,
    subject: &str,
    (from, to): (&str, &str),
    seq: i64,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let guard = TrustBandRecord::change_write(subject, from, to, 1_000 + seq, seq);
    let append = LedgerAppend {
        entry: Entry::from_json(&json!({ "event": "trust_band_changed", "subject": subject, "to": to }))?,
        meta: EntryMeta {
            event_class: "trust".to_owned(),
            classification: None,
            correlation_uid: None,
            created_at_ms: 1_000,
        },
        side: SideRecord::Writes(Writes::guarded(guard, 1, Vec::<Write>::new())),
    };
    match store.append_ledger(&[append]).await?.as_slice() {
        [Appended::Entry { .. }] => Ok(true),
        [Appended::Stale] => Ok(false),
        other => Err(format!("unexpected append: {other:?}").into()),
    }
}

async fn band(
    store: &Store,
    subject: &str,
) -> Result<Option<(String, i64)>, Box<dyn std::error::Error + Send + Sync>> {
    Ok(store
        .trust_bands()
        .await?
        .into_iter()
        .find(|b| b.subject == subject)
        .map(|b| (b.band, b.seq)))
}

async fn a_crossing_is_recorded_once(db: &TestStore) -> TestResult {
    let s = &db.store;
    let a = "agent:a";
    // A subject with no row is `normal`: the first crossing inserts it, once.
    assert!(cross(s, a, ("normal", "review"), 5).await?);
    assert!(
        !cross(s, a, ("normal", "review"), 5).await?,
        "a second replica records nothing"
    );
    assert_eq!(band(s, a).await?, Some(("review".to_owned(), 5)));
    // From the recorded band on, by a replica that read as much.
    assert!(
        !cross(s, a, ("review", "blocked"), 4).await?,
        "it read less than the recorder"
    );
    assert!(cross(s, a, ("review", "blocked"), 7).await?);
    // Back to normal is a crossing like any other; from `normal` again updates the row.
    assert!(cross(s, a, ("blocked", "normal"), 9).await?);
    assert!(cross(s, a, ("normal", "review"), 11).await?);
    assert_eq!(band(s, a).await?, Some(("review".to_owned(), 11)));
    // Nothing is written for a band the subject is not in.
    assert!(!cross(s, "agent:b", ("review", "blocked"), 3).await?);
    assert_eq!(band(s, "agent:b").await?, None);
    // Each recorded crossing has its entry; the refused ones have none.
    assert_eq!(s.ledger_head().await?.size(), 4);
    Ok(())
}
