//! Identity lifecycle audits as pure functions: is a secret due for rotation, an identity due
//! for review, an identity unused for too long?
//!
//! Every deadline is an instant `base + days × 86,400,000 ms`, and a deadline is missed from
//! that instant on (`now_ms >= due`), as a credential expires at its `exp`. A missed rotation
//! or review is first *overdue*; once its grace period has also passed it is *expired*: the
//! secret is refused, the identity is to be suspended. An audit reports one finding per
//! concern, the strongest: `RotationExpired` replaces `RotationOverdue`.

use serde::{Deserialize, Serialize};

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The lifecycle policy for a kind of identity. `None` disables a check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// Rotate the secret this many days after the last rotation.
    pub rotation_days: Option<u32>,
    /// Days after a missed rotation before the secret is refused.
    pub rotation_grace_days: u32,
    /// Review the identity this many days after the last review (or its creation).
    pub review_days: Option<u32>,
    /// Days after a missed review before the identity is to be suspended.
    pub review_grace_days: u32,
    /// Report the identity stale when unused this many days (since creation if never used).
    pub stale_days: Option<u32>,
}

/// What an audit knows about one identity; times in unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityFacts {
    /// The identity's id.
    pub id: String,
    /// When it was created.
    pub created_at_ms: i64,
    /// When its secret was last rotated (its creation, if never).
    pub secret_rotated_at_ms: i64,
    /// When it last presented a credential, if ever.
    pub last_used_at_ms: Option<i64>,
    /// When it was last reviewed, if ever.
    pub last_reviewed_at_ms: Option<i64>,
}

/// One missed deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What was missed.
    pub kind: FindingKind,
    /// The deadline: when the rotation or review was due, or when the identity became stale.
    pub due_at_ms: i64,
    /// When this finding began: the deadline, or for an `*Expired` finding the end of grace.
    pub since_ms: i64,
}

/// The kinds of [`Finding`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The secret is due for rotation, still within grace.
    RotationOverdue,
    /// The secret is past its rotation grace: it is refused.
    RotationExpired,
    /// The identity is due for review, still within grace.
    ReviewOverdue,
    /// The identity is past its review grace: it is to be suspended.
    ReviewExpired,
    /// The identity has not been used for `stale_days`.
    Stale,
}

/// The findings for `facts` under `policy` at `now_ms`: rotation, then review, then staleness.
pub fn audit(facts: &IdentityFacts, policy: &Lifecycle, now_ms: i64) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some(days) = policy.rotation_days {
        findings.extend(graced(
            facts.secret_rotated_at_ms,
            days,
            policy.rotation_grace_days,
            now_ms,
            [FindingKind::RotationOverdue, FindingKind::RotationExpired],
        ));
    }
    if let Some(days) = policy.review_days {
        let base = facts.last_reviewed_at_ms.unwrap_or(facts.created_at_ms);
        findings.extend(graced(
            base,
            days,
            policy.review_grace_days,
            now_ms,
            [FindingKind::ReviewOverdue, FindingKind::ReviewExpired],
        ));
    }
    if let Some(days) = policy.stale_days {
        let due = after(facts.last_used_at_ms.unwrap_or(facts.created_at_ms), days);
        if now_ms >= due {
            findings.push(Finding {
                kind: FindingKind::Stale,
                due_at_ms: due,
                since_ms: due,
            });
        }
    }
    findings
}

/// Whether the secret is past its rotation grace at `now_ms`, so a credential exchange with
/// it must be refused.
pub fn rotation_expired(facts: &IdentityFacts, policy: &Lifecycle, now_ms: i64) -> bool {
    policy.rotation_days.is_some_and(|days| {
        now_ms
            >= after(
                after(facts.secret_rotated_at_ms, days),
                policy.rotation_grace_days,
            )
    })
}

/// The finding, if any, for a deadline `days` after `base` with `grace_days` of grace.
fn graced(
    base: i64,
    days: u32,
    grace_days: u32,
    now_ms: i64,
    [overdue, expired]: [FindingKind; 2],
) -> Option<Finding> {
    let due = after(base, days);
    let grace_end = after(due, grace_days);
    if now_ms >= grace_end {
        Some(Finding {
            kind: expired,
            due_at_ms: due,
            since_ms: grace_end,
        })
    } else if now_ms >= due {
        Some(Finding {
            kind: overdue,
            due_at_ms: due,
            since_ms: due,
        })
    } else {
        None
    }
}

/// `at_ms` plus `days` days, saturating.
fn after(at_ms: i64, days: u32) -> i64 {
    // u32::MAX days in ms is about 3.7e17, well inside i64.
    at_ms.saturating_add(i64::from(days) * DAY_MS)
}
