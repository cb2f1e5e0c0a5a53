//! Parsing, naming and strictly validating the bundle's Cedar policies plus the built-in rules.
//!
//! Built-in rules are ordinary Cedar policies with ids starting `builtin:`: class ceilings
//! (a class may not call tools above its ceiling tier) and service scopes (a service may only
//! call the tools it is scoped to). They go through the same validation and the same index as
//! the bundle's own policies, so "forbid wins, default deny" holds for all of them alike.

use std::collections::HashMap;
use std::str::FromStr;

use cedar_policy::{Effect, Policy, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use tribune_bundle::{Bundle, Diagnostic, Location, SourceFile, Tier};

use crate::schema::{quote, tier_group};

/// The virtual file that holds built-in rules in diagnostics.
pub const BUILTIN_FILE: &str = "<builtin>";

/// What Tribune knows about one policy beyond Cedar's view of it.
#[derive(Clone, Debug)]
pub struct PolicyMeta {
    /// `@reason("...")`: the message a denial shows.
    pub reason: Option<String>,
    /// `@approvals("N")` on a permit: calls it permits need at least N approvals.
    pub approvals: Option<u32>,
    /// `@mfa` on a permit: approvals of calls it permits need MFA.
    pub mfa: bool,
    /// Permit or forbid.
    pub effect: Effect,
    /// The policy id as Cedar displays it (escaped), for reasons: formatted once here rather
    /// than on every decision.
    pub name: String,
    /// Where the policy is written.
    pub location: Location,
}

/// The full policy set with its metadata.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// Every policy: built-in rules and the bundle's own.
    pub set: PolicySet,
    /// Metadata by policy id.
    pub meta: HashMap<PolicyId, PolicyMeta>,
}

/// Parses and validates all policies; returns located diagnostics on any error.
pub fn compile(bundle: &Bundle, schema: &Schema) -> Result<(Compiled, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut set = PolicySet::new();
    let mut meta = HashMap::new();
    let mut sources: HashMap<PolicyId, &str> = HashMap::new();
    let builtin = SourceFile::new(BUILTIN_FILE.to_owned(), builtin_rules(bundle));
    let files: Vec<&SourceFile> = bundle
        .policy_files
        .iter()
        .chain(std::iter::once(&builtin))
        .collect();
    for file in &files {
        let parsed = match PolicySet::from_str(&file.text) {
            Ok(p) => p,
            Err(errors) => {
                for e in errors.iter() {
                    let offset = first_label(e).unwrap_or(0);
                    diags.push(Diagnostic::error(
                        Location::at(&file.path, &file.text, offset),
                        "policy-syntax",
                        first_line(&e.to_string()),
                    ));
                }
                continue;
            }
        };
        if parsed.templates().next().is_some() {
            diags.push(Diagnostic::error(
                Location::file(&file.path),
                "policy-template",
                "policy templates are not supported; write static policies".to_owned(),
            ));
            continue;
        }
        let mut policies: Vec<&Policy> = parsed.policies().collect();
        // Cedar numbers policies `policy0`, `policy1`, ... in source order.
        policies.sort_by_key(|p| {
            p.id()
                .to_string()
                .trim_start_matches("policy")
                .parse::<usize>()
                .unwrap_or(usize::MAX)
        });
        let mut cursor = 0;
        for (index, policy) in policies.into_iter().enumerate() {
            // Cedar keeps each parsed policy's own source text; finding it in order gives its position.
            let own_text = policy.to_string();
            let offset = file
                .text
                .get(cursor..)
                .and_then(|rest| rest.find(own_text.as_str()))
                .map_or(cursor, |i| cursor + i);
            cursor = offset + own_text.len().min(file.text.len().saturating_sub(offset));
            let location = Location::at(&file.path, &file.text, offset);
            let id = match policy.annotation("id") {
                Some(id) if id.starts_with("builtin:") && file.path != BUILTIN_FILE => {
                    diags.push(Diagnostic::error(
                        location.clone(),
                        "reserved-id",
                        format!("policy id `{id}` is reserved for built-in rules"),
                    ));
                    continue;
                }
                Some(id) => id.to_owned(),
                None => format!("{}#{index}", file.path),
            };
            let pid = PolicyId::new(&id);
            if let Some(previous) = meta.get(&pid).map(|m: &PolicyMeta| m.location.clone()) {
                diags.push(Diagnostic::error(
                    location,
                    "duplicate-id",
                    format!("policy id `{id}` is already used at {previous}"),
                ));
                continue;
            }
            let Some(policy_meta) = policy_meta(policy, location.clone(), &id, &mut diags) else {
                continue;
            };
            if let Err(e) = set.add(policy.new_id(pid.clone())) {
                diags.push(Diagnostic::error(location, "policy-syntax", e.to_string()));
                continue;
            }
            sources.insert(pid.clone(), file.text.as_str());
            meta.insert(pid, policy_meta);
        }
    }
    if Bundle::has_errors(&diags) {
        return Err(diags);
    }
    let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
    for e in result.validation_errors() {
        diags.push(located(
            e,
            e.policy_id(),
            &meta,
            &sources,
            tribune_bundle::Severity::Error,
        ));
    }
    for w in result.validation_warnings() {
        diags.push(located(
            w,
            w.policy_id(),
            &meta,
            &sources,
            tribune_bundle::Severity::Warning,
        ));
    }
    if Bundle::has_errors(&diags) {
        diags.sort();
        return Err(diags);
    }
    Ok((Compiled { set, meta }, diags))
}

fn located(
    e: &(impl miette::Diagnostic + std::fmt::Display),
    policy: &PolicyId,
    meta: &HashMap<PolicyId, PolicyMeta>,
    sources: &HashMap<PolicyId, &str>,
    severity: tribune_bundle::Severity,
) -> Diagnostic {
    let base = meta
        .get(policy)
        .map(|m| m.location.clone())
        .unwrap_or_else(|| Location::file(BUILTIN_FILE));
    let location = match (first_label(e), sources.get(policy)) {
        (Some(offset), Some(text)) => Location::at(&base.file, text, offset),
        _ => base,
    };
    let message = format!("policy `{policy}`: {}", first_line(&e.to_string()));
    let code = if severity == tribune_bundle::Severity::Error {
        "policy-invalid"
    } else {
        "policy-warning"
    };
    Diagnostic {
        location,
        severity,
        code,
        message,
    }
}

fn policy_meta(
    policy: &Policy,
    location: Location,
    id: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<PolicyMeta> {
    let effect = policy.effect();
    let approvals = match policy.annotation("approvals") {
        None => None,
        Some(n) => match n.parse::<u32>() {
            Ok(n) if effect == Effect::Permit && n <= 16 => Some(n),
            Ok(_) if effect == Effect::Forbid => {
                diags.push(Diagnostic::error(
                    location,
                    "bad-annotation",
                    format!("policy `{id}`: `@approvals` only applies to `permit` policies"),
                ));
                return None;
            }
            _ => {
                diags.push(Diagnostic::error(
                    location,
                    "bad-annotation",
                    format!("policy `{id}`: `@approvals(\"{n}\")` must be a number from 0 to 16"),
                ));
                return None;
            }
        },
    };
    let mfa = match policy.annotation("mfa") {
        None => false,
        Some("" | "true") => true,
        Some("false") => false,
        Some(other) => {
            diags.push(Diagnostic::error(
                location,
                "bad-annotation",
                format!("policy `{id}`: `@mfa(\"{other}\")` must be `true` or `false`"),
            ));
            return None;
        }
    };
    Some(PolicyMeta {
        name: PolicyId::new(id).to_string(),
        reason: policy.annotation("reason").map(str::to_owned),
        approvals,
        mfa,
        effect,
        location,
    })
}

/// The built-in rules, as Cedar text.
fn builtin_rules(bundle: &Bundle) -> String {
    let mut s = String::new();
    for class in bundle.classes.values() {
        for tier in Tier::ALL.into_iter().filter(|t| *t > class.ceiling) {
            s.push_str(&format!(
                "@id({})\n@reason({})\nforbid (principal in AgentClass::{}, action in Action::{}, resource);\n",
                quote(&format!("builtin:ceiling:{}:{}", class.id, tier)),
                quote(&format!("class `{}` may not make `{tier}` calls: its ceiling is `{}`", class.id, class.ceiling)),
                quote(class.id.as_str()),
                quote(&tier_group(tier)),
            ));
        }
    }
    let scoped = bundle
        .services
        .values()
        .map(|s| ("Service", "service", &s.id, s.scopes.as_slice()))
        .chain(
            bundle
                .agents
                .values()
                .filter_map(|a| Some(("Agent", "agent", &a.id, a.scopes.as_deref()?))),
        );
    for (entity, kind, id, scopes) in scoped {
        let scopes: Vec<String> = scopes
            .iter()
            .map(|t| format!("Action::{}", quote(t.as_str())))
            .collect();
        // Cedar forbids the empty set literal, and an identity with no scopes may call nothing.
        let unless = if scopes.is_empty() {
            String::new()
        } else {
            format!(" unless {{ action in [{}] }}", scopes.join(", "))
        };
        s.push_str(&format!(
            "@id({})\n@reason({})\nforbid (principal == {entity}::{}, action, resource){unless};\n",
            quote(&format!("builtin:scope:{id}")),
            quote(&format!("{kind} `{id}` is not scoped to this tool")),
            quote(id.as_str()),
        ));
    }
    s
}

fn first_label(e: &(impl miette::Diagnostic + ?Sized)) -> Option<usize> {
    e.labels()
        .and_then(|mut labels| labels.next())
        .map(|l| l.offset())
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_owned()
}
