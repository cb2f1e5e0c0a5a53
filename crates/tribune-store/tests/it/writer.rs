//! The group-commit writer: batching, acknowledgement after commit, failure reporting.

use std::time::Duration;

use tokio::task::JoinSet;
use tribune_store::testing::TestStore;
use tribune_store::{DecisionWriter, Entity, Store, StoreError, WriterStats};

use crate::{TestResult, decision, execute_raw};

on_both_backends!(
    concurrent_appends_share_transactions,
    duplicate_fails_its_batch_and_the_writer_goes_on,
    closed_store_fails_appends,
    missing_table_fails_appends,
    queued_appends_flush_after_handles_drop,
);

/// Long enough for any healthy commit; an append still pending after this has hung.
const NO_HANG: Duration = Duration::from_secs(30);

async fn concurrent_appends_share_transactions(db: &TestStore) -> TestResult {
    const TASKS: u64 = 50;
    const PER_TASK: u64 = 40;
    const MAX_BATCH: usize = 64;

    let writer = DecisionWriter::spawn(db.store.clone(), MAX_BATCH);
    let mut tasks = JoinSet::new();
    for t in 0..TASKS {
        let writer = writer.clone();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for i in 0..PER_TASK {
                let rec = decision(t * PER_TASK + i);
                ids.push(rec.id.clone());
                writer.append(rec).await?;
            }
            Ok::<_, StoreError>(ids)
        });
    }
    let mut ids = Vec::new();
    while let Some(joined) = tokio::time::timeout(NO_HANG, tasks.join_next()).await? {
        ids.extend(joined??);
    }

    let appends = TASKS * PER_TASK;
    assert_eq!(ids.len() as u64, appends);
    let stats = writer.stats();
    assert_eq!(stats.records_committed, appends);
    assert_eq!(stats.batches_failed, 0);
    assert!(
        stats.batches_committed < appends,
        "no batching happened: {stats:?}"
    );
    assert!(
        stats.batches_committed >= appends.div_ceil(MAX_BATCH as u64),
        "a batch exceeded max_batch: {stats:?}"
    );

    // Acknowledged means committed: a separate connection sees every row.
    let other = Store::connect(db.url()).await?;
    for id in &ids {
        assert!(other.decision(id).await?.is_some(), "decision {id} missing");
    }
    other.close().await;
    Ok(())
}

async fn duplicate_fails_its_batch_and_the_writer_goes_on(db: &TestStore) -> TestResult {
    let writer = DecisionWriter::spawn(db.store.clone(), 16);
    let rec = decision(1);
    writer.append(rec.clone()).await?;

    let err = tokio::time::timeout(NO_HANG, writer.append(rec.clone()))
        .await?
        .err()
        .ok_or("duplicate decision acknowledged")?;
    assert!(
        matches!(err, StoreError::BatchFailed { batch_size: 1, .. }),
        "{err:?}"
    );
    assert!(
        matches!(err.root(), StoreError::Conflict { entity: Entity::Decision, key } if *key == rec.id),
        "{err:?}"
    );

    writer.append(decision(2)).await?;
    assert_eq!(
        writer.stats(),
        WriterStats {
            batches_committed: 2,
            records_committed: 2,
            batches_failed: 1,
        }
    );
    Ok(())
}

async fn closed_store_fails_appends(db: &TestStore) -> TestResult {
    let writer = DecisionWriter::spawn(db.store.clone(), 16);
    db.store.close().await;

    let err = tokio::time::timeout(NO_HANG, writer.append(decision(1)))
        .await?
        .err()
        .ok_or("append to a closed store acknowledged")?;
    assert!(
        matches!(err.root(), StoreError::Database(sqlx::Error::PoolClosed)),
        "{err:?}"
    );
    assert_eq!(writer.stats().batches_failed, 1);
    Ok(())
}

async fn missing_table_fails_appends(db: &TestStore) -> TestResult {
    let writer = DecisionWriter::spawn(db.store.clone(), 16);
    // Warm the pool's statement cache first, so the failure comes from the database itself.
    writer.append(decision(1)).await?;
    execute_raw(db, "ALTER TABLE decisions RENAME TO decisions_gone").await?;

    let mut appends = JoinSet::new();
    for n in 2..12 {
        let writer = writer.clone();
        appends.spawn(async move { writer.append(decision(n)).await });
    }
    while let Some(joined) = tokio::time::timeout(NO_HANG, appends.join_next()).await? {
        let err = joined?.err().ok_or("append into a missing table acknowledged")?;
        assert!(matches!(err.root(), StoreError::Database(_)), "{err:?}");
    }
    assert_eq!(writer.stats().records_committed, 1);
    Ok(())
}

async fn queued_appends_flush_after_handles_drop(db: &TestStore) -> TestResult {
    let writer = DecisionWriter::spawn(db.store.clone(), 4);
    let mut appends = JoinSet::new();
    let mut ids = Vec::new();
    for n in 0..20 {
        let rec = decision(n);
        ids.push(rec.id.clone());
        let writer = writer.clone();
        appends.spawn(async move { writer.append(rec).await });
    }
    // The spawned appends hold the last handles; the task must keep serving them.
    drop(writer);
    while let Some(joined) = tokio::time::timeout(NO_HANG, appends.join_next()).await? {
        joined??;
    }
    for id in &ids {
        assert!(db.store.decision(id).await?.is_some(), "decision {id} missing");
    }
    Ok(())
}
