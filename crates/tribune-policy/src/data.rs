//! The data-governance stage: one scan of the call's arguments with the bundle's DLP scanner
//! (every detector in one pass), then the classification flows (`[dlp.flows]`) and the DLP
//! actions (`[dlp.actions]`, argument direction) on what it found.
//!
//! Reasons name the detector, the data class and the JSON pointer of what was found, never
//! the data: they go into the answer, the ledger and the approval request as they are.

use serde_json::Value;
use tribune_bundle::{Destination, Dlp, Provider, Tool};
use tribune_dlp::{Action, DataClass, Direction, JsonFinding};

use crate::decision::{Code, Reason, Stage, TaintSource, Tainted};

/// The longest pointer a reason shows; longer ones are cut (keys can be long).
const POINTER_SHOWN: usize = 128;

/// Runs the stage. `Err` denies the call; `Ok(Some(reason))` holds it for at least one human
/// approval; `Ok(None)` lets it go on.
pub(crate) fn govern(
    dlp: &Dlp,
    tool: &Tool,
    provider: Option<&Provider>,
    arguments: &Value,
) -> Result<Option<Reason>, crate::Denial> {
    let findings = dlp.scanner.scan_value(arguments);
    if findings.is_empty() {
        return Ok(None);
    }
    // Flows first: data that may not reach this destination is refused whatever its action.
    // INVARIANT(provider-declared): `parse` resolves every tool's provider; a missing one is
    // treated as external, the default destination.
    let destination = provider.map_or(Destination::External, |p| p.destination);
    if let Some(f) = findings
        .iter()
        .find(|f| !dlp.may_flow(&f.finding.class, destination))
    {
        let class = &f.finding.class;
        let provider = provider.map_or_else(|| tool.provider.to_string(), |p| p.id.to_string());
        return Err((
            Stage::DataGovernance,
            Code::FlowForbidden,
            Some(format!("flow:{class}")),
            format!(
                "the arguments carry data classified `{class}` ({}), which `[dlp.flows]` keeps internal; \
                 tool `{}` sends to provider `{provider}`, whose destination is {}",
                found(&findings, class),
                tool.id,
                destination.as_str()
            ),
        ));
    }
    let verdict = dlp
        .policy
        .verdict(Direction::Arguments, findings.iter().map(|f| &f.finding));
    // The first finding whose class has the verdict's action names the rule; findings is not
    // empty here, so `first` is only a fallback.
    let Some(f) = findings
        .iter()
        .find(|f| dlp.policy.action(&f.finding.class, Direction::Arguments) == verdict.action)
        .or(findings.first())
    else {
        return Ok(None);
    };
    let class = &f.finding.class;
    let rule = Some(format!("dlp:{}", f.finding.detector));
    match verdict.action {
        Action::Allow => Ok(None),
        Action::Deny => Err((
            Stage::DataGovernance,
            Code::DlpBlocked,
            rule,
            format!(
                "the arguments carry data classified `{class}` ({}), which `[dlp.actions]` denies",
                found(&findings, class)
            ),
        )),
        // In arguments `redact` is already a hold (`Policy::action`): a call is never rewritten.
        Action::Hold | Action::Redact => {
            let why = if dlp.policy.actions().get(class) == Some(&Action::Redact) {
                "which `[dlp.actions]` redacts; arguments are never rewritten, so a human approves the call"
            } else {
                "which `[dlp.actions]` holds for a human's approval"
            };
            Ok(Some(Reason {
                stage: Stage::DataGovernance,
                code: Code::DlpHold,
                rule,
                message: format!(
                    "the arguments carry data classified `{class}` ({}), {why}",
                    found(&findings, class)
                ),
            }))
        }
    }
}

/// The reason that names the tainted arguments and where their values came from, if any are.
/// It changes nothing by itself: policies decide with `context.tainted`.
pub(crate) fn tainted(taint: &[Tainted]) -> Option<Reason> {
    let first = taint.first()?;
    let mut arguments: Vec<&str> = taint.iter().map(|t| t.argument.as_str()).collect();
    arguments.sort_unstable();
    arguments.dedup();
    let names = arguments
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut pointer: String = first.pointer.chars().take(POINTER_SHOWN).collect();
    if pointer.len() < first.pointer.len() {
        pointer.push('…');
    }
    let from = match &first.source {
        TaintSource::Result { tool, decision } => {
            format!("seen in the result of untrusted tool `{tool}` (decision `{decision}`)")
        }
        TaintSource::Unknown { why } => format!("that the taint memory cannot vouch for: {why}"),
    };
    let more = match taint.len() - 1 {
        0 => String::new(),
        n => format!(", and {n} more tainted value(s)"),
    };
    Some(Reason {
        stage: Stage::DataGovernance,
        code: Code::TaintedArguments,
        rule: Some("context.tainted".to_owned()),
        message: format!(
            "tainted argument(s) {names}: `{pointer}` carries a value of kind `{}` {from}{more}",
            first.kind
        ),
    })
}

/// `found by `ssn` at `/patient/ssn``, and how many more findings of `class` there are.
fn found(findings: &[JsonFinding], class: &DataClass) -> String {
    let mut of_class = findings.iter().filter(|f| f.finding.class == *class);
    let Some(first) = of_class.next() else {
        return String::new();
    };
    let more = of_class.count();
    let mut pointer: String = first.pointer.chars().take(POINTER_SHOWN).collect();
    if pointer.len() < first.pointer.len() {
        pointer.push('…');
    }
    let mut out = format!("found by `{}` at `{pointer}`", first.finding.detector);
    if more > 0 {
        out.push_str(&format!(" and {more} more finding(s)"));
    }
    out
}
