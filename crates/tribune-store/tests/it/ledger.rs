//! Appending to the ledger: numbering, side records and their order, and batches larger than
//! one multi-row INSERT.

use serde_json::json;
use tribune_ledger::{Entry, Tree};
use tribune_store::testing::TestStore;
use tribune_store::{
    Appended, BatchCommit as _, DecisionRecord, Entity, EntryMeta, LedgerAppend, LedgerCommitter,
    OutcomeRecord, SideRecord, StoreError,
};

use crate::{TestResult, decision};

on_both_backends!(
    a_large_mixed_batch_is_numbered_in_order_and_reads_back,
    a_duplicate_decision_fails_its_whole_batch,
    the_committer_numbers_on_from_the_stored_head_whoever_moved_it,
    the_committer_goes_on_after_a_failed_batch,
);

fn append(n: u64, side: SideRecord) -> Result<LedgerAppend, tribune_ledger::Error> {
    let event_class = match &side {
        SideRecord::Decision(_) => "decision",
        SideRecord::Outcome(_) => "outcome",
        _ => "audit_read",
    };
    let pad = "x".repeat((n % 300) as usize);
    Ok(LedgerAppend {
        entry: Entry::from_json(&json!({ "n": n, "event": event_class, "pad": pad }))?,
        meta: EntryMeta {
            event_class: event_class.to_owned(),
            classification: n.is_multiple_of(2).then(|| "internal".to_owned()),
            correlation_uid: Some(format!("c-{n}")),
            created_at_ms: 1_700_000_000_000 + n as i64,
        },
        side,
    })
}

fn outcome(decision_id: &str) -> SideRecord {
    SideRecord::Outcome(OutcomeRecord {
        decision_id: decision_id.to_owned(),
        recorded_at_ms: 1_700_000_000_000,
        status: "succeeded".to_owned(),
        body: json!({ "status": "succeeded" }),
    })
}

/// 1,000 appends in one batch (more than one multi-row INSERT holds): runs of decisions broken
/// by plain entries and by outcomes of decisions earlier in the same batch (which must already
/// be written when the outcome refers to them), and an outcome reported twice.
async fn a_large_mixed_batch_is_numbered_in_order_and_reads_back(db: &TestStore) -> TestResult {
    let mut batch = Vec::new();
    let mut decided: Vec<DecisionRecord> = Vec::new();
    for n in 0..1000u64 {
        let side = match n % 10 {
            3 => SideRecord::None,
            // n % 10 == 6 was a decision, so there is one to report on.
            7 => outcome(&decided.last().map(|d| d.id.clone()).unwrap_or_default()),
            _ => {
                let d = decision(n);
                decided.push(d.clone());
                SideRecord::Decision(d)
            }
        };
        batch.push(append(n, side)?);
    }
    // An outcome of the first decision, then the same again: the second is not written and
    // gets no entry.
    batch.push(append(1000, outcome(&decided[0].id))?);
    batch.push(append(1001, outcome(&decided[0].id))?);

    let outputs = db.store.append_ledger(&batch).await?;
    assert_eq!(outputs.len(), batch.len());
    let mut expected_index = 0;
    let mut appended = Vec::new();
    for (i, out) in outputs.iter().enumerate() {
        if i == batch.len() - 1 {
            assert_eq!(*out, Appended::Duplicate);
            continue;
        }
        assert_eq!(
            *out,
            Appended::Entry {
                index: expected_index
            },
            "item {i}"
        );
        appended.push(&batch[i]);
        expected_index += 1;
    }

    let stored = db.store.ledger_entries(0, 5000).await?;
    assert_eq!(stored.len(), appended.len());
    for (record, item) in stored.iter().zip(&appended) {
        assert_eq!(record.payload.as_deref(), Some(item.entry.as_bytes()));
        assert_eq!(record.leaf_hash, item.entry.leaf_hash());
        assert_eq!(record.meta, item.meta);
    }
    let head = db.store.ledger_head().await?;
    let tree = Tree::from_leaf_hashes(appended.iter().map(|a| a.entry.leaf_hash()));
    assert_eq!((head.size(), head.root()), (tree.size(), tree.root()));
    for d in &decided {
        assert_eq!(db.store.decision(&d.id).await?.as_ref(), Some(d));
    }
    assert!(db.store.outcome(&decided[0].id).await?.is_some());

    // The next batch numbers on from the head.
    let more = db.store.append_ledger(&[append(2000, SideRecord::None)?]).await?;
    assert_eq!(more, [Appended::Entry { index: tree.size() }]);
    Ok(())
}

/// A decision id already stored fails the whole batch: nothing of it is written.
async fn a_duplicate_decision_fails_its_whole_batch(db: &TestStore) -> TestResult {
    let existing = decision(1);
    db.store
        .append_ledger(&[append(1, SideRecord::Decision(existing.clone()))?])
        .await?;
    let fresh = decision(2);
    let batch = [
        append(2, SideRecord::Decision(fresh.clone()))?,
        append(3, SideRecord::Decision(existing.clone()))?,
        append(4, SideRecord::Decision(decision(4)))?,
    ];
    let Err(err) = db.store.append_ledger(&batch).await else {
        return Err("a batch with a duplicate decision was appended".into());
    };
    assert!(
        matches!(&err, StoreError::Conflict { entity: Entity::Decision, key } if key.contains(&fresh.id)),
        "{err:?}"
    );
    assert_eq!(db.store.ledger_head().await?.size(), 1);
    assert_eq!(db.store.ledger_entries(0, 10).await?.len(), 1);
    assert!(db.store.decision(&fresh.id).await?.is_none());
    // The failed transaction left no connection inside it: every later append (each takes a
    // pooled connection and begins its own transaction) commits and numbers on from the head.
    for n in 0..8u64 {
        let next = decision(10 + n);
        let appended = db
            .store
            .append_ledger(&[append(10 + n, SideRecord::Decision(next.clone()))?])
            .await?;
        assert_eq!(appended, [Appended::Entry { index: 1 + n }]);
        assert_eq!(db.store.decision(&next.id).await?.as_ref(), Some(&next));
    }
    Ok(())
}

/// The group-commit writer's committer remembers the head its last batch left, and on SQLite
/// appends from it without reading it. Whoever else appends meanwhile (here the store itself,
/// as another server process would), and whatever clashes (an outcome reported twice), its
/// batches come out as any append's would: numbered on from the stored head, one tree.
async fn the_committer_numbers_on_from_the_stored_head_whoever_moved_it(db: &TestStore) -> TestResult {
    let mut committer = LedgerCommitter::new(db.store.clone());
    let (d0, d4) = (decision(0), decision(4));
    let batches = [
        // A decision, its outcome in the same batch, a plain entry.
        vec![
            append(0, SideRecord::Decision(d0.clone()))?,
            append(1, outcome(&d0.id))?,
            append(2, SideRecord::None)?,
        ],
        // The head the committer knows is now behind: the store appended one more.
        vec![
            append(4, SideRecord::Decision(d4.clone()))?,
            append(5, outcome(&d0.id))?,
        ],
        // The head it knows is right again; the outcome is a duplicate.
        vec![append(6, outcome(&d4.id))?, append(7, outcome(&d4.id))?],
        vec![append(8, SideRecord::None)?],
    ];
    let entry = |index| Appended::Entry { index };
    assert_eq!(
        committer.commit(&batches[0]).await?,
        [entry(0), entry(1), entry(2)]
    );
    let behind_its_back = append(3, SideRecord::None)?;
    assert_eq!(
        db.store
            .append_ledger(std::slice::from_ref(&behind_its_back))
            .await?,
        [entry(3)]
    );
    assert_eq!(
        committer.commit(&batches[1]).await?,
        [entry(4), Appended::Duplicate]
    );
    assert_eq!(
        committer.commit(&batches[2]).await?,
        [entry(5), Appended::Duplicate]
    );
    assert_eq!(committer.commit(&batches[3]).await?, [entry(6)]);

    let appended = [
        &batches[0][0],
        &batches[0][1],
        &batches[0][2],
        &behind_its_back,
        &batches[1][0],
        &batches[2][0],
        &batches[3][0],
    ];
    let stored = db.store.ledger_entries(0, 100).await?;
    assert_eq!(stored.len(), appended.len());
    for (record, item) in stored.iter().zip(appended) {
        assert_eq!(
            record.payload.as_deref(),
            Some(item.entry.as_bytes()),
            "entry {}",
            record.index
        );
    }
    let head = db.store.ledger_head().await?;
    let tree = Tree::from_leaf_hashes(appended.iter().map(|a| a.entry.leaf_hash()));
    assert_eq!((head.size(), head.root()), (tree.size(), tree.root()));
    assert_eq!(db.store.decision(&d4.id).await?.as_ref(), Some(&d4));
    assert!(db.store.outcome(&d0.id).await?.is_some());
    assert!(db.store.outcome(&d4.id).await?.is_some());
    Ok(())
}

/// A batch that fails (a decision id already taken) writes nothing, and the committer's next
/// batch numbers on from the head as the failed one found it.
async fn the_committer_goes_on_after_a_failed_batch(db: &TestStore) -> TestResult {
    let mut committer = LedgerCommitter::new(db.store.clone());
    let taken = decision(0);
    let first = [append(0, SideRecord::Decision(taken.clone()))?];
    assert_eq!(committer.commit(&first).await?, [Appended::Entry { index: 0 }]);
    let clash = [
        append(1, SideRecord::None)?,
        append(2, SideRecord::Decision(taken.clone()))?,
    ];
    let Err(err) = committer.commit(&clash).await else {
        return Err("a batch with a decision id already taken was appended".into());
    };
    assert!(
        matches!(&err, StoreError::Conflict { entity: Entity::Decision, key } if key.contains(&taken.id)),
        "{err:?}"
    );
    let next = [append(3, outcome(&taken.id))?];
    assert_eq!(committer.commit(&next).await?, [Appended::Entry { index: 1 }]);
    assert_eq!(db.store.ledger_head().await?.size(), 2);
    Ok(())
}
