//! Group commit: many concurrent appends, few transactions, each append acknowledged only once
//! it is durable.
//!
//! A decision must be on disk before the call it allows goes ahead, but a transaction per
//! decision would cap throughput at the disk's fsync rate. [`BatchWriter`] puts one background
//! task in front of the database: callers queue records on a bounded channel (which pushes back
//! when the database falls behind), the task takes everything queued — up to `max_batch` — and
//! hands it to a [`BatchCommit`] in one go, then answers every caller of that batch through a
//! oneshot. While one batch commits, the next one gathers, so batches grow with load by
//! themselves and no timer is needed.
//!
//! Failure is all-or-nothing per batch: if the commit fails, every caller in the batch gets
//! [`StoreError::BatchFailed`] sharing the cause (and turns it into a deny). Nothing hangs: if
//! the task is gone, callers get [`StoreError::WriterClosed`].
//!
//! [`BatchCommit`] is the seam: [`DecisionWriter::spawn`] commits plain decision rows through
//! [`Store::insert_decisions`]; a tamper-evident ledger can supply its own committer (chaining
//! hashes and writing entries in the same transaction) and keep this queueing as it is.
//!
//! An `append` whose future is dropped after queueing may still be committed; it is simply not
//! acknowledged.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::records::DecisionRecord;
use crate::store::Store;

/// Writes a batch of records durably: all of them or none.
pub trait BatchCommit: Send + 'static {
    /// What is written.
    type Item: Send + 'static;
    /// What each item's caller learns once the batch committed (e.g. its ledger index).
    type Output: Send + 'static;

    /// Writes `batch` in one transaction; returns only once it has committed, with one output
    /// per item, in order.
    fn commit(
        &mut self,
        batch: &[Self::Item],
    ) -> impl Future<Output = Result<Vec<Self::Output>, StoreError>> + Send;
}

/// Commits decisions as plain rows, one transaction per batch.
#[derive(Debug, Clone)]
pub struct DecisionCommitter {
    store: Store,
}

impl DecisionCommitter {
    /// A committer writing into `store`.
    pub fn new(store: Store) -> Self {
        DecisionCommitter { store }
    }
}

impl BatchCommit for DecisionCommitter {
    type Item = DecisionRecord;
    type Output = ();

    async fn commit(&mut self, batch: &[DecisionRecord]) -> Result<Vec<()>, StoreError> {
        self.store.insert_decisions(batch).await?;
        Ok(vec![(); batch.len()])
    }
}

/// The group-commit writer for decisions.
pub type DecisionWriter = BatchWriter<DecisionRecord, ()>;

impl BatchWriter<DecisionRecord, ()> {
    /// Starts a writer committing into `store`, at most `max_batch` decisions per transaction.
    ///
    /// Must be called within a Tokio runtime.
    pub fn spawn(store: Store, max_batch: usize) -> DecisionWriter {
        BatchWriter::spawn_with(DecisionCommitter::new(store), max_batch)
    }
}

/// Counters of a writer's work since it started, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Transactions that committed.
    pub batches_committed: u64,
    /// Records in those transactions.
    pub records_committed: u64,
    /// Transactions that failed (each failed every record in it).
    pub batches_failed: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches_committed: AtomicU64,
    records_committed: AtomicU64,
    batches_failed: AtomicU64,
}

/// A handle to a group-commit writer task. Clone it freely; the task ends, after committing
/// whatever is still queued, when the last handle is dropped.
pub struct BatchWriter<T, O = ()> {
    queue: mpsc::Sender<Pending<T, O>>,
    counters: Arc<Counters>,
}

// Not derived: deriving would needlessly require `T: Clone`.
impl<T, O> Clone for BatchWriter<T, O> {
    fn clone(&self) -> Self {
        BatchWriter {
            queue: self.queue.clone(),
            counters: self.counters.clone(),
        }
    }
}

struct Pending<T, O> {
    item: T,
    ack: oneshot::Sender<Result<O, StoreError>>,
}

impl<T: Send + 'static, O: Send + 'static> BatchWriter<T, O> {
    /// Starts a writer handing batches of at most `max_batch` items (at least 1) to
    /// `committer`. At most `max_batch` further appends wait in the queue; beyond that,
    /// `append` waits for room.
    ///
    /// Must be called within a Tokio runtime.
    pub fn spawn_with<C>(committer: C, max_batch: usize) -> Self
    where
        C: BatchCommit<Item = T, Output = O>,
    {
        let max_batch = max_batch.max(1);
        let (queue, receiver) = mpsc::channel(max_batch);
        let counters = Arc::new(Counters::default());
        tokio::spawn(run(committer, receiver, max_batch, counters.clone()));
        BatchWriter { queue, counters }
    }

    /// Queues `item` and resolves once the transaction containing it has committed, or with
    /// the error that made that transaction fail.
    pub async fn append(&self, item: T) -> Result<O, StoreError> {
        let (ack, acked) = oneshot::channel();
        self.queue
            .send(Pending { item, ack })
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        acked.await.map_err(|_| StoreError::WriterClosed)?
    }

    /// What the writer has done so far.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            batches_committed: self.counters.batches_committed.load(Ordering::Relaxed),
            records_committed: self.counters.records_committed.load(Ordering::Relaxed),
            batches_failed: self.counters.batches_failed.load(Ordering::Relaxed),
        }
    }
}

/// The writer task: drain, commit, acknowledge, until every handle is gone and the queue is
/// empty.
async fn run<C: BatchCommit>(
    mut committer: C,
    mut receiver: mpsc::Receiver<Pending<C::Item, C::Output>>,
    max_batch: usize,
    counters: Arc<Counters>,
) {
    let mut pending = Vec::with_capacity(max_batch);
    // `recv_many` returns 0 only once the channel is closed and drained.
    while receiver.recv_many(&mut pending, max_batch).await > 0 {
        let (items, acks): (Vec<C::Item>, Vec<_>) = pending.drain(..).map(|p| (p.item, p.ack)).unzip();
        let batch_size = items.len();
        let result = committer.commit(&items).await;
        // A caller that stopped waiting has dropped its receiver; `send` failing then is fine.
        match result {
            Ok(outputs) if outputs.len() == batch_size => {
                counters.batches_committed.fetch_add(1, Ordering::Relaxed);
                counters
                    .records_committed
                    .fetch_add(batch_size as u64, Ordering::Relaxed);
                for (ack, output) in acks.into_iter().zip(outputs) {
                    let _ = ack.send(Ok(output));
                }
            }
            Ok(outputs) => {
                // A committer bug; the batch is durable, but callers cannot be told their outputs.
                counters.batches_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    batch_size,
                    outputs = outputs.len(),
                    "committer returned the wrong number of outputs"
                );
                let source = Arc::new(StoreError::OutputCount {
                    expected: batch_size,
                    got: outputs.len(),
                });
                for ack in acks {
                    let _ = ack.send(Err(StoreError::BatchFailed {
                        batch_size,
                        source: source.clone(),
                    }));
                }
            }
            Err(err) => {
                counters.batches_failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(batch_size, error = %err, "batch commit failed");
                let source = Arc::new(err);
                for ack in acks {
                    let _ = ack.send(Err(StoreError::BatchFailed {
                        batch_size,
                        source: source.clone(),
                    }));
                }
            }
        }
    }
    tracing::debug!("batch writer stopped: all handles dropped");
}
