//! SARIF 2.1.0 output, so code-scanning tools can show `tribune check`'s findings in a
//! deployment's own CI.
//!
//! One run; the rules are the requirements of every declared mandate (with their citation and
//! `helpUri`) and the bundle diagnostic codes that occur; the results are the validation
//! diagnostics, every gap (`kind: fail`), each requirement that needs runtime evidence
//! (`kind: open`, level `none`, at the mandate's entry), and each one met on runtime evidence
//! the caller supplied (`kind: pass`, level `none`). The threat coverage rides along in the
//! run's `properties`.

use serde_json::{Value, json};
use tribune_bundle::{Diagnostic, Location, Severity};

use crate::{Assessment, Status};

/// The SARIF schema this output follows.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

const DIAGNOSTIC_HELP: &str =
    "https://github.com/tribune-governance/tribune/blob/main/docs/bundle.md#diagnostic-codes";

/// A SARIF log for the bundle at `bundle_dir` (as the user named it; locations are relative to
/// it): every diagnostic to report (the bundle's, and the assessment's unknown mandates) and,
/// for a valid bundle, its `assessment`'s gaps.
pub fn log(
    bundle_dir: &str,
    tool_version: &str,
    diagnostics: &[Diagnostic],
    assessment: Option<&Assessment>,
) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_ids: Vec<String> = Vec::new();
    let mut results: Vec<Value> = Vec::new();

    let mut diagnostics: Vec<&Diagnostic> = diagnostics.iter().collect();
    diagnostics.sort();
    for d in diagnostics {
        let index = rule_index(&mut rule_ids, &mut rules, d.code, || {
            json!({
                "id": d.code,
                "name": pascal_case(d.code),
                "shortDescription": { "text": format!("bundle diagnostic `{}`", d.code) },
                "helpUri": DIAGNOSTIC_HELP,
                "properties": { "tags": ["bundle"] },
            })
        });
        results.push(json!({
            "ruleId": d.code,
            "ruleIndex": index,
            "kind": "fail",
            "level": level(d.severity),
            "message": { "text": d.message },
            "locations": [location(bundle_dir, &d.location)],
        }));
    }

    for mandate in assessment.map_or(&[][..], |a| &a.mandates) {
        for result in &mandate.requirements {
            let r = result.requirement;
            let severity: Severity = r.severity.into();
            let index = rule_index(&mut rule_ids, &mut rules, &r.id, || {
                json!({
                    "id": r.id,
                    "name": pascal_case(&r.title),
                    "shortDescription": { "text": format!("{}: {}", r.citation, r.title) },
                    "fullDescription": { "text": r.rationale },
                    "helpUri": r.url,
                    "help": { "text": format!("{} ({}). {}", r.title, r.citation, r.rationale) },
                    "defaultConfiguration": { "level": level(severity) },
                    "properties": {
                        "citation": r.citation,
                        "mandate": mandate.id,
                        "tags": ["compliance", mandate.id],
                    },
                })
            });
            for d in result.diagnostics() {
                results.push(json!({
                    "ruleId": r.id,
                    "ruleIndex": index,
                    "kind": "fail",
                    "level": level(d.severity),
                    "message": { "text": d.message },
                    "locations": [location(bundle_dir, &d.location)],
                    "properties": { "citation": r.citation, "mandate": mandate.id },
                }));
            }
            if result.status == Status::NotAssessed {
                results.push(json!({
                    "ruleId": r.id,
                    "ruleIndex": index,
                    "kind": "open",
                    "level": "none",
                    "message": { "text": format!(
                        "not assessed: needs runtime evidence (`tribune report`): {}",
                        result.needs_evidence.join("; ")
                    ) },
                    "locations": [location(bundle_dir, &mandate.declared_at)],
                    "properties": { "citation": r.citation, "mandate": mandate.id },
                }));
            }
            if result.status == Status::Met && !result.observed.is_empty() {
                results.push(json!({
                    "ruleId": r.id,
                    "ruleIndex": index,
                    "kind": "pass",
                    "level": "none",
                    "message": { "text": format!("met on runtime evidence: {}", result.observed.join("; ")) },
                    "locations": [location(bundle_dir, &mandate.declared_at)],
                    "properties": { "citation": r.citation, "mandate": mandate.id },
                }));
            }
        }
    }

    let mut run = json!({
        "tool": { "driver": {
            "name": "tribune",
            "version": tool_version,
            "informationUri": "https://github.com/tribune-governance/tribune",
            "rules": rules,
        } },
        "results": results,
    });
    if let Some(a) = assessment {
        let coverage: Vec<Value> = a
            .coverage
            .iter()
            .map(|t| json!({ "id": t.id, "name": t.name, "layers": t.layers, "status": t.status, "reasons": t.reasons }))
            .collect();
        run["properties"] = json!({ "coverage": coverage });
    }
    json!({ "$schema": SCHEMA, "version": "2.1.0", "runs": [run] })
}

/// A SARIF rule name: the title's words, capitalised and joined (`RetainDocumentationForSixYears`).
fn pascal_case(title: &str) -> String {
    title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn rule_index(
    ids: &mut Vec<String>,
    rules: &mut Vec<Value>,
    id: &str,
    make: impl FnOnce() -> Value,
) -> usize {
    if let Some(i) = ids.iter().position(|r| r == id) {
        return i;
    }
    ids.push(id.to_owned());
    rules.push(make());
    ids.len() - 1
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

fn location(bundle_dir: &str, at: &Location) -> Value {
    json!({ "physicalLocation": {
        "artifactLocation": { "uri": uri(bundle_dir, &at.file) },
        "region": { "startLine": at.line, "startColumn": at.column },
    } })
}

/// A URI reference for `file` inside `dir`: relative when `dir` is, `file://` when absolute.
fn uri(dir: &str, file: &str) -> String {
    let dir = dir.replace('\\', "/");
    let dir = dir.trim_end_matches('/');
    let path = match dir {
        "" | "." => file.to_owned(),
        d => format!("{}/{file}", d.strip_prefix("./").unwrap_or(d)),
    };
    let encoded = encode(&path);
    if path.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `/`.
fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::uri;

    #[test]
    fn uris_are_relative_to_the_bundle_as_named() {
        assert_eq!(uri("gov", "tribune.toml"), "gov/tribune.toml");
        assert_eq!(uri("./gov/", "policies/a b.cedar"), "gov/policies/a%20b.cedar");
        assert_eq!(uri(".", "tribune.toml"), "tribune.toml");
        assert_eq!(uri("/srv/gov", "tribune.toml"), "file:///srv/gov/tribune.toml");
    }

    #[test]
    fn rule_names_are_identifiers() {
        assert_eq!(
            super::pascal_case("Retain documentation for six years"),
            "RetainDocumentationForSixYears"
        );
        assert_eq!(super::pascal_case("dangling-reference"), "DanglingReference");
    }
}
