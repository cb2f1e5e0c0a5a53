//! Synthetic governance bundles and requests, shared by the differential test
//! (`tests/it/differential.rs`) and the `decide` benchmark (`benches/decide.rs`).
//!
//! [`Synth::new`] lays out a realistic deployment from a seed: agent classes with ceilings and
//! tightened autonomy, thousands of agents, humans in reviewer pools, services with scopes,
//! providers, and tools of every tier whose typed input schemas use strings, integers, numbers,
//! booleans, string arrays and a nested object. Its policies mix every shape Tribune users
//! write: per-tool and per-group permits for classes, forbids on arguments, per-agent and
//! per-service rules, resource scopes, `unless` clauses, unscoped rules, and conditions that
//! raise evaluation errors at run time (long overflow). Every condition passes strict
//! validation against the generated schema by construction. [`Synth::request`] draws requests
//! that fit the schemas, edge values included.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use tribune_policy::{PrincipalKind, Request, Snapshot};

/// How big a bundle to generate.
#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// Seeds every random choice of the bundle.
    pub seed: u64,
    /// Agent classes.
    pub classes: usize,
    /// Agents.
    pub agents: usize,
    /// Humans.
    pub humans: usize,
    /// Reviewer pools.
    pub pools: usize,
    /// Services.
    pub services: usize,
    /// Providers.
    pub providers: usize,
    /// Tools.
    pub tools: usize,
    /// Policies written to `policies/*.cedar` (built-in rules come on top).
    pub policies: usize,
    /// Extra policies, on top of `policies`, of the shapes in [`SHAPES`]: every construct the
    /// compiled evaluator (`src/eval.rs`) mirrors, for the differential test. Zero for the
    /// benchmark, whose bundle they would change.
    pub shapes: usize,
}

impl Spec {
    /// 10,000 declared entities and 1,000 policies: the size of the performance targets.
    pub fn full(seed: u64) -> Spec {
        Spec {
            seed,
            classes: 50,
            agents: 9_000,
            humans: 700,
            pools: 20,
            services: 10,
            providers: 20,
            tools: 200,
            policies: 1_000,
            shapes: 0,
        }
    }

    /// A 10,000-entity deployment with 15 classes and 100 policies, for the debug-build
    /// differential test: the unindexed side evaluates every policy, built-in ceiling rules
    /// (one or two per class) included, on every request.
    pub fn ci(seed: u64) -> Spec {
        Spec {
            classes: 15,
            agents: 9_035,
            policies: 100,
            shapes: 40,
            ..Spec::full(seed)
        }
    }

    /// The same deployment with `policies` policies.
    pub fn with_policies(self, policies: usize) -> Spec {
        Spec { policies, ..self }
    }

    /// Declared entities: classes, agents, humans, pools, services, providers and tools.
    pub fn entities(&self) -> usize {
        self.classes + self.agents + self.humans + self.pools + self.services + self.providers + self.tools
    }
}

/// The Cedar type of an argument of the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ty {
    Str,
    Long,
    Decimal,
    Bool,
    StrSet,
    /// `{ tag: String (required), level: Long (optional) }`.
    Meta,
}

/// Every argument name has one type across all tools, so a condition over an action group
/// that guards with `has` type-checks for every tool in the group.
const FIELDS: &[(&str, Ty)] = &[
    ("to", Ty::Str),
    ("query", Ty::Str),
    ("path", Ty::Str),
    ("status", Ty::Str),
    ("currency", Ty::Str),
    ("count", Ty::Long),
    ("n", Ty::Long),
    ("limit", Ty::Long),
    ("amount", Ty::Decimal),
    ("ratio", Ty::Decimal),
    ("urgent", Ty::Bool),
    ("dry_run", Ty::Bool),
    ("cc", Ty::StrSet),
    ("tags", Ty::StrSet),
    ("meta", Ty::Meta),
];

const STATUSES: &[&str] = &["open", "pending", "solved", "deleted"];
const TIERS: &[&str] = &["read", "write", "irreversible"];
const SCALE: &[&str] = &["public", "internal", "confidential", "restricted", "phi"];
const SESSIONS: &[&str] = &["s-1", "s-42", "batch-7", "batch-", "", "ß-ünï"];

/// One generated tool, as the request generator needs it.
#[derive(Clone, Debug)]
pub struct ToolDef {
    /// Tool id.
    pub id: String,
    /// Index of its provider.
    pub provider: usize,
    /// Index into `read`, `write`, `irreversible`.
    pub tier: usize,
    /// (index into the field catalog, required).
    fields: Vec<(usize, bool)>,
    /// Whether the schema also has a property Cedar cannot see.
    unmapped: bool,
}

/// A generated bundle: its files plus what the request generator needs to know.
#[derive(Clone, Debug)]
pub struct Synth {
    /// The size it was generated at.
    pub spec: Spec,
    /// `tribune.toml`.
    pub manifest: String,
    /// `policies/NAME.cedar` -> text.
    pub policy_files: Vec<(String, String)>,
    /// The tools.
    pub tools: Vec<ToolDef>,
    /// Agents some policy names with `principal == Agent::...`; requests favour them.
    pub named_agents: Vec<String>,
    /// Per service, the tool indices it is scoped to.
    pub service_scopes: Vec<Vec<usize>>,
    /// Policy count per kind, for reports.
    pub kinds: Vec<(&'static str, usize)>,
}

/// A request that owns its data; [`OwnedRequest::as_request`] borrows it for `decide`.
#[derive(Clone, Debug)]
pub struct OwnedRequest {
    /// Agent or service.
    pub kind: PrincipalKind,
    /// Its id.
    pub principal: String,
    /// The tool.
    pub tool: String,
    /// The arguments.
    pub arguments: Value,
    /// The session.
    pub session: Option<String>,
    /// Request context attributes.
    pub context: Option<Map<String, Value>>,
}

impl OwnedRequest {
    /// The borrowed form `decide` takes.
    pub fn as_request(&self) -> Request<'_> {
        Request {
            kind: self.kind,
            principal: &self.principal,
            tool: &self.tool,
            arguments: &self.arguments,
            session: self.session.as_deref(),
            context: self.context.as_ref(),
        }
    }
}

impl std::fmt::Display for OwnedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{} -> {} arguments={} session={:?} context={}",
            self.kind.as_str(),
            self.principal,
            self.tool,
            self.arguments,
            self.session,
            self.context
                .as_ref()
                .map_or("none".to_owned(), |c| Value::Object(c.clone()).to_string()),
        )
    }
}

/// Policy kinds and their share of the policy count, per mille.
const MIX: &[(&str, usize)] = &[
    ("class-tool-permit", 330),
    ("group-permit", 150),
    ("tool-argument-forbid", 200),
    ("group-argument-forbid", 40),
    ("per-agent", 100),
    ("resource-scoped", 50),
    ("unless", 40),
    ("unscoped", 10),
    ("may-error", 40),
    ("service", 20),
    ("action-list", 20),
];

impl Synth {
    /// Generates the bundle described by `spec`.
    pub fn new(spec: Spec) -> Synth {
        let mut rng = StdRng::seed_from_u64(spec.seed);
        let rng = &mut rng;
        let tools: Vec<ToolDef> = (0..spec.tools)
            .map(|i| {
                let mut fields: Vec<(usize, bool)> = Vec::new();
                let n = rng.random_range(1..=6);
                while fields.len() < n {
                    let f = rng.random_range(0..FIELDS.len());
                    if !fields.iter().any(|(g, _)| *g == f) {
                        fields.push((f, rng.random_bool(0.5)));
                    }
                }
                fields.sort_unstable();
                ToolDef {
                    id: format!("t{i}"),
                    provider: rng.random_range(0..spec.providers),
                    tier: [0, 0, 0, 0, 1, 1, 1, 2, 2, 2][rng.random_range(0..10)],
                    fields,
                    unmapped: rng.random_bool(0.05),
                }
            })
            .collect();
        let service_scopes: Vec<Vec<usize>> = (0..spec.services)
            .map(|_| {
                // At least one scope: a service with `scopes = []` does not build (see the
                // ignored `service_without_scopes_builds` in tests/it/invalid.rs).
                let mut s: Vec<usize> = (0..rng.random_range(1..=8))
                    .map(|_| rng.random_range(0..spec.tools))
                    .collect();
                s.sort_unstable();
                s.dedup();
                s
            })
            .collect();
        let manifest = manifest(&spec, &tools, &service_scopes, rng);

        let mut synth = Synth {
            spec,
            manifest,
            policy_files: Vec::new(),
            tools,
            named_agents: Vec::new(),
            service_scopes,
            kinds: Vec::new(),
        };
        let mut policies = Vec::new();
        for (kind, share) in MIX {
            let count = spec.policies * share / 1000;
            synth.kinds.push((kind, count));
            for _ in 0..count {
                policies.push(synth.policy(kind, rng));
            }
        }
        while policies.len() < spec.policies {
            policies.push(synth.policy("class-tool-permit", rng));
            if let Some(k) = synth.kinds.first_mut() {
                k.1 += 1;
            }
        }
        for _ in 0..spec.shapes {
            policies.push(synth.shape(rng));
        }
        // Shuffle so files mix kinds, as hand-written bundles do.
        for i in (1..policies.len()).rev() {
            let j = rng.random_range(0..=i);
            policies.swap(i, j);
        }
        for (f, chunk) in policies.chunks(100).enumerate() {
            let mut text = format!("// Generated policies, file {f}.\n\n");
            for (i, p) in chunk.iter().enumerate() {
                // Most policies carry an `@id`; a few are named by file and position.
                if rng.random_bool(0.97) {
                    let _ = writeln!(text, "@id(\"gen-{f:02}-{i:03}\")");
                }
                text.push_str(p);
                text.push('\n');
            }
            synth.policy_files.push((format!("g{f:02}.cedar"), text));
        }
        synth.named_agents.sort();
        synth.named_agents.dedup();
        synth
    }

    /// Writes `tribune.toml` and `policies/*.cedar` into `dir`.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::write(dir.join("tribune.toml"), &self.manifest)?;
        let policies = dir.join("policies");
        std::fs::create_dir_all(&policies)?;
        for (name, text) in &self.policy_files {
            std::fs::write(policies.join(name), text)?;
        }
        Ok(())
    }

    /// Writes the bundle to a temporary directory, loads it with `tribune_bundle::load_dir`
    /// and builds the snapshot, panicking with the rendered diagnostics on any error.
    pub fn snapshot(&self) -> Snapshot {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot make a temporary directory: {e}"));
        self.write_to(dir.path())
            .unwrap_or_else(|e| panic!("cannot write the bundle: {e}"));
        let render = |d: Vec<tribune_bundle::Diagnostic>| {
            d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        };
        let bundle = tribune_bundle::load_dir(dir.path()).unwrap_or_else(|d| {
            panic!(
                "seed {}: the bundle does not load:\n{}",
                self.spec.seed,
                render(d)
            )
        });
        Snapshot::build(bundle).unwrap_or_else(|d| {
            panic!(
                "seed {}: the bundle does not build:\n{}",
                self.spec.seed,
                render(d)
            )
        })
    }

    fn policy<R: Rng + ?Sized>(&mut self, kind: &str, rng: &mut R) -> String {
        let spec = self.spec;
        let class = |rng: &mut R| format!("AgentClass::\"c{}\"", rng.random_range(0..spec.classes));
        let tool_ix = |rng: &mut R| rng.random_range(0..spec.tools);
        let group = |rng: &mut R| {
            if rng.random_bool(0.6) {
                format!("Action::\"provider:p{}\"", rng.random_range(0..spec.providers))
            } else {
                format!("Action::\"tier:{}\"", TIERS.choose(rng).unwrap_or(&"read"))
            }
        };
        match kind {
            "class-tool-permit" => {
                let t = tool_ix(rng);
                let mut s = String::new();
                if rng.random_bool(0.08) {
                    let _ = writeln!(s, "@approvals(\"{}\")", rng.random_range(0..=3));
                }
                if rng.random_bool(0.05) {
                    s.push_str("@mfa\n");
                }
                let cond = if rng.random_bool(0.3) {
                    Some(self.any_condition(Some(t), rng))
                } else {
                    None
                };
                s + &policy(
                    "permit",
                    &format!("principal in {}", class(rng)),
                    &format!("action == Action::\"t{t}\""),
                    "resource",
                    cond,
                    None,
                )
            }
            "group-permit" => {
                let cond = if rng.random_bool(0.3) {
                    Some(context_condition(spec, rng))
                } else {
                    None
                };
                policy(
                    "permit",
                    &format!("principal in {}", class(rng)),
                    &format!("action in {}", group(rng)),
                    "resource",
                    cond,
                    None,
                )
            }
            "tool-argument-forbid" => {
                let t = tool_ix(rng);
                let principal = if rng.random_bool(0.6) {
                    "principal".to_owned()
                } else {
                    format!("principal in {}", class(rng))
                };
                let mut cond = self.input_condition(t, rng);
                if rng.random_bool(0.25) {
                    cond = format!("{cond} && {}", self.input_condition(t, rng));
                } else if rng.random_bool(0.2) {
                    cond = format!("{cond} || {}", self.input_condition(t, rng));
                }
                let unless = rng.random_bool(0.15).then(|| context_condition(spec, rng));
                let reason = format!("@reason(\"argument rule on `t{t}`\")\n");
                reason
                    + &policy(
                        "forbid",
                        &principal,
                        &format!("action == Action::\"t{t}\""),
                        "resource",
                        Some(cond),
                        unless,
                    )
            }
            "group-argument-forbid" => {
                let cond = guarded_condition(rng);
                let action = if rng.random_bool(0.8) {
                    format!("Action::\"provider:p{}\"", rng.random_range(0..spec.providers))
                } else {
                    "Action::\"tier:irreversible\"".to_owned()
                };
                policy(
                    "forbid",
                    "principal",
                    &format!("action in {action}"),
                    "resource",
                    Some(cond),
                    None,
                )
            }
            "per-agent" => {
                let a = format!("a{}", rng.random_range(0..spec.agents));
                let principal = format!("principal == Agent::\"{a}\"");
                self.named_agents.push(a);
                let t = tool_ix(rng);
                let (action, cond) = if rng.random_bool(0.5) {
                    let cond = rng.random_bool(0.4).then(|| self.input_condition(t, rng));
                    (format!("action == Action::\"t{t}\""), cond)
                } else {
                    let cond = rng.random_bool(0.4).then(|| guarded_condition(rng));
                    (format!("action in {}", group(rng)), cond)
                };
                let effect = if rng.random_bool(0.6) { "permit" } else { "forbid" };
                policy(effect, &principal, &action, "resource", cond, None)
            }
            "resource-scoped" => {
                let p = rng.random_range(0..spec.providers);
                let resource = match rng.random_range(0..3) {
                    0 => format!("resource in Provider::\"p{p}\""),
                    1 => format!("resource == Tool::\"t{}\"", tool_ix(rng)),
                    _ => format!("resource is Tool in Provider::\"p{p}\""),
                };
                let principal = if rng.random_bool(0.7) {
                    format!("principal in {}", class(rng))
                } else {
                    format!("principal is Agent in {}", class(rng))
                };
                let action = if rng.random_bool(0.5) {
                    "action".to_owned()
                } else {
                    format!(
                        "action in Action::\"tier:{}\"",
                        TIERS.choose(rng).unwrap_or(&"read")
                    )
                };
                let effect = if rng.random_bool(0.7) { "permit" } else { "forbid" };
                let cond = rng.random_bool(0.3).then(|| context_condition(spec, rng));
                policy(effect, &principal, &action, &resource, cond, None)
            }
            "unless" => {
                // Deployment-wide exceptions name one provider; class-wide ones any group.
                let (principal, action) = if rng.random_bool(0.95) {
                    (format!("principal in {}", class(rng)), group(rng))
                } else {
                    (
                        "principal".to_owned(),
                        format!("Action::\"provider:p{}\"", rng.random_range(0..spec.providers)),
                    )
                };
                let unless = match rng.random_range(0..4) {
                    0 => "context.request has break_glass && context.request.break_glass".to_owned(),
                    1 => "context.session like \"s-*\"".to_owned(),
                    2 => "principal.owner.roles.contains(\"oncall\")".to_owned(),
                    _ => guarded_condition(rng),
                };
                let cond = rng.random_bool(0.3).then(|| context_condition(spec, rng));
                policy(
                    "forbid",
                    &principal,
                    &format!("action in {action}"),
                    "resource",
                    cond,
                    Some(unless),
                )
            }
            "unscoped" => {
                if rng.random_bool(0.5) {
                    let cond = match rng.random_range(0..3) {
                        0 => "resource.tier == \"read\" && resource.classification_rank <= 1".to_owned(),
                        1 => format!(
                            "principal is Agent && principal.class == AgentClass::\"c{}\" && resource.tier_rank == 0",
                            rng.random_range(0..spec.classes)
                        ),
                        _ => format!(
                            "principal.owner in ReviewerPool::\"pool{}\" && resource.destination == \"internal\"",
                            rng.random_range(0..spec.pools)
                        ),
                    };
                    policy("permit", "principal", "action", "resource", Some(cond), None)
                } else {
                    let cond = match rng.random_range(0..3) {
                        0 => "resource.classification_rank >= 4 && resource.destination == \"external\""
                            .to_owned(),
                        1 => "context.request has risk && context.request.risk > 90".to_owned(),
                        _ => "context.time.hour < 2 && resource.tier_rank >= 2".to_owned(),
                    };
                    "@reason(\"deployment-wide rule\")\n".to_owned()
                        + &policy("forbid", "principal", "action", "resource", Some(cond), None)
                }
            }
            "may-error" => {
                // Long overflow: only edge-value arguments make these error. Scoped to a whole
                // tier so that edge values meet them often.
                let cond = erroring_condition(rng);
                let effect = if rng.random_bool(0.5) { "permit" } else { "forbid" };
                let principal = if effect == "permit" && rng.random_bool(0.5) {
                    format!("principal in {}", class(rng))
                } else {
                    "principal".to_owned()
                };
                let action = format!(
                    "action in Action::\"tier:{}\"",
                    TIERS.choose(rng).unwrap_or(&"read")
                );
                policy(effect, &principal, &action, "resource", Some(cond), None)
            }
            "service" => {
                let s = rng.random_range(0..spec.services.max(1));
                let scoped = self.service_scopes.get(s).cloned().unwrap_or_default();
                let t = scoped.choose(rng).copied().unwrap_or_else(|| tool_ix(rng));
                let principal = if rng.random_bool(0.8) {
                    format!("principal == Service::\"s{s}\"")
                } else {
                    "principal is Service".to_owned()
                };
                let cond = rng.random_bool(0.3).then(|| self.input_condition(t, rng));
                policy(
                    "permit",
                    &principal,
                    &format!("action == Action::\"t{t}\""),
                    "resource",
                    cond,
                    None,
                )
            }
            _ => {
                // "action-list"
                let n = rng.random_range(2..=5);
                let list: Vec<String> = (0..n).map(|_| format!("Action::\"t{}\"", tool_ix(rng))).collect();
                let effect = if rng.random_bool(0.7) { "permit" } else { "forbid" };
                let cond = rng.random_bool(0.3).then(|| context_condition(spec, rng));
                policy(
                    effect,
                    &format!("principal in {}", class(rng)),
                    &format!("action in [{}]", list.join(", ")),
                    "resource",
                    cond,
                    None,
                )
            }
        }
    }

    /// A policy over a whole tier or provider whose condition is one of [`SHAPES`]: mostly
    /// forbids, rarely true of typical requests, some erroring on edge values.
    fn shape<R: Rng + ?Sized>(&mut self, rng: &mut R) -> String {
        let spec = self.spec;
        let action = if rng.random_bool(0.5) {
            format!(
                "action in Action::\"provider:p{}\"",
                rng.random_range(0..spec.providers)
            )
        } else {
            format!(
                "action in Action::\"tier:{}\"",
                TIERS.choose(rng).unwrap_or(&"read")
            )
        };
        let c = rng.random_range(0..spec.classes);
        let p = rng.random_range(0..spec.providers);
        let cond = SHAPES
            .choose(rng)
            .unwrap_or(&"true")
            .replace("{c}", &c.to_string())
            .replace("{c2}", &((c + 1) % spec.classes.max(1)).to_string())
            .replace("{p}", &p.to_string());
        let effect = if rng.random_bool(0.75) { "forbid" } else { "permit" };
        // A forbid `unless` a rare condition would deny nearly everything it covers, so only
        // permits take the `unless` form.
        let (when, unless) = if effect == "permit" && rng.random_bool(0.4) {
            (Some("context.time.hour < 20".to_owned()), Some(cond))
        } else {
            (Some(cond), None)
        };
        policy(effect, "principal", &action, "resource", when, unless)
    }

    /// A condition on the arguments of tool `t`, `has`-guarded where the argument is optional.
    fn input_condition<R: Rng + ?Sized>(&self, t: usize, rng: &mut R) -> String {
        let Some(tool) = self.tools.get(t) else {
            return "true".to_owned();
        };
        let Some(&(f, required)) = tool.fields.choose(rng) else {
            return "context.input == {}".to_owned();
        };
        let (name, ty) = FIELDS.get(f).copied().unwrap_or(("to", Ty::Str));
        let path = format!("context.input.{name}");
        let expr = field_expr(name, ty, &path, required, rng);
        if required || ty == Ty::Meta {
            expr
        } else if rng.random_bool(0.3) {
            format!("(context has input.{name} && {expr})")
        } else {
            format!("(context.input has {name} && {expr})")
        }
    }

    /// A condition on tool `t`'s arguments or on the request's context.
    fn any_condition<R: Rng + ?Sized>(&self, t: Option<usize>, rng: &mut R) -> String {
        match t {
            Some(t) if rng.random_bool(0.6) => self.input_condition(t, rng),
            _ => context_condition(self.spec, rng),
        }
    }

    /// A request drawn to fit the bundle's schemas. Each argument takes an edge value (empty
    /// and odd strings, `i64::MIN`/`MAX`, values next to policy thresholds, numbers Cedar cannot
    /// hold) with probability `edge`, else a typical one; now and then a request does not get
    /// as far as Cedar (an undeclared context attribute, an out-of-range number).
    pub fn request<R: Rng + ?Sized>(&self, rng: &mut R, edge: f64) -> OwnedRequest {
        let spec = self.spec;
        let (kind, principal, tool) = if spec.services > 0 && rng.random_bool(0.12) {
            let s = rng.random_range(0..spec.services);
            let scoped = self.service_scopes.get(s).cloned().unwrap_or_default();
            let t = match scoped.choose(rng) {
                Some(t) if rng.random_bool(0.7) => *t,
                _ => rng.random_range(0..spec.tools),
            };
            (PrincipalKind::Service, format!("s{s}"), t)
        } else {
            let a = match self.named_agents.choose(rng) {
                Some(a) if rng.random_bool(0.3) => a.clone(),
                _ => format!("a{}", rng.random_range(0..spec.agents)),
            };
            (PrincipalKind::Agent, a, rng.random_range(0..spec.tools))
        };
        let def = self.tools.get(tool);
        let mut args = Map::new();
        for &(f, required) in def.map(|d| d.fields.as_slice()).unwrap_or_default() {
            if required || rng.random_bool(0.6) {
                let (name, ty) = FIELDS.get(f).copied().unwrap_or(("to", Ty::Str));
                args.insert(name.to_owned(), value(name, ty, edge, rng));
            }
        }
        if def.is_some_and(|d| d.unmapped) && rng.random_bool(0.5) {
            args.insert(
                "note".to_owned(),
                if rng.random_bool(0.5) {
                    Value::Null
                } else {
                    json!("n")
                },
            );
        }
        if rng.random_bool(0.02) {
            args.insert("extra".to_owned(), json!({"not": "in the schema"}));
        }
        let session = match rng.random_range(0..10) {
            0 => None,
            _ => SESSIONS.choose(rng).map(|s| (*s).to_owned()),
        };
        let context = if rng.random_bool(0.6) {
            None
        } else {
            let mut c = Map::new();
            if rng.random_bool(0.5) {
                c.insert(
                    "environment".to_owned(),
                    json!(["prod", "staging", ""].choose(rng).unwrap_or(&"prod")),
                );
            }
            if rng.random_bool(0.5) {
                let risk: i64 = match rng.random_range(0..4) {
                    _ if !rng.random_bool(edge) => rng.random_range(0..60),
                    0 => 90,
                    1 => 91,
                    2 => i64::MAX,
                    _ => rng.random_range(0..100),
                };
                c.insert("risk".to_owned(), json!(risk));
            }
            if rng.random_bool(0.5) {
                c.insert("break_glass".to_owned(), json!(rng.random_bool(0.5)));
            }
            if rng.random_bool(0.01) {
                c.insert("undeclared".to_owned(), json!(1));
            }
            Some(c)
        };
        OwnedRequest {
            kind,
            principal,
            tool: format!("t{tool}"),
            arguments: Value::Object(args),
            session,
            context,
        }
    }
}

fn policy(
    effect: &str,
    principal: &str,
    action: &str,
    resource: &str,
    when: Option<String>,
    unless: Option<String>,
) -> String {
    let mut s = format!("{effect} (\n    {principal},\n    {action},\n    {resource}\n)");
    if let Some(w) = when {
        let _ = write!(s, "\nwhen {{ {w} }}");
    }
    if let Some(u) = unless {
        let _ = write!(s, "\nunless {{ {u} }}");
    }
    s.push_str(";\n");
    s
}

/// A boolean expression over `path`, an argument of type `ty`, selective as forbid conditions
/// are: rarely true of typical values (booleans aside). `required` matters only for the nested
/// record, whose own `level` is optional.
fn field_expr<R: Rng + ?Sized>(name: &str, ty: Ty, path: &str, required: bool, rng: &mut R) -> String {
    let pick = rng.random_range(0..3);
    match (ty, name) {
        (Ty::Str, "to") => [
            format!("{path} like \"*@external.com\""),
            format!("{path} == \"ceo@corp.example\""),
            format!("{path} like \"*@partner.example\""),
        ][pick]
            .clone(),
        (Ty::Str, "status") => [
            format!("{path} == \"deleted\""),
            format!("{path} like \"del*\""),
            format!("[\"solved\", \"deleted\"].contains({path})"),
        ][pick]
            .clone(),
        (Ty::Str, "path") => [
            format!("{path} like \"/etc/*\""),
            format!("{path} like \"*..*\""),
            format!("{path} == \"\""),
        ][pick]
            .clone(),
        (Ty::Str, _) => [
            format!("{path} like \"*password*\""),
            format!("{path} == \"\""),
            format!("{path} == \"EUR\""),
        ][pick]
            .clone(),
        (Ty::Long, _) => [
            format!("{path} > 100"),
            format!("{path} <= 0"),
            format!("{path} == 9223372036854775807"),
        ][pick]
            .clone(),
        (Ty::Decimal, _) => [
            format!("{path}.greaterThan(decimal(\"150.0\"))"),
            format!("{path}.lessThan(decimal(\"0.0\"))"),
            format!("{path}.lessThanOrEqual(decimal(\"0.9999\"))"),
        ][pick]
            .clone(),
        (Ty::Bool, _) => [path.to_owned(), format!("!{path}"), format!("{path} == true")][pick].clone(),
        (Ty::StrSet, _) => [
            format!("{path}.contains(\"ceo@corp.example\")"),
            format!("{path}.containsAny([\"pii\", \"b@external.com\"])"),
            format!("{path}.isEmpty()"),
        ][pick]
            .clone(),
        (Ty::Meta, _) => {
            let guard = if required {
                String::new()
            } else {
                format!("context.input has {name} && ")
            };
            if rng.random_bool(0.5) {
                format!("({guard}{path}.tag == \"secret\")")
            } else if required {
                format!("({path} has level && {path}.level >= 3)")
            } else {
                format!("(context.input has {name}.level && {path}.level >= 3)")
            }
        }
    }
}

/// Conditions valid for any tool (`{c}`, `{c2}` a class, `{p}` a provider), covering every
/// construct the compiled evaluator mirrors: `!=`, `if`, `containsAll`, `is ... in`, `in` a
/// set, set, record and decimal equality, `has` on entities and paths, `like` with several
/// wildcards and an escaped `*`, `||` whose right side can overflow, and context attributes.
const SHAPES: &[&str] = &[
    "context.input has status && context.input.status != \"open\" && context.input.status != \"pending\"",
    "if context.input has n then -context.input.n > 100 else context.time.hour == 3",
    "context.input has tags && context.input.tags.containsAll([\"pii\", \"x\"])",
    "principal is Agent in AgentClass::\"c{c}\" && context.time.weekday > 5",
    "principal is Service && context.session == \"\"",
    "context.input has cc && context.input.cc == [\"x\", \"pii\"]",
    "context.input has amount && context.input.amount == decimal(\"100.0\")",
    "context.input has ratio && (context.input.ratio == decimal(\"0.9999\") || context.input.ratio.greaterThanOrEqual(decimal(\"922337203685476.0\")))",
    "principal is Agent && principal.class in [AgentClass::\"c{c}\", AgentClass::\"c{c2}\"] && context.time.hour < 12",
    "resource.provider in [Provider::\"p{p}\", Provider::\"p0\"] && context.input has urgent && context.input.urgent",
    "resource in Provider::\"p{p}\" && context.request has break_glass && !context.request.break_glass",
    "context.request has risk && context.request.risk + 10 > 95",
    "context.input has to && context.input.to like \"*@*.example\" && context.input.to like \"*ceo*\"",
    "context.input has to && context.input.to like \"\\**\"",
    "context.input has path && context.input.path like \"/*/*\" && !(context.input.path like \"/srv/*\")",
    "context.session != \"\" && context.session like \"s-*\"",
    "principal has owner && principal.owner has roles && principal.owner.roles.isEmpty()",
    "context.input has count && (context.input.count > 500 || context.input.count * context.input.count > 1000000)",
    "context.time.weekday == 7 || context.time.unix < 0",
    "context.request has environment && [\"staging\", \"\"].contains(context.request.environment)",
    "context.input has meta.level && context.input.meta.level * 4611686018427387904 > 0",
    "context.input has limit && resource.tier_rank - context.input.limit > 0",
    "context.input has meta && context.input.meta.tag == \"\" && !(context.input.meta has level)",
    "resource has destination && resource.destination != \"internal\" && context.input has dry_run && !context.input.dry_run",
    "context.input has cc && context.input.cc.containsAny(context.input.cc) && context.input.cc.contains(\"\")",
    "context.input has tags && context.input.tags == context.input.tags && context.input.tags.containsAll([\"pii\"])",
    "context.input has n && context.input.n == -9223372036854775807 - 1",
    "context.input has meta && {\"tag\": context.input.meta.tag} == {\"tag\": \"secret\"}",
    "principal.owner in ReviewerPool::\"pool1\" && context.input has query && context.input.query like \"*status\"",
    "action in Action::\"tier:irreversible\" && context.request has risk && context.request.risk >= 91",
];

/// A condition on some argument of the catalog, guarded with `has`, valid for any tool.
fn guarded_condition<R: Rng + ?Sized>(rng: &mut R) -> String {
    let (name, ty) = FIELDS.choose(rng).copied().unwrap_or(("to", Ty::Str));
    let path = format!("context.input.{name}");
    let expr = field_expr(name, ty, &path, true, rng);
    if rng.random_bool(0.3) {
        format!("context has input.{name} && {expr}")
    } else {
        format!("context.input has {name} && {expr}")
    }
}

/// A condition that overflows a Cedar long on edge-value arguments, and is false on typical ones.
fn erroring_condition<R: Rng + ?Sized>(rng: &mut R) -> String {
    let name = ["count", "n", "limit"].choose(rng).copied().unwrap_or("n");
    let path = format!("context.input.{name}");
    let expr = match rng.random_range(0..4) {
        0 => format!("{path} * 1000000000000 > 9000000000000000000"),
        1 => format!("{path} + 9223372036854775000 < 0"),
        2 => format!("{path} - 2 < -1000"),
        _ => format!("-{path} > 1000"),
    };
    format!("context.input has {name} && {expr}")
}

/// A condition on the principal, the resource, the session, the time or the request context.
fn context_condition<R: Rng + ?Sized>(spec: Spec, rng: &mut R) -> String {
    match rng.random_range(0..8) {
        0 => format!("context.time.hour >= {}", rng.random_range(0..24)),
        1 => "context.time.weekday <= 5".to_owned(),
        2 => "context.session like \"batch-*\"".to_owned(),
        3 => format!(
            "principal.owner in ReviewerPool::\"pool{}\"",
            rng.random_range(0..spec.pools)
        ),
        4 => "principal.owner.roles.contains(\"admin\")".to_owned(),
        5 => format!(
            "resource.classification_rank <= {}",
            rng.random_range(0..SCALE.len())
        ),
        6 => "context.request has environment && context.request.environment == \"prod\"".to_owned(),
        _ => "resource.destination == \"external\"".to_owned(),
    }
}

/// A JSON value of type `ty` for argument `name`: an edge value with probability `edge`.
fn value<R: Rng + ?Sized>(name: &str, ty: Ty, edge: f64, rng: &mut R) -> Value {
    if !rng.random_bool(edge) {
        return typical(name, ty, rng);
    }
    match ty {
        Ty::Str => match name {
            "to" => json!(
                [
                    "alice@corp.example",
                    "ceo@corp.example",
                    "bob@external.com",
                    "x@external.com.evil",
                    "",
                    "ünï@external.com",
                    "*",
                ]
                .choose(rng)
                .unwrap_or(&"")
            ),
            "status" => json!(STATUSES.choose(rng).unwrap_or(&"open")),
            _ => json!(
                [
                    "",
                    "/etc/passwd",
                    "../../secret",
                    "reset password",
                    "EUR",
                    "USD",
                    "a\"quote\\",
                    "日本語",
                ]
                .choose(rng)
                .unwrap_or(&"")
            ),
        },
        Ty::Long => {
            let v: i64 = match rng.random_range(0..12) {
                0 => i64::MAX,
                1 => i64::MIN,
                2 => 0,
                3 => 100,
                4 => 101,
                5 => 9_223_373,
                6 => -9_223_373,
                7 => 807,
                8 => 808,
                9 => i64::MIN + 1,
                _ => rng.random_range(-1000..1000),
            };
            json!(v)
        }
        Ty::Decimal => match rng.random_range(0..12) {
            0 => json!(100.0),
            1 => json!(100.0001),
            2 => json!(99.9999),
            3 => json!(0),
            4 => json!(-0.5),
            5 => json!(922_337_203_685_477_i64),
            6 => json!(0.9999),
            7 => json!(1e-5), // more than four fractional digits: never reaches Cedar
            _ => json!(f64::from(rng.random_range(-100_000..10_000_000)) / 100.0),
        },
        Ty::Bool => json!(rng.random_bool(0.5)),
        Ty::StrSet => {
            let n = rng.random_range(0..4);
            let items: Vec<&str> = (0..n)
                .map(|_| {
                    *["ceo@corp.example", "pii", "b@external.com", "x", ""]
                        .choose(rng)
                        .unwrap_or(&"x")
                })
                .collect();
            json!(items)
        }
        Ty::Meta => {
            let mut m = Map::new();
            m.insert(
                "tag".to_owned(),
                json!(["secret", "public", ""].choose(rng).unwrap_or(&"")),
            );
            if rng.random_bool(0.5) {
                m.insert("level".to_owned(), json!(rng.random_range(0..6)));
            }
            Value::Object(m)
        }
    }
}

/// A value as an agent at work would send it.
fn typical<R: Rng + ?Sized>(name: &str, ty: Ty, rng: &mut R) -> Value {
    match ty {
        Ty::Str => match name {
            "to" if rng.random_bool(0.9) => json!(format!("user{}@corp.example", rng.random_range(0..500))),
            "to" => json!(format!("contact{}@partner.example", rng.random_range(0..50))),
            "status" => json!(["open", "pending", "solved"].choose(rng).unwrap_or(&"open")),
            "currency" => json!(["EUR", "USD", "GBP"].choose(rng).unwrap_or(&"EUR")),
            "path" => json!(format!("/srv/data/report-{}.csv", rng.random_range(0..1000))),
            _ => json!(format!("invoice {} status", rng.random_range(0..10_000))),
        },
        Ty::Long => json!(rng.random_range(1..100)),
        Ty::Decimal => json!(f64::from(rng.random_range(100..20_000)) / 100.0),
        Ty::Bool => json!(rng.random_bool(0.5)),
        Ty::StrSet => {
            let n = rng.random_range(0..3);
            json!((0..n).map(|i| format!("tag{i}")).collect::<Vec<_>>())
        }
        Ty::Meta => json!({"tag": "public", "level": rng.random_range(0..3)}),
    }
}

fn manifest<R: Rng + ?Sized>(spec: &Spec, tools: &[ToolDef], scopes: &[Vec<usize>], rng: &mut R) -> String {
    let mut s = String::with_capacity(spec.entities() * 64);
    let _ = writeln!(
        s,
        "# Synthetic bundle: {} entities, seed {}.\n\n[deployment]\nname = \"example.com/synthetic\"\n",
        spec.entities(),
        spec.seed
    );
    s.push_str("[autonomy]\ndefault_reviewer_pool = \"pool0\"\n\n");
    let _ = writeln!(
        s,
        "[data]\nclassifications = [{}]\ndefault = \"internal\"\n",
        SCALE
            .iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s.push_str("[context]\nenvironment = \"string\"\nrisk = \"long\"\nbreak_glass = \"bool\"\n\n");
    for h in 0..spec.humans {
        let roles = match h % 7 {
            0 => "[\"admin\", \"reviewer\"]",
            1..=3 => "[\"reviewer\"]",
            4 => "[\"oncall\", \"reviewer\"]",
            5 => "[\"auditor\"]",
            _ => "[]",
        };
        let _ = writeln!(
            s,
            "[humans.h{h}]\nname = \"Human {h}\"\nemail = \"h{h}@corp.example\"\nroles = {roles}{}\n",
            if h % 50 == 0 {
                "\nstop_authority = true"
            } else {
                ""
            }
        );
    }
    for p in 0..spec.pools {
        let size = rng.random_range(3..=15);
        let mut members: Vec<usize> = (0..size).map(|_| rng.random_range(0..spec.humans)).collect();
        members.sort_unstable();
        members.dedup();
        let members: Vec<String> = members.iter().map(|m| format!("\"h{m}\"")).collect();
        let _ = writeln!(
            s,
            "[reviewer_pools.pool{p}]\nmembers = [{}]\n",
            members.join(", ")
        );
    }
    for c in 0..spec.classes {
        let ceiling = [
            "read",
            "write",
            "write",
            "irreversible",
            "irreversible",
            "irreversible",
        ]
        .choose(rng)
        .unwrap_or(&"write");
        let _ = writeln!(
            s,
            "[classes.c{c}]\nceiling = \"{ceiling}\"\ndescription = \"Class {c}.\""
        );
        if rng.random_bool(0.5) {
            let _ = writeln!(
                s,
                "quota = {{ calls_per_minute = {} }}",
                rng.random_range(10..600)
            );
        }
        match rng.random_range(0..4) {
            0 => s.push_str("autonomy.write = { approvals = 2 }\n"),
            1 => s.push_str("autonomy.read = { approvals = 1 }\n"),
            2 => s.push_str("autonomy.irreversible = { approvals = 3, mfa = true }\n"),
            _ => {}
        }
        s.push('\n');
    }
    for a in 0..spec.agents {
        let _ = writeln!(
            s,
            "[agents.a{a}]\nclass = \"c{}\"\nowner = \"h{}\"\n",
            rng.random_range(0..spec.classes),
            rng.random_range(0..spec.humans)
        );
    }
    for (i, scope) in scopes.iter().enumerate() {
        let scope: Vec<String> = scope.iter().map(|t| format!("\"t{t}\"")).collect();
        let _ = writeln!(
            s,
            "[services.s{i}]\nowner = \"h{}\"\nscopes = [{}]\n",
            rng.random_range(0..spec.humans),
            scope.join(", ")
        );
    }
    for p in 0..spec.providers {
        let kind = ["mcp_server", "external_api", "peer_agent", "model_supplier"]
            .choose(rng)
            .unwrap_or(&"mcp_server");
        let destination = if rng.random_bool(0.5) {
            "internal"
        } else {
            "external"
        };
        let _ = writeln!(
            s,
            "[providers.p{p}]\nkind = \"{kind}\"\ndestination = \"{destination}\"\nurl = \"https://p{p}.example.com/mcp\"\n[providers.p{p}.vetting]\nstatus = \"approved\"\nreviewer = \"human:h0\"\nreviewed = \"2026-11-20\"\nexpires = \"2027-11-30\"\n"
        );
    }
    for t in tools {
        let _ = writeln!(
            s,
            "[tools.{}]\nprovider = \"p{}\"\ntier = \"{}\"\nclassification = \"{}\"",
            t.id,
            t.provider,
            TIERS.get(t.tier).unwrap_or(&"read"),
            SCALE.choose(rng).unwrap_or(&"internal"),
        );
        if rng.random_bool(0.3) {
            let _ = writeln!(s, "reviewer_pool = \"pool{}\"", rng.random_range(0..spec.pools));
        }
        let _ = writeln!(s, "[tools.{}.input_schema]\ntype = \"object\"", t.id);
        let required: Vec<String> = t
            .fields
            .iter()
            .filter(|(_, r)| *r)
            .filter_map(|(f, _)| FIELDS.get(*f).map(|(n, _)| format!("\"{n}\"")))
            .collect();
        let _ = writeln!(s, "required = [{}]", required.join(", "));
        for (f, _) in &t.fields {
            let Some((name, ty)) = FIELDS.get(*f) else {
                continue;
            };
            let schema = match (ty, *name) {
                (Ty::Str, "status") => {
                    "{ type = \"string\", enum = [\"open\", \"pending\", \"solved\", \"deleted\"] }".to_owned()
                }
                (Ty::Str, _) => "{ type = \"string\" }".to_owned(),
                (Ty::Long, _) => "{ type = \"integer\" }".to_owned(),
                (Ty::Decimal, _) => "{ type = \"number\" }".to_owned(),
                (Ty::Bool, _) => "{ type = \"boolean\" }".to_owned(),
                (Ty::StrSet, _) => "{ type = \"array\", items = { type = \"string\" } }".to_owned(),
                (Ty::Meta, _) => "{ type = \"object\", required = [\"tag\"], properties = { tag = { type = \"string\" }, level = { type = \"integer\" } } }".to_owned(),
            };
            let _ = writeln!(s, "properties.{name} = {schema}");
        }
        if t.unmapped {
            s.push_str("properties.note = { type = [\"string\", \"null\"] }\n");
        }
        s.push('\n');
    }
    s
}
