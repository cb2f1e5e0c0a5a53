//! The decision a call gets, and why. Serialized as-is into the API and the record.

use serde::Serialize;
use tribune_bundle::{Id, Tier};

/// What the caller must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The agent may make the call now, alone.
    Allow,
    /// The call must not be made.
    Deny,
    /// The call may be made only after the required human approvals.
    Hold,
}

/// A stage of the decision pipeline, in the order they run (DESIGN.md).
///
/// Stages whose subsystems are not built yet have no variant: each arrives with its
/// subsystem (provider vetting and description pins, taint) and slots into
/// [`crate::Snapshot::decide`] at its place in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The request itself: a known principal, a declared tool, arguments that fit its schema.
    Request,
    /// Who is calling: identity and its scopes.
    Authenticate,
    /// Emergency stops: a stop in force over the principal, its class, the tool or its provider.
    Stop,
    /// Third-party due diligence: the tool provider's vetting record and the tool's
    /// description pin.
    Vetting,
    /// Cedar: the built-in rules and the bundle's policies. Forbid wins; default deny.
    Policy,
    /// The autonomy boundary: how many humans must approve a call of this tier by this class.
    Autonomy,
    /// The trust gate: the principal's and the tool provider's trust scores against the
    /// bundle's `[trust]` thresholds.
    Trust,
    /// Data governance over the arguments: classification flows (`[dlp.flows]`) and the DLP
    /// actions (`[dlp.actions]`) on what the detectors find, in one scan.
    DataGovernance,
    /// Rate limits per agent class.
    Quota,
    /// The human-in-the-loop program, around the pure decision (the server runs it): a held
    /// call is admitted into the review queue or refused at the reviewers' capacity, and a call
    /// approved earlier uses its approval.
    Approval,
    /// Tribune itself failed; the decision fails closed.
    Internal,
}

/// A stable, machine-readable reason code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// The principal is not declared in the active bundle.
    UnknownPrincipal,
    /// The tool is not declared in the active bundle.
    UnknownTool,
    /// The arguments do not fit the tool's input schema.
    InvalidArguments,
    /// The request context names undeclared attributes or has wrong types.
    InvalidContext,
    /// A `permit` policy matched.
    Permitted,
    /// A `forbid` policy matched.
    Forbidden,
    /// No `permit` policy matched.
    NotPermitted,
    /// A `forbid` policy could not be evaluated, so it is treated as matching.
    PolicyError,
    /// Human approval is required before the call.
    ApprovalRequired,
    /// The principal's (or the tool provider's) trust score is below `[trust] block_below`.
    TrustBlocked,
    /// The principal's (or the tool provider's) trust score is below `[trust] review_below`,
    /// so a write or irreversible call needs a human's approval.
    TrustReview,
    /// The arguments carry data of a class whose DLP action is `deny`.
    DlpBlocked,
    /// The arguments carry data of a class whose DLP action is `hold` (or `redact`: arguments
    /// are never rewritten), so a human must approve the call.
    DlpHold,
    /// The arguments carry data of a class that may not go to the tool's destination
    /// (`[dlp.flows]`).
    FlowForbidden,
    /// The agent is over its class's rate limit.
    QuotaExceeded,
    /// An emergency stop covers the call.
    Stopped,
    /// The call's credential is not scoped to the tool.
    OutOfScope,
    /// The call's credential was revoked (directly, through its parent, or by decommission).
    CredentialRevoked,
    /// The call's credential was issued before its identity's secret was rotated.
    CredentialRotated,
    /// The identity's registration secret is past its rotation schedule and grace period.
    RotationOverdue,
    /// The bundle accepts only short-lived credentials, and the call came with a
    /// registration secret.
    CredentialRequired,
    /// The identity is suspended.
    IdentitySuspended,
    /// The identity is decommissioned.
    IdentityDecommissioned,
    /// The identity awaits a human's approval.
    IdentityPending,
    /// A held call was refused at once: the agent's pending requests, the reviewer pool's
    /// rate or its reviewers' capacity are at their limit (issue 4, OWASP agentic T10).
    HitlCapacity,
    /// A held call can never be approved: no reviewer pool, or too few eligible reviewers.
    ApprovalUnsatisfiable,
    /// The call was held earlier and the required humans approved it; this is its one use.
    Approved,
    /// The tool's provider has no vetting record and the bundle's `[vetting] required` is set.
    ProviderUnvetted,
    /// The tool's provider was rejected at vetting.
    ProviderRejected,
    /// The vetting of the tool's provider has expired.
    VettingExpired,
    /// The tool's provider is on probation, so a human must approve the call.
    ProviderProbation,
    /// The tool's description differs from its pin and was not approved again.
    ToolQuarantined,
    /// Arguments carry values seen in an untrusted tool's result in the same session (or the
    /// taint memory could not vouch for them); policies read them as `context.tainted`. This
    /// reason only says so: what it does to the call is the policies' to decide.
    TaintedArguments,
    /// An internal failure; the decision fails closed.
    InternalError,
}

/// One reason for a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// The stage that produced it.
    pub stage: Stage,
    /// What happened.
    pub code: Code,
    /// The rule involved: a policy id, `builtin:...`, or a bundle key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// A lowercase sentence for people.
    pub message: String,
}

/// An argument of the call that carries a value first seen in an untrusted tool's result in
/// the same session (indirect prompt injection), as the server's taint memory found it. It
/// names the kind of value, where it is and where it came from, never the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tainted {
    /// The top-level argument (what `context.tainted` holds).
    pub argument: String,
    /// Where in it, as a JSON pointer.
    pub pointer: String,
    /// The kind of value (`iban`, `email`, `url`, `identifier`, ...).
    pub kind: String,
    /// Where the value came from.
    #[serde(flatten)]
    pub source: TaintSource,
}

/// Where a tainted argument's value came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum TaintSource {
    /// Seen in the result of a call to `tool`, decided as `decision`.
    Result {
        /// The untrusted tool.
        tool: String,
        /// The id of that call's decision.
        decision: String,
    },
    /// The taint memory cannot vouch that the value is clean (it forgot values of the
    /// session, or an untrusted result was not reported): it counts as tainted (fail closed).
    Unknown {
        /// Why, for people.
        why: String,
    },
}

/// Something the caller must do along with an allowed call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Obligation {
    /// Report the call's outcome (`POST /v1/decisions/{id}/outcome`) once it has run.
    ReportOutcome,
}

/// The human approvals a held call needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hold {
    /// Distinct humans who must approve.
    pub approvals: u32,
    /// Whether each approver must present a fresh MFA code.
    pub mfa: bool,
    /// Where the request goes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reviewer_pool: Option<Id>,
}

/// The answer to "may this principal make this call, alone?".
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Allow, deny or hold.
    pub decision: Outcome,
    /// Distinct human approvals needed before the call (0 unless held).
    pub approvals_required: u32,
    /// Whether approvals need MFA.
    pub mfa_required: bool,
    /// The pool that reviews it, when held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reviewer_pool: Option<Id>,
    /// Why, stage by stage. Never empty.
    pub reasons: Vec<Reason>,
    /// What the caller must do if it proceeds.
    pub obligations: Vec<Obligation>,
    /// `agent:ID` or `service:ID`.
    pub principal: String,
    /// The tool named in the request.
    pub tool: String,
    /// The tool's tier, when the tool is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// The tool's data classification, when the tool is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classification: Option<Id>,
    /// SHA-256 (hex) of the arguments in RFC 8785 canonical JSON: approvals bind to it.
    pub arguments_hash: String,
    /// The arguments that carry values from untrusted tools' results (`context.tainted`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tainted: Vec<Tainted>,
    /// The hash of the bundle that decided.
    pub bundle: String,
    /// When, in milliseconds since the Unix epoch.
    pub decided_at_ms: i64,
}

impl Decision {
    /// A deny for a request the decision point could not evaluate at all (it panicked or was
    /// never reached): the fail-closed answer.
    pub fn internal_failure(
        principal: String,
        tool: String,
        bundle: String,
        now_ms: i64,
        message: String,
    ) -> Decision {
        Decision {
            decision: Outcome::Deny,
            approvals_required: 0,
            mfa_required: false,
            reviewer_pool: None,
            reasons: vec![Reason {
                stage: Stage::Internal,
                code: Code::InternalError,
                rule: None,
                message,
            }],
            obligations: Vec::new(),
            principal,
            tool,
            tier: None,
            classification: None,
            arguments_hash: String::new(),
            tainted: Vec::new(),
            bundle,
            decided_at_ms: now_ms,
        }
    }

    /// The first reason, which names the stage that settled the decision for a deny.
    pub fn primary_reason(&self) -> Option<&Reason> {
        match self.decision {
            Outcome::Deny => self.reasons.iter().find(|r| r.code != Code::Permitted),
            Outcome::Hold => self.reasons.iter().find(|r| {
                matches!(
                    r.code,
                    Code::ApprovalRequired | Code::TrustReview | Code::DlpHold | Code::ProviderProbation
                )
            }),
            Outcome::Allow => self.reasons.first(),
        }
    }
}
