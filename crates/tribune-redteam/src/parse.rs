//! Parsing a suite file: TOML with `deny_unknown_fields`, every problem a located
//! [`Diagnostic`] (`file:line:col`, a kebab-case code) as the bundle's are.

use std::collections::{BTreeSet, HashSet};

use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;
use tribune_bundle::{Diagnostic, Location, SourceFile};
use tribune_policy::{PrincipalKind, StopScope};

use crate::model::{
    Category, CredentialState, Expect, KNOWN_CODES, Refusal, Scenario, Setup, Step, Suite, Threat,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    name: Spanned<String>,
    bundle: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scenarios: Vec<Spanned<RawScenario>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    id: Spanned<String>,
    category: Spanned<String>,
    threats: Spanned<Vec<Spanned<String>>>,
    description: String,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(default)]
    agent: Option<Spanned<String>>,
    #[serde(default)]
    service: Option<Spanned<String>>,
    tool: Spanned<String>,
    #[serde(default)]
    arguments: Option<Spanned<toml::Table>>,
    #[serde(default)]
    context: Option<Spanned<toml::Table>>,
    #[serde(default)]
    stop: Vec<Spanned<String>>,
    #[serde(default)]
    credential: Option<Spanned<CredentialState>>,
    #[serde(default)]
    scopes: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    requested_by: Option<Spanned<String>>,
    #[serde(default)]
    approve: Vec<Spanned<String>>,
    expect: Spanned<String>,
    #[serde(default)]
    code: Option<Spanned<String>>,
    #[serde(default)]
    approvals: Option<Spanned<u32>>,
    #[serde(default)]
    mfa: Option<Spanned<bool>>,
    #[serde(default)]
    refusal: Option<Spanned<String>>,
}

/// The stable code of a TOML or serde error message, as the bundle's parser names them.
fn toml_code(message: &str) -> &'static str {
    if message.starts_with("unknown field") {
        "unknown-key"
    } else if message.starts_with("missing field") {
        "missing-key"
    } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
        "wrong-type"
    } else if message.contains("duplicate key") {
        "duplicate-id"
    } else if message.starts_with("unknown variant") {
        "unknown-value"
    } else {
        "syntax"
    }
}

struct Cx<'a> {
    file: &'a SourceFile,
    diagnostics: Vec<Diagnostic>,
}

impl Cx<'_> {
    fn at<T>(&self, s: &Spanned<T>) -> Location {
        self.file.locate(&s.span())
    }

    fn error<T>(&mut self, s: &Spanned<T>, code: &'static str, message: String) {
        let location = self.at(s);
        self.diagnostics.push(Diagnostic::error(location, code, message));
    }
}

/// Parses suite file `file` (its path as it should be reported, and its text). Returns every
/// error found, located.
pub fn parse(file: &SourceFile) -> Result<Suite, Vec<Diagnostic>> {
    let raw: RawSuite = match toml::from_str(&file.text) {
        Ok(raw) => raw,
        Err(e) => {
            let location = match e.span() {
                Some(span) => file.locate(&span),
                None => Location::file(&file.path),
            };
            let message = e.message().trim().replace('\n', " ");
            return Err(vec![Diagnostic::error(location, toml_code(&message), message)]);
        }
    };
    let mut cx = Cx {
        file,
        diagnostics: Vec::new(),
    };
    if raw.scenarios.is_empty() {
        let message = "the suite has no `[[scenarios]]`".to_owned();
        cx.error(&raw.name, "empty-suite", message);
    }
    let mut ids = HashSet::new();
    let mut scenarios = Vec::new();
    for s in &raw.scenarios {
        if let Some(scenario) = scenario(&mut cx, s) {
            if !ids.insert(scenario.id.clone()) {
                let message = format!("scenario `{}` is declared twice", scenario.id);
                cx.error(&s.get_ref().id, "duplicate-id", message);
                continue;
            }
            scenarios.push(scenario);
        }
    }
    if !cx.diagnostics.is_empty() {
        cx.diagnostics.sort();
        return Err(cx.diagnostics);
    }
    Ok(Suite {
        name: raw.name.get_ref().clone(),
        bundle: raw.bundle.get_ref().clone(),
        description: raw.description,
        scenarios,
        bundle_at: cx.at(&raw.bundle),
    })
}

fn scenario(cx: &mut Cx<'_>, s: &Spanned<RawScenario>) -> Option<Scenario> {
    let r = s.get_ref();
    let mut ok = true;
    let id = r.id.get_ref();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        let message = format!("scenario id `{id}` must be letters, digits, `-` and `_`");
        cx.error(&r.id, "bad-id", message);
        ok = false;
    }
    let category = Category::parse(r.category.get_ref());
    if category.is_none() {
        let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        let message = format!(
            "`{}` is not a category: use one of {}",
            r.category.get_ref(),
            names.join(", ")
        );
        cx.error(&r.category, "unknown-value", message);
    }
    let mut threats = Vec::new();
    for t in r.threats.get_ref() {
        match Threat::parse(t.get_ref()) {
            Some(threat) if !threats.contains(&threat) => threats.push(threat),
            Some(threat) => {
                cx.error(t, "duplicate-id", format!("threat `{threat}` is listed twice"));
                ok = false;
            }
            None => {
                let message = format!(
                    "`{}` is not an OWASP agentic threat: use `T1` to `T17`",
                    t.get_ref()
                );
                cx.error(t, "unknown-value", message);
                ok = false;
            }
        }
    }
    if r.threats.get_ref().is_empty() {
        let message = format!("scenario `{id}` names no threat (`threats = [\"T2\"]`)");
        cx.error(&r.threats, "missing-key", message);
        ok = false;
    }
    if r.steps.is_empty() {
        let message = format!("scenario `{id}` has no `[[scenarios.steps]]`");
        cx.error(&r.id, "missing-key", message);
        ok = false;
    }
    let mut steps = Vec::new();
    for step in &r.steps {
        match self::step(cx, step) {
            Some(st) => steps.push(st),
            None => ok = false,
        }
    }
    Some(Scenario {
        id: id.clone(),
        category: category?,
        threats,
        description: r.description.clone(),
        steps,
        location: cx.at(s),
    })
    .filter(|_| ok)
}

fn json_object(table: &toml::Table) -> Option<Map<String, Value>> {
    match serde_json::to_value(table) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

fn step(cx: &mut Cx<'_>, s: &Spanned<RawStep>) -> Option<Step> {
    let r = s.get_ref();
    let before = cx.diagnostics.len();
    let (kind, principal) = match (&r.agent, &r.service) {
        (Some(a), None) => (PrincipalKind::Agent, a.get_ref().clone()),
        (None, Some(sv)) => (PrincipalKind::Service, sv.get_ref().clone()),
        (Some(_), Some(sv)) => {
            let message = "a step names either `agent` or `service`, not both".to_owned();
            cx.error(sv, "conflicting-keys", message);
            return None;
        }
        (None, None) => {
            let message = "a step names the caller: `agent = \"ID\"` or `service = \"ID\"`".to_owned();
            cx.error(s, "missing-key", message);
            return None;
        }
    };
    let arguments = match &r.arguments {
        None => Value::Object(Map::new()),
        Some(a) => match json_object(a.get_ref()) {
            Some(map) => Value::Object(map),
            None => {
                let message =
                    "`arguments` cannot be written as JSON (TOML dates have no JSON form)".to_owned();
                cx.error(a, "wrong-type", message);
                Value::Null
            }
        },
    };
    let context = match &r.context {
        None => None,
        Some(c) => {
            let map = json_object(c.get_ref());
            if map.is_none() {
                let message = "`context` cannot be written as JSON (TOML dates have no JSON form)".to_owned();
                cx.error(c, "wrong-type", message);
            }
            map
        }
    };
    let mut stops = Vec::new();
    for scope in &r.stop {
        match StopScope::parse(scope.get_ref()) {
            Ok(parsed) => stops.push(parsed),
            Err(e) => cx.error(scope, "bad-value", e),
        }
    }
    let scopes = r
        .scopes
        .as_ref()
        .map(|list| list.iter().map(|t| t.get_ref().clone()).collect::<BTreeSet<_>>());
    let approve: Vec<String> = r.approve.iter().map(|h| h.get_ref().clone()).collect();
    let expect = expect(cx, r);
    if let Some(expect) = &expect {
        let voting = matches!(expect, Expect::Approved | Expect::NotApproved { .. });
        if voting && r.approve.is_empty() {
            let message =
                "`expect = \"approved\"` and `\"not_approved\"` need `approve = [HUMAN, ...]`".to_owned();
            cx.error(&r.expect, "missing-key", message);
        }
        if !voting && let Some(first) = r.approve.first() {
            let message = "`approve` needs `expect = \"approved\"` or `\"not_approved\"`".to_owned();
            cx.error(first, "conflicting-keys", message);
        }
    }
    if cx.diagnostics.len() > before {
        return None;
    }
    Some(Step {
        kind,
        principal,
        tool: r.tool.get_ref().clone(),
        arguments,
        context,
        setup: Setup {
            stops,
            credential: r.credential.as_ref().map(|c| *c.get_ref()),
            scopes,
            requested_by: r.requested_by.as_ref().map(|h| h.get_ref().clone()),
            approve,
        },
        expect: expect?,
        location: cx.at(s),
    })
}

fn code(cx: &mut Cx<'_>, code: &Spanned<String>) -> Option<String> {
    let c = code.get_ref();
    if KNOWN_CODES.contains(&c.as_str()) {
        Some(c.clone())
    } else {
        cx.error(
            code,
            "unknown-value",
            format!("`{c}` is not a reason code Tribune gives"),
        );
        None
    }
}

fn expect(cx: &mut Cx<'_>, r: &RawStep) -> Option<Expect> {
    let only_with = |cx: &mut Cx<'_>, what: &str, key: &str, span: Option<std::ops::Range<usize>>| {
        if let Some(span) = span {
            let location = cx.file.locate(&span);
            cx.diagnostics.push(Diagnostic::error(
                location,
                "conflicting-keys",
                format!("`{key}` applies only to `expect = \"{what}\"`"),
            ));
        }
    };
    let approvals_at = r.approvals.as_ref().map(Spanned::span);
    let mfa_at = r.mfa.as_ref().map(Spanned::span);
    let code_at = r.code.as_ref().map(Spanned::span);
    if r.expect.get_ref() != "not_approved" {
        only_with(
            cx,
            "not_approved",
            "refusal",
            r.refusal.as_ref().map(Spanned::span),
        );
    }
    match r.expect.get_ref().as_str() {
        "allow" | "approved" => {
            let what = r.expect.get_ref().clone();
            only_with(cx, "hold", "approvals", approvals_at);
            only_with(cx, "hold", "mfa", mfa_at);
            only_with(cx, "deny` or `expect = \"hold", "code", code_at);
            Some(match what.as_str() {
                "allow" => Expect::Allow,
                _ => Expect::Approved,
            })
        }
        "not_approved" => {
            only_with(cx, "hold", "approvals", approvals_at);
            only_with(cx, "hold", "mfa", mfa_at);
            only_with(cx, "deny` or `expect = \"hold", "code", code_at);
            let names: Vec<&str> = Refusal::ALL.iter().map(|r| r.as_str()).collect();
            match &r.refusal {
                Some(name) => match Refusal::parse(name.get_ref()) {
                    Some(refusal) => Some(Expect::NotApproved { refusal }),
                    None => {
                        let message = format!(
                            "`{}` is not a refusal of the approvals core: use one of {}",
                            name.get_ref(),
                            names.join(", ")
                        );
                        cx.error(name, "unknown-value", message);
                        None
                    }
                },
                None => {
                    let message = format!(
                        "`expect = \"not_approved\"` needs the `refusal` it must get ({})",
                        names.join(", ")
                    );
                    cx.error(&r.expect, "missing-key", message);
                    None
                }
            }
        }
        "deny" => {
            only_with(cx, "hold", "approvals", approvals_at);
            only_with(cx, "hold", "mfa", mfa_at);
            match &r.code {
                Some(c) => code(cx, c).map(|code| Expect::Deny { code }),
                None => {
                    let message = "`expect = \"deny\"` needs the reason `code` (e.g. `forbidden`)".to_owned();
                    cx.error(&r.expect, "missing-key", message);
                    None
                }
            }
        }
        "hold" => {
            let code = match &r.code {
                Some(c) => Some(code(cx, c)?),
                None => None,
            };
            if let Some(n) = &r.approvals
                && *n.get_ref() == 0
            {
                let message = "a hold needs at least 1 approval; expect `allow` instead".to_owned();
                cx.error(n, "bad-value", message);
                return None;
            }
            Some(Expect::Hold {
                approvals: r.approvals.as_ref().map(|n| *n.get_ref()),
                mfa: r.mfa.as_ref().map(|m| *m.get_ref()),
                code,
            })
        }
        other => {
            let message = format!(
                "`{other}` is not an outcome: use `allow`, `deny`, `hold`, `approved` or `not_approved`"
            );
            cx.error(&r.expect, "unknown-value", message);
            None
        }
    }
}
