//! What the decision point evaluates for one (tool, principal group) pair, decided once.
//!
//! The index (`index.rs`) leaves the policies whose scope can match. Of those, many need no
//! evaluation per request:
//!
//! - a policy with no `when`/`unless` clause is satisfied by every request that reaches it (its
//!   scope matches), and cannot error: its effect is known when the plan is made;
//! - a policy whose first clause is a `when` that is false for every request to this tool is
//!   never satisfied and never errors: it is left out. Such a clause is found without guessing:
//!   either it reads only `resource`, `action` and literals (fixed per tool, since the entities
//!   are fixed per snapshot), and Cedar itself evaluates it once, at plan time, to `false`
//!   without error; or it starts with a guard `context.input has F` (`context has input.F`)
//!   for an argument `F` the tool does not declare, which is false because `context.input`
//!   holds only the tool's declared arguments (`args`), and Cedar evaluates `&&` left to right.
//!   A policy whose every clause reads only `resource`, `action` and literals is evaluated whole
//!   at plan time: satisfied means static, false means left out, an error keeps it for Cedar.
//!
//! Everything else is evaluated per request, in two sets: the forbids first, and the permits
//! only when no forbid matched or failed, since a forbid settles the decision and permits then
//! change neither it nor its reasons. A policy whose conditions `eval` compiles is evaluated
//! by them, over the request's JSON; the others by Cedar, and `Reads` says which arguments
//! those can read, so the decision point converts only those (see `args::record_only`) and
//! builds no Cedar request at all when every policy is compiled. Should a compiled condition
//! meet a value it does not model (`eval::Fault::Unsupported`), Cedar evaluates every
//! conditional policy of the plan instead.
//! INVARIANT(plan-equivalence): the plan's outcome — the decision, the determining policies
//! and the erroring forbids — is Cedar's over the full policy set; the differential test
//! (`tests/it/differential.rs`) checks `decide` against `Snapshot::decide_reference`.

use std::collections::BTreeSet;
use std::sync::Arc;

use cedar_policy::{Authorizer, Context, Effect, Entities, EntityUid, Policy, PolicyId, PolicySet};
use serde_json::{Value, json};
use tribune_bundle::input::ArgRecord;

use crate::eval::{Condition, Env, Fault};
use crate::{Denial, Verdict};

/// Which top-level arguments (`context.input.*`) a set of policies can read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// Some policy reads `context` or `context.input` as a whole value.
    pub all: bool,
    /// Arguments read through `.` or tested with `has`.
    pub fields: BTreeSet<String>,
}

impl Reads {
    /// Whether argument `name` must be converted for Cedar.
    pub fn wants(&self, name: &str) -> bool {
        self.all || self.fields.contains(name)
    }

    /// Adds what `other` reads.
    pub fn extend(&mut self, other: &Reads) {
        self.all |= other.all;
        self.fields.extend(other.fields.iter().cloned());
    }

    /// What the `when`/`unless` clauses of a policy (its JSON form) can read. Conservative: a
    /// `context` it cannot follow counts as reading every argument.
    pub fn of_policy(policy: &Value) -> Reads {
        let mut reads = Reads::default();
        if let Some(conditions) = policy.get("conditions") {
            reads.walk(conditions);
        }
        reads
    }

    fn walk(&mut self, v: &Value) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(var)) = map.get("Var") {
                    if var == "context" {
                        self.all = true;
                    }
                    return;
                }
                if let Some(get) = map.get(".") {
                    if let Some(path) = context_path(v) {
                        self.path(&path, false);
                    } else if let Some(left) = get.get("left") {
                        self.walk(left);
                    }
                    return;
                }
                if let Some(has) = map.get("has") {
                    let left = has.get("left");
                    match (left.and_then(context_path), attrs(has.get("attr"))) {
                        (Some(mut path), Some(attrs)) => {
                            path.extend(attrs);
                            self.path(&path, true);
                        }
                        _ => {
                            if let Some(left) = left {
                                self.walk(left);
                            }
                        }
                    }
                    return;
                }
                for child in map.values() {
                    self.walk(child);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| self.walk(i)),
            _ => {}
        }
    }

    /// `context.<path>` is read (`.`) or, with `presence`, its last step tested (`has`).
    fn path(&mut self, path: &[&str], presence: bool) {
        match path {
            // `context` itself, or `context.input` as a value: everything.
            [] => self.all = true,
            ["input"] if !presence => self.all = true,
            ["input", field, ..] => {
                self.fields.insert((*field).to_owned());
            }
            // `context has input`, other context attributes: always built in full.
            _ => {}
        }
    }
}

/// `context.a.b...` as `[a, b, ...]`, if `v` is such a chain of attribute reads.
fn context_path(v: &Value) -> Option<Vec<&str>> {
    if v.get("Var").and_then(Value::as_str) == Some("context") {
        return Some(Vec::new());
    }
    let get = v.get(".")?;
    let mut path = context_path(get.get("left")?)?;
    path.push(get.get("attr")?.as_str()?);
    Some(path)
}

/// The attribute(s) of a `has`: one name, or a path (`has a.b`).
fn attrs(v: Option<&Value>) -> Option<Vec<&str>> {
    match v? {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// Whether `v` reads the variable `principal` or `context` anywhere (conservatively: any
/// `Var` other than `resource` and `action`, any slot).
fn open(v: &Value) -> bool {
    match v {
        Value::Object(map) => {
            if let Some(var) = map.get("Var") {
                return !matches!(var.as_str(), Some("resource" | "action"));
            }
            map.contains_key("Slot") || map.values().any(open)
        }
        Value::Array(items) => items.iter().any(open),
        _ => false,
    }
}

/// How one policy whose scope matches behaves for one tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fold {
    /// Satisfied by every request (no conditions, or conditions true for this tool).
    Always,
    /// Never satisfied and never an error for this tool.
    Never,
    /// Cedar evaluates it per request.
    Evaluate,
}

/// What `fold` needs to know about a tool.
pub struct ToolFacts<'a> {
    /// The tool's action.
    pub action: &'a EntityUid,
    /// The tool as a resource.
    pub resource: &'a EntityUid,
    /// The arguments its `context.input` can hold (`None`: unknown, so any).
    pub arguments: Option<&'a ArgRecord>,
    /// The snapshot's entities.
    pub entities: &'a Entities,
}

/// Classifies `policy` (its scope known to match `tool`); `json` is its JSON form.
pub fn fold(policy: &Policy, json: Option<&Value>, tool: &ToolFacts<'_>) -> Fold {
    if !policy.has_non_scope_constraint() {
        return Fold::Always;
    }
    let Some(clauses) = json.and_then(|j| j.get("conditions")).and_then(Value::as_array) else {
        return Fold::Evaluate;
    };
    if !clauses.is_empty() && !clauses.iter().any(open) {
        // Fixed per tool: let Cedar evaluate the whole condition once.
        return match evaluate(clauses.clone(), tool) {
            Some(true) => Fold::Always,
            Some(false) => Fold::Never,
            None => Fold::Evaluate,
        };
    }
    match clauses.first() {
        Some(first) if first.get("kind").and_then(Value::as_str) == Some("when") => match first.get("body") {
            Some(body) if never(body, tool) => Fold::Never,
            _ => Fold::Evaluate,
        },
        _ => Fold::Evaluate,
    }
}

/// Whether `body` evaluates to `false`, without error, for every request to `tool`.
fn never(body: &Value, tool: &ToolFacts<'_>) -> bool {
    if !open(body) {
        return evaluate(vec![json!({"kind": "when", "body": body})], tool) == Some(false);
    }
    if let Some(and) = body.get("&&") {
        // `false && x` is `false`; `x` is not evaluated.
        return and.get("left").is_some_and(|l| never(l, tool));
    }
    if let Some(or) = body.get("||") {
        return or.get("left").is_some_and(|l| never(l, tool))
            && or.get("right").is_some_and(|r| never(r, tool));
    }
    if let Some(has) = body.get("has")
        && let (Some(mut path), Some(attrs)) =
            (has.get("left").and_then(context_path), attrs(has.get("attr")))
    {
        // `context` always has `input`, a record of exactly the tool's declared arguments
        // that the request supplied; testing for one the tool does not declare is `false`.
        path.extend(attrs);
        if let ["input", field, ..] = path.as_slice() {
            return tool.arguments.is_some_and(|a| !a.fields.contains_key(*field));
        }
    }
    false
}

/// Cedar's verdict on `clauses` for any request to `tool`: `None` on an error.
fn evaluate(clauses: Vec<Value>, tool: &ToolFacts<'_>) -> Option<bool> {
    let json = json!({
        "effect": "permit",
        "principal": {"op": "All"},
        "action": {"op": "All"},
        "resource": {"op": "All"},
        "conditions": clauses,
    });
    let policy = Policy::from_json(Some(PolicyId::new("fold")), json).ok()?;
    let mut set = PolicySet::new();
    set.add(policy).ok()?;
    // The principal and the context are not read (`open` is false): any will do.
    let request = cedar_policy::Request::new(
        tool.resource.clone(),
        tool.action.clone(),
        tool.resource.clone(),
        Context::empty(),
        None,
    )
    .ok()?;
    let response = Authorizer::new().is_authorized(&request, &set, tool.entities);
    if response.diagnostics().errors().next().is_some() {
        return None;
    }
    Some(response.decision() == cedar_policy::Decision::Allow)
}

/// The plan for one (tool, principal group) pair.
#[derive(Debug, Default)]
pub struct Plan {
    /// Forbids satisfied by every request, sorted.
    pub forbids: Vec<PolicyId>,
    /// Permits satisfied by every request, sorted.
    pub permits: Vec<PolicyId>,
    /// Every forbid evaluated per request (compiled or not): what Cedar evaluates when the
    /// compiled evaluator meets a case it does not model.
    pub eval_forbids: PolicySet,
    /// Every permit evaluated per request, likewise.
    pub eval_permits: PolicySet,
    /// Forbids evaluated per request by their compiled conditions (`eval`).
    pub compiled_forbids: Vec<(PolicyId, Arc<Condition>)>,
    /// Permits evaluated per request by their compiled conditions.
    pub compiled_permits: Vec<(PolicyId, Arc<Condition>)>,
    /// Forbids Cedar evaluates per request (no compiled form).
    pub cedar_forbids: PolicySet,
    /// Permits Cedar evaluates per request, when no forbid settled the decision.
    pub cedar_permits: PolicySet,
    /// The arguments `cedar_forbids` and `cedar_permits` can read.
    pub reads: Reads,
    /// The arguments `eval_forbids` and `eval_permits` can read.
    pub reads_all: Reads,
}

impl Plan {
    /// Adds a policy whose scope matches, as `fold` classified it, with its compiled condition
    /// if it has one.
    pub fn add(
        &mut self,
        policy: &Policy,
        fold: Fold,
        reads: &Reads,
        compiled: Option<&Arc<Condition>>,
    ) -> Result<(), String> {
        let effect = policy.effect();
        match (fold, effect) {
            (Fold::Never, _) => {}
            (Fold::Always, Effect::Forbid) => self.forbids.push(policy.id().clone()),
            (Fold::Always, Effect::Permit) => self.permits.push(policy.id().clone()),
            (Fold::Evaluate, _) => {
                let (all, compiled_list, cedar) = match effect {
                    Effect::Forbid => (
                        &mut self.eval_forbids,
                        &mut self.compiled_forbids,
                        &mut self.cedar_forbids,
                    ),
                    Effect::Permit => (
                        &mut self.eval_permits,
                        &mut self.compiled_permits,
                        &mut self.cedar_permits,
                    ),
                };
                all.add(policy.clone()).map_err(|e| e.to_string())?;
                self.reads_all.extend(reads);
                match compiled {
                    Some(c) => compiled_list.push((policy.id().clone(), Arc::clone(c))),
                    None => {
                        cedar.add(policy.clone()).map_err(|e| e.to_string())?;
                        self.reads.extend(reads);
                    }
                }
            }
        }
        Ok(())
    }

    /// Sorts the static lists; call once all policies are added.
    pub fn finish(mut self) -> Plan {
        self.forbids.sort();
        self.permits.sort();
        self
    }
}

/// Builds the Cedar request for a plan: `context.input` holding what the given `Reads` name.
pub type CedarRequest<'r> = dyn FnMut(&Reads) -> Result<cedar_policy::Request, Denial> + 'r;

/// The outcome of the compiled conditions of one effect.
enum Compiled {
    /// The matching policies and the least erroring one.
    Done(Vec<PolicyId>, Option<PolicyId>),
    /// A condition met a case the evaluator does not model.
    Unsupported,
}

fn run_compiled(conditions: &[(PolicyId, Arc<Condition>)], env: &Env<'_>) -> Compiled {
    let mut matched = Vec::new();
    let mut error: Option<&PolicyId> = None;
    for (id, condition) in conditions {
        match condition.eval(env) {
            Ok(true) => matched.push(id.clone()),
            Ok(false) => {}
            Err(Fault::Error) => {
                if error.is_none_or(|e| id < e) {
                    error = Some(id);
                }
            }
            Err(Fault::Unsupported) => return Compiled::Unsupported,
        }
    }
    Compiled::Done(matched, error.cloned())
}

impl Plan {
    /// Cedar's verdict for the request `env` describes: compiled conditions first, Cedar for
    /// the rest (its request built by `cedar` only if some policy needs it). Should a compiled
    /// condition meet a case it does not model, Cedar evaluates the whole plan instead.
    pub fn verdict(
        &self,
        env: &Env<'_>,
        cedar: &mut CedarRequest<'_>,
        entities: &Entities,
    ) -> Result<Verdict, Denial> {
        let mut request: Option<cedar_policy::Request> = None;
        let mut forbids = self.forbids.clone();
        let (matched, mut forbid_error) = match run_compiled(&self.compiled_forbids, env) {
            Compiled::Done(m, e) => (m, e),
            Compiled::Unsupported => return self.verdict_cedar(cedar, entities),
        };
        forbids.extend(matched);
        if !self.cedar_forbids.is_empty() {
            let r = request.insert(cedar(&self.reads)?);
            let response = Authorizer::new().is_authorized(r, &self.cedar_forbids, entities);
            let diagnostics = response.diagnostics();
            let error = diagnostics
                .errors()
                .map(|e| match e {
                    cedar_policy::AuthorizationError::PolicyEvaluationError(e) => e.policy_id(),
                })
                .min()
                .cloned();
            forbid_error = match (forbid_error, error) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            forbids.extend(diagnostics.reason().cloned());
        }
        if forbid_error.is_some() {
            return Ok(Verdict {
                forbid_error,
                ..Verdict::default()
            });
        }
        if !forbids.is_empty() {
            forbids.sort();
            return Ok(Verdict {
                forbids,
                ..Verdict::default()
            });
        }
        let mut permits = self.permits.clone();
        match run_compiled(&self.compiled_permits, env) {
            // Errors in permits only mean they do not match.
            Compiled::Done(m, _) => permits.extend(m),
            Compiled::Unsupported => return self.verdict_cedar(cedar, entities),
        }
        if !self.cedar_permits.is_empty() {
            let r = match request {
                Some(r) => r,
                None => cedar(&self.reads)?,
            };
            let response = Authorizer::new().is_authorized(&r, &self.cedar_permits, entities);
            permits.extend(response.diagnostics().reason().cloned());
        }
        permits.sort();
        Ok(Verdict {
            permits,
            ..Verdict::default()
        })
    }

    /// Cedar's verdict over every conditional policy of the plan, nothing compiled.
    fn verdict_cedar(&self, cedar: &mut CedarRequest<'_>, entities: &Entities) -> Result<Verdict, Denial> {
        let mut forbids = self.forbids.clone();
        let mut request: Option<cedar_policy::Request> = None;
        if !self.eval_forbids.is_empty() {
            let r = request.insert(cedar(&self.reads_all)?);
            let response = Authorizer::new().is_authorized(r, &self.eval_forbids, entities);
            let diagnostics = response.diagnostics();
            let forbid_error = diagnostics
                .errors()
                .map(|e| match e {
                    cedar_policy::AuthorizationError::PolicyEvaluationError(e) => e.policy_id(),
                })
                .min()
                .cloned();
            if forbid_error.is_some() {
                return Ok(Verdict {
                    forbid_error,
                    ..Verdict::default()
                });
            }
            forbids.extend(diagnostics.reason().cloned());
        }
        if !forbids.is_empty() {
            forbids.sort();
            return Ok(Verdict {
                forbids,
                ..Verdict::default()
            });
        }
        let mut permits = self.permits.clone();
        if !self.eval_permits.is_empty() {
            let r = match request {
                Some(r) => r,
                None => cedar(&self.reads_all)?,
            };
            // Errors in permits only mean they do not match.
            let response = Authorizer::new().is_authorized(&r, &self.eval_permits, entities);
            permits.extend(response.diagnostics().reason().cloned());
        }
        permits.sort();
        Ok(Verdict {
            permits,
            ..Verdict::default()
        })
    }
}
