//! The human-in-the-loop program on the server (issue 4): what happens to a held call, how
//! reviewers' votes and MFA codes are checked and recorded, expiry, waiting, notifications.
//!
//! The rules themselves are `tribune-approvals` (pure); this module gathers their inputs, runs
//! them, and persists what they produce:
//!
//! - [`settle`] runs on the decide path after the pure decision. A hold first looks for an
//!   approval of exactly this call that is waiting to be used; if there is one, the decision
//!   becomes an allow that names it, written together with the approval marked used (one
//!   transaction, compare-and-set, so an approval is used once even across replicas).
//!   Otherwise the hold goes through admission under the store's admission lock: it joins an
//!   identical pending request, opens a new one (assigned to reviewers with spare capacity),
//!   or is refused at once — a deny with reason `hitl_capacity`, never an unbounded queue.
//!   The hold decision's own ledger entry records the opening (it carries `approval_id`).
//! - [`vote`] records an approval or a denial by a human, after checking a TOTP code off (a
//!   code is used at most once), as a compare-and-set update with its ledger entry
//!   (event class `approval`, correlated with the held decision).
//! - [`expire_due`] ends pending requests whose time has come (a deny); the sweeper runs it
//!   every second, and reads of a due request run it first, so nobody sees a stale "pending".
//! - [`wait`] long-polls a request until it is resolved or a deadline passes.
//!
//! INVARIANT(approval-single-use): an approval allows one call — the decision that uses it is
//! written in the same transaction as the request's compare-and-set to "used".

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tribune_approvals::totp::{Enrollment, TotpParams, TotpSecret};
use tribune_approvals::webhook::Notification;
use tribune_approvals::workload::RATE_WINDOW_MS;
use tribune_approvals::{
    Admission, ApprovalRequest, ApproveOutcome, ApprovedCall, ArgumentsHash, CallKey, CancelReason, ClassId,
    DataClass, DecisionId, EventId, HeldReason, HitlCapacity, HitlConfig, HumanId, MfaEvidence, MfaProof,
    NewRequest, PoolId, Principal, QueueView, Rationale, RequestId, State, ToolId, admit, summary,
};
use tribune_bundle::{Bundle, Tier};
use tribune_policy::{Code, Decision, Obligation, Outcome, Reason, Snapshot, Stage};
use tribune_store::{
    Appended, ApprovalFilter, ApprovalRecord, DecisionRecord, EntryMeta, MfaEnrollmentRecord, QueueCounts,
    QueueProbe, SideRecord,
};

use crate::error::ApiError;
use crate::metrics::ResultLabels;
use crate::state::{AppState, now_ms};
use crate::webhooks::Webhooks;

/// Locks that serialize changes to one request within this process (requests hash onto them).
const STRIPES: usize = 64;
/// How often the sweeper expires due requests and refreshes the queue gauges.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// How often a waiter re-reads its request, to see changes made by other server processes.
const WAIT_POLL: Duration = Duration::from_millis(500);
/// The least time between two saturation notices (log event and webhook) for one pool: a
/// saturated pool refuses every hold, and reviewers must not be paged for each.
const SATURATION_NOTICE_EVERY_MS: i64 = 60_000;

/// The server's HITL state: who to wake, how to serialize, where to notify.
pub struct Hitl {
    /// Woken whenever this process changes a request.
    changed: tokio::sync::Notify,
    stripes: Vec<tokio::sync::Mutex<()>>,
    webhooks: Webhooks,
    /// When each pool's saturation was last announced.
    saturation_notices: dashmap::DashMap<String, i64>,
}

impl Hitl {
    /// Starts the webhook delivery task.
    pub fn new(metrics: &HitlMetrics) -> Hitl {
        Hitl {
            changed: tokio::sync::Notify::new(),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            webhooks: Webhooks::spawn(metrics.webhook_deliveries.clone()),
            saturation_notices: dashmap::DashMap::new(),
        }
    }

    async fn lock(&self, id: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let mut h: usize = 0;
        for b in id.bytes() {
            h = h.wrapping_mul(31).wrapping_add(usize::from(b));
        }
        // In range: `stripes` has `STRIPES` locks.
        self.stripes[h % STRIPES].lock().await
    }

    /// Whether `pool`'s saturation should be announced now (at most once a minute per pool).
    fn saturation_notice_due(&self, pool: &str, now: i64) -> bool {
        let mut last = self.saturation_notices.entry(pool.to_owned()).or_insert(i64::MIN);
        if now.saturating_sub(*last) < SATURATION_NOTICE_EVERY_MS {
            return false;
        }
        *last = now;
        true
    }

    fn notify(&self, bundle: &Bundle, notification: Option<Notification>) {
        if let (Some(hook), Some(n)) = (&bundle.hitl.webhook, notification) {
            self.webhooks.send(hook, n);
        }
    }
}

/// Label set: a reviewer pool.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// The pool.
    pub pool: String,
}

/// Label set: a reviewer.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReviewerLabels {
    /// The human.
    pub reviewer: String,
}

/// Label set: a workload limit, and the pool when it is the pool's.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// `agent_pending`, `pool_rate` or `reviewer_capacity`.
    pub limit: &'static str,
    /// The pool (empty for an agent's own cap).
    pub pool: String,
}

/// Label set: how a request ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// `approved`, `denied`, `expired` or `cancelled`.
    pub state: &'static str,
}

/// The HITL metrics.
#[derive(Clone)]
pub struct HitlMetrics {
    /// Pending requests per pool (the queue depth).
    pub queue_depth: Family<PoolLabels, Gauge>,
    /// Open assignments per reviewer (their load).
    pub reviewer_load: Family<ReviewerLabels, Gauge>,
    /// Seconds from a request's opening to its resolution.
    pub time_to_decision: Histogram,
    /// Requests resolved, by how.
    pub resolved: Family<StateLabels, Counter>,
    /// Holds refused at a workload limit.
    pub refused: Family<LimitLabels, Counter>,
    /// Holds refused because a pool is at its rate or out of reviewers.
    pub pool_saturated: Family<PoolLabels, Counter>,
    /// Webhook notifications, by result.
    pub webhook_deliveries: Family<ResultLabels, Counter>,
}

impl HitlMetrics {
    /// Registers the metrics in `registry`.
    pub fn register(registry: &mut Registry) -> HitlMetrics {
        let m = HitlMetrics {
            queue_depth: Family::default(),
            reviewer_load: Family::default(),
            // One second to about nine hours.
            time_to_decision: Histogram::new(exponential_buckets(1.0, 2.0, 16)),
            resolved: Family::default(),
            refused: Family::default(),
            pool_saturated: Family::default(),
            webhook_deliveries: Family::default(),
        };
        registry.register(
            "approval_queue_depth",
            "Pending approval requests, per reviewer pool",
            m.queue_depth.clone(),
        );
        registry.register(
            "approval_reviewer_load",
            "Pending approval requests assigned to each reviewer",
            m.reviewer_load.clone(),
        );
        registry.register(
            "approval_time_to_decision_seconds",
            "Time from an approval request's opening to its resolution",
            m.time_to_decision.clone(),
        );
        registry.register(
            "approvals_resolved",
            "Approval requests resolved, by final state",
            m.resolved.clone(),
        );
        registry.register(
            "approval_refusals",
            "Held calls denied at once because a workload limit was reached (hitl_capacity)",
            m.refused.clone(),
        );
        registry.register(
            "approval_pool_saturations",
            "Held calls refused because a reviewer pool was at its rate or out of reviewers",
            m.pool_saturated.clone(),
        );
        registry.register(
            "approval_webhook_deliveries",
            "Webhook notifications, by result",
            m.webhook_deliveries.clone(),
        );
        m
    }
}

/// The program's limits, from the bundle.
pub fn config(bundle: &Bundle) -> HitlConfig {
    let h = &bundle.hitl;
    HitlConfig {
        expiry_secs: h.expiry_secs,
        approval_valid_for_secs: h.approval_valid_for_secs,
        reviewer_capacity: h.reviewer_capacity,
        agent_pending_cap: h.agent_pending_cap,
        pool_rate_per_minute: h.pool_rate_per_minute,
    }
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(e.to_string())
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// The API error for a refusal of the approval rules.
pub fn approval_error(e: tribune_approvals::Error) -> ApiError {
    use tribune_approvals::Error as E;
    match e {
        E::NotPending { .. } | E::Expired { .. } => ApiError::NotPending(e.to_string()),
        E::NotInPool { .. } | E::RequesterCannotApprove { .. } => ApiError::NotEligible(e.to_string()),
        E::MfaRequired { .. } => ApiError::MfaRequired(e.to_string()),
        E::TotpMalformedCode { .. } | E::TotpWrongCode => ApiError::MfaInvalid(e.to_string()),
        E::TotpReplay { .. } => ApiError::MfaReplay(e.to_string()),
        E::EmptyRationale | E::RationaleTooLong { .. } | E::RationaleControlCharacter => {
            ApiError::InvalidBody(format!("`rationale`: {e}"))
        }
        other => ApiError::Internal(other.to_string()),
    }
}

// --- records ---

fn tier_rank(t: Tier) -> i64 {
    match t {
        Tier::Read => 0,
        Tier::Write => 1,
        Tier::Irreversible => 2,
    }
}

/// The stored form of a request.
pub fn to_record(req: &ApprovalRequest) -> Result<ApprovalRecord, ApiError> {
    let usable_until_ms = match req.state() {
        State::Approved {
            valid_until_ms,
            consumed_at_ms: None,
            ..
        } => Some(*valid_until_ms),
        _ => None,
    };
    Ok(ApprovalRecord {
        id: req.id().to_string(),
        revision: req.revision(),
        decision_id: req.decision_id().to_string(),
        state: req.state().kind().as_str().to_owned(),
        principal: req.principal().to_string(),
        pool: req.pool().to_string(),
        tool: req.tool().to_string(),
        arguments_hash: req.arguments_hash().to_string(),
        tier_rank: tier_rank(req.tier()),
        class_rank: req.classification().map(|c| c.rank),
        trust: req.trust().map(|t| i64::from(t.per_mille())),
        created_at_ms: req.created_at_ms(),
        expires_at_ms: req.expires_at_ms(),
        usable_until_ms,
        resolved_at_ms: req.state().resolved_at_ms(),
        assignees: req.assignees().iter().map(ToString::to_string).collect(),
        body: serde_json::to_value(req).map_err(internal)?,
    })
}

/// The request a stored record holds.
pub fn from_record(r: &ApprovalRecord) -> Result<ApprovalRequest, ApiError> {
    serde_json::from_value(r.body.clone())
        .map_err(|e| ApiError::Internal(format!("approval request `{}` is unreadable: {e}", r.id)))
}

/// A request as the API shows it.
pub fn view(req: &ApprovalRequest) -> Value {
    let (resolved_at_ms, valid_until_ms, used_at_ms, denied_by) = match req.state() {
        State::Pending => (None, None, None, None),
        State::Approved {
            at_ms,
            valid_until_ms,
            consumed_at_ms,
        } => (Some(*at_ms), Some(*valid_until_ms), *consumed_at_ms, None),
        State::Denied { by, at_ms } => (Some(*at_ms), None, None, Some(by.to_string())),
        State::Expired { at_ms } | State::Cancelled { at_ms, .. } => (Some(*at_ms), None, None, None),
    };
    let approvers: Vec<String> = req.approvers().map(ToString::to_string).collect();
    json!({
        "id": req.id(),
        "revision": req.revision(),
        "decision_id": req.decision_id(),
        "state": req.state().kind(),
        "cancel_reason": match req.state() {
            State::Cancelled { reason, .. } => serde_json::to_value(reason).unwrap_or(Value::Null),
            _ => Value::Null,
        },
        "summary": summary(req),
        "principal": req.principal(),
        "owner": req.owner(),
        "requested_by": req.requested_by(),
        "tool": req.tool(),
        "tier": req.tier(),
        "classification": req.classification().map(|c| c.name.to_string()),
        "arguments": req.arguments(),
        "arguments_hash": req.arguments_hash(),
        "reasons": req.reasons(),
        "approvals_required": req.approvals_required(),
        "approvals": approvers.len(),
        "approvers": approvers,
        "mfa_required": req.mfa_required(),
        "pool": req.pool(),
        "assignees": req.assignees(),
        "created_at_ms": req.created_at_ms(),
        "expires_at_ms": req.expires_at_ms(),
        "resolved_at_ms": resolved_at_ms,
        "valid_until_ms": valid_until_ms,
        "used_at_ms": used_at_ms,
        "denied_by": denied_by,
        "votes": req.votes(),
    })
}

// --- the decide path ---

/// What the HITL program made of a decision.
pub enum Settled {
    /// Not a hold, or an admin's dry run (a dry run opens nothing and uses nothing).
    Untouched,
    /// Held: the request that tracks it, newly opened or joined.
    Held {
        /// The request.
        id: RequestId,
        /// The request, when this hold opened it.
        opened: Option<ApprovalRequest>,
    },
    /// Refused at once (capacity, or a request nobody could ever approve): now a deny.
    Refused,
    /// Allowed by an approval given earlier, which this decision uses.
    Used {
        /// The request, marked used.
        request: ApprovalRequest,
        /// Its revision before.
        expected_revision: u64,
        /// What the use proves.
        call: ApprovedCall,
    },
}

impl Settled {
    /// Adds the approval's fields to the decision's answer.
    pub fn annotate(&self, answer: &mut serde_json::Map<String, Value>) {
        match self {
            Settled::Held { id, .. } => {
                answer.insert("approval_id".to_owned(), json!(id));
            }
            Settled::Used { call, .. } => {
                answer.insert("approval_id".to_owned(), json!(call.request_id));
                answer.insert("approved_by".to_owned(), json!(call.approvers));
                answer.insert("held_decision_id".to_owned(), json!(call.held_decision_id));
            }
            Settled::Untouched | Settled::Refused => {}
        }
    }

    /// The side record to write with the decision's ledger entry.
    pub fn side_record(&self, decision: DecisionRecord) -> Result<SideRecord, ApiError> {
        Ok(match self {
            Settled::Used {
                request,
                expected_revision,
                ..
            } => SideRecord::DecisionUsingApproval {
                decision,
                approval: Box::new(to_record(request)?),
                expected_revision: *expected_revision,
            },
            _ => SideRecord::Decision(decision),
        })
    }

    /// Undoes what cannot stand once the decision failed to be recorded: a request opened
    /// for it is removed before any reviewer sees it.
    pub async fn rollback(&self, state: &AppState) {
        if let Settled::Held { id, opened: Some(_) } = self
            && let Err(e) = state.store.discard_approval(id.as_str()).await
        {
            tracing::error!(approval = %id, error = %e, "cannot remove the approval request of an unrecorded hold; it will expire");
        }
    }

    /// After the decision is recorded: notifications and waiters.
    pub fn announce(&self, state: &AppState, bundle: &Bundle, now: i64) {
        match self {
            Settled::Held {
                opened: Some(req), ..
            } => {
                let notification = event_id().map(|id| Notification::created(req, id, now));
                state.hitl.notify(bundle, notification);
            }
            Settled::Used { .. } => state.hitl.changed.notify_waiters(),
            _ => {}
        }
    }
}

fn event_id() -> Option<EventId> {
    // A hyphenated UUID is in the bundle's id character set, so this is always `Some`.
    EventId::parse(&uuid::Uuid::now_v7().to_string()).ok()
}

/// A fresh request id.
fn request_id() -> Result<RequestId, ApiError> {
    RequestId::parse(&uuid::Uuid::now_v7().to_string()).map_err(internal)
}

/// Turns the decision into a deny for `code`, keeping the reasons that led to the hold.
fn refuse(d: &mut Decision, code: Code, rule: String, message: String) {
    d.decision = Outcome::Deny;
    d.approvals_required = 0;
    d.mfa_required = false;
    d.reviewer_pool = None;
    d.obligations.clear();
    d.reasons.push(Reason {
        stage: Stage::Approval,
        code,
        rule: Some(rule),
        message,
    });
}

/// The queue counts read under the admission lock, as `admit` asks for them.
struct Counts<'a> {
    counts: &'a QueueCounts,
    call: &'a CallKey,
}

impl QueueView for Counts<'_> {
    fn pending_identical(&self, call: &CallKey, _now_ms: i64) -> Option<RequestId> {
        if call != self.call {
            return None;
        }
        self.counts
            .identical
            .as_deref()
            .and_then(|id| RequestId::parse(id).ok())
    }
    fn pending_for_principal(&self, _principal: &Principal, _now_ms: i64) -> u32 {
        self.counts.pending_for_principal
    }
    fn created_after(&self, _pool: &PoolId, _after_ms: i64) -> u32 {
        self.counts.created_in_pool
    }
    fn open_assignments(&self, human: &HumanId, _now_ms: i64) -> u32 {
        self.counts
            .open_assignments
            .get(human.as_str())
            .copied()
            .unwrap_or(0)
    }
}

/// What admission decided, carried out of the store's transaction.
enum Admitted {
    Joined(RequestId),
    Opened(Box<ApprovalRequest>),
    Refused(HitlCapacity),
    Unsatisfiable(String),
    Failed(ApiError),
}

/// Builds the request a held decision would open; `Err` says why it can never be approved.
fn new_request(
    bundle: &Bundle,
    d: &Decision,
    decision_id: &str,
    arguments: &Value,
) -> Result<Result<NewRequest, String>, ApiError> {
    let Some(pool_id) = d.reviewer_pool.clone() else {
        return Ok(Err(format!(
            "tool `{}` names no reviewer pool (and there is no default), so no one can approve this call",
            d.tool
        )));
    };
    let Some(pool) = bundle.reviewer_pools.get(&pool_id) else {
        return Ok(Err(format!("reviewer pool `{pool_id}` is not declared")));
    };
    let principal = Principal::parse(&d.principal).map_err(internal)?;
    let owner = match &principal {
        Principal::Agent(id) => bundle.agents.get(id).map(|a| a.owner.clone()),
        Principal::Service(id) => bundle.services.get(id).map(|s| s.owner.clone()),
    }
    .ok_or_else(|| ApiError::Internal(format!("`{}` has no owner in the bundle", d.principal)))?;
    let tool = bundle
        .tools
        .get(d.tool.as_str())
        .ok_or_else(|| ApiError::Internal(format!("held tool `{}` is not declared", d.tool)))?;
    let reasons = d
        .reasons
        .iter()
        .map(|r| {
            let name = |v: Value| v.as_str().unwrap_or_default().to_owned();
            Ok(HeldReason {
                stage: name(serde_json::to_value(r.stage).map_err(internal)?),
                code: name(serde_json::to_value(r.code).map_err(internal)?),
                rule: r.rule.clone(),
                message: r.message.clone(),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Ok(NewRequest {
        decision_id: DecisionId::parse(decision_id).map_err(internal)?,
        principal,
        owner: HumanId::from(owner),
        requested_by: None,
        tool: ToolId::from(tool.id.clone()),
        tier: tool.tier,
        classification: Some(DataClass {
            name: ClassId::from(tool.classification.name.clone()),
            rank: tool.classification.rank,
        }),
        trust: None,
        arguments: arguments.clone(),
        arguments_hash: ArgumentsHash::parse(&d.arguments_hash).map_err(internal)?,
        reasons,
        approvals_required: d.approvals_required,
        mfa_required: d.mfa_required,
        pool: PoolId::from(pool_id),
        pool_members: pool.members.iter().cloned().map(HumanId::from).collect(),
    }))
}

/// Runs the HITL program on a fresh decision (see the module docs); `decision_id` is the id
/// the decision will be recorded under. A hold may come back as an allow (an approval used)
/// or a deny (refused at capacity, or unapprovable); the caller records it with
/// [`Settled::side_record`].
pub async fn settle(
    state: &AppState,
    snapshot: &Snapshot,
    d: &mut Decision,
    decision_id: &str,
    arguments: &Value,
    dry_run: bool,
    now: i64,
) -> Result<Settled, ApiError> {
    if d.decision != Outcome::Hold || dry_run {
        return Ok(Settled::Untouched);
    }
    let bundle = snapshot.bundle();
    if let Some(used) = use_approval(state, d, now).await? {
        return Ok(used);
    }
    let new = match new_request(bundle, d, decision_id, arguments)? {
        Ok(new) => new,
        Err(why) => {
            let rule = d.reviewer_pool.as_ref().map_or_else(
                || format!("tools.{}.reviewer_pool", d.tool),
                |p| format!("reviewer_pools.{p}"),
            );
            refuse(d, Code::ApprovalUnsatisfiable, rule, why);
            return Ok(Settled::Refused);
        }
    };
    let config = config(bundle);
    let call = new.call();
    let pool = new.pool.clone();
    let probe = QueueProbe {
        principal: &d.principal,
        tool: &d.tool,
        arguments_hash: &d.arguments_hash,
        pool: pool.as_str(),
        now_ms: now,
        created_after_ms: now.saturating_sub(RATE_WINDOW_MS),
    };
    let id = request_id()?;
    let admitted = state
        .store
        .admit_approval(&probe, |counts| {
            let view = Counts { counts, call: &call };
            match admit(&config, &new, &view, now) {
                Ok(Admission::Coalesce(existing)) => (None, Admitted::Joined(existing)),
                Ok(Admission::Refuse(limit)) => (None, Admitted::Refused(limit)),
                Ok(Admission::Admit(admitted)) => {
                    match ApprovalRequest::open(id, new, admitted, &config, now) {
                        Ok(req) => match to_record(&req) {
                            Ok(record) => (Some(record), Admitted::Opened(Box::new(req))),
                            Err(e) => (None, Admitted::Failed(e)),
                        },
                        Err(e) => (None, Admitted::Unsatisfiable(e.to_string())),
                    }
                }
                Err(e) => (None, Admitted::Unsatisfiable(e.to_string())),
            }
        })
        .await
        .map_err(unavailable)?;
    match admitted {
        Admitted::Joined(id) => Ok(Settled::Held { id, opened: None }),
        Admitted::Opened(req) => Ok(Settled::Held {
            id: req.id().clone(),
            opened: Some(*req),
        }),
        Admitted::Refused(limit) => {
            let m = &state.metrics.hitl;
            let saturated = limit.saturates_pool().map(ToString::to_string);
            m.refused
                .get_or_create(&LimitLabels {
                    limit: limit.limit(),
                    pool: saturated.clone().unwrap_or_default(),
                })
                .inc();
            if let Some(pool) = &saturated {
                m.pool_saturated
                    .get_or_create(&PoolLabels { pool: pool.clone() })
                    .inc();
            }
            if let Some(pool) = saturated
                .as_ref()
                .filter(|p| state.hitl.saturation_notice_due(p, now))
            {
                tracing::warn!(pool = %pool, limit = limit.limit(), detail = %limit, "reviewer pool saturated; held calls are denied with hitl_capacity");
                let notification = event_id().and_then(|id| Notification::saturated(&limit, id, now));
                state.hitl.notify(bundle, notification);
            }
            let key = match &limit {
                HitlCapacity::AgentPending { .. } => "agent_pending_cap",
                HitlCapacity::PoolRate { .. } => "pool_rate_per_minute",
                HitlCapacity::ReviewerCapacity { .. } => "reviewer_capacity",
            };
            refuse(d, Code::HitlCapacity, format!("hitl.{key}"), limit.to_string());
            Ok(Settled::Refused)
        }
        Admitted::Unsatisfiable(why) => {
            refuse(
                d,
                Code::ApprovalUnsatisfiable,
                format!("reviewer_pools.{pool}"),
                why,
            );
            Ok(Settled::Refused)
        }
        Admitted::Failed(e) => Err(e),
    }
}

/// An approval of exactly this call, waiting to be used and strong enough for what the call
/// needs now, turns the hold into an allow.
async fn use_approval(state: &AppState, d: &mut Decision, now: i64) -> Result<Option<Settled>, ApiError> {
    let Some(record) = state
        .store
        .usable_approval(&d.principal, &d.tool, &d.arguments_hash, now)
        .await
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    let mut request = from_record(&record)?;
    // An approval given under laxer rules than the active bundle's does not cover the call.
    if request.approvals_required() < d.approvals_required || (d.mfa_required && !request.mfa_required()) {
        return Ok(None);
    }
    let call = request.call();
    let Ok(used) = request.consume(&call, now) else {
        return Ok(None);
    };
    let approvers: Vec<String> = used.approvers.iter().map(|h| format!("`{h}`")).collect();
    let message = format!(
        "held by decision `{}`, then approved by {}{}; this call uses the approval",
        used.held_decision_id,
        approvers.join(" and "),
        if used.mfa { " with MFA" } else { "" },
    );
    d.decision = Outcome::Allow;
    d.approvals_required = 0;
    d.mfa_required = false;
    d.reviewer_pool = None;
    d.obligations = vec![Obligation::ReportOutcome];
    d.reasons.push(Reason {
        stage: Stage::Approval,
        code: Code::Approved,
        rule: Some(format!("approval:{}", used.request_id)),
        message,
    });
    Ok(Some(Settled::Used {
        request,
        expected_revision: record.revision,
        call: used,
    }))
}

// --- changes by people and by time ---

/// A reviewer's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Approve.
    Approve,
    /// Deny.
    Deny,
}

/// Checks `code` against `human`'s enrolment and checks it off, so it is never accepted again.
pub async fn check_code(
    state: &AppState,
    human: &HumanId,
    code: &str,
    now: i64,
) -> Result<MfaProof, ApiError> {
    let record = state
        .store
        .mfa_enrollment(human.as_str())
        .await
        .map_err(unavailable)?
        .ok_or_else(|| {
            ApiError::MfaNotEnrolled(format!(
                "`{human}` has no mfa enrolment; enrol with `tribune mfa enroll` (POST /v1/mfa/enroll)"
            ))
        })?;
    let mut enrollment = enrollment_of(&record)?;
    let proof = enrollment.verify(code, now).map_err(approval_error)?;
    if !state
        .store
        .use_mfa_step(human.as_str(), &record.id, proof.step())
        .await
        .map_err(unavailable)?
    {
        return Err(ApiError::MfaReplay(
            "the totp code was used by a concurrent request".to_owned(),
        ));
    }
    Ok(proof)
}

/// Step-up for a high-privilege action (`what`, e.g. "activating a bundle"): the caller must be
/// a human with a personal token who proves a fresh TOTP code, which is then never accepted
/// again. Role checks are the caller's business.
pub async fn step_up(
    state: &AppState,
    caller: &crate::auth::Caller,
    code: Option<&str>,
    what: &str,
    now: i64,
) -> Result<(HumanId, MfaProof), ApiError> {
    let crate::auth::Caller::Human(id) = caller else {
        return Err(ApiError::Forbidden(format!(
            "{what} needs a human with a personal token and a fresh MFA code"
        )));
    };
    let Some(code) = code else {
        return Err(ApiError::MfaRequired(format!(
            "{what} needs a fresh TOTP code in `mfa_code`"
        )));
    };
    let human = HumanId::parse(id).map_err(internal)?;
    let proof = check_code(state, &human, code, now).await?;
    Ok((human, proof))
}

fn enrollment_of(r: &MfaEnrollmentRecord) -> Result<Enrollment, ApiError> {
    let params: TotpParams =
        serde_json::from_value(json!({ "algorithm": r.algorithm, "digits": r.digits })).map_err(internal)?;
    Ok(Enrollment {
        human: HumanId::parse(&r.human).map_err(internal)?,
        secret: TotpSecret::from_base32(&r.secret).map_err(internal)?,
        params,
        enrolled_at_ms: r.enrolled_at_ms,
        last_used_step: r.last_used_step,
    })
}

/// Records `human`'s verdict on request `id` and returns the request's view with the vote's
/// outcome.
pub async fn vote(
    state: &AppState,
    human: &str,
    id: &str,
    verdict: Verdict,
    rationale: Option<String>,
    mfa_code: Option<String>,
) -> Result<Value, ApiError> {
    let human = HumanId::parse(human).map_err(|e| ApiError::Forbidden(e.to_string()))?;
    let snapshot = state.snapshot();
    let bundle = snapshot.bundle();
    let _serial = state.hitl.lock(id).await;
    let record = find(state, id).await?;
    let mut req = from_record(&record)?;
    let rationale = rationale
        .map(|r| Rationale::parse(&r))
        .transpose()
        .map_err(approval_error)?;
    let now = now_ms();
    let mfa = match mfa_code {
        Some(code) => MfaEvidence::Verified(check_code(state, &human, &code, now).await?),
        None => MfaEvidence::None,
    };
    let before = req.revision();
    let result: Result<Option<ApproveOutcome>, _> = match verdict {
        Verdict::Approve => req.approve(&human, rationale, mfa, now).map(Some),
        Verdict::Deny => {
            let Some(rationale) = rationale else {
                return Err(ApiError::InvalidBody("a denial needs a `rationale`".to_owned()));
            };
            req.deny(&human, rationale, mfa, now).map(|()| None)
        }
    };
    // An attempt on a request past its expiry records the expiry, so persist any change.
    if req.revision() != before {
        let actor = format!("human:{human}");
        record_change(state, bundle, &record, &req, &actor, now).await?;
    }
    let outcome = result.map_err(approval_error)?;
    // A human refused the call: the agent's trust score pays for it.
    if verdict == Verdict::Deny {
        crate::trust::approval_refused(state, &req.principal().to_string(), req.id().as_str(), now).await;
    }
    let mut body = view(&req);
    if let Some(outcome) = outcome {
        body["outcome"] = serde_json::to_value(&outcome).map_err(internal)?;
    }
    Ok(body)
}

/// Writes a change of `req` (read as `before`) with its ledger entry, then wakes waiters and
/// notifies when it resolved the request.
async fn record_change(
    state: &AppState,
    bundle: &Bundle,
    before: &ApprovalRecord,
    req: &ApprovalRequest,
    actor: &str,
    now: i64,
) -> Result<(), ApiError> {
    let record = to_record(req)?;
    let last = req.votes().last().filter(|v| v.at_ms == now);
    let event = match req.state() {
        State::Pending => "approval_vote",
        State::Approved { .. } => "approval_approved",
        State::Denied { .. } => "approval_denied",
        State::Expired { .. } => "approval_expired",
        State::Cancelled { .. } => "approval_cancelled",
    };
    let details = json!({
        "approval_id": req.id(),
        "revision": req.revision(),
        "state": req.state().kind(),
        "vote": last,
        "approvers": req.approvers().collect::<Vec<_>>(),
        "approvals_required": req.approvals_required(),
        "mfa_required": req.mfa_required(),
        "principal": req.principal(),
        "tool": req.tool(),
        "arguments_hash": req.arguments_hash(),
        "pool": req.pool(),
        "summary": tribune_approvals::summary_redacted(req),
    });
    let uid = format!("approval/{}/{}", req.id(), req.revision());
    let value = crate::ocsf::event(
        event,
        3,
        &uid,
        actor,
        Some(req.decision_id().as_str()),
        details,
        now,
    );
    let entry = crate::ocsf::entry(value).map_err(|e| ApiError::Unrecorded(e.to_string()))?;
    let meta = EntryMeta {
        event_class: "approval".to_owned(),
        classification: req.classification().map(|c| c.name.to_string()),
        correlation_uid: Some(req.decision_id().to_string()),
        created_at_ms: now,
    };
    let side = SideRecord::Approval {
        record: Box::new(record),
        expected_revision: before.revision,
    };
    match state.ledger.append(entry, meta, side).await {
        Ok(Appended::Entry { .. }) => {}
        Ok(_) => {
            return Err(ApiError::Conflict(format!(
                "approval request `{}` changed while this change was recorded; read it again and retry",
                req.id()
            )));
        }
        Err(e) => return Err(ApiError::Unrecorded(e.to_string())),
    }
    state.hitl.changed.notify_waiters();
    if let Some(at) = req.state().resolved_at_ms() {
        let m = &state.metrics.hitl;
        m.resolved
            .get_or_create(&StateLabels {
                state: req.state().kind().as_str(),
            })
            .inc();
        let secs = (at - req.created_at_ms()).max(0);
        #[allow(clippy::cast_precision_loss)]
        m.time_to_decision.observe(secs as f64 / 1000.0);
        let notification = event_id().and_then(|id| Notification::resolved(req, id).ok());
        state.hitl.notify(bundle, notification);
    }
    Ok(())
}

async fn find(state: &AppState, id: &str) -> Result<ApprovalRecord, ApiError> {
    state
        .store
        .approval(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::NotFound {
            what: "approval request",
            id: id.to_owned(),
        })
}

/// Why pending request `req` no longer fits `bundle`, if it does not: its principal or owner,
/// its tool's tier, classification or reviewer pool, the pool's members, or the autonomy terms
/// (more approvals or MFA now needed than the request asks for) changed. Looser terms do not
/// cancel it: the call it authorises is decided again under the new bundle when it is retried.
fn outdated_by(req: &ApprovalRequest, bundle: &Bundle) -> Option<String> {
    let (owner, class) = match req.principal() {
        Principal::Agent(id) => match bundle.agents.get(id) {
            Some(a) => (a.owner.clone(), bundle.classes.get(&a.class)),
            None => return Some(format!("agent `{id}` is no longer declared")),
        },
        Principal::Service(id) => match bundle.services.get(id) {
            Some(s) => (s.owner.clone(), None),
            None => return Some(format!("service `{id}` is no longer declared")),
        },
    };
    if HumanId::from(owner) != *req.owner() {
        return Some(format!("the owner of `{}` changed", req.principal()));
    }
    let Some(tool) = bundle.tools.get(req.tool().as_str()) else {
        return Some(format!("tool `{}` is no longer declared", req.tool()));
    };
    if tool.tier != req.tier() {
        return Some(format!("tool `{}` is now `{}`", tool.id, tool.tier));
    }
    if req
        .classification()
        .is_some_and(|c| c.name.as_str() != tool.classification.name.as_str())
    {
        return Some(format!("the classification of tool `{}` changed", tool.id));
    }
    let pool = tool
        .reviewer_pool
        .as_ref()
        .and_then(|p| bundle.reviewer_pools.get(p));
    match (tool.reviewer_pool.as_ref(), pool) {
        (Some(id), Some(pool)) if id.as_str() == req.pool().as_str() => {
            let members: std::collections::BTreeSet<HumanId> =
                pool.members.iter().cloned().map(HumanId::from).collect();
            if members != *req.pool_members() {
                return Some(format!("the members of reviewer pool `{id}` changed"));
            }
        }
        _ => return Some(format!("the reviewer pool of tool `{}` changed", tool.id)),
    }
    let rule = bundle.rule_for(class, tool.tier);
    if rule.approvals > req.approvals_required() || (rule.mfa && !req.mfa_required()) {
        return Some(format!(
            "`{}` calls now need {} approval(s){}",
            tool.tier,
            rule.approvals,
            if rule.mfa { " with MFA" } else { "" }
        ));
    }
    None
}

/// After an activation: cancels every pending request the new bundle no longer fits (see
/// [`outdated_by`]), each with its ledger entry; returns how many.
pub async fn cancel_outdated(state: &AppState, bundle: &Bundle, now: i64) -> Result<usize, ApiError> {
    cancel_pending(state, bundle, now, CancelReason::BundleChanged, |req| {
        outdated_by(req, bundle)
    })
    .await
}

/// Cancels, with `reason`, every pending request for which `why` gives a reason, each with
/// its ledger entry; returns how many. A request resolved meanwhile keeps its state.
pub async fn cancel_pending(
    state: &AppState,
    bundle: &Bundle,
    now: i64,
    reason: CancelReason,
    why: impl Fn(&ApprovalRequest) -> Option<String>,
) -> Result<usize, ApiError> {
    let filter = ApprovalFilter {
        state: Some("pending".to_owned()),
        pool: None,
        principal: None,
        limit: u32::MAX,
    };
    let pending = state.store.approvals(&filter).await.map_err(unavailable)?;
    let mut cancelled = 0;
    for record in pending {
        if why(&from_record(&record)?).is_none() {
            continue;
        }
        let _serial = state.hitl.lock(&record.id).await;
        let record = find(state, &record.id).await?;
        let mut req = from_record(&record)?;
        let Some(because) = why(&req) else {
            continue;
        };
        if req.cancel(reason.clone(), now).is_err() {
            // Resolved or expired meanwhile; that state stands.
            continue;
        }
        match record_change(state, bundle, &record, &req, "tribune", now).await {
            Ok(()) => {
                tracing::info!(approval = %req.id(), reason = %because, "pending approval cancelled");
                cancelled += 1;
            }
            Err(ApiError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(cancelled)
}

/// Expires request `id` if it is pending and due at `now`; returns it as it is afterwards.
async fn expire_one(state: &AppState, id: &str, now: i64) -> Result<ApprovalRequest, ApiError> {
    let _serial = state.hitl.lock(id).await;
    let record = find(state, id).await?;
    let mut req = from_record(&record)?;
    if req.expire(now).is_ok() {
        let snapshot = state.snapshot();
        match record_change(state, snapshot.bundle(), &record, &req, "tribune", now).await {
            Ok(()) => {}
            // Someone else changed it first; theirs stands.
            Err(ApiError::Conflict(_)) => return from_record(&find(state, id).await?),
            Err(e) => return Err(e),
        }
    }
    Ok(req)
}

/// Expires every request due at `now`; returns how many.
pub async fn expire_due(state: &AppState, now: i64) -> Result<usize, ApiError> {
    let due = state.store.due_approvals(now, 256).await.map_err(unavailable)?;
    for r in &due {
        expire_one(state, &r.id, now).await?;
    }
    Ok(due.len())
}

/// Reads request `id`, expiring it first if it is due, so no read shows a stale "pending".
pub async fn read(state: &AppState, id: &str) -> Result<ApprovalRequest, ApiError> {
    let record = find(state, id).await?;
    let now = now_ms();
    if record.state == "pending" && record.expires_at_ms <= now {
        return expire_one(state, id, now).await;
    }
    from_record(&record)
}

/// Waits until request `id` is no longer pending or `timeout` has passed; returns it as it is
/// then.
pub async fn wait(state: &AppState, id: &str, timeout: Duration) -> Result<ApprovalRequest, ApiError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let changed = state.hitl.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let req = read(state, id).await?;
        let now = tokio::time::Instant::now();
        if !matches!(req.state(), State::Pending) || now >= deadline {
            return Ok(req);
        }
        let until_expiry = u64::try_from(req.expires_at_ms() - now_ms()).unwrap_or(0);
        let wake = (now + WAIT_POLL)
            .min(deadline)
            .min(now + Duration::from_millis(until_expiry));
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep_until(wake) => {}
        }
    }
}

/// Refreshes the queue gauges from the store.
async fn refresh_gauges(state: &AppState, now: i64) -> Result<(), ApiError> {
    let stats = state.store.approval_queue_stats(now).await.map_err(unavailable)?;
    let m = &state.metrics.hitl;
    m.queue_depth.clear();
    for pool in state.snapshot().bundle().reviewer_pools.keys() {
        let n = stats.pending_by_pool.get(pool.as_str()).copied().unwrap_or(0);
        m.queue_depth
            .get_or_create(&PoolLabels {
                pool: pool.to_string(),
            })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    m.reviewer_load.clear();
    for (reviewer, n) in stats.open_assignments {
        m.reviewer_load
            .get_or_create(&ReviewerLabels { reviewer })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }
    Ok(())
}

/// Expires due requests and refreshes the queue gauges every second, until aborted.
pub fn spawn_sweeper(state: std::sync::Weak<AppState>) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(state) = state.upgrade() else { return };
            let now = now_ms();
            if let Err(e) = expire_due(&state, now).await {
                tracing::error!(error = %e, "cannot expire due approval requests");
            }
            if let Err(e) = refresh_gauges(&state, now).await {
                tracing::warn!(error = %e, "cannot refresh the approval queue gauges");
            }
        }
    })
    .abort_handle()
}

/// Enrols `human` in TOTP (a fresh 160-bit secret), replacing an earlier enrolment only when
/// a current code of that one is given. Returns what the human needs, once.
pub async fn enroll(state: &AppState, human: &str, code: Option<String>) -> Result<Value, ApiError> {
    let snapshot = state.snapshot();
    if !snapshot.bundle().humans.contains_key(human) {
        return Err(ApiError::Forbidden(format!(
            "human `{human}` is not declared in the active bundle"
        )));
    }
    let human = HumanId::parse(human).map_err(|e| ApiError::Forbidden(e.to_string()))?;
    let now = now_ms();
    let existing = state
        .store
        .mfa_enrollment(human.as_str())
        .await
        .map_err(unavailable)?;
    if existing.is_some() {
        // A stolen personal token must not be enough to move MFA to the thief's phone.
        let Some(code) = code else {
            return Err(ApiError::Conflict(format!(
                "`{human}` is already enrolled; to replace the enrolment, pass a current `mfa_code` from it"
            )));
        };
        check_code(state, &human, &code, now).await?;
    }
    let mut random = [0u8; 20];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut random);
    let enrollment = Enrollment::new(
        human.clone(),
        TotpSecret::generate(random),
        TotpParams::default(),
        now,
    );
    let uri = enrollment.uri().map_err(internal)?;
    let record = MfaEnrollmentRecord {
        human: human.to_string(),
        id: uuid::Uuid::now_v7().to_string(),
        secret: enrollment.secret.to_base32(),
        algorithm: "SHA1".to_owned(),
        digits: enrollment.params.digits.get(),
        enrolled_at_ms: now,
        last_used_step: None,
    };
    let details = json!({
        "human": human,
        "enrollment_id": record.id,
        "algorithm": record.algorithm,
        "digits": record.digits,
        "replaced": existing.is_some(),
    });
    let value = crate::ocsf::event(
        "mfa_enrolled",
        if existing.is_some() { 3 } else { 1 },
        &format!("mfa/{}", record.id),
        &format!("human:{human}"),
        None,
        details,
        now,
    );
    let entry = crate::ocsf::entry(value).map_err(|e| ApiError::Unrecorded(e.to_string()))?;
    let meta = EntryMeta {
        event_class: "identity".to_owned(),
        classification: None,
        correlation_uid: None,
        created_at_ms: now,
    };
    let enrollment_id = record.id.clone();
    let index = match state
        .ledger
        .append(entry, meta, SideRecord::MfaEnrollment(record))
        .await
    {
        Ok(Appended::Entry { index }) => index,
        Ok(_) => return Err(ApiError::Internal("the enrolment was not written".to_owned())),
        Err(e) => return Err(ApiError::Unrecorded(e.to_string())),
    };
    Ok(json!({
        "human": human,
        "enrollment_id": enrollment_id,
        "otpauth_uri": uri,
        "secret": enrollment.secret.to_base32(),
        "algorithm": "SHA1",
        "digits": enrollment.params.digits.get(),
        "period": tribune_approvals::totp::STEP_SECS,
        "ledger_index": index,
    }))
}

/// The bound on waiting the bundle allows.
pub fn max_wait(snapshot: &Snapshot) -> Duration {
    Duration::from_secs(u64::from(snapshot.bundle().hitl.max_wait_secs))
}
