//! Binding a suite to a bundle: a suite is written against one deployment, and every agent,
//! service, tool, human and stop scope a step names must be declared in the bundle it is
//! replayed against. A suite that does not bind is bad input, never a pass or a failure.

use tribune_bundle::{Bundle, Diagnostic};
use tribune_policy::{PrincipalKind, StopScope};

use crate::model::Suite;

/// Every reason `suite` cannot be replayed against `bundle`, located in the suite.
pub fn check(suite: &Suite, bundle: &Bundle) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if suite.bundle != bundle.deployment.name {
        out.push(Diagnostic::error(
            suite.bundle_at.clone(),
            "suite-mismatch",
            format!(
                "suite `{}` is written for deployment `{}`, but the bundle is `{}`",
                suite.name, suite.bundle, bundle.deployment.name
            ),
        ));
    }
    for scenario in &suite.scenarios {
        for step in &scenario.steps {
            let mut missing = |what: &str, id: &str| {
                out.push(Diagnostic::error(
                    step.location.clone(),
                    "unknown-reference",
                    format!(
                        "scenario `{}` names {what} `{id}`, which the bundle does not declare",
                        scenario.id
                    ),
                ));
            };
            match step.kind {
                PrincipalKind::Agent if !bundle.agents.contains_key(step.principal.as_str()) => {
                    missing("agent", &step.principal);
                }
                PrincipalKind::Service if !bundle.services.contains_key(step.principal.as_str()) => {
                    missing("service", &step.principal);
                }
                _ => {}
            }
            if !bundle.tools.contains_key(step.tool.as_str()) {
                missing("tool", &step.tool);
            }
            for tool in step.setup.scopes.iter().flatten() {
                if !bundle.tools.contains_key(tool.as_str()) {
                    missing("tool", tool);
                }
            }
            for human in step.setup.requested_by.iter().chain(&step.setup.approve) {
                if !bundle.humans.contains_key(human.as_str()) {
                    missing("human", human);
                }
            }
            for scope in &step.setup.stops {
                let (what, declared) = match scope {
                    StopScope::All => continue,
                    StopScope::Class(id) => ("class", bundle.classes.contains_key(id.as_str())),
                    StopScope::Agent(id) => ("agent", bundle.agents.contains_key(id.as_str())),
                    StopScope::Service(id) => ("service", bundle.services.contains_key(id.as_str())),
                    StopScope::Tool(id) => ("tool", bundle.tools.contains_key(id.as_str())),
                    StopScope::Provider(id) => ("provider", bundle.providers.contains_key(id.as_str())),
                };
                if !declared {
                    missing(what, &scope.to_string());
                }
            }
        }
    }
    out
}
