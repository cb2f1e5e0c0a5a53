//! Emergency stops: a scope halted by one human with stop authority and resumed only when two
//! distinct holders of it agree.
//!
//! Every change is a [`Write`] carried by the ledger entry that records it
//! (`SideRecord::Writes`): a stop exists exactly when its `emergency_stop` entry does, and each
//! resume step commits with its own entry or not at all.

use crate::error::StoreError;
use crate::store::{Store, with_pool};
use crate::writes::Write;

/// One emergency stop, active until resumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopRecord {
    /// Id.
    pub id: String,
    /// What is stopped: `all`, `class:ID`, `agent:ID`, `service:ID`, `tool:ID` or `provider:ID`.
    pub scope: String,
    /// Why.
    pub reason: String,
    /// Who stopped it (`human:ID`).
    pub stopped_by: String,
    /// When.
    pub stopped_at_ms: i64,
    /// The first of the two humans a resume needs, once one has asked.
    pub resume_requested_by: Option<String>,
    /// Who completed the resume.
    pub resumed_by: Option<String>,
    /// When the stop was lifted, if it was.
    pub resumed_at_ms: Option<i64>,
}

type Row = (
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
);

fn record(row: Row) -> StopRecord {
    let (id, scope, reason, stopped_by, stopped_at_ms, resume_requested_by, resumed_by, resumed_at_ms) = row;
    StopRecord {
        id,
        scope,
        reason,
        stopped_by,
        stopped_at_ms,
        resume_requested_by,
        resumed_by,
        resumed_at_ms,
    }
}

impl StopRecord {
    /// Records this new stop (with its `emergency_stop` entry).
    pub fn insert_write(&self) -> Write {
        Write::new(
            "INSERT INTO stops (id, scope, reason, stopped_by, stopped_at_ms) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&self.id)
        .bind(&self.scope)
        .bind(&self.reason)
        .bind(&self.stopped_by)
        .bind(self.stopped_at_ms)
    }

    /// The first holder's step towards resuming stop `id` (with its `stop_resume_requested`
    /// entry), as a guard: it changes one row only if nobody asked yet and the stop is in force.
    pub fn request_resume_write(id: &str, by: &str, at_ms: i64) -> Write {
        Write::new(
            "UPDATE stops SET resume_requested_by = $1, resume_requested_at_ms = $2
             WHERE id = $3 AND resume_requested_by IS NULL AND resumed_at_ms IS NULL",
        )
        .bind(by)
        .bind(at_ms)
        .bind(id)
    }

    /// The second, different holder's step, lifting stop `id` (with its `stop_resumed` entry),
    /// as a guard: it changes one row only if `first` asked and the stop is still in force.
    pub fn complete_resume_write(id: &str, first: &str, by: &str, at_ms: i64) -> Write {
        Write::new(
            "UPDATE stops SET resumed_at_ms = $1, resumed_by = $2
             WHERE id = $3 AND resumed_at_ms IS NULL AND resume_requested_by = $4",
        )
        .bind(at_ms)
        .bind(by)
        .bind(id)
        .bind(first)
    }
}

impl Store {
    /// Stop `id`, in force or resumed.
    pub async fn stop(&self, id: &str) -> Result<Option<StopRecord>, StoreError> {
        let row: Option<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, scope, reason, stopped_by, stopped_at_ms, resume_requested_by, resumed_by, resumed_at_ms
                 FROM stops WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(record))
    }

    /// The stops in force, oldest first.
    pub async fn active_stops(&self) -> Result<Vec<StopRecord>, StoreError> {
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, scope, reason, stopped_by, stopped_at_ms, resume_requested_by, resumed_by, resumed_at_ms
                 FROM stops WHERE resumed_at_ms IS NULL ORDER BY stopped_at_ms, id",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(record).collect())
    }

    /// Every stop, in force or resumed, newest first, at most `limit`.
    pub async fn stops(&self, limit: u32) -> Result<Vec<StopRecord>, StoreError> {
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, scope, reason, stopped_by, stopped_at_ms, resume_requested_by, resumed_by, resumed_at_ms
                 FROM stops ORDER BY stopped_at_ms DESC, id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(record).collect())
    }
}
