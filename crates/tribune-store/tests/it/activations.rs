//! Bundle activations: the latest inserted one wins.

use tribune_store::ActivationRecord;
use tribune_store::testing::TestStore;

use crate::TestResult;

on_both_backends!(latest_activation_is_the_last_inserted);

fn activation(version: &str, activated_at_ms: i64) -> ActivationRecord {
    ActivationRecord {
        bundle_hash: format!("hash-of-{version}"),
        version: version.to_owned(),
        source: "bundles/prod".to_owned(),
        activated_at_ms,
    }
}

async fn latest_activation_is_the_last_inserted(db: &TestStore) -> TestResult {
    let store = &db.store;
    assert_eq!(store.latest_activation().await?, None);

    let first = activation("1.0.0", 2_000);
    store.insert_activation(&first).await?;
    assert_eq!(store.latest_activation().await?, Some(first));

    // A clock that stepped back does not make the older bundle current again.
    let second = activation("1.1.0", 1_000);
    store.insert_activation(&second).await?;
    assert_eq!(store.latest_activation().await?, Some(second));
    Ok(())
}
