//! Reviewer workload: admission of new holds, assignment across the pool, queue order.
//!
//! OWASP agentic threat T10 (Overwhelming Human in the Loop): an agent, a bug or an attacker
//! must not be able to bury reviewers in requests. So a new hold is either coalesced into an
//! identical pending request, admitted with assignees who have spare capacity, or refused at
//! once with [`HitlCapacity`] (the caller denies it with reason `hitl_capacity`) — it is never
//! queued without bound.
//!
//! [`admit`] reads the queue through [`QueueView`], which the store can answer with indexed
//! counts; a slice of requests implements it for tests and small deployments. Admission and the
//! insert of the request it admits must happen atomically (one transaction, or one writer per
//! pool), or concurrent holds can overshoot the caps.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use tribune_bundle::Tier;

use crate::Error;
use crate::config::HitlConfig;
use crate::ids::{HumanId, PoolId, Principal, RequestId, Trust};
use crate::request::{ApprovalRequest, CallKey, NewRequest};

/// The window of the per-pool rate, in milliseconds.
pub const RATE_WINDOW_MS: i64 = 60_000;

/// What admission needs to know about the current queue. "Pending at `now_ms`" means pending
/// and not yet past its expiry.
pub trait QueueView {
    /// A request pending at `now_ms` for exactly this call, if any (the oldest, if several).
    fn pending_identical(&self, call: &CallKey, now_ms: i64) -> Option<RequestId>;
    /// How many requests of `principal` are pending at `now_ms`.
    fn pending_for_principal(&self, principal: &Principal, now_ms: i64) -> u32;
    /// How many requests for `pool` were opened strictly after `after_ms`, whatever their state.
    fn created_after(&self, pool: &PoolId, after_ms: i64) -> u32;
    /// How many requests pending at `now_ms` are assigned to `human`, across all pools.
    fn open_assignments(&self, human: &HumanId, now_ms: i64) -> u32;
}

fn count<I: Iterator>(it: I) -> u32 {
    u32::try_from(it.count()).unwrap_or(u32::MAX)
}

impl QueueView for [ApprovalRequest] {
    fn pending_identical(&self, call: &CallKey, now_ms: i64) -> Option<RequestId> {
        self.iter()
            .filter(|r| r.is_pending_at(now_ms) && &r.call() == call)
            .min_by_key(|r| (r.created_at_ms(), r.id().clone()))
            .map(|r| r.id().clone())
    }

    fn pending_for_principal(&self, principal: &Principal, now_ms: i64) -> u32 {
        count(
            self.iter()
                .filter(|r| r.is_pending_at(now_ms) && r.principal() == principal),
        )
    }

    fn created_after(&self, pool: &PoolId, after_ms: i64) -> u32 {
        count(
            self.iter()
                .filter(|r| r.pool() == pool && r.created_at_ms() > after_ms),
        )
    }

    fn open_assignments(&self, human: &HumanId, now_ms: i64) -> u32 {
        count(
            self.iter()
                .filter(|r| r.is_pending_at(now_ms) && r.assignees().contains(human)),
        )
    }
}

impl QueueView for Vec<ApprovalRequest> {
    fn pending_identical(&self, call: &CallKey, now_ms: i64) -> Option<RequestId> {
        self.as_slice().pending_identical(call, now_ms)
    }
    fn pending_for_principal(&self, principal: &Principal, now_ms: i64) -> u32 {
        self.as_slice().pending_for_principal(principal, now_ms)
    }
    fn created_after(&self, pool: &PoolId, after_ms: i64) -> u32 {
        self.as_slice().created_after(pool, after_ms)
    }
    fn open_assignments(&self, human: &HumanId, now_ms: i64) -> u32 {
        self.as_slice().open_assignments(human, now_ms)
    }
}

/// Which workload limit refused a hold, with the numbers. Goes into the deny reason
/// (`hitl_capacity`) and the pool-saturated notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "limit", rename_all = "snake_case")]
pub enum HitlCapacity {
    /// The principal already has as many pending requests as it may.
    AgentPending {
        /// Whose.
        principal: Principal,
        /// Pending now.
        pending: u32,
        /// The cap.
        cap: u32,
    },
    /// The pool took as many new requests in the last minute as it may.
    PoolRate {
        /// Which pool.
        pool: PoolId,
        /// Requests opened in the last 60 seconds.
        created_last_minute: u32,
        /// The rate.
        per_minute: u32,
    },
    /// Too few eligible reviewers have spare capacity.
    ReviewerCapacity {
        /// Which pool.
        pool: PoolId,
        /// Eligible reviewers below their capacity (for irreversible calls, those who are not
        /// the owner when that is what is missing).
        available: u32,
        /// Reviewers the request needs.
        needed: u32,
        /// Open assignments per reviewer.
        capacity: u32,
    },
}

impl HitlCapacity {
    /// The stable reason code a refused hold is denied with.
    pub const CODE: &'static str = "hitl_capacity";

    /// The name of the limit, e.g. `agent_pending`.
    pub fn limit(&self) -> &'static str {
        match self {
            HitlCapacity::AgentPending { .. } => "agent_pending",
            HitlCapacity::PoolRate { .. } => "pool_rate",
            HitlCapacity::ReviewerCapacity { .. } => "reviewer_capacity",
        }
    }

    /// Whether the limit is the pool's (rate or reviewers), which is worth a saturation event;
    /// a single agent over its own cap is not.
    pub fn saturates_pool(&self) -> Option<&PoolId> {
        match self {
            HitlCapacity::AgentPending { .. } => None,
            HitlCapacity::PoolRate { pool, .. } | HitlCapacity::ReviewerCapacity { pool, .. } => Some(pool),
        }
    }
}

impl fmt::Display for HitlCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HitlCapacity::AgentPending {
                principal,
                pending,
                cap,
            } => write!(
                f,
                "`{principal}` has {pending} pending approval requests, the cap is {cap}"
            ),
            HitlCapacity::PoolRate {
                pool,
                created_last_minute,
                per_minute,
            } => write!(
                f,
                "reviewer pool `{pool}` took {created_last_minute} requests in the last minute, the rate is {per_minute} per minute"
            ),
            HitlCapacity::ReviewerCapacity {
                pool,
                available,
                needed,
                capacity,
            } => write!(
                f,
                "reviewer pool `{pool}` has {available} eligible reviewer(s) under their capacity of {capacity}, the request needs {needed}"
            ),
        }
    }
}

/// Proof that a hold passed admission, with the reviewers it is assigned to.
/// [`ApprovalRequest::open`] requires it, so no request skips the workload limits.
#[derive(Debug, PartialEq, Eq)]
pub struct Admitted {
    call: CallKey,
    pool: PoolId,
    assignees: Vec<HumanId>,
}

impl Admitted {
    /// The call admitted.
    pub fn call(&self) -> &CallKey {
        &self.call
    }
    /// Its pool.
    pub fn pool(&self) -> &PoolId {
        &self.pool
    }
    /// The reviewers chosen, least loaded first.
    pub fn assignees(&self) -> &[HumanId] {
        &self.assignees
    }
    pub(crate) fn into_assignees(self) -> Vec<HumanId> {
        self.assignees
    }
}

/// What to do with a new hold.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// An identical request is pending: wait on that one, open nothing.
    Coalesce(RequestId),
    /// Open a request; it goes to these reviewers.
    Admit(Admitted),
    /// Deny the call at once with reason `hitl_capacity`.
    Refuse(HitlCapacity),
}

/// Decides what happens to a new hold, in this order: coalesce into an identical pending
/// request (adds no load); refuse when the principal is at its pending cap, or the pool at its
/// rate; otherwise assign the N least-loaded eligible reviewers (open assignments, then id)
/// with spare capacity — never the human who triggered it, and for an irreversible call never
/// the owner alone — or refuse when there are too few.
///
/// Errors when the request could never be approved at all (see [`Error::Unsatisfiable`]).
pub fn admit<Q: QueueView + ?Sized>(
    config: &HitlConfig,
    new: &NewRequest,
    queue: &Q,
    now_ms: i64,
) -> Result<Admission, Error> {
    new.check_satisfiable()?;
    let call = new.call();
    if let Some(id) = queue.pending_identical(&call, now_ms) {
        return Ok(Admission::Coalesce(id));
    }
    let cap = config.agent_pending_cap.get();
    let pending = queue.pending_for_principal(&new.principal, now_ms);
    if pending >= cap {
        return Ok(Admission::Refuse(HitlCapacity::AgentPending {
            principal: new.principal.clone(),
            pending,
            cap,
        }));
    }
    let per_minute = config.pool_rate_per_minute.get();
    let created = queue.created_after(&new.pool, now_ms.saturating_sub(RATE_WINDOW_MS));
    if created >= per_minute {
        return Ok(Admission::Refuse(HitlCapacity::PoolRate {
            pool: new.pool.clone(),
            created_last_minute: created,
            per_minute,
        }));
    }

    let capacity = config.reviewer_capacity.get();
    let mut candidates: Vec<(u32, &HumanId)> = new
        .eligible()
        .into_iter()
        .map(|h| (queue.open_assignments(h, now_ms), h))
        .filter(|(open, _)| *open < capacity)
        .collect();
    candidates.sort();
    let needed = new.approvals_required;
    let needed_len = usize::try_from(needed).unwrap_or(usize::MAX);
    let refuse = |available: usize| {
        Admission::Refuse(HitlCapacity::ReviewerCapacity {
            pool: new.pool.clone(),
            available: u32::try_from(available).unwrap_or(u32::MAX),
            needed,
            capacity,
        })
    };
    if candidates.len() < needed_len {
        return Ok(refuse(candidates.len()));
    }
    let mut chosen: Vec<&HumanId> = candidates[..needed_len].iter().map(|(_, h)| *h).collect();
    if new.tier == Tier::Irreversible && chosen.iter().all(|h| **h == new.owner) {
        // Only possible when N = 1 and the owner is the least loaded: the owner alone cannot
        // complete an irreversible call, so give it to the least-loaded non-owner instead.
        match candidates.iter().find(|(_, h)| **h != new.owner) {
            Some((_, h)) => chosen = vec![*h],
            None => return Ok(refuse(0)),
        }
    }
    Ok(Admission::Admit(Admitted {
        call,
        pool: new.pool.clone(),
        assignees: chosen.into_iter().cloned().collect(),
    }))
}

/// A request's place in the review queue. Smaller is reviewed first: higher tier, then more
/// sensitive data, then lower trust, then older, then by id.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Priority {
    tier: Reverse<Tier>,
    class_rank: Reverse<i64>,
    trust: Trust,
    created_at_ms: i64,
    id: RequestId,
}

/// The queue position of `req` (unknown classification ranks lowest, unknown trust is
/// [`Trust::BASELINE`]).
pub fn priority(req: &ApprovalRequest) -> Priority {
    Priority {
        tier: Reverse(req.tier()),
        class_rank: Reverse(req.classification().map_or(i64::MIN, |c| c.rank)),
        trust: req.trust().unwrap_or(Trust::BASELINE),
        created_at_ms: req.created_at_ms(),
        id: req.id().clone(),
    }
}

/// Sorts requests into review order (see [`Priority`]). Works on owned requests and on
/// references alike.
pub fn sort_by_priority<R: AsRef<ApprovalRequest>>(requests: &mut [R]) {
    requests.sort_by_cached_key(|r| priority(r.as_ref()));
}

/// Open assignments per reviewer among `requests` pending at `now_ms` (each request counted
/// once), for the per-reviewer load metric.
pub fn reviewer_load<'a, I>(requests: I, now_ms: i64) -> Vec<(HumanId, u32)>
where
    I: IntoIterator<Item = &'a ApprovalRequest>,
{
    let mut load: std::collections::BTreeMap<HumanId, u32> = std::collections::BTreeMap::new();
    let mut seen = BTreeSet::new();
    for r in requests {
        if !r.is_pending_at(now_ms) || !seen.insert(r.id().clone()) {
            continue;
        }
        for a in r.assignees() {
            *load.entry(a.clone()).or_default() += 1;
        }
    }
    load.into_iter().collect()
}
