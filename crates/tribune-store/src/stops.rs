//! Emergency stops: a scope halted by one human with stop authority and resumed only when two
//! distinct holders of it agree (the second step reuses [`ReleaseStep`]).

use crate::error::{Entity, StoreError};
use crate::ledger::{ReleaseStep, TwoPersonSql};
use crate::store::{Store, with_pool};

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

const RESUME: TwoPersonSql = TwoPersonSql {
    read: "SELECT resume_requested_by, resumed_at_ms FROM stops WHERE id = $1",
    request: "UPDATE stops SET resume_requested_by = $1, resume_requested_at_ms = $2
              WHERE id = $3 AND resume_requested_by IS NULL AND resumed_at_ms IS NULL",
    complete: "UPDATE stops SET resumed_at_ms = $1, resumed_by = $2
               WHERE id = $3 AND resumed_at_ms IS NULL AND resume_requested_by = $4",
};

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

impl Store {
    /// Records a new stop.
    pub async fn insert_stop(&self, stop: &StopRecord) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO stops (id, scope, reason, stopped_by, stopped_at_ms) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&stop.id)
            .bind(&stop.scope)
            .bind(&stop.reason)
            .bind(&stop.stopped_by)
            .bind(stop.stopped_at_ms)
            .execute(pool)
            .await
            .map_err(|err| StoreError::on_insert(err, Entity::Stop, &stop.id))?;
        });
        Ok(())
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

    /// One human's step towards resuming stop `id`: the first asks, a second, different one
    /// completes it.
    pub async fn step_resume(&self, id: &str, by: &str, at_ms: i64) -> Result<ReleaseStep, StoreError> {
        self.two_person_step(&RESUME, id, by, at_ms).await
    }
}
