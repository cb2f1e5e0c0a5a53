//! Trust events, the history scores are computed from, and the band each subject's score was
//! last recorded in (compare-and-set, so one replica records each crossing).

use crate::error::{Entity, StoreError};
use crate::store::{Store, with_pool};
use crate::writes::Write;

/// One row of a subject's trust history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustEventRecord {
    /// Its place in the table's order (assigned by the database; 0 before it is stored).
    pub seq: i64,
    /// `agent:ID`, `service:ID` or `provider:ID`.
    pub subject: String,
    /// `allowed`, `forbidden`, `dlp`, `approval_refused`, `redteam_failure` or `incident`.
    pub kind: String,
    /// How much the row moves the score (all `count` events together).
    pub delta: i64,
    /// How many events of `kind` the row stands for (allowed calls are aggregated).
    pub count: i64,
    /// When (the last of them) happened.
    pub at_ms: i64,
    /// What it is about: a decision id, an approval request, an incident.
    pub reference: Option<String>,
}

/// The band a subject's score was last recorded in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustBandRecord {
    /// `agent:ID`, `service:ID` or `provider:ID`.
    pub subject: String,
    /// `normal`, `review` or `blocked`.
    pub band: String,
    /// When it was recorded.
    pub changed_at_ms: i64,
    /// The newest event the recording replica had read.
    pub seq: i64,
}

type EventRow = (i64, String, String, i64, i64, i64, Option<String>);

fn event(row: EventRow) -> TrustEventRecord {
    let (seq, subject, kind, delta, count, at_ms, reference) = row;
    TrustEventRecord {
        seq,
        subject,
        kind,
        delta,
        count,
        at_ms,
        reference,
    }
}

impl Store {
    /// The newest ledger entry correlated with `uid` (a decision, an incident): the entry a
    /// trust event about `uid` derives from, as the evidence of an incident it triggers.
    pub async fn latest_entry_correlated(&self, uid: &str) -> Result<Option<u64>, StoreError> {
        let row: (Option<i64>,) = with_pool!(self, pool => {
            sqlx::query_as("SELECT MAX(idx) FROM ledger_entries WHERE correlation_uid = $1")
                .bind(uid)
                .fetch_one(pool)
                .await?
        });
        row.0
            .map(|i| u64::try_from(i).map_err(|_| StoreError::LedgerInconsistent("a negative ledger index")))
            .transpose()
    }

    /// Stores `events` in one transaction (their `seq` is ignored) and returns the `seq` each
    /// was given, in order.
    pub async fn insert_trust_events(&self, events: &[TrustEventRecord]) -> Result<Vec<i64>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut seqs = Vec::with_capacity(events.len());
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for e in events {
                let (seq,): (i64,) = sqlx::query_as(
                    "INSERT INTO trust_events (subject, kind, delta, count, at_ms, reference)
                     VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
                )
                .bind(&e.subject)
                .bind(&e.kind)
                .bind(e.delta)
                .bind(e.count)
                .bind(e.at_ms)
                .bind(&e.reference)
                .fetch_one(&mut *tx)
                .await
                .map_err(|err| StoreError::on_insert(err, Entity::TrustEvent, &e.subject))?;
                seqs.push(seq);
            }
            tx.commit().await?;
        });
        Ok(seqs)
    }

    /// Events with `seq` greater than `after`, in `seq` order, at most `limit`.
    pub async fn trust_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<TrustEventRecord>, StoreError> {
        let rows: Vec<EventRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, subject, kind, delta, count, at_ms, reference FROM trust_events
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(after).bind(i64::from(limit)).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(event).collect())
    }

    /// Events that happened at or after `since_ms`, in `seq` order: what a score still
    /// depends on.
    pub async fn trust_events_since(&self, since_ms: i64) -> Result<Vec<TrustEventRecord>, StoreError> {
        let rows: Vec<EventRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, subject, kind, delta, count, at_ms, reference FROM trust_events
                 WHERE at_ms >= $1 ORDER BY seq",
            )
            .bind(since_ms).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(event).collect())
    }

    /// `subject`'s events that happened at or after `since_ms`, in `seq` order.
    pub async fn trust_events_of(
        &self,
        subject: &str,
        since_ms: i64,
    ) -> Result<Vec<TrustEventRecord>, StoreError> {
        let rows: Vec<EventRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, subject, kind, delta, count, at_ms, reference FROM trust_events
                 WHERE subject = $1 AND at_ms >= $2 ORDER BY seq",
            )
            .bind(subject).bind(since_ms).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(event).collect())
    }

    /// The highest `seq` stored (0 when there are no events).
    pub async fn trust_events_max_seq(&self) -> Result<i64, StoreError> {
        let (max,): (Option<i64>,) = with_pool!(self, pool => {
            sqlx::query_as("SELECT MAX(seq) FROM trust_events").fetch_one(pool).await?
        });
        Ok(max.unwrap_or(0))
    }

    /// Every recorded band.
    pub async fn trust_bands(&self) -> Result<Vec<TrustBandRecord>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT subject, band, changed_at_ms, seq FROM trust_bands ORDER BY subject")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(subject, band, changed_at_ms, seq)| TrustBandRecord {
                subject,
                band,
                changed_at_ms,
                seq,
            })
            .collect())
    }
}

impl TrustBandRecord {
    /// Moves `subject`'s recorded band from `from` to `to` (with its `trust_band_changed`
    /// entry), as a guard: it changes one row only if the band is still `from` (a subject with
    /// no row is `normal`) and was recorded by a replica that had read no newer event than
    /// `seq`, so one replica records each crossing.
    pub fn change_write(subject: &str, from: &str, to: &str, at_ms: i64, seq: i64) -> Write {
        if from == "normal" {
            Write::new(
                "INSERT INTO trust_bands (subject, band, changed_at_ms, seq) VALUES ($4, $1, $2, $3)
                 ON CONFLICT (subject) DO UPDATE
                   SET band = excluded.band, changed_at_ms = excluded.changed_at_ms, seq = excluded.seq
                   WHERE trust_bands.band = $5 AND trust_bands.seq <= $3",
            )
        } else {
            Write::new(
                "UPDATE trust_bands SET band = $1, changed_at_ms = $2, seq = $3
                 WHERE subject = $4 AND band = $5 AND seq <= $3",
            )
        }
        .bind(to)
        .bind(at_ms)
        .bind(seq)
        .bind(subject)
        .bind(from)
    }
}
