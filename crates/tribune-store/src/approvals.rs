//! Approval requests and TOTP enrolments: the human-in-the-loop program's storage.
//!
//! A request is stored as the JSON its owner (the server, through `tribune-approvals`) wrote,
//! with copies of the fields the queue is queried by. The store interprets none of it beyond
//! those columns:
//!
//! - [`Store::admit_approval`] reads the queue's counts and inserts the admitted request in one
//!   transaction under the admission lock (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: `SELECT ...
//!   FOR UPDATE` on the one `approval_admission` row), so concurrent holds, in this process or
//!   another sharing the database, cannot overshoot the workload limits.
//! - Every later change is a compare-and-set on `revision`, written with its ledger entry
//!   ([`crate::SideRecord::Approval`], [`crate::SideRecord::DecisionUsingApproval`]).
//! - A TOTP code is checked off with [`Store::use_mfa_step`], which only lets the last used
//!   step grow: a replayed code loses the race even against another server process.

use std::collections::BTreeMap;
use std::fmt;

use sqlx::Row as _;

use crate::error::{Entity, StoreError};
use crate::store::{Backend, Store, with_pool};

/// An approval request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    /// Its id.
    pub id: String,
    /// Incremented by every change; updates are compare-and-set on it.
    pub revision: u64,
    /// The decision that held the call.
    pub decision_id: String,
    /// `pending`, `approved`, `denied`, `expired` or `cancelled` (the schema rejects others).
    pub state: String,
    /// `agent:ID` or `service:ID`.
    pub principal: String,
    /// The reviewer pool.
    pub pool: String,
    /// The tool.
    pub tool: String,
    /// SHA-256 (hex) of the call's canonical arguments.
    pub arguments_hash: String,
    /// The tool's tier: 0 read, 1 write, 2 irreversible.
    pub tier_rank: i64,
    /// The data classification's place on the scale, if known.
    pub class_rank: Option<i64>,
    /// The principal's trust score in per mille, if known.
    pub trust: Option<i64>,
    /// When it was opened.
    pub created_at_ms: i64,
    /// When it expires if still pending.
    pub expires_at_ms: i64,
    /// While an approval waits to be used: the end of its validity; otherwise `None`.
    pub usable_until_ms: Option<i64>,
    /// When it left `pending`.
    pub resolved_at_ms: Option<i64>,
    /// The reviewers it was assigned to when admitted.
    pub assignees: Vec<String>,
    /// The whole request as JSON; reads back exactly as written.
    pub body: serde_json::Value,
}

/// Which requests to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalFilter {
    /// Only in this state.
    pub state: Option<String>,
    /// Only for this reviewer pool.
    pub pool: Option<String>,
    /// Only of this principal (`agent:ID`).
    pub principal: Option<String>,
    /// At most this many.
    pub limit: u32,
}

/// What admission needs to ask about the queue for one held call.
#[derive(Debug, Clone)]
pub struct QueueProbe<'a> {
    /// The caller.
    pub principal: &'a str,
    /// The tool.
    pub tool: &'a str,
    /// The arguments' hash.
    pub arguments_hash: &'a str,
    /// The reviewer pool the call goes to.
    pub pool: &'a str,
    /// "Pending" means pending and not past its expiry at this time.
    pub now_ms: i64,
    /// The pool's rate counts requests opened strictly after this time.
    pub created_after_ms: i64,
}

/// The queue as admission sees it, read under the admission lock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// The oldest request pending for exactly this call, if any.
    pub identical: Option<String>,
    /// Requests of the principal pending now.
    pub pending_for_principal: u32,
    /// Requests of the pool opened in the rate window.
    pub created_in_pool: u32,
    /// Pending requests assigned to each reviewer who has any, across all pools.
    pub open_assignments: BTreeMap<String, u32>,
}

/// The queue's size, for metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Pending requests per reviewer pool.
    pub pending_by_pool: BTreeMap<String, u64>,
    /// Pending requests assigned to each reviewer who has any.
    pub open_assignments: BTreeMap<String, u64>,
}

/// A human's TOTP enrolment as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaEnrollmentRecord {
    /// Whose.
    pub human: String,
    /// Names this enrolment; a re-enrolment gets a new one.
    pub id: String,
    /// The shared secret, base32.
    pub secret: String,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: String,
    /// 6 or 8.
    pub digits: u8,
    /// When it was enrolled.
    pub enrolled_at_ms: i64,
    /// The time step of the last code accepted.
    pub last_used_step: Option<u64>,
}

impl fmt::Debug for MfaEnrollmentRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MfaEnrollmentRecord")
            .field("human", &self.human)
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .field("algorithm", &self.algorithm)
            .field("digits", &self.digits)
            .field("enrolled_at_ms", &self.enrolled_at_ms)
            .field("last_used_step", &self.last_used_step)
            .finish()
    }
}

fn count_of(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The columns every read of `approval_requests` selects, in [`ApprovalRow`]'s order; the
/// assignees come aggregated (human ids cannot contain `,`).
macro_rules! select_approvals {
    ($($rest:literal),*) => {
        concat!(
            "SELECT id, revision, decision_id, state, principal, pool, tool, arguments_hash, tier_rank,
                    class_rank, trust, created_at_ms, expires_at_ms, usable_until_ms, resolved_at_ms, body,
                    (SELECT string_agg(a.human, ',' ORDER BY a.human) FROM approval_assignments a
                      WHERE a.request_id = approval_requests.id) AS assignees
             FROM approval_requests ",
            $($rest),*
        )
    };
}

#[derive(sqlx::FromRow)]
struct ApprovalRow {
    id: String,
    revision: i64,
    decision_id: String,
    state: String,
    principal: String,
    pool: String,
    tool: String,
    arguments_hash: String,
    tier_rank: i64,
    class_rank: Option<i64>,
    trust: Option<i64>,
    created_at_ms: i64,
    expires_at_ms: i64,
    usable_until_ms: Option<i64>,
    resolved_at_ms: Option<i64>,
    body: String,
    assignees: Option<String>,
}

impl ApprovalRow {
    fn into_record(self) -> Result<ApprovalRecord, StoreError> {
        let assignees = self
            .assignees
            .as_deref()
            .map(|a| a.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
        let body = serde_json::from_str(&self.body).map_err(|source| StoreError::CorruptJson {
            entity: Entity::Approval,
            key: self.id.clone(),
            source,
        })?;
        let revision = u64::try_from(self.revision).map_err(|_| StoreError::Corrupt {
            entity: Entity::Approval,
            key: self.id.clone(),
            column: "revision",
        })?;
        Ok(ApprovalRecord {
            id: self.id,
            revision,
            decision_id: self.decision_id,
            state: self.state,
            principal: self.principal,
            pool: self.pool,
            tool: self.tool,
            arguments_hash: self.arguments_hash,
            tier_rank: self.tier_rank,
            class_rank: self.class_rank,
            trust: self.trust,
            created_at_ms: self.created_at_ms,
            expires_at_ms: self.expires_at_ms,
            usable_until_ms: self.usable_until_ms,
            resolved_at_ms: self.resolved_at_ms,
            assignees,
            body,
        })
    }
}

/// The compare-and-set update of a request's mutable columns, shared by the ledger's side
/// records. Affects one row, or none if the stored revision is not `$7` any more.
macro_rules! update_approval {
    ($r:expr, $expected:expr) => {
        sqlx::query(
            "UPDATE approval_requests
             SET revision = $2, state = $3, usable_until_ms = $4, resolved_at_ms = $5, body = $6
             WHERE id = $1 AND revision = $7",
        )
        .bind(&$r.id)
        .bind($crate::approvals::revision_i64($r.revision)?)
        .bind(&$r.state)
        .bind($r.usable_until_ms)
        .bind($r.resolved_at_ms)
        .bind($r.body.to_string())
        .bind($crate::approvals::revision_i64($expected)?)
    };
}
pub(crate) use update_approval;

/// The replacement of a human's TOTP enrolment, shared with the ledger's side record.
macro_rules! upsert_enrollment {
    ($e:expr) => {
        sqlx::query(
            "INSERT INTO mfa_enrollments (human, id, secret, algorithm, digits, enrolled_at_ms, last_used_step)
             VALUES ($1, $2, $3, $4, $5, $6, NULL)
             ON CONFLICT (human) DO UPDATE SET id = excluded.id, secret = excluded.secret,
               algorithm = excluded.algorithm, digits = excluded.digits,
               enrolled_at_ms = excluded.enrolled_at_ms, last_used_step = NULL",
        )
        .bind(&$e.human)
        .bind(&$e.id)
        .bind(&$e.secret)
        .bind(&$e.algorithm)
        .bind(i64::from($e.digits))
        .bind($e.enrolled_at_ms)
    };
}
pub(crate) use upsert_enrollment;

/// A revision as the schema stores it (63 bits; a request changes a handful of times).
pub(crate) fn revision_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt {
        entity: Entity::Approval,
        key: v.to_string(),
        column: "revision",
    })
}

/// The body of the admission transaction, written once for both backends. `$tx` already holds
/// the admission lock.
macro_rules! admit_in_tx {
    ($tx:ident, $probe:expr, $decide:expr) => {{
        let probe = $probe;
        let identical: Option<String> = sqlx::query_scalar(
            "SELECT id FROM approval_requests
             WHERE principal = $1 AND tool = $2 AND arguments_hash = $3 AND state = 'pending'
               AND expires_at_ms > $4
             ORDER BY created_at_ms, id LIMIT 1",
        )
        .bind(probe.principal)
        .bind(probe.tool)
        .bind(probe.arguments_hash)
        .bind(probe.now_ms)
        .fetch_optional(&mut *$tx)
        .await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM approval_requests
             WHERE principal = $1 AND state = 'pending' AND expires_at_ms > $2",
        )
        .bind(probe.principal)
        .bind(probe.now_ms)
        .fetch_one(&mut *$tx)
        .await?;
        let created: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM approval_requests WHERE pool = $1 AND created_at_ms > $2",
        )
        .bind(probe.pool)
        .bind(probe.created_after_ms)
        .fetch_one(&mut *$tx)
        .await?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT a.human, COUNT(*) FROM approval_assignments a
               JOIN approval_requests r ON r.id = a.request_id
             WHERE r.state = 'pending' AND r.expires_at_ms > $1
             GROUP BY a.human",
        )
        .bind(probe.now_ms)
        .fetch_all(&mut *$tx)
        .await?;
        let counts = QueueCounts {
            identical,
            pending_for_principal: count_of(pending),
            created_in_pool: count_of(created),
            open_assignments: rows.into_iter().map(|(h, n)| (h, count_of(n))).collect(),
        };
        let (insert, out) = $decide(&counts);
        if let Some(r) = insert {
            let r: &ApprovalRecord = &r;
            sqlx::query(
                "INSERT INTO approval_requests
                   (id, revision, decision_id, state, principal, pool, tool, arguments_hash, tier_rank,
                    class_rank, trust, created_at_ms, expires_at_ms, usable_until_ms, resolved_at_ms, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(&r.id)
            .bind(revision_i64(r.revision)?)
            .bind(&r.decision_id)
            .bind(&r.state)
            .bind(&r.principal)
            .bind(&r.pool)
            .bind(&r.tool)
            .bind(&r.arguments_hash)
            .bind(r.tier_rank)
            .bind(r.class_rank)
            .bind(r.trust)
            .bind(r.created_at_ms)
            .bind(r.expires_at_ms)
            .bind(r.usable_until_ms)
            .bind(r.resolved_at_ms)
            .bind(r.body.to_string())
            .execute(&mut *$tx)
            .await
            .map_err(|err| StoreError::on_insert(err, Entity::Approval, &r.id))?;
            for human in &r.assignees {
                sqlx::query("INSERT INTO approval_assignments (request_id, human) VALUES ($1, $2)")
                    .bind(&r.id)
                    .bind(human)
                    .execute(&mut *$tx)
                    .await
                    .map_err(|err| StoreError::on_insert(err, Entity::Approval, &r.id))?;
            }
        }
        out
    }};
}

impl Store {
    /// Admits a held call atomically: reads the queue's counts for `probe` under the admission
    /// lock, lets `decide` choose (it returns the request to insert, if any, and its own
    /// answer), inserts that request with its assignments, and commits.
    pub async fn admit_approval<T, F>(&self, probe: &QueueProbe<'_>, decide: F) -> Result<T, StoreError>
    where
        F: FnOnce(&QueueCounts) -> (Option<ApprovalRecord>, T) + Send,
        T: Send,
    {
        match &self.backend {
            Backend::Sqlite { pool, .. } => {
                // BEGIN IMMEDIATE takes SQLite's write lock before the counts are read.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = admit_in_tx!(tx, probe, decide);
                tx.commit().await?;
                Ok(out)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // The row lock serializes admission across every server process on the database.
                sqlx::query("SELECT id FROM approval_admission WHERE id = 1 FOR UPDATE")
                    .execute(&mut *tx)
                    .await?;
                let out = admit_in_tx!(tx, probe, decide);
                tx.commit().await?;
                Ok(out)
            }
        }
    }

    /// Removes a request that was admitted but whose hold could not be recorded, so it never
    /// reaches a reviewer. Only a request still at revision 0 is removed; returns whether it was.
    pub async fn discard_approval(&self, id: &str) -> Result<bool, StoreError> {
        let removed = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "DELETE FROM approval_assignments WHERE request_id = $1
                   AND EXISTS (SELECT 1 FROM approval_requests WHERE id = $1 AND revision = 0)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let done = sqlx::query("DELETE FROM approval_requests WHERE id = $1 AND revision = 0")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            done
        });
        Ok(removed == 1)
    }

    /// The request with this id, if any.
    pub async fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        let row: Option<ApprovalRow> = with_pool!(self, pool => {
            sqlx::query_as(select_approvals!("WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(ApprovalRow::into_record).transpose()
    }

    /// Requests matching `filter`, in the review queue's risk order: the key of
    /// `tribune_approvals::priority` — higher tier, then more sensitive data (unknown lowest),
    /// then lower trust (unknown = 500), then older, then by id.
    pub async fn approvals(&self, filter: &ApprovalFilter) -> Result<Vec<ApprovalRecord>, StoreError> {
        let rows: Vec<ApprovalRow> = with_pool!(self, pool => {
            sqlx::query_as(select_approvals!(
                "WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR pool = $2) AND ($3 IS NULL OR principal = $3)
                 ORDER BY tier_rank DESC, COALESCE(class_rank, -1) DESC, COALESCE(trust, 500) ASC,
                          created_at_ms ASC, id ASC
                 LIMIT $4"
            ))
            .bind(&filter.state)
            .bind(&filter.pool)
            .bind(&filter.principal)
            .bind(i64::from(filter.limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(ApprovalRow::into_record).collect()
    }

    /// The oldest approval of exactly this call that is waiting to be used at `now_ms`.
    pub async fn usable_approval(
        &self,
        principal: &str,
        tool: &str,
        arguments_hash: &str,
        now_ms: i64,
    ) -> Result<Option<ApprovalRecord>, StoreError> {
        let row: Option<ApprovalRow> = with_pool!(self, pool => {
            sqlx::query_as(select_approvals!(
                "WHERE principal = $1 AND tool = $2 AND arguments_hash = $3 AND state = 'approved'
                   AND usable_until_ms > $4
                 ORDER BY created_at_ms, id LIMIT 1"
            ))
            .bind(principal)
            .bind(tool)
            .bind(arguments_hash)
            .bind(now_ms)
            .fetch_optional(pool)
            .await?
        });
        row.map(ApprovalRow::into_record).transpose()
    }

    /// Up to `limit` requests still pending in the store whose expiry is at or before `now_ms`,
    /// soonest first.
    pub async fn due_approvals(&self, now_ms: i64, limit: u32) -> Result<Vec<ApprovalRecord>, StoreError> {
        let rows: Vec<ApprovalRow> = with_pool!(self, pool => {
            sqlx::query_as(select_approvals!(
                "WHERE state = 'pending' AND expires_at_ms <= $1 ORDER BY expires_at_ms, id LIMIT $2"
            ))
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(ApprovalRow::into_record).collect()
    }

    /// Pending requests (not past their expiry at `now_ms`) per pool and per assigned reviewer.
    pub async fn approval_queue_stats(&self, now_ms: i64) -> Result<QueueStats, StoreError> {
        type Counts = Vec<(String, i64)>;
        let (pools, reviewers): (Counts, Counts) = with_pool!(self, pool => {
            let pools = sqlx::query_as(
                "SELECT pool, COUNT(*) FROM approval_requests
                 WHERE state = 'pending' AND expires_at_ms > $1 GROUP BY pool",
            )
            .bind(now_ms)
            .fetch_all(pool)
            .await?;
            let reviewers = sqlx::query_as(
                "SELECT a.human, COUNT(*) FROM approval_assignments a
                   JOIN approval_requests r ON r.id = a.request_id
                 WHERE r.state = 'pending' AND r.expires_at_ms > $1
                 GROUP BY a.human",
            )
            .bind(now_ms)
            .fetch_all(pool)
            .await?;
            (pools, reviewers)
        });
        let unsigned = |rows: Vec<(String, i64)>| {
            rows.into_iter()
                .map(|(k, n)| (k, u64::try_from(n).unwrap_or_default()))
                .collect()
        };
        Ok(QueueStats {
            pending_by_pool: unsigned(pools),
            open_assignments: unsigned(reviewers),
        })
    }

    /// The TOTP enrolment of `human`, if any.
    pub async fn mfa_enrollment(&self, human: &str) -> Result<Option<MfaEnrollmentRecord>, StoreError> {
        let row = with_pool!(self, pool => {
            sqlx::query(
                "SELECT human, id, secret, algorithm, digits, enrolled_at_ms, last_used_step
                 FROM mfa_enrollments WHERE human = $1",
            )
            .bind(human)
            .fetch_optional(pool)
            .await?
            .map(|row| -> Result<_, sqlx::Error> {
                Ok((
                    row.try_get::<String, _>("human")?,
                    row.try_get::<String, _>("id")?,
                    row.try_get::<String, _>("secret")?,
                    row.try_get::<String, _>("algorithm")?,
                    row.try_get::<i64, _>("digits")?,
                    row.try_get::<i64, _>("enrolled_at_ms")?,
                    row.try_get::<Option<i64>, _>("last_used_step")?,
                ))
            })
            .transpose()?
        });
        let Some((human, id, secret, algorithm, digits, enrolled_at_ms, last)) = row else {
            return Ok(None);
        };
        let corrupt = |column| StoreError::Corrupt {
            entity: Entity::MfaEnrollment,
            key: human.clone(),
            column,
        };
        let digits = u8::try_from(digits).map_err(|_| corrupt("digits"))?;
        let last_used_step = last
            .map(|s| u64::try_from(s).map_err(|_| corrupt("last_used_step")))
            .transpose()?;
        Ok(Some(MfaEnrollmentRecord {
            human,
            id,
            secret,
            algorithm,
            digits,
            enrolled_at_ms,
            last_used_step,
        }))
    }

    /// Checks off time step `step` of enrolment `enrollment_id` of `human`: succeeds only if
    /// that enrolment is still the human's and its last used step is below `step`. A code is
    /// acted on only after this returned `true`, so no code is accepted twice, even by two
    /// servers at once.
    pub async fn use_mfa_step(
        &self,
        human: &str,
        enrollment_id: &str,
        step: u64,
    ) -> Result<bool, StoreError> {
        let step = i64::try_from(step).map_err(|_| StoreError::Corrupt {
            entity: Entity::MfaEnrollment,
            key: human.to_owned(),
            column: "last_used_step",
        })?;
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE mfa_enrollments SET last_used_step = $3
                 WHERE human = $1 AND id = $2 AND (last_used_step IS NULL OR last_used_step < $3)",
            )
            .bind(human)
            .bind(enrollment_id)
            .bind(step)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }
}
