//! Emergency-stop drills: a declared scope stopped for real, the stop proven enforced, and
//! resumed at once by the system.
//!
//! A drill's stop lives in the `stops` table like any other (so every replica enforces it),
//! marked with the drill that made it. Only a marked stop can be resumed without the two
//! holders a resume otherwise needs ([`DrillRecord::resume_stop_write`]); a marked stop the
//! drill failed to resume stays in force and resumes the ordinary two-person way. Each change
//! (the stop, its resume, the drill's record) is a [`Write`] carried by its ledger entry.

use crate::error::StoreError;
use crate::stops::StopRecord;
use crate::store::{Store, with_pool};
use crate::writes::Write;

/// Who resumes a drill's stop: the system, on the drill's behalf.
pub const DRILL_RESUMER: &str = "tribune:drill";

/// One emergency-stop drill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillRecord {
    /// Id.
    pub id: String,
    /// The stop scope drilled, as `tribune stop` writes it.
    pub scope: String,
    /// Who ran it (`human:ID`).
    pub drilled_by: String,
    /// The stop the drill made (and resumed).
    pub stop_id: String,
    /// The principal of the representative call the enforcement check decided (`agent:ID`).
    pub principal: Option<String>,
    /// That call's tool.
    pub tool: Option<String>,
    /// When the command started.
    pub started_at_ms: i64,
    /// Microseconds from the command's start until the check came back `stopped`; `None`
    /// when enforcement was not proven.
    pub enforced_us: Option<i64>,
    /// The target: a drill passes only when enforced in less than this.
    pub target_us: i64,
    /// Enforced, within the target.
    pub passed: bool,
    /// Why it failed, if it did.
    pub failure: Option<String>,
    /// When the drill's stop was lifted.
    pub resumed_at_ms: i64,
}

type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    i64,
    i64,
    Option<String>,
    i64,
);

/// The columns [`Row`] reads, in its order.
macro_rules! columns {
    () => {
        "id, scope, drilled_by, stop_id, principal, tool, started_at_ms, enforced_us, target_us, passed, failure, resumed_at_ms"
    };
}

fn record(row: Row) -> DrillRecord {
    let (
        id,
        scope,
        drilled_by,
        stop_id,
        principal,
        tool,
        started_at_ms,
        enforced_us,
        target_us,
        passed,
        failure,
        resumed_at_ms,
    ) = row;
    DrillRecord {
        id,
        scope,
        drilled_by,
        stop_id,
        principal,
        tool,
        started_at_ms,
        enforced_us,
        target_us,
        passed: passed != 0,
        failure,
        resumed_at_ms,
    }
}

impl DrillRecord {
    /// Records `stop`, the stop drill `drill_id` makes: an ordinary stop, marked as the drill's
    /// (with its `emergency_stop` entry).
    pub fn stop_write(stop: &StopRecord, drill_id: &str) -> Write {
        Write::new(
            "INSERT INTO stops (id, scope, reason, stopped_by, stopped_at_ms, drill_id)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&stop.id)
        .bind(&stop.scope)
        .bind(&stop.reason)
        .bind(&stop.stopped_by)
        .bind(stop.stopped_at_ms)
        .bind(drill_id)
    }

    /// Lifts a drill's stop at once, as [`DRILL_RESUMER`] (with its `stop_resumed` entry), as a
    /// guard: it changes one row only if `stop_id` is marked as a drill's and still in force.
    pub fn resume_stop_write(stop_id: &str, at_ms: i64) -> Write {
        Write::new(
            "UPDATE stops SET resumed_at_ms = $1, resumed_by = $2
             WHERE id = $3 AND drill_id IS NOT NULL AND resumed_at_ms IS NULL",
        )
        .bind(at_ms)
        .bind(DRILL_RESUMER)
        .bind(stop_id)
    }

    /// Records this finished drill (with its `stop_drill` entry).
    pub fn insert_write(&self) -> Write {
        Write::new(
            "INSERT INTO drills (id, scope, drilled_by, stop_id, principal, tool, started_at_ms,
                                 enforced_us, target_us, passed, failure, resumed_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&self.id)
        .bind(&self.scope)
        .bind(&self.drilled_by)
        .bind(&self.stop_id)
        .bind(&self.principal)
        .bind(&self.tool)
        .bind(self.started_at_ms)
        .bind(self.enforced_us)
        .bind(self.target_us)
        .bind(i64::from(self.passed))
        .bind(&self.failure)
        .bind(self.resumed_at_ms)
    }
}

impl Store {
    /// The drills, newest first, at most `limit`.
    pub async fn drills(&self, limit: u32) -> Result<Vec<DrillRecord>, StoreError> {
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ",
                columns!(),
                " FROM drills ORDER BY started_at_ms DESC, id DESC LIMIT $1"
            ))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(record).collect())
    }

    /// The latest drill that passed, if any did.
    pub async fn last_passed_drill(&self) -> Result<Option<DrillRecord>, StoreError> {
        let row: Option<Row> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ",
                columns!(),
                " FROM drills WHERE passed = 1 ORDER BY started_at_ms DESC, id DESC LIMIT 1"
            ))
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(record))
    }
}
