//! Tribune's decision point.
//!
//! [`Snapshot::build`] turns a [`Bundle`] into everything a decision needs — the generated Cedar
//! schema, the entities, the strictly validated policies and their index — once, off the request
//! path. [`Snapshot::decide`] is then a pure function of the snapshot, the request, the runtime
//! [`Facts`] the caller has gathered, and the clock the caller passes in. It does no IO.
//!
//! Invariants:
//! - INVARIANT(fail-closed): every path out of `decide` that is not a clean allow or hold is a
//!   deny with a reason; internal failures are `Stage::Internal` denials, never panics or allows.
//! - INVARIANT(index-equivalence): the candidate set the index hands Cedar yields the same
//!   Cedar response as the full policy set (see `index`).
//! - INVARIANT(plan-equivalence): the policy stage's verdict from a (tool, group) plan — the
//!   decision, the determining policies, the first erroring forbid — is the one Cedar gives
//!   over the candidate set, and so over the full policy set (see `plan`).

mod args;
mod compile;
mod data;
mod decision;
mod entities;
mod eval;
mod index;
mod plan;
mod reach;
pub mod schema;
mod stop;
pub mod trust;
pub mod vetting;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use cedar_policy::{
    Authorizer, Context, Effect, Entities, EntityUid, PolicyId, RestrictedExpression, Schema,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tribune_bundle::{Bundle, Diagnostic, Id, Location};

pub use compile::{BUILTIN_FILE, PolicyMeta};
pub use decision::{Code, Decision, Hold, Obligation, Outcome, Reason, Stage, TaintSource, Tainted};
pub use reach::Reachable;
pub use stop::{CallScope, Stop, StopScope};
pub use trust::TrustScores;
pub use vetting::{VettingFacts, VettingStatus};

use crate::index::{Member, PolicyIndex};
use crate::schema::types;

/// Which kind of principal is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// An AI agent.
    Agent,
    /// A non-agent service identity.
    Service,
}

impl PrincipalKind {
    /// `agent` or `service`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Agent => "agent",
            PrincipalKind::Service => "service",
        }
    }
}

/// A request for a decision.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The kind of the caller.
    pub kind: PrincipalKind,
    /// The caller's id (already authenticated by the caller of `decide`).
    pub principal: &'a str,
    /// The tool to be called.
    pub tool: &'a str,
    /// The call's arguments, a JSON object.
    pub arguments: &'a Value,
    /// The agent's session, if it has one.
    pub session: Option<&'a str>,
    /// Request context attributes the bundle declares (`[context]`).
    pub context: Option<&'a serde_json::Map<String, Value>>,
}

/// How one (tool, principal group) plan splits the index's candidates (see `plan`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanSize {
    /// Policies whose scope can match.
    pub candidates: usize,
    /// Forbids that match every request (no conditions, or conditions fixed per tool).
    pub static_forbids: usize,
    /// Permits that match every request.
    pub static_permits: usize,
    /// Forbids Cedar evaluates per request.
    pub eval_forbids: usize,
    /// Permits Cedar evaluates per request when no forbid settled the decision.
    pub eval_permits: usize,
    /// Of `eval_forbids`, those evaluated by their compiled conditions rather than Cedar.
    pub compiled_forbids: usize,
    /// Of `eval_permits`, those evaluated by their compiled conditions rather than Cedar.
    pub compiled_permits: usize,
}

/// Runtime facts the caller gathers before deciding; `decide` itself keeps no state.
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts<'a> {
    /// Decisions this principal asked for in the last 60 seconds, this one excluded.
    pub calls_last_minute: u32,
    /// The emergency stops in force.
    pub stops: &'a [Stop],
    /// What the caller found out about the credential the call came with.
    pub credential: Credential<'a>,
    /// The trust scores of the principal and of the tool's provider, at the decision's time.
    pub trust: TrustScores,
    /// The vetting of the tool's provider and whether the tool's description is quarantined.
    pub vetting: VettingFacts,
    /// The arguments that carry values from untrusted tools' results in this session, as the
    /// caller's taint memory found them: policies read their names as `context.tainted`.
    pub taint: &'a [Tainted],
}

/// The authentication stage's inputs: the caller verifies the credential (signature, expiry,
/// audience) and looks its identity up in the registry; `decide` turns what it found into the
/// first stage of the decision.
#[derive(Clone, Copy, Debug, Default)]
pub struct Credential<'a> {
    /// The tools a short-lived credential covers; `None` when the call carries no scoped
    /// credential (a registration secret, or a dry run).
    pub scopes: Option<&'a BTreeSet<String>>,
    /// Why the registry refuses the credential or its identity, if it does: revoked, rotated
    /// out, identity suspended, decommissioned or not yet approved.
    pub refusal: Option<(Code, &'a str)>,
}

struct ToolEntry {
    index: u32,
    action: EntityUid,
    resource: EntityUid,
    /// The action and the resource in the entity table (`eval`).
    action_id: Option<u32>,
    resource_id: Option<u32>,
    validator: jsonschema::Validator,
    /// Whether the data-governance stage must scan this tool's arguments: some DLP action is
    /// other than `allow`, or some class may not go where this tool sends (`[dlp.flows]`).
    /// Otherwise a scan could change nothing, and the stage costs nothing.
    scan_arguments: bool,
}

struct PrincipalEntry {
    uid: EntityUid,
    /// The principal in the entity table (`eval`).
    entity: Option<u32>,
    group: u32,
    class: Option<Id>,
}

/// Everything a decision needs, built once per bundle activation and shared read-only.
pub struct Snapshot {
    bundle: Arc<Bundle>,
    schema: Schema,
    schema_text: String,
    entities: Entities,
    table: eval::EntityTable,
    index: PolicyIndex,
    meta: HashMap<PolicyId, PolicyMeta>,
    tools: HashMap<String, ToolEntry>,
    agents: HashMap<String, PrincipalEntry>,
    services: HashMap<String, PrincipalEntry>,
    findings: Vec<Diagnostic>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("bundle", &self.bundle.hash)
            .finish_non_exhaustive()
    }
}

fn internal(file: &str, message: String) -> Vec<Diagnostic> {
    vec![Diagnostic::error(Location::file(file), "internal", message)]
}

impl Snapshot {
    /// Compiles `bundle`; on failure returns every located error (and any warnings).
    pub fn build(bundle: Bundle) -> Result<Snapshot, Vec<Diagnostic>> {
        let manifest = bundle.manifest.path.clone();
        let schema_text = schema::schema_text(&bundle);
        let (schema, _) = Schema::from_cedarschema_str(&schema_text)
            .map_err(|e| internal(&manifest, format!("the generated Cedar schema is invalid: {e}")))?;
        let (compiled, mut findings) = compile::compile(&bundle, &schema)?;
        findings.extend(bundle.findings.iter().cloned());
        let entities = Entities::from_entities(
            entities::entities(&bundle).map_err(|e| internal(&manifest, e))?,
            Some(&schema),
        )
        .map_err(|e| {
            internal(
                &manifest,
                format!("the bundle's entities do not fit the generated schema: {e}"),
            )
        })?;

        let ancestors = |uid: &EntityUid| -> HashSet<EntityUid> {
            entities
                .ancestors(uid)
                .map(|a| a.into_iter().cloned().collect())
                .unwrap_or_default()
        };
        let mut tool_rows = Vec::new();
        let mut tool_meta = Vec::new();
        let mut errors = Vec::new();
        for tool in bundle.tools.values() {
            let uids = entities::uid(types::ACTION, tool.id.as_str())
                .and_then(|a| Ok((a, entities::uid(types::TOOL, tool.id.as_str())?)));
            let (action, resource) = match uids {
                Ok(u) => u,
                Err(e) => return Err(internal(&manifest, e)),
            };
            let validator = match jsonschema::validator_for(&tool.input_schema) {
                Ok(v) => v,
                Err(e) => {
                    errors.push(Diagnostic::error(
                        tool.location.clone(),
                        "bad-input-schema",
                        format!("tool `{}` has an invalid input schema: {e}", tool.id),
                    ));
                    continue;
                }
            };
            tool_rows.push((
                action.clone(),
                ancestors(&action),
                ancestors(&resource),
                resource.clone(),
            ));
            tool_meta.push((tool.id.to_string(), action, resource, validator));
        }
        if !errors.is_empty() {
            errors.extend(findings);
            errors.sort();
            return Err(errors);
        }
        let members: Vec<(EntityUid, HashSet<EntityUid>, Member<'_>)> = tool_rows
            .iter()
            .map(|(action, action_anc, res_anc, res)| {
                (
                    action.clone(),
                    action_anc.clone(),
                    Member {
                        uid: res,
                        ancestors: res_anc,
                    },
                )
            })
            .collect();
        let mut index = PolicyIndex::new(compiled.set, &members);
        let table = eval::EntityTable::new(&entities);
        {
            let facts: Vec<plan::ToolFacts<'_>> = tool_meta
                .iter()
                .map(|(id, action, resource, _)| plan::ToolFacts {
                    action,
                    resource,
                    arguments: bundle.tools.get(id.as_str()).map(|t| &t.input),
                    entities: &entities,
                })
                .collect();
            index.fold(&facts, &table);
        }
        let mut tools = HashMap::new();
        for (i, (id, action, resource, validator)) in tool_meta.into_iter().enumerate() {
            let destination = bundle
                .tools
                .get(id.as_str())
                .and_then(|t| bundle.providers.get(&t.provider))
                .map_or(tribune_bundle::Destination::External, |p| p.destination);
            let scan_arguments = !bundle.dlp.detectors.is_empty()
                && (bundle.dlp.policy.acts_on_arguments() || bundle.dlp.restricts_flows_to(destination));
            tools.insert(
                id,
                ToolEntry {
                    index: i as u32,
                    action_id: table.id(&action),
                    resource_id: table.id(&resource),
                    action,
                    resource,
                    validator,
                    scan_arguments,
                },
            );
        }

        let mut groups: HashMap<BTreeSet<u32>, u32> = HashMap::new();
        let mut agents = HashMap::new();
        for agent in bundle.agents.values() {
            let uid = entities::uid(types::AGENT, agent.id.as_str()).map_err(|e| internal(&manifest, e))?;
            let anc = ancestors(&uid);
            let group = index.group_of(
                &Member {
                    uid: &uid,
                    ancestors: &anc,
                },
                &mut groups,
            );
            agents.insert(
                agent.id.to_string(),
                PrincipalEntry {
                    entity: table.id(&uid),
                    uid,
                    group,
                    class: Some(agent.class.clone()),
                },
            );
        }
        let mut services = HashMap::new();
        for service in bundle.services.values() {
            let uid =
                entities::uid(types::SERVICE, service.id.as_str()).map_err(|e| internal(&manifest, e))?;
            let anc = ancestors(&uid);
            let group = index.group_of(
                &Member {
                    uid: &uid,
                    ancestors: &anc,
                },
                &mut groups,
            );
            services.insert(
                service.id.to_string(),
                PrincipalEntry {
                    entity: table.id(&uid),
                    uid,
                    group,
                    class: None,
                },
            );
        }
        index.seal();
        findings.sort();
        findings.dedup();
        Ok(Snapshot {
            bundle: Arc::new(bundle),
            schema,
            schema_text,
            entities,
            table,
            index,
            meta: compiled.meta,
            tools,
            agents,
            services,
            findings,
        })
    }

    /// The bundle this snapshot was built from.
    pub fn bundle(&self) -> &Arc<Bundle> {
        &self.bundle
    }

    /// The generated Cedar schema, as text.
    pub fn schema_text(&self) -> &str {
        &self.schema_text
    }

    /// Warnings from loading and validation (the snapshot is usable).
    pub fn findings(&self) -> &[Diagnostic] {
        &self.findings
    }

    /// The calls-per-minute quota of a principal's class, if it has one.
    pub fn quota_limit(&self, kind: PrincipalKind, id: &str) -> Option<u32> {
        let principals = match kind {
            PrincipalKind::Agent => &self.agents,
            PrincipalKind::Service => &self.services,
        };
        let class = principals.get(id)?.class.as_ref()?;
        self.bundle.classes.get(class)?.calls_per_minute
    }

    /// Decides `request` at time `now_ms` (milliseconds since the Unix epoch).
    pub fn decide(&self, request: &Request<'_>, facts: &Facts<'_>, now_ms: i64) -> Decision {
        self.decide_on(request, facts, now_ms, Path::Planned)
    }

    /// `decide` with the policy stage computed the plain way: Cedar over the index's whole
    /// candidate set, with the full context — what [`Snapshot::indexed_response`] returns and
    /// the differential test proves equal to Cedar over every policy. The reference the
    /// differential test holds `decide` to (INVARIANT(plan-equivalence)).
    pub fn decide_reference(&self, request: &Request<'_>, facts: &Facts<'_>, now_ms: i64) -> Decision {
        self.decide_on(request, facts, now_ms, Path::Candidates)
    }

    fn decide_on(&self, request: &Request<'_>, facts: &Facts<'_>, now_ms: i64, path: Path) -> Decision {
        let tool = self.bundle.tools.get(request.tool);
        let mut d = Decision {
            decision: Outcome::Deny,
            approvals_required: 0,
            mfa_required: false,
            reviewer_pool: None,
            reasons: Vec::new(),
            obligations: Vec::new(),
            principal: format!("{}:{}", request.kind.as_str(), request.principal),
            tool: request.tool.to_owned(),
            tier: tool.map(|t| t.tier),
            classification: tool.map(|t| t.classification.name.clone()),
            arguments_hash: String::new(),
            tainted: facts.taint.to_vec(),
            bundle: self.bundle.hash.clone(),
            decided_at_ms: now_ms,
        };
        match arguments_hash(request.arguments) {
            Ok(h) => d.arguments_hash = h,
            Err(e) => return deny(d, Stage::Internal, Code::InternalError, None, e),
        }
        match self.pipeline(request, facts, now_ms, &mut d, path) {
            Ok(()) => d,
            Err((stage, code, rule, message)) => deny(d, stage, code, rule, message),
        }
    }

    fn pipeline(
        &self,
        request: &Request<'_>,
        facts: &Facts<'_>,
        now_ms: i64,
        d: &mut Decision,
        path: Path,
    ) -> Result<(), Denial> {
        // Stage: authenticate. The caller verified the credential; the registry's verdict on it
        // and its scopes come first, before anything about the call is judged.
        if let Some((code, message)) = facts.credential.refusal {
            return Err((Stage::Authenticate, code, None, message.to_owned()));
        }
        if let Some(scopes) = facts.credential.scopes
            && !scopes.contains(request.tool)
        {
            return Err((
                Stage::Authenticate,
                Code::OutOfScope,
                None,
                format!("the credential is not scoped to tool `{}`", request.tool),
            ));
        }
        // Stage: request. Identity was authenticated by the caller; here it must be declared.
        let principals = match request.kind {
            PrincipalKind::Agent => &self.agents,
            PrincipalKind::Service => &self.services,
        };
        let Some(principal) = principals.get(request.principal) else {
            return Err((
                Stage::Request,
                Code::UnknownPrincipal,
                None,
                format!(
                    "{} `{}` is not declared in the active bundle",
                    request.kind.as_str(),
                    request.principal
                ),
            ));
        };
        let (Some(tool), Some(entry)) = (self.bundle.tools.get(request.tool), self.tools.get(request.tool))
        else {
            return Err((
                Stage::Request,
                Code::UnknownTool,
                None,
                format!("tool `{}` is not declared in the active bundle", request.tool),
            ));
        };
        // Stage: stop. Before arguments or policies are judged: a stopped scope is denied
        // whatever they would say.
        let call = CallScope {
            kind: request.kind,
            principal: request.principal,
            class: principal.class.as_ref().map(Id::as_str),
            tool: request.tool,
            provider: tool.provider.as_str(),
        };
        if let Some(stop) = facts.stops.iter().find(|s| s.covers(&call)) {
            return Err((
                Stage::Stop,
                Code::Stopped,
                Some(format!("stop:{}", stop.id)),
                format!("stopped by {}: {}", stop.by, stop.reason),
            ));
        }
        // Stage: vetting. A quarantined tool or a provider whose vetting is rejected, expired
        // or (when required) missing is denied; probation needs at least one approval.
        let vetting_hold = vetting::gate(&self.bundle, facts.vetting, tool, now_ms)?;
        if !entry.validator.is_valid(request.arguments) {
            let why = entry
                .validator
                .iter_errors(request.arguments)
                .next()
                .map(|e| {
                    let at = e.instance_path().to_string();
                    if at.is_empty() {
                        e.to_string()
                    } else {
                        format!("at `{at}`: {e}")
                    }
                })
                .unwrap_or_default();
            return Err((
                Stage::Request,
                Code::InvalidArguments,
                Some(format!("tools.{}.input_schema", tool.id)),
                format!("arguments do not match the input schema of `{}`: {why}", tool.id),
            ));
        }
        // Stage: policy. Cedar's verdict over the whole policy set, from the plan of this
        // (tool, principal group) pair (INVARIANT(plan-equivalence)), or on the reference path
        // from Cedar over all of the pair's candidates (INVARIANT(index-equivalence)).
        let verdict = match path {
            Path::Planned => {
                let plan = self
                    .index
                    .plan(entry.index, principal.group)
                    .map_err(|e| (Stage::Internal, Code::InternalError, None, e))?;
                // Every argument and context attribute is checked whatever the policies read,
                // so a request is refused for the same reasons on every path.
                args::check_record(request.arguments, &tool.input)
                    .map_err(|e| (Stage::Request, Code::InvalidArguments, None, e))?;
                args::check_request_context(request.context, &self.bundle.context)
                    .map_err(|e| (Stage::Request, Code::InvalidContext, None, e))?;
                let empty = serde_json::Map::new();
                let env = eval::Env {
                    table: &self.table,
                    principal: principal.entity,
                    action: entry.action_id,
                    resource: entry.resource_id,
                    arguments: request.arguments.as_object().unwrap_or(&empty),
                    input: &tool.input,
                    session: request.session.unwrap_or_default(),
                    time: time_parts(now_ms),
                    request: request.context,
                    declared: &self.bundle.context,
                };
                let mut cedar = |reads: &plan::Reads| {
                    to_cedar_reading(
                        &self.bundle,
                        principal,
                        tool,
                        entry,
                        request,
                        now_ms,
                        reads,
                        true,
                        facts.taint,
                    )?
                    .ok_or_else(|| {
                        (
                            Stage::Internal,
                            Code::InternalError,
                            None,
                            "no Cedar request was built".to_owned(),
                        )
                    })
                };
                plan.verdict(&env, &mut cedar, &self.entities)?
            }
            Path::Candidates => {
                let cedar_request =
                    to_cedar(&self.bundle, principal, tool, entry, request, now_ms, facts.taint)?;
                let candidates = self
                    .index
                    .candidates(entry.index, principal.group)
                    .map_err(|e| (Stage::Internal, Code::InternalError, None, e))?;
                Verdict::of_response(
                    &Authorizer::new().is_authorized(&cedar_request, &candidates, &self.entities),
                    |id| self.meta.get(id).is_none_or(|m| m.effect == Effect::Forbid),
                )
            }
        };
        if let Some(id) = &verdict.forbid_error {
            return Err((
                Stage::Policy,
                Code::PolicyError,
                Some(id.to_string()),
                format!("forbid policy `{id}` could not be evaluated, so it is treated as matching"),
            ));
        }
        if !verdict.forbids.is_empty() {
            for id in &verdict.forbids {
                let message = self
                    .meta
                    .get(id)
                    .and_then(|m| m.reason.clone())
                    .unwrap_or_else(|| format!("forbidden by policy `{id}`"));
                d.reasons.push(Reason {
                    stage: Stage::Policy,
                    code: Code::Forbidden,
                    rule: Some(self.policy_name(id)),
                    message,
                });
            }
            d.decision = Outcome::Deny;
            return Ok(());
        }
        if verdict.permits.is_empty() {
            return Err((
                Stage::Policy,
                Code::NotPermitted,
                None,
                format!("no policy permits {} to call `{}`", d.principal, tool.id),
            ));
        }
        let matched = &verdict.permits;
        let mut approvals_by_policy = 0;
        let mut mfa_by_policy = false;
        for id in matched {
            let meta = self.meta.get(id);
            approvals_by_policy = approvals_by_policy.max(meta.and_then(|m| m.approvals).unwrap_or(0));
            mfa_by_policy |= meta.is_some_and(|m| m.mfa);
            let name = self.policy_name(id);
            d.reasons.push(Reason {
                stage: Stage::Policy,
                code: Code::Permitted,
                message: format!("permitted by policy `{name}`"),
                rule: Some(name),
            });
        }

        // Stage: autonomy.
        let class = principal.class.as_ref().and_then(|c| self.bundle.classes.get(c));
        let rule = self.bundle.rule_for(class, tool.tier);
        let autonomy_approvals = rule.approvals.max(approvals_by_policy);

        // Stage: trust. A principal or provider below `block_below` is denied; below
        // `review_below` a write or irreversible call needs at least one approval.
        let trust_hold = trust::gate(&self.bundle.trust, facts.trust, tool, &d.principal)?;

        // Stage: data governance. One scan of the arguments for flows and DLP actions; a hold
        // here needs at least one approval whatever the autonomy boundary allows.
        let dlp_hold = if entry.scan_arguments {
            let provider = self.bundle.providers.get(&tool.provider);
            data::govern(&self.bundle.dlp, tool, provider, request.arguments)?
        } else {
            None
        };
        // Taint: the policies have read `context.tainted`; this reason only says which
        // arguments carried what, from where, after the reasons that settle the decision.
        let taint_reason = data::tainted(facts.taint);
        let approvals = if dlp_hold.is_some() || trust_hold.is_some() || vetting_hold.is_some() {
            autonomy_approvals.max(1)
        } else {
            autonomy_approvals
        };

        // Stage: quota.
        if let Some(limit) = class.and_then(|c| c.calls_per_minute)
            && facts.calls_last_minute >= limit
        {
            let class_id = class.map(|c| c.id.to_string()).unwrap_or_default();
            return Err((
                Stage::Quota,
                Code::QuotaExceeded,
                Some(format!("classes.{class_id}.quota.calls_per_minute")),
                format!(
                    "{} made {} calls in the last minute; class `{class_id}` allows {limit}",
                    d.principal, facts.calls_last_minute
                ),
            ));
        }

        if approvals == 0 {
            d.decision = Outcome::Allow;
            d.reasons.extend(taint_reason);
            d.obligations.push(Obligation::ReportOutcome);
            return Ok(());
        }
        let mfa = rule.mfa || mfa_by_policy;
        let by = match class {
            Some(c) => format!("class `{}`", c.id),
            None => "the deployment's floor".to_owned(),
        };
        let message = if approvals_by_policy > rule.approvals {
            format!("a matching policy requires {autonomy_approvals} approval(s) for this call")
        } else {
            format!(
                "`{}` calls by {by} need {autonomy_approvals} approval(s){}",
                tool.tier,
                if mfa { " with MFA" } else { "" }
            )
        };
        let rule_key = match class {
            Some(c) => format!("classes.{}.autonomy.{}", c.id, tool.tier),
            None => format!("autonomy.floor.{}", tool.tier),
        };
        if autonomy_approvals > 0 {
            d.reasons.push(Reason {
                stage: Stage::Autonomy,
                code: Code::ApprovalRequired,
                rule: Some(rule_key),
                message,
            });
        }
        d.reasons.extend(vetting_hold);
        d.reasons.extend(trust_hold);
        d.reasons.extend(dlp_hold);
        d.reasons.extend(taint_reason);
        d.decision = Outcome::Hold;
        d.approvals_required = approvals;
        d.mfa_required = mfa;
        d.reviewer_pool = tool.reviewer_pool.clone();
        Ok(())
    }

    /// The Cedar request `decide` would evaluate, for tests and tooling that compare the index
    /// with unindexed Cedar. `None` when the request does not get as far as Cedar.
    pub fn cedar_request(
        &self,
        request: &Request<'_>,
        now_ms: i64,
    ) -> Option<(cedar_policy::Request, u32, u32)> {
        let principals = match request.kind {
            PrincipalKind::Agent => &self.agents,
            PrincipalKind::Service => &self.services,
        };
        let principal = principals.get(request.principal)?;
        let tool = self.bundle.tools.get(request.tool)?;
        let entry = self.tools.get(request.tool)?;
        let r = to_cedar(&self.bundle, principal, tool, entry, request, now_ms, &[]).ok()?;
        Some((r, entry.index, principal.group))
    }

    /// Cedar's response over the index's candidates for `(tool, group)`.
    pub fn indexed_response(
        &self,
        request: &cedar_policy::Request,
        tool: u32,
        group: u32,
    ) -> Result<cedar_policy::Response, String> {
        let set = self.index.candidates(tool, group)?;
        Ok(Authorizer::new().is_authorized(request, &set, &self.entities))
    }

    /// How the plan for `request`'s (tool, principal group) pair splits its candidates, for
    /// benchmarks and tooling. `None` when the principal or the tool is not declared.
    pub fn plan_size(&self, request: &Request<'_>) -> Option<PlanSize> {
        let principals = match request.kind {
            PrincipalKind::Agent => &self.agents,
            PrincipalKind::Service => &self.services,
        };
        let principal = principals.get(request.principal)?;
        let entry = self.tools.get(request.tool)?;
        let candidates = self.index.candidates(entry.index, principal.group).ok()?;
        let plan = self.index.plan(entry.index, principal.group).ok()?;
        Some(PlanSize {
            candidates: candidates.num_of_policies(),
            static_forbids: plan.forbids.len(),
            static_permits: plan.permits.len(),
            eval_forbids: plan.eval_forbids.num_of_policies(),
            eval_permits: plan.eval_permits.num_of_policies(),
            compiled_forbids: plan.compiled_forbids.len(),
            compiled_permits: plan.compiled_permits.len(),
        })
    }

    /// Cedar's response over every policy, unindexed.
    pub fn raw_response(&self, request: &cedar_policy::Request) -> cedar_policy::Response {
        Authorizer::new().is_authorized(request, self.index.all(), &self.entities)
    }

    /// `id` as Cedar displays it (`PolicyId`'s `Display` escapes each character), from the
    /// metadata where it was formatted once.
    fn policy_name(&self, id: &PolicyId) -> String {
        self.meta
            .get(id)
            .map_or_else(|| id.to_string(), |m| m.name.clone())
    }

    /// The schema, for validating requests in tests.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

type Denial = (Stage, Code, Option<String>, String);

/// How the policy stage reaches Cedar's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    /// Through the (tool, group) plan: what `decide` does.
    Planned,
    /// Cedar over the (tool, group) candidates with the full context: the reference.
    Candidates,
}

/// What the policy stage takes from Cedar: the first (least) forbid that failed, if any; else
/// the forbids that matched, sorted; else the permits that matched, sorted.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    pub(crate) forbid_error: Option<PolicyId>,
    pub(crate) forbids: Vec<PolicyId>,
    pub(crate) permits: Vec<PolicyId>,
}

impl Verdict {
    /// From a Cedar response over a set of policies; `is_forbid` tells a policy's effect.
    fn of_response(response: &cedar_policy::Response, is_forbid: impl Fn(&PolicyId) -> bool) -> Verdict {
        let diagnostics = response.diagnostics();
        let forbid_error = diagnostics
            .errors()
            .map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(e) => e.policy_id(),
            })
            .filter(|id| is_forbid(id))
            .min()
            .cloned();
        let mut matched: Vec<PolicyId> = diagnostics.reason().cloned().collect();
        matched.sort();
        if response.decision() == cedar_policy::Decision::Deny {
            Verdict {
                forbid_error,
                forbids: matched,
                permits: Vec::new(),
            }
        } else {
            Verdict {
                forbid_error,
                forbids: Vec::new(),
                permits: matched,
            }
        }
    }
}

/// The Cedar request for a call whose principal and tool are known and whose arguments fit the
/// tool's schema: the one construction `decide` and the differential tooling share.
fn to_cedar(
    bundle: &Bundle,
    principal: &PrincipalEntry,
    tool: &tribune_bundle::Tool,
    entry: &ToolEntry,
    request: &Request<'_>,
    now_ms: i64,
    tainted: &[Tainted],
) -> Result<cedar_policy::Request, Denial> {
    let all = plan::Reads {
        all: true,
        ..plan::Reads::default()
    };
    to_cedar_reading(
        bundle, principal, tool, entry, request, now_ms, &all, true, tainted,
    )?
    .ok_or_else(|| {
        (
            Stage::Internal,
            Code::InternalError,
            None,
            "no Cedar request was built".to_owned(),
        )
    })
}

/// [`to_cedar`] with `context.input` holding only the arguments in `reads`, and no request at
/// all unless `needed`. Either way every argument and context attribute is checked, so a
/// request is refused for the same reasons whatever the policies read. `context.tainted` is
/// always built whole: the plan prunes only `context.input`.
#[allow(clippy::too_many_arguments)]
fn to_cedar_reading(
    bundle: &Bundle,
    principal: &PrincipalEntry,
    tool: &tribune_bundle::Tool,
    entry: &ToolEntry,
    request: &Request<'_>,
    now_ms: i64,
    reads: &plan::Reads,
    needed: bool,
    tainted: &[Tainted],
) -> Result<Option<cedar_policy::Request>, Denial> {
    let keep = |name: &str| needed && reads.wants(name);
    let input = args::record_only(request.arguments, &tool.input, &keep)
        .map_err(|e| (Stage::Request, Code::InvalidArguments, None, e))?;
    let request_context = args::request_context(request.context, &bundle.context)
        .map_err(|e| (Stage::Request, Code::InvalidContext, None, e))?;
    if !needed {
        return Ok(None);
    }
    let context = cedar_context(input, request.session, request_context, tainted, now_ms)
        .map_err(|e| (Stage::Internal, Code::InternalError, None, e))?;
    cedar_policy::Request::new(
        principal.uid.clone(),
        entry.action.clone(),
        entry.resource.clone(),
        context,
        None,
    )
    .map(Some)
    .map_err(|e| (Stage::Internal, Code::InternalError, None, e.to_string()))
}

fn deny(mut d: Decision, stage: Stage, code: Code, rule: Option<String>, message: String) -> Decision {
    d.decision = Outcome::Deny;
    d.approvals_required = 0;
    d.mfa_required = false;
    d.reviewer_pool = None;
    d.obligations.clear();
    d.reasons.push(Reason {
        stage,
        code,
        rule,
        message,
    });
    d
}

fn cedar_context(
    input: RestrictedExpression,
    session: Option<&str>,
    request: RestrictedExpression,
    tainted: &[Tainted],
    now_ms: i64,
) -> Result<Context, String> {
    let [unix, hour, weekday] = time_parts(now_ms);
    let time = RestrictedExpression::new_record([
        ("unix".to_owned(), RestrictedExpression::new_long(unix)),
        ("hour".to_owned(), RestrictedExpression::new_long(hour)),
        ("weekday".to_owned(), RestrictedExpression::new_long(weekday)),
    ])
    .map_err(|e| e.to_string())?;
    Context::from_pairs([
        ("input".to_owned(), input),
        (
            "session".to_owned(),
            RestrictedExpression::new_string(session.unwrap_or_default().to_owned()),
        ),
        ("time".to_owned(), time),
        ("request".to_owned(), request),
        (
            "tainted".to_owned(),
            RestrictedExpression::new_set(
                tainted
                    .iter()
                    .map(|t| t.argument.as_str())
                    .collect::<BTreeSet<&str>>()
                    .into_iter()
                    .map(|a| RestrictedExpression::new_string(a.to_owned())),
            ),
        ),
    ])
    .map_err(|e| e.to_string())
}

/// `context.time`: seconds since the epoch, hour of the day (UTC), ISO weekday.
fn time_parts(now_ms: i64) -> [i64; 3] {
    let secs = now_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    // 1970-01-01 was a Thursday; ISO weekday 1 = Monday.
    [secs, secs.rem_euclid(86_400) / 3600, (days + 3).rem_euclid(7) + 1]
}

/// SHA-256 (hex) of `arguments` in RFC 8785 canonical JSON.
pub fn arguments_hash(arguments: &Value) -> Result<String, String> {
    // Tool arguments are small: the canonical text is gathered into one buffer and hashed in
    // one call, rather than fed to the hasher a few bytes at a time.
    let canonical = tribune_ledger::canonical::to_vec(arguments)
        .map_err(|e| format!("cannot canonicalize arguments: {e}"))?;
    Ok(hex::encode(Sha256::digest(&canonical)))
}
