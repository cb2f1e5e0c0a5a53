//! Replaying a suite: each step's setup becomes the facts the pipeline takes (stops in force,
//! the credential's scopes and the registry's refusal), its call goes through
//! [`Snapshot::decide`], and the outcome is compared with the one the step must get.
//!
//! What a step's setup means, in both modes:
//! - `stop`: the scopes are stops in force, added to the ones the [`Environment`] reports.
//! - `credential = "expired"` and `"revoked"`: the [`Environment`] checks the credential
//!   ([`Environment::credential`]). [`Offline`] only simulates it ([`simulated_credential`]):
//!   an expired credential is minted and verified with the red team's own key, and a revoked
//!   one is the registry's refusal injected into the facts, so offline these steps show how
//!   the decision point handles a refused credential, not that any deployment's verifier or
//!   registry refuses one. The server's environment mints and verifies with its own issuer and
//!   verifier and consults its own registry, as its decision API does. What each step
//!   exercised is in its report ([`StepResult::notes`]).
//! - `scopes`: the call's credential is scoped to these tools (`Facts::credential.scopes`).
//! - `requested_by` and `approve`: the held call is opened as an approval request through the
//!   approvals core (`admit`, `ApprovalRequest::open`) with that human as the one who triggered
//!   it, and each listed human approves in turn with a verified TOTP code; the step gets
//!   `approved` when the request completes, and `not_approved` only when the approvals core
//!   refused it for the reason the step names ([`Refusal`]). A harness that cannot open the
//!   request or cast a vote fails the step, with the error in its report.
//!
//! Nothing here reads a clock or does IO: the caller passes `now_ms` and the environment.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tribune_approvals::{
    Admission, ApprovalRequest, ApproveOutcome, ArgumentsHash, ClassId, DataClass, DecisionId, HeldReason,
    HitlConfig, HumanId, MfaEvidence, NewRequest, PoolId, Principal, RequestId, ToolId, admit,
};
use tribune_bundle::Bundle;
use tribune_policy::{
    Code, Credential, Decision, Facts, Outcome, Request, Snapshot, Stop, TrustScores, VettingFacts,
};

use crate::model::{CredentialState, Expect, Refusal, Scenario, Step, Suite};

/// The runtime facts of the system a suite is replayed against, before a step's own setup.
pub trait Environment {
    /// The facts a call by `principal` (`agent` or `service`, per `kind`) of `tool` would be
    /// decided with at `now_ms`.
    fn facts(&self, step: &Step, snapshot: &Snapshot, now_ms: i64) -> BaseFacts;

    /// What the credential of a step with `credential = "expired"` or `"revoked"` comes to
    /// before the decision point, and what that check exercised.
    fn credential(
        &self,
        step: &Step,
        state: CredentialState,
        snapshot: &Snapshot,
        now_ms: i64,
    ) -> CredentialRun;
}

/// What a step's credential came to before the decision point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialCheck {
    /// Refused when the bearer was authenticated, before any decision: the code the API
    /// answers (`credential_expired`, `credential_invalid`, ...).
    Refused {
        /// The code.
        code: String,
    },
    /// Accepted by the verifier: the call is decided with these scopes (`None`: the step's
    /// own) and the registry's refusal, if it refuses.
    Accepted {
        /// The credential's scopes.
        scopes: Option<BTreeSet<String>>,
        /// The registry's refusal.
        refusal: Option<(Code, String)>,
    },
    /// The check could not be made: the step fails with this.
    Failed(String),
}

/// A credential check and what it exercised, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialRun {
    /// What the credential came to.
    pub check: CredentialCheck,
    /// What was exercised, for people.
    pub exercised: String,
}

/// What an [`Environment`] reports for one call.
#[derive(Clone, Debug, Default)]
pub struct BaseFacts {
    /// Stops in force.
    pub stops: Vec<Stop>,
    /// Trust scores of the principal and the tool's provider.
    pub trust: TrustScores,
    /// The provider's vetting and the tool's pin.
    pub vetting: VettingFacts,
    /// Calls by the principal in the last minute.
    pub calls_last_minute: u32,
}

/// No runtime state at all: a bundle as it would decide on a fresh deployment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Offline;

impl Environment for Offline {
    fn facts(&self, _step: &Step, _snapshot: &Snapshot, _now_ms: i64) -> BaseFacts {
        BaseFacts::default()
    }

    fn credential(
        &self,
        step: &Step,
        state: CredentialState,
        _snapshot: &Snapshot,
        now_ms: i64,
    ) -> CredentialRun {
        simulated_credential(step, state, now_ms)
    }
}

/// The result of replaying a suite.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The suite's name.
    pub suite: String,
    /// The deployment it was replayed against.
    pub deployment: String,
    /// The hash of the bundle that decided.
    pub bundle_hash: String,
    /// When (milliseconds since the Unix epoch).
    pub ran_at_ms: i64,
    /// Every step of every scenario passed.
    pub passed: bool,
    /// Scenarios replayed.
    pub scenarios_total: u32,
    /// Scenarios with a failed step.
    pub scenarios_failed: u32,
    /// Steps replayed.
    pub steps_total: u32,
    /// Steps that did not get their outcome.
    pub steps_failed: u32,
    /// Per scenario.
    pub scenarios: Vec<ScenarioResult>,
}

/// One scenario's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// Its id.
    pub id: String,
    /// What it attacks.
    pub category: String,
    /// The OWASP agentic threats.
    pub threats: Vec<String>,
    /// What it shows.
    pub description: String,
    /// Every step passed.
    pub passed: bool,
    /// Per step, in order.
    pub steps: Vec<StepResult>,
}

/// One step's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepResult {
    /// `file:line:col` of the step in its suite.
    pub at: String,
    /// `agent:ID` or `service:ID`.
    pub principal: String,
    /// The tool.
    pub tool: String,
    /// The setup, for people (`stop agent:x`, `credential revoked`, ...).
    pub setup: Vec<String>,
    /// The outcome it must get.
    pub expected: String,
    /// What it got.
    pub got: Got,
    /// Whether that is the expected outcome.
    pub passed: bool,
    /// What the step exercised where that is less than its setup says (a simulated
    /// credential check, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// What a step got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Got {
    /// `allow`, `deny` or `hold`.
    pub decision: String,
    /// The primary reason's stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// The primary reason's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The primary reason's rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Approvals required (holds).
    pub approvals: u32,
    /// Whether MFA is required (holds).
    pub mfa: bool,
    /// For steps with votes: `approved` or `not_approved`, and what each vote did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// What each vote did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub votes: Vec<String>,
    /// Why the approvals core did not complete the approval, as it answered: a refused vote's
    /// reason ([`Refusal`] names, or the core's error code for any other refusal), and
    /// `owner_only` or `too_few_approvals` when the votes counted but did not suffice.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<String>,
    /// The harness could not replay the step (the approval request could not be opened, a
    /// vote could not be cast, a credential could not be checked): the step fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl std::fmt::Display for Got {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(error) = &self.error {
            return write!(f, "a harness error: {error}");
        }
        if let Some(approval) = &self.approval {
            write!(f, "{} after hold", approval.replace('_', " "))?;
            if !self.refusals.is_empty() {
                write!(f, " ({})", self.refusals.join(", "))?;
            }
            if !self.votes.is_empty() {
                write!(f, " [{}]", self.votes.join("; "))?;
            }
            return Ok(());
        }
        f.write_str(&self.decision)?;
        let mut parts = Vec::new();
        if self.decision == "hold" {
            parts.push(format!("{} approval(s)", self.approvals));
            parts.push(if self.mfa { "mfa" } else { "no mfa" }.to_owned());
        }
        if let Some(code) = &self.code {
            parts.push(code.clone());
        }
        if let Some(rule) = &self.rule {
            parts.push(format!("rule `{rule}`"));
        }
        if !parts.is_empty() {
            write!(f, " ({})", parts.join(", "))?;
        }
        Ok(())
    }
}

/// A value's name as the API writes it (`snake_case`).
fn wire(v: &impl Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => "?".to_owned(),
    }
}

fn got_from(decision: &Decision) -> Got {
    let primary = decision.primary_reason();
    Got {
        decision: wire(&decision.decision),
        stage: primary.map(|r| wire(&r.stage)),
        code: primary.map(|r| wire(&r.code)),
        rule: primary.and_then(|r| r.rule.clone()),
        approvals: decision.approvals_required,
        mfa: decision.mfa_required,
        approval: None,
        votes: Vec::new(),
        refusals: Vec::new(),
        error: None,
    }
}

/// A deny before the decision point: the credential was refused at authentication.
fn refused_at_authentication(code: String) -> Got {
    Got {
        decision: "deny".to_owned(),
        stage: Some("authenticate".to_owned()),
        code: Some(code),
        rule: None,
        approvals: 0,
        mfa: false,
        approval: None,
        votes: Vec::new(),
        refusals: Vec::new(),
        error: None,
    }
}

/// A step the harness could not replay.
fn harness_error(error: String) -> Got {
    Got {
        decision: "error".to_owned(),
        stage: None,
        code: None,
        rule: None,
        approvals: 0,
        mfa: false,
        approval: None,
        votes: Vec::new(),
        refusals: Vec::new(),
        error: Some(error),
    }
}

/// The red-team's own signing key for offline expired-credential steps: it signs only
/// credentials that are verified here, in process, and never leave it.
const REDTEAM_SEED: [u8; 32] = *b"tribune red-team expired-cred.v1";
const REDTEAM_ISSUER: &str = "tribune:redteam";

/// Replays `suite` against `snapshot` at `now_ms`, with `env`'s runtime facts. The suite must
/// bind to the snapshot's bundle ([`crate::bind::check`]); steps naming anything the bundle
/// lacks are denied by the decision point like any other such call.
pub fn run(snapshot: &Snapshot, suite: &Suite, env: &dyn Environment, now_ms: i64) -> Report {
    let scenarios: Vec<ScenarioResult> = suite
        .scenarios
        .iter()
        .map(|s| scenario(snapshot, s, env, now_ms))
        .collect();
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let steps_total = count(scenarios.iter().map(|s| s.steps.len()).sum());
    let steps_failed = count(
        scenarios
            .iter()
            .flat_map(|s| &s.steps)
            .filter(|s| !s.passed)
            .count(),
    );
    Report {
        suite: suite.name.clone(),
        deployment: snapshot.bundle().deployment.name.clone(),
        bundle_hash: snapshot.bundle().hash.clone(),
        ran_at_ms: now_ms,
        passed: scenarios.iter().all(|s| s.passed),
        scenarios_total: count(scenarios.len()),
        scenarios_failed: count(scenarios.iter().filter(|s| !s.passed).count()),
        steps_total,
        steps_failed,
        scenarios,
    }
}

fn scenario(snapshot: &Snapshot, s: &Scenario, env: &dyn Environment, now_ms: i64) -> ScenarioResult {
    let steps: Vec<StepResult> = s
        .steps
        .iter()
        .map(|step| self::step(snapshot, step, env, now_ms))
        .collect();
    ScenarioResult {
        id: s.id.clone(),
        category: s.category.as_str().to_owned(),
        threats: s.threats.iter().map(ToString::to_string).collect(),
        description: s.description.clone(),
        // A scenario without steps cannot be parsed; `all` over none would pass vacuously.
        passed: !steps.is_empty() && steps.iter().all(|st| st.passed),
        steps,
    }
}

fn setup_text(step: &Step) -> Vec<String> {
    let st = &step.setup;
    let mut out: Vec<String> = st.stops.iter().map(|s| format!("stop {s}")).collect();
    match st.credential {
        Some(CredentialState::Expired) => out.push("credential expired".to_owned()),
        Some(CredentialState::Revoked) => out.push("credential revoked".to_owned()),
        None => {}
    }
    if let Some(scopes) = &st.scopes {
        let list: Vec<&str> = scopes.iter().map(String::as_str).collect();
        out.push(format!("credential scoped to {}", list.join(", ")));
    }
    if let Some(h) = &st.requested_by {
        out.push(format!("requested by human:{h}"));
    }
    if !st.approve.is_empty() {
        out.push(format!("approved by {}", st.approve.join(", ")));
    }
    out
}

/// The credential check offline: nothing of a deployment is exercised. An expired credential
/// is minted with the red team's own key and checked by that key's own verifier (default
/// leeway); a revoked one is the registry's refusal put into the facts. Either shows how the
/// decision point handles a refused credential.
pub fn simulated_credential(step: &Step, state: CredentialState, now_ms: i64) -> CredentialRun {
    match state {
        CredentialState::Expired => CredentialRun {
            check: simulated_expired(step, now_ms),
            exercised: "simulated: a credential that expired 60 s ago was minted and verified with the red team's own key, not a deployment's issuer and verifier; this shows the call is refused when the credential is, not that a deployment's verifier refuses expired credentials".to_owned(),
        },
        CredentialState::Revoked => CredentialRun {
            check: CredentialCheck::Accepted {
                scopes: None,
                refusal: Some((
                    Code::CredentialRevoked,
                    "the call's credential was revoked (simulated by the red team)".to_owned(),
                )),
            },
            exercised: "simulated: the registry's refusal of a revoked credential was put into the facts; this shows the decision point denies a credential the registry refuses, not that a deployment's registry refuses revoked credentials".to_owned(),
        },
    }
}

/// The tools a step's minted credential is scoped to: the step's `scopes`, else its tool.
pub fn credential_scopes(step: &Step) -> BTreeSet<String> {
    step.setup
        .scopes
        .clone()
        .unwrap_or_else(|| std::iter::once(step.tool.clone()).collect())
}

fn simulated_expired(step: &Step, now_ms: i64) -> CredentialCheck {
    let issuer = tribune_identity::Issuer::from_seed(REDTEAM_SEED, REDTEAM_ISSUER);
    let now = now_ms.div_euclid(1000);
    let claims = tribune_identity::Claims {
        iss: issuer.name().to_owned(),
        sub: format!("{}:{}", step.kind.as_str(), step.principal),
        aud: "tribune".into(),
        iat: now - 960,
        nbf: now - 960,
        exp: now - 60,
        jti: format!("redteam-{now_ms}"),
        scope: credential_scopes(step).into_iter().collect(),
        generation: 1,
        cls: None,
        act: None,
        anc: vec![],
    };
    let token = match issuer.issue(&claims) {
        Ok(t) => t,
        Err(e) => return CredentialCheck::Failed(format!("cannot mint the expired credential: {e}")),
    };
    match issuer.verifier("tribune").verify(&token, now) {
        Ok(verified) => CredentialCheck::Accepted {
            scopes: Some(verified.claims.scope.as_set().clone()),
            refusal: None,
        },
        Err(e) => CredentialCheck::Refused {
            code: credential_error_code(&e).to_owned(),
        },
    }
}

/// The code the API answers a bearer the credential verifier refuses with.
pub fn credential_error_code(e: &tribune_identity::CredentialError) -> &'static str {
    match e {
        tribune_identity::CredentialError::Expired { .. } => "credential_expired",
        _ => "credential_invalid",
    }
}

fn step(snapshot: &Snapshot, step: &Step, env: &dyn Environment, now_ms: i64) -> StepResult {
    let mut notes = Vec::new();
    let got = outcome(snapshot, step, env, now_ms, &mut notes);
    let passed = matches(&step.expect, &got);
    StepResult {
        at: step.location.to_string(),
        principal: format!("{}:{}", step.kind.as_str(), step.principal),
        tool: step.tool.clone(),
        setup: setup_text(step),
        expected: step.expect.to_string(),
        got,
        passed,
        notes,
    }
}

fn outcome(
    snapshot: &Snapshot,
    step: &Step,
    env: &dyn Environment,
    now_ms: i64,
    notes: &mut Vec<String>,
) -> Got {
    let base = env.facts(step, snapshot, now_ms);
    let mut scopes = step.setup.scopes.clone();
    let mut refusal: Option<(Code, String)> = None;
    if let Some(state) = step.setup.credential {
        let run = env.credential(step, state, snapshot, now_ms);
        notes.push(run.exercised);
        match run.check {
            CredentialCheck::Refused { code } => return refused_at_authentication(code),
            CredentialCheck::Failed(why) => return harness_error(why),
            CredentialCheck::Accepted {
                scopes: accepted,
                refusal: refused,
            } => {
                if accepted.is_some() {
                    scopes = accepted;
                }
                refusal = refused;
            }
        }
    }
    let mut stops = base.stops;
    for (n, scope) in step.setup.stops.iter().enumerate() {
        stops.push(Stop {
            id: format!("redteam-stop-{n}"),
            scope: scope.clone(),
            reason: "red-team scenario".to_owned(),
            by: "tribune:redteam".to_owned(),
        });
    }
    let facts = Facts {
        calls_last_minute: base.calls_last_minute,
        stops: &stops,
        credential: Credential {
            scopes: scopes.as_ref(),
            refusal: refusal.as_ref().map(|(code, why)| (*code, why.as_str())),
        },
        trust: base.trust,
        vetting: base.vetting,
        ..Facts::default()
    };
    let request = Request {
        kind: step.kind,
        principal: &step.principal,
        tool: &step.tool,
        arguments: &step.arguments,
        session: None,
        context: step.context.as_ref(),
    };
    // INVARIANT(fail-closed): a panic in the decision point is a deny, as on the server.
    let decision = std::panic::catch_unwind(AssertUnwindSafe(|| snapshot.decide(&request, &facts, now_ms)))
        .unwrap_or_else(|_| {
            Decision::internal_failure(
                format!("{}:{}", step.kind.as_str(), step.principal),
                step.tool.clone(),
                snapshot.bundle().hash.clone(),
                now_ms,
                "the decision point failed; the call is denied".to_owned(),
            )
        });
    let mut got = got_from(&decision);
    if matches!(step.expect, Expect::Approved | Expect::NotApproved { .. }) {
        if decision.decision == Outcome::Hold {
            match votes(snapshot.bundle(), step, &decision, now_ms) {
                Ok(tally) => {
                    got.approval = Some(
                        if tally.approved {
                            "approved"
                        } else {
                            "not_approved"
                        }
                        .to_owned(),
                    );
                    got.votes = tally.notes;
                    got.refusals = tally.refusals;
                }
                Err(error) => got.error = Some(error),
            }
        } else {
            got.votes = vec![format!("the call was not held but {}", got.decision)];
        }
    }
    got
}

/// What the votes on a held call came to.
struct Tally {
    approved: bool,
    /// What each vote did, for people.
    notes: Vec<String>,
    /// Why the approval was not completed, as the approvals core answered.
    refusals: Vec<String>,
}

/// The name of the approvals core's refusal of a vote: a [`Refusal`] where it is one.
fn refusal_name(e: &tribune_approvals::Error) -> String {
    match e {
        tribune_approvals::Error::RequesterCannotApprove { .. } => Refusal::SelfApproval.as_str().to_owned(),
        tribune_approvals::Error::NotInPool { .. } => Refusal::NotEligible.as_str().to_owned(),
        other => other.code().to_owned(),
    }
}

/// Opens the held call as an approval request and casts the step's votes. `Err` when the
/// harness cannot: the request cannot be opened or admitted, or a vote cannot be cast (a human
/// id or TOTP code the harness cannot make); a vote the approvals core refuses is a refusal.
fn votes(bundle: &Bundle, step: &Step, decision: &Decision, now_ms: i64) -> Result<Tally, String> {
    let mut request = open(bundle, step, decision, now_ms)?;
    let mut tally = Tally {
        approved: false,
        notes: Vec::new(),
        refusals: Vec::new(),
    };
    let mut last_pending: Option<bool> = None;
    for (n, human) in step.setup.approve.iter().enumerate() {
        let id = HumanId::parse(human).map_err(|e| format!("cannot cast `{human}`'s vote: {e}"))?;
        let proof =
            mfa_proof(&id, n, now_ms).map_err(|e| format!("cannot make `{human}`'s TOTP code: {e}"))?;
        match request.approve(&id, None, MfaEvidence::Verified(proof), now_ms) {
            Ok(ApproveOutcome::Approved { .. }) => {
                tally.approved = true;
                last_pending = None;
                tally
                    .notes
                    .push(format!("{human}: approval completed the request"));
            }
            Ok(ApproveOutcome::Pending {
                approvals,
                required,
                needs_non_owner,
            }) => {
                last_pending = Some(needs_non_owner);
                tally.notes.push(format!(
                    "{human}: counted ({approvals} of {required}{})",
                    if needs_non_owner {
                        ", a non-owner is still needed"
                    } else {
                        ""
                    }
                ));
            }
            Ok(ApproveOutcome::Duplicate { .. }) => tally.notes.push(format!("{human}: already approved")),
            Err(e) => {
                tally.refusals.push(refusal_name(&e));
                tally.notes.push(format!("{human}: refused: {e}"));
            }
        }
    }
    if !tally.approved {
        match last_pending {
            Some(true) => tally.refusals.push(Refusal::OwnerOnly.as_str().to_owned()),
            Some(false) => tally.refusals.push("too_few_approvals".to_owned()),
            None => {}
        }
    }
    Ok(tally)
}

/// A verified TOTP code of a secret made for this vote.
fn mfa_proof(human: &HumanId, n: usize, now_ms: i64) -> Result<tribune_approvals::MfaProof, String> {
    use tribune_approvals::totp::{Enrollment, TotpParams, TotpSecret, code_at};
    let byte = u8::try_from(n % 200).unwrap_or(0).wrapping_add(17);
    let secret = TotpSecret::generate([byte; 20]);
    let params = TotpParams::default();
    let secs = u64::try_from(now_ms.div_euclid(1000)).map_err(|e| e.to_string())?;
    let code = code_at(&secret, params, secs).map_err(|e| e.to_string())?;
    let mut enrollment = Enrollment::new(human.clone(), secret, params, now_ms);
    enrollment.verify(&code, now_ms).map_err(|e| e.to_string())
}

/// The held call as an opened approval request; `Err` when it cannot be opened: admission
/// refused it, or it can never be approved (as the server denies it `approval_unsatisfiable`).
fn open(bundle: &Bundle, step: &Step, d: &Decision, now_ms: i64) -> Result<ApprovalRequest, String> {
    let err = |e: tribune_approvals::Error| format!("cannot open the approval request: {e}");
    let pool_id = d.reviewer_pool.clone().ok_or_else(|| {
        format!(
            "tool `{}` names no reviewer pool, so no one can approve it",
            d.tool
        )
    })?;
    let pool = bundle
        .reviewer_pools
        .get(&pool_id)
        .ok_or_else(|| format!("reviewer pool `{pool_id}` is not declared"))?;
    let principal = Principal::parse(&d.principal).map_err(err)?;
    let owner = match &principal {
        Principal::Agent(id) => bundle.agents.get(id).map(|a| a.owner.clone()),
        Principal::Service(id) => bundle.services.get(id).map(|s| s.owner.clone()),
    }
    .ok_or_else(|| format!("`{}` has no owner in the bundle", d.principal))?;
    let tool = bundle
        .tools
        .get(step.tool.as_str())
        .ok_or_else(|| format!("tool `{}` is not declared", step.tool))?;
    let reasons = d
        .reasons
        .iter()
        .map(|r| HeldReason {
            stage: wire(&r.stage),
            code: wire(&r.code),
            rule: r.rule.clone(),
            message: r.message.clone(),
        })
        .collect();
    let new = NewRequest {
        decision_id: DecisionId::parse(&format!("redteam-{now_ms}")).map_err(err)?,
        principal,
        owner: HumanId::from(owner),
        requested_by: match &step.setup.requested_by {
            Some(h) => Some(HumanId::parse(h).map_err(err)?),
            None => None,
        },
        tool: ToolId::from(tool.id.clone()),
        tier: tool.tier,
        classification: Some(DataClass {
            name: ClassId::from(tool.classification.name.clone()),
            rank: tool.classification.rank,
        }),
        trust: None,
        arguments: step.arguments.clone(),
        arguments_hash: ArgumentsHash::parse(&d.arguments_hash).map_err(err)?,
        reasons,
        approvals_required: d.approvals_required,
        mfa_required: d.mfa_required,
        pool: PoolId::from(pool_id),
        pool_members: pool.members.iter().cloned().map(HumanId::from).collect(),
    };
    let h = &bundle.hitl;
    let config = HitlConfig {
        expiry_secs: h.expiry_secs,
        approval_valid_for_secs: h.approval_valid_for_secs,
        reviewer_capacity: h.reviewer_capacity,
        agent_pending_cap: h.agent_pending_cap,
        pool_rate_per_minute: h.pool_rate_per_minute,
    };
    let queue: &[ApprovalRequest] = &[];
    match admit(&config, &new, queue, now_ms).map_err(err)? {
        Admission::Admit(admitted) => {
            let id = RequestId::parse(&format!("redteam-req-{now_ms}")).map_err(err)?;
            ApprovalRequest::open(id, new, admitted, &config, now_ms).map_err(err)
        }
        Admission::Coalesce(_) => Err("admission coalesced the call into another request".to_owned()),
        Admission::Refuse(why) => Err(format!("admission refused the approval request: {why}")),
    }
}

/// Whether `got` is what `expect` asks for.
pub fn matches(expect: &Expect, got: &Got) -> bool {
    if got.error.is_some() {
        return false;
    }
    match expect {
        Expect::Allow => got.decision == "allow" && got.approval.is_none(),
        Expect::Deny { code } => got.decision == "deny" && got.code.as_deref() == Some(code.as_str()),
        Expect::Hold { approvals, mfa, code } => {
            got.decision == "hold"
                && approvals.is_none_or(|n| got.approvals == n)
                && mfa.is_none_or(|m| got.mfa == m)
                && code
                    .as_ref()
                    .is_none_or(|c| got.code.as_deref() == Some(c.as_str()))
        }
        Expect::Approved => got.decision == "hold" && got.approval.as_deref() == Some("approved"),
        // Every refusal the core gave is the one named: a vote refused for any other reason
        // (an MFA code, a closed request) is not the control the step is about.
        Expect::NotApproved { refusal } => {
            got.decision == "hold"
                && got.approval.as_deref() == Some("not_approved")
                && !got.refusals.is_empty()
                && got.refusals.iter().all(|r| r == refusal.as_str())
        }
    }
}
