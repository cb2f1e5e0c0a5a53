//! Red-team runs: each replay of a suite the server ran, with its per-step report.
//!
//! The server replays the suite itself against its active snapshot and records what it found,
//! so no client writes a run's outcome; but an admin chooses the suite, so each run records the
//! suite's SHA-256, whether it is the built-in suite for the deployment, and the bundle's hash.
//! The `[redteam] cadence_days` finding and the compliance evidence check read only passed runs
//! of the built-in suite against the bundle being assessed
//! ([`Store::last_passed_builtin_redteam_run`]).

use crate::error::StoreError;
use crate::store::{Store, with_pool};

/// One red-team run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedteamRunRecord {
    /// Id.
    pub id: String,
    /// The suite's name.
    pub suite: String,
    /// The SHA-256 of the suite's text (lowercase hex).
    pub suite_sha256: String,
    /// The suite is the built-in suite for the deployment the bundle declares.
    pub builtin: bool,
    /// The hash of the bundle that decided.
    pub bundle_hash: String,
    /// Who asked for it (`admin`, `human:ID`).
    pub run_by: String,
    /// When it ran.
    pub ran_at_ms: i64,
    /// Scenarios replayed.
    pub scenarios_total: i64,
    /// Scenarios with a failed step.
    pub scenarios_failed: i64,
    /// Steps replayed.
    pub steps_total: i64,
    /// Steps that did not get their outcome.
    pub steps_failed: i64,
    /// No step failed.
    pub passed: bool,
    /// The per-step report, JSON.
    pub report: String,
    /// The ledger entry that records it.
    pub ledger_index: Option<i64>,
}

type Row = (
    String,
    String,
    String,
    i64,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    i64,
    i64,
    String,
    Option<i64>,
);

/// The columns [`Row`] reads, in its order.
macro_rules! columns {
    () => {
        "id, suite, suite_sha256, builtin, bundle_hash, run_by, ran_at_ms, scenarios_total, scenarios_failed, steps_total, steps_failed, passed, report, ledger_index"
    };
}

fn record(row: Row) -> RedteamRunRecord {
    let (
        id,
        suite,
        suite_sha256,
        builtin,
        bundle_hash,
        run_by,
        ran_at_ms,
        scenarios_total,
        scenarios_failed,
        steps_total,
        steps_failed,
        passed,
        report,
        ledger_index,
    ) = row;
    RedteamRunRecord {
        id,
        suite,
        suite_sha256,
        builtin: builtin != 0,
        bundle_hash,
        run_by,
        ran_at_ms,
        scenarios_total,
        scenarios_failed,
        steps_total,
        steps_failed,
        passed: passed != 0,
        report,
        ledger_index,
    }
}

impl Store {
    /// Records a finished red-team run.
    pub async fn insert_redteam_run(&self, run: &RedteamRunRecord) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO redteam_runs (id, suite, suite_sha256, builtin, bundle_hash, run_by, ran_at_ms,
                                           scenarios_total, scenarios_failed, steps_total, steps_failed,
                                           passed, report, ledger_index)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(&run.id)
            .bind(&run.suite)
            .bind(&run.suite_sha256)
            .bind(i64::from(run.builtin))
            .bind(&run.bundle_hash)
            .bind(&run.run_by)
            .bind(run.ran_at_ms)
            .bind(run.scenarios_total)
            .bind(run.scenarios_failed)
            .bind(run.steps_total)
            .bind(run.steps_failed)
            .bind(i64::from(run.passed))
            .bind(&run.report)
            .bind(run.ledger_index)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The red-team runs, newest first, at most `limit`.
    pub async fn redteam_runs(&self, limit: u32) -> Result<Vec<RedteamRunRecord>, StoreError> {
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ",
                columns!(),
                " FROM redteam_runs ORDER BY ran_at_ms DESC, id DESC LIMIT $1"
            ))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(record).collect())
    }

    /// The latest passed run of the built-in suite against the bundle whose hash is
    /// `bundle_hash`, if any: the only runs that count as evidence for that bundle.
    pub async fn last_passed_builtin_redteam_run(
        &self,
        bundle_hash: &str,
    ) -> Result<Option<RedteamRunRecord>, StoreError> {
        let row: Option<Row> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ",
                columns!(),
                " FROM redteam_runs WHERE passed = 1 AND builtin = 1 AND bundle_hash = $1",
                " ORDER BY ran_at_ms DESC, id DESC LIMIT 1"
            ))
            .bind(bundle_hash)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(record))
    }
}
