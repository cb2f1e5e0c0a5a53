//! Emergency stops: a scope halted by one human with stop authority and resumed only when two
//! distinct holders of it agree (the second step reuses [`ReleaseStep`]).

use crate::error::{Entity, StoreError};
use crate::ledger::ReleaseStep;
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
    /// completes it. Each step is a compare-and-set, so racing humans cannot both be "second".
    pub async fn step_resume(&self, id: &str, by: &str, at_ms: i64) -> Result<ReleaseStep, StoreError> {
        let row: Option<(Option<String>, Option<i64>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT resume_requested_by, resumed_at_ms FROM stops WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        let Some((requested_by, resumed_at)) = row else {
            return Ok(ReleaseStep::NotFound);
        };
        if resumed_at.is_some() {
            return Ok(ReleaseStep::AlreadyReleased);
        }
        let first = match requested_by {
            None => {
                let updated = with_pool!(self, pool => {
                    sqlx::query(
                        "UPDATE stops SET resume_requested_by = $1, resume_requested_at_ms = $2
                         WHERE id = $3 AND resume_requested_by IS NULL AND resumed_at_ms IS NULL",
                    )
                    .bind(by)
                    .bind(at_ms)
                    .bind(id)
                    .execute(pool)
                    .await?
                    .rows_affected()
                });
                return Ok(if updated == 1 {
                    ReleaseStep::Requested
                } else {
                    ReleaseStep::AlreadyReleased
                });
            }
            Some(first) if first == by => return Ok(ReleaseStep::SameHuman),
            Some(first) => first,
        };
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE stops SET resumed_at_ms = $1, resumed_by = $2
                 WHERE id = $3 AND resumed_at_ms IS NULL AND resume_requested_by = $4",
            )
            .bind(at_ms)
            .bind(by)
            .bind(id)
            .bind(&first)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(if done == 1 {
            ReleaseStep::Released { first }
        } else {
            ReleaseStep::AlreadyReleased
        })
    }
}
