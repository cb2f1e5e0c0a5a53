//! Approval requests and the rules that move them: pending → approved | denied | expired |
//! cancelled, and the single use of an approval.
//!
//! A request is opened from a held decision once [`crate::admit`] has admitted it (the
//! [`Admitted`] token proves it), and changes only through the methods here, each a pure
//! function of the request, its arguments and `now_ms`. The rules (issue 4):
//!
//! - only members of the request's reviewer pool (as snapshotted when it was opened) may vote;
//! - the same human approving twice counts once (reported as [`ApproveOutcome::Duplicate`]);
//! - a human never approves a request they triggered (`requested_by`);
//! - an agent's owner is never the only approver of its irreversible call: completion needs a
//!   non-owner approver among the N distinct ones;
//! - an MFA-required request takes only approvals carrying a fresh [`MfaProof`] of the same human;
//! - one deny ends the request; nothing changes a request that is no longer pending;
//! - at or after `expires_at_ms` a pending request is expired (which is a deny);
//! - an approval authorises one call: the same principal, tool and arguments hash, within
//!   `approval_valid_for` of the approval, once.
//!
//! Every change bumps [`ApprovalRequest::revision`], so the store can persist with
//! compare-and-set and two replicas cannot both apply a transition to the same old state.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tribune_bundle::Tier;

use crate::Error;
use crate::config::HitlConfig;
use crate::ids::{
    ArgumentsHash, ClassId, DecisionId, HumanId, PoolId, Principal, Rationale, RequestId, ToolId, Trust,
};
use crate::workload::Admitted;

/// How long an [`MfaProof`] stays usable after its code was verified, in milliseconds: long
/// enough for one request handler, too short to stockpile.
pub const MFA_PROOF_TTL_MS: i64 = 60_000;

/// The data classification of the tool's data, with its rank on the bundle's scale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DataClass {
    /// The level, e.g. `phi`.
    pub name: ClassId,
    /// Its index on the scale, 0 = least sensitive.
    pub rank: i64,
}

/// One reason of the held decision, kept as the decision serialized it (`stage` and `code` are
/// its snake_case names), so the record shows exactly why the call was held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldReason {
    /// The pipeline stage, e.g. `autonomy`.
    pub stage: String,
    /// The reason code, e.g. `approval_required`.
    pub code: String,
    /// The rule involved, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The sentence for people.
    pub message: String,
}

/// What an approval binds to: who calls, which tool, which exact arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallKey {
    /// The agent or service.
    pub principal: Principal,
    /// The tool.
    pub tool: ToolId,
    /// SHA-256 of the canonical arguments.
    pub arguments_hash: ArgumentsHash,
}

/// Everything a held decision tells about the call, as the caller assembles it from the
/// decision, the bundle and the caller's credential.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRequest {
    /// The decision that held the call.
    pub decision_id: DecisionId,
    /// The agent or service that made the call.
    pub principal: Principal,
    /// Its accountable human owner.
    pub owner: HumanId,
    /// The human whose token triggered the decision (e.g. an admin's dry run), if any.
    pub requested_by: Option<HumanId>,
    /// The tool.
    pub tool: ToolId,
    /// Its tier.
    pub tier: Tier,
    /// Its data classification, if the bundle gives one.
    pub classification: Option<DataClass>,
    /// The principal's trust score, if known; orders the queue.
    pub trust: Option<Trust>,
    /// The call's arguments, exactly as sent.
    pub arguments: Value,
    /// Their hash, from the decision.
    pub arguments_hash: ArgumentsHash,
    /// The decision's reasons.
    pub reasons: Vec<HeldReason>,
    /// Distinct human approvals required.
    pub approvals_required: u32,
    /// Whether each approval needs a fresh MFA code.
    pub mfa_required: bool,
    /// The reviewer pool.
    pub pool: PoolId,
    /// The pool's members when the call was held.
    pub pool_members: Vec<HumanId>,
}

impl NewRequest {
    /// What an approval of this call binds to.
    pub fn call(&self) -> CallKey {
        CallKey {
            principal: self.principal.clone(),
            tool: self.tool.clone(),
            arguments_hash: self.arguments_hash,
        }
    }

    /// Pool members who may approve: everyone but the human who triggered the request.
    pub(crate) fn eligible(&self) -> BTreeSet<&HumanId> {
        self.pool_members
            .iter()
            .filter(|h| Some(*h) != self.requested_by.as_ref())
            .collect()
    }

    /// Fails when no sequence of approvals could ever complete the request, so a hold that can
    /// never be approved is denied at once instead of waiting to expire.
    pub(crate) fn check_satisfiable(&self) -> Result<(), Error> {
        if self.approvals_required == 0 {
            return Err(Error::NoApprovalsRequired);
        }
        let eligible = self.eligible();
        let needs_non_owner = self.tier == Tier::Irreversible;
        let has_non_owner = eligible.iter().any(|h| **h != self.owner);
        let count = u32::try_from(eligible.len()).unwrap_or(u32::MAX);
        if count < self.approvals_required || (needs_non_owner && !has_non_owner) {
            return Err(Error::Unsatisfiable {
                pool: self.pool.clone(),
                required: self.approvals_required,
                eligible: count,
                needs_non_owner,
            });
        }
        Ok(())
    }
}

/// Why a pending request was withdrawn without a verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CancelReason {
    /// The human who triggered it withdrew it.
    Withdrawn {
        /// Who.
        by: HumanId,
    },
    /// An emergency stop covers the principal or the tool.
    Stopped,
    /// A bundle activation changed the tool, the pool or the principal.
    BundleChanged,
}

/// Where a request is in its life, with what each state needs to know.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum State {
    /// Waiting for reviewers.
    Pending,
    /// Enough eligible humans approved.
    Approved {
        /// When the last needed approval arrived.
        at_ms: i64,
        /// The approval authorises the call until then (exclusive).
        valid_until_ms: i64,
        /// When the authorised call was allowed; an approval is used at most once.
        #[serde(default)]
        consumed_at_ms: Option<i64>,
    },
    /// A reviewer denied it.
    Denied {
        /// Who.
        by: HumanId,
        /// When.
        at_ms: i64,
    },
    /// Nobody decided in time; the call is denied.
    Expired {
        /// The request's `expires_at_ms`.
        at_ms: i64,
    },
    /// Withdrawn without a verdict; the call is denied.
    Cancelled {
        /// Why.
        reason: CancelReason,
        /// When.
        at_ms: i64,
    },
}

impl State {
    /// The state's name.
    pub fn kind(&self) -> StateKind {
        match self {
            State::Pending => StateKind::Pending,
            State::Approved { .. } => StateKind::Approved,
            State::Denied { .. } => StateKind::Denied,
            State::Expired { .. } => StateKind::Expired,
            State::Cancelled { .. } => StateKind::Cancelled,
        }
    }

    /// When the request left `Pending`, if it did.
    pub fn resolved_at_ms(&self) -> Option<i64> {
        match self {
            State::Pending => None,
            State::Approved { at_ms, .. }
            | State::Denied { at_ms, .. }
            | State::Expired { at_ms }
            | State::Cancelled { at_ms, .. } => Some(*at_ms),
        }
    }
}

/// The name of a [`State`], for filters, columns and errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// See [`State::Pending`].
    Pending,
    /// See [`State::Approved`].
    Approved,
    /// See [`State::Denied`].
    Denied,
    /// See [`State::Expired`].
    Expired,
    /// See [`State::Cancelled`].
    Cancelled,
}

impl StateKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            StateKind::Pending => "pending",
            StateKind::Approved => "approved",
            StateKind::Denied => "denied",
            StateKind::Expired => "expired",
            StateKind::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reviewer's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Let the call run.
    Approve,
    /// Do not.
    Deny,
}

/// The record that a vote was backed by a verified TOTP code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaRecord {
    /// The RFC 6238 time step the code belonged to.
    pub step: u64,
    /// When the code was verified.
    pub verified_at_ms: i64,
}

/// One human's vote on a request: who, when, why, and whether MFA backed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Who.
    pub human: HumanId,
    /// Approve or deny.
    pub verdict: Verdict,
    /// When.
    pub at_ms: i64,
    /// Why, if they said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<Rationale>,
    /// The MFA that backed it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<MfaRecord>,
}

/// Proof that `human` presented a valid, unused TOTP code at `verified_at_ms`.
///
/// Only [`crate::totp::verify_for`] and [`crate::totp::Enrollment::verify`] construct it, and it
/// is neither `Clone` nor `Deserialize`: an approval that needs MFA cannot be recorded without a
/// code having been checked, and one check backs one vote.
#[derive(Debug, PartialEq, Eq)]
pub struct MfaProof {
    human: HumanId,
    step: u64,
    verified_at_ms: i64,
}

impl MfaProof {
    pub(crate) fn new(human: HumanId, step: u64, verified_at_ms: i64) -> MfaProof {
        MfaProof {
            human,
            step,
            verified_at_ms,
        }
    }

    /// Whose code it was.
    pub fn human(&self) -> &HumanId {
        &self.human
    }

    /// The time step the code matched; the caller stores it as the human's last used step.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// When it was verified.
    pub fn verified_at_ms(&self) -> i64 {
        self.verified_at_ms
    }
}

/// What MFA a vote comes with.
#[derive(Debug, PartialEq, Eq)]
pub enum MfaEvidence {
    /// No code was presented.
    None,
    /// A code was verified.
    Verified(MfaProof),
}

/// What an accepted approval did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ApproveOutcome {
    /// Counted; more is needed.
    Pending {
        /// Distinct approvers so far.
        approvals: u32,
        /// Distinct approvers needed.
        required: u32,
        /// Whether an approver other than the agent's owner is still needed.
        needs_non_owner: bool,
    },
    /// This human had already approved; nothing changed.
    Duplicate {
        /// Distinct approvers so far.
        approvals: u32,
        /// Distinct approvers needed.
        required: u32,
    },
    /// This approval completed the request.
    Approved {
        /// The approval authorises the call until then.
        valid_until_ms: i64,
    },
}

/// Which part of a call differs from the approved one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallField {
    /// The caller.
    Principal,
    /// The tool.
    Tool,
    /// The arguments.
    Arguments,
}

impl fmt::Display for CallField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CallField::Principal => "principal",
            CallField::Tool => "tool",
            CallField::Arguments => "arguments",
        })
    }
}

/// Proof that a call was held and then approved, returned once by
/// [`ApprovalRequest::consume`]: what the allow decision's record carries to flag it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApprovedCall {
    /// The request that authorised the call.
    pub request_id: RequestId,
    /// The decision that held it.
    pub held_decision_id: DecisionId,
    /// Who approved, in the order they did.
    pub approvers: Vec<HumanId>,
    /// Whether every approval was backed by MFA.
    pub mfa: bool,
    /// When it was approved.
    pub approved_at_ms: i64,
}

/// A held call waiting for (or resolved by) humans. Serializable for storage; changed only
/// through its methods.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    id: RequestId,
    revision: u64,
    decision_id: DecisionId,
    principal: Principal,
    owner: HumanId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    requested_by: Option<HumanId>,
    tool: ToolId,
    tier: Tier,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    classification: Option<DataClass>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trust: Option<Trust>,
    arguments: Value,
    arguments_hash: ArgumentsHash,
    reasons: Vec<HeldReason>,
    approvals_required: u32,
    mfa_required: bool,
    pool: PoolId,
    pool_members: BTreeSet<HumanId>,
    assignees: Vec<HumanId>,
    created_at_ms: i64,
    expires_at_ms: i64,
    approval_valid_for_ms: i64,
    state: State,
    votes: Vec<Vote>,
}

impl AsRef<ApprovalRequest> for ApprovalRequest {
    fn as_ref(&self) -> &ApprovalRequest {
        self
    }
}

impl ApprovalRequest {
    /// Opens a pending request for an admitted hold. `id` comes from the caller (randomness is
    /// not this crate's); expiry and approval validity come from `config`.
    pub fn open(
        id: RequestId,
        new: NewRequest,
        admitted: Admitted,
        config: &HitlConfig,
        now_ms: i64,
    ) -> Result<ApprovalRequest, Error> {
        new.check_satisfiable()?;
        if admitted.call() != &new.call() || admitted.pool() != &new.pool {
            return Err(Error::AdmissionMismatch);
        }
        let eligible = new.eligible();
        if admitted.assignees().iter().any(|a| !eligible.contains(a)) {
            return Err(Error::AdmissionMismatch);
        }
        Ok(ApprovalRequest {
            id,
            revision: 0,
            decision_id: new.decision_id,
            principal: new.principal,
            owner: new.owner,
            requested_by: new.requested_by,
            tool: new.tool,
            tier: new.tier,
            classification: new.classification,
            trust: new.trust,
            arguments: new.arguments,
            arguments_hash: new.arguments_hash,
            reasons: new.reasons,
            approvals_required: new.approvals_required,
            mfa_required: new.mfa_required,
            pool: new.pool,
            pool_members: new.pool_members.into_iter().collect(),
            assignees: admitted.into_assignees(),
            created_at_ms: now_ms,
            expires_at_ms: now_ms.saturating_add(config.expiry_ms()),
            approval_valid_for_ms: config.approval_valid_for_ms(),
            state: State::Pending,
            votes: Vec::new(),
        })
    }

    /// Records `human`'s approval.
    ///
    /// Errors leave the request unchanged, except [`Error::Expired`], which records the expiry:
    /// persist the request whenever [`revision`](Self::revision) changed.
    pub fn approve(
        &mut self,
        human: &HumanId,
        rationale: Option<Rationale>,
        mfa: MfaEvidence,
        now_ms: i64,
    ) -> Result<ApproveOutcome, Error> {
        self.check_pending(now_ms)?;
        self.check_member(human)?;
        if self.requested_by.as_ref() == Some(human) {
            return Err(Error::RequesterCannotApprove { human: human.clone() });
        }
        if self.approvers().any(|a| a == human) {
            return Ok(ApproveOutcome::Duplicate {
                approvals: self.approval_count(),
                required: self.approvals_required,
            });
        }
        let mfa = self.check_mfa(human, mfa, now_ms)?;
        if self.mfa_required && mfa.is_none() {
            return Err(Error::MfaRequired {
                id: self.id.clone(),
                human: human.clone(),
            });
        }
        self.votes.push(Vote {
            human: human.clone(),
            verdict: Verdict::Approve,
            at_ms: now_ms,
            rationale,
            mfa,
        });
        self.revision += 1;
        let approvals = self.approval_count();
        let needs_non_owner = self.needs_non_owner();
        // INVARIANT(approval-quorum): the only place a request becomes Approved. Every vote
        // counted here passed the membership, requester and MFA checks above.
        if approvals >= self.approvals_required && !needs_non_owner {
            let valid_until_ms = now_ms.saturating_add(self.approval_valid_for_ms);
            self.state = State::Approved {
                at_ms: now_ms,
                valid_until_ms,
                consumed_at_ms: None,
            };
            return Ok(ApproveOutcome::Approved { valid_until_ms });
        }
        Ok(ApproveOutcome::Pending {
            approvals,
            required: self.approvals_required,
            needs_non_owner,
        })
    }

    /// Records `human`'s denial, which ends the request. Any pool member may deny, including
    /// the one who triggered it; MFA is recorded when given but not required (denying is the
    /// safe direction). Errors as for [`approve`](Self::approve).
    pub fn deny(
        &mut self,
        human: &HumanId,
        rationale: Rationale,
        mfa: MfaEvidence,
        now_ms: i64,
    ) -> Result<(), Error> {
        self.check_pending(now_ms)?;
        self.check_member(human)?;
        let mfa = self.check_mfa(human, mfa, now_ms)?;
        self.votes.push(Vote {
            human: human.clone(),
            verdict: Verdict::Deny,
            at_ms: now_ms,
            rationale: Some(rationale),
            mfa,
        });
        self.state = State::Denied {
            by: human.clone(),
            at_ms: now_ms,
        };
        self.revision += 1;
        Ok(())
    }

    /// Expires a pending request whose time has come (`now_ms >= expires_at_ms`).
    pub fn expire(&mut self, now_ms: i64) -> Result<(), Error> {
        if self.state != State::Pending {
            return Err(self.not_pending());
        }
        if now_ms < self.expires_at_ms {
            return Err(Error::NotDue {
                id: self.id.clone(),
                expires_at_ms: self.expires_at_ms,
                now_ms,
            });
        }
        self.mark_expired();
        Ok(())
    }

    /// Withdraws a pending request. A request already past its expiry is expired instead
    /// ([`Error::Expired`]).
    pub fn cancel(&mut self, reason: CancelReason, now_ms: i64) -> Result<(), Error> {
        self.check_pending(now_ms)?;
        self.state = State::Cancelled {
            reason,
            at_ms: now_ms,
        };
        self.revision += 1;
        Ok(())
    }

    /// Uses the approval for `call`: succeeds once, for the approved principal, tool and
    /// arguments hash, before `valid_until_ms`. Errors leave the request unchanged.
    pub fn consume(&mut self, call: &CallKey, now_ms: i64) -> Result<ApprovedCall, Error> {
        let State::Approved {
            at_ms,
            valid_until_ms,
            consumed_at_ms,
        } = &mut self.state
        else {
            return Err(Error::NotApproved {
                id: self.id.clone(),
                state: self.state.kind(),
            });
        };
        if let Some(at) = consumed_at_ms {
            return Err(Error::AlreadyConsumed {
                id: self.id.clone(),
                at_ms: *at,
            });
        }
        let mismatch = if call.principal != self.principal {
            Some(CallField::Principal)
        } else if call.tool != self.tool {
            Some(CallField::Tool)
        } else if call.arguments_hash != self.arguments_hash {
            Some(CallField::Arguments)
        } else {
            None
        };
        if let Some(field) = mismatch {
            return Err(Error::CallMismatch {
                id: self.id.clone(),
                field,
            });
        }
        if now_ms >= *valid_until_ms {
            return Err(Error::ApprovalLapsed {
                id: self.id.clone(),
                valid_until_ms: *valid_until_ms,
                now_ms,
            });
        }
        // INVARIANT(single-use): set exactly once; checked above before anything else succeeds.
        *consumed_at_ms = Some(now_ms);
        let approved_at_ms = *at_ms;
        self.revision += 1;
        let approvals: Vec<&Vote> = self
            .votes
            .iter()
            .filter(|v| v.verdict == Verdict::Approve)
            .collect();
        Ok(ApprovedCall {
            request_id: self.id.clone(),
            held_decision_id: self.decision_id.clone(),
            approvers: approvals.iter().map(|v| v.human.clone()).collect(),
            mfa: approvals.iter().all(|v| v.mfa.is_some()),
            approved_at_ms,
        })
    }

    fn check_pending(&mut self, now_ms: i64) -> Result<(), Error> {
        if self.state != State::Pending {
            return Err(self.not_pending());
        }
        if now_ms >= self.expires_at_ms {
            self.mark_expired();
            return Err(Error::Expired {
                id: self.id.clone(),
                expires_at_ms: self.expires_at_ms,
                now_ms,
            });
        }
        Ok(())
    }

    fn mark_expired(&mut self) {
        self.state = State::Expired {
            at_ms: self.expires_at_ms,
        };
        self.revision += 1;
    }

    fn not_pending(&self) -> Error {
        Error::NotPending {
            id: self.id.clone(),
            state: self.state.kind(),
        }
    }

    fn check_member(&self, human: &HumanId) -> Result<(), Error> {
        if !self.pool_members.contains(human) {
            return Err(Error::NotInPool {
                human: human.clone(),
                pool: self.pool.clone(),
            });
        }
        Ok(())
    }

    fn check_mfa(&self, human: &HumanId, mfa: MfaEvidence, now_ms: i64) -> Result<Option<MfaRecord>, Error> {
        let MfaEvidence::Verified(proof) = mfa else {
            return Ok(None);
        };
        if &proof.human != human {
            return Err(Error::MfaWrongHuman {
                human: human.clone(),
                proof_human: proof.human,
            });
        }
        let age = now_ms.saturating_sub(proof.verified_at_ms);
        if !(0..=MFA_PROOF_TTL_MS).contains(&age) {
            return Err(Error::MfaStale {
                verified_at_ms: proof.verified_at_ms,
                now_ms,
                ttl_ms: MFA_PROOF_TTL_MS,
            });
        }
        Ok(Some(MfaRecord {
            step: proof.step,
            verified_at_ms: proof.verified_at_ms,
        }))
    }

    fn needs_non_owner(&self) -> bool {
        self.tier == Tier::Irreversible && self.approvers().all(|a| *a == self.owner)
    }

    fn approval_count(&self) -> u32 {
        u32::try_from(self.approvers().count()).unwrap_or(u32::MAX)
    }

    /// The humans who approved, in order. Distinct: a second approval by the same human is
    /// never recorded.
    pub fn approvers(&self) -> impl Iterator<Item = &HumanId> {
        self.votes
            .iter()
            .filter(|v| v.verdict == Verdict::Approve)
            .map(|v| &v.human)
    }

    /// Whether the request is still pending at `now_ms` (pending and not yet past its expiry,
    /// even if nobody has called [`expire`](Self::expire) yet).
    pub fn is_pending_at(&self, now_ms: i64) -> bool {
        self.state == State::Pending && now_ms < self.expires_at_ms
    }

    /// Whether an approval is waiting to be used at `now_ms`.
    pub fn is_usable_at(&self, now_ms: i64) -> bool {
        matches!(
            self.state,
            State::Approved { valid_until_ms, consumed_at_ms: None, .. } if now_ms < valid_until_ms
        )
    }

    /// What an approval of this request binds to.
    pub fn call(&self) -> CallKey {
        CallKey {
            principal: self.principal.clone(),
            tool: self.tool.clone(),
            arguments_hash: self.arguments_hash,
        }
    }

    /// The request's id.
    pub fn id(&self) -> &RequestId {
        &self.id
    }
    /// Incremented by every change; for compare-and-set persistence.
    pub fn revision(&self) -> u64 {
        self.revision
    }
    /// The decision that held the call.
    pub fn decision_id(&self) -> &DecisionId {
        &self.decision_id
    }
    /// The agent or service that made the call.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }
    /// Its accountable owner.
    pub fn owner(&self) -> &HumanId {
        &self.owner
    }
    /// The human whose token triggered the hold, if any.
    pub fn requested_by(&self) -> Option<&HumanId> {
        self.requested_by.as_ref()
    }
    /// The tool.
    pub fn tool(&self) -> &ToolId {
        &self.tool
    }
    /// The tool's tier.
    pub fn tier(&self) -> Tier {
        self.tier
    }
    /// The tool's data classification.
    pub fn classification(&self) -> Option<&DataClass> {
        self.classification.as_ref()
    }
    /// The principal's trust score when the call was held.
    pub fn trust(&self) -> Option<Trust> {
        self.trust
    }
    /// The arguments, exactly as sent.
    pub fn arguments(&self) -> &Value {
        &self.arguments
    }
    /// Their hash.
    pub fn arguments_hash(&self) -> &ArgumentsHash {
        &self.arguments_hash
    }
    /// Why the call was held.
    pub fn reasons(&self) -> &[HeldReason] {
        &self.reasons
    }
    /// Distinct approvals required.
    pub fn approvals_required(&self) -> u32 {
        self.approvals_required
    }
    /// Whether approvals need MFA.
    pub fn mfa_required(&self) -> bool {
        self.mfa_required
    }
    /// The reviewer pool.
    pub fn pool(&self) -> &PoolId {
        &self.pool
    }
    /// The pool's members when the call was held.
    pub fn pool_members(&self) -> &BTreeSet<HumanId> {
        &self.pool_members
    }
    /// The reviewers it was assigned to (any pool member may still vote).
    pub fn assignees(&self) -> &[HumanId] {
        &self.assignees
    }
    /// When it was opened.
    pub fn created_at_ms(&self) -> i64 {
        self.created_at_ms
    }
    /// When it expires if still pending.
    pub fn expires_at_ms(&self) -> i64 {
        self.expires_at_ms
    }
    /// How long an approval stays usable.
    pub fn approval_valid_for_ms(&self) -> i64 {
        self.approval_valid_for_ms
    }
    /// Its state.
    pub fn state(&self) -> &State {
        &self.state
    }
    /// Every vote, in order.
    pub fn votes(&self) -> &[Vote] {
        &self.votes
    }
    /// When the approval was used, if it was.
    pub fn consumed_at_ms(&self) -> Option<i64> {
        match self.state {
            State::Approved { consumed_at_ms, .. } => consumed_at_ms,
            _ => None,
        }
    }
}
