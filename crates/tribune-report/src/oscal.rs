//! The report as OSCAL assessment results (NIST OSCAL 1.2.3, JSON), for GRC tools.
//!
//! One result holds the assessment. Each requirement is a reviewed control (its id made an
//! OSCAL token: `HIPAA-164.316(b)(2)(i)` becomes `hipaa-164.316.b.2.i`, and FedRAMP's `AU-9(3)`
//! becomes NIST's own `au-9.3`), an observation of what the checks and the runtime evidence
//! showed, and a finding whose objective is `satisfied` only when the requirement is met; a
//! gap is `not-satisfied` with reason `fail`, and a requirement not assessed is `not-satisfied`
//! with reason `other` (prop `assessment-status` says which). Each OWASP agentic threat is an
//! observation of its coverage. The back matter holds the plan (the mandate packs: Tribune has
//! no separate assessment plan, so `import-ap` points there), the bundle with its hash and,
//! when the ledger verified, the signed checkpoint the evidence rests on.
//!
//! UUIDs are version 5, from content, so the same inputs give the same document: findings and
//! the back-matter resources are named by their subject (deployment and requirement id, bundle
//! hash, checkpoint), so they keep their UUID across revisions as OSCAL asks; the document, its
//! result and observations are named by the whole report's content, so any change gives a new
//! document UUID.

use serde_json::{Value, json};
use tribune_compliance::{LedgerVerification, PackSeverity, Status};
use uuid::Uuid;

use crate::text::one_line;
use crate::{Report, ReportError, requirement_notes, rfc3339};

/// The OSCAL version the output follows.
pub const OSCAL_VERSION: &str = "1.2.3";

/// The namespace of Tribune's props.
const NS: &str = "https://github.com/tribune-governance/tribune/ns/oscal";

fn namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, NS.as_bytes())
}

/// A v5 UUID under `parent` for the `\0`-joined `parts`.
fn v5(parent: &Uuid, parts: &[&str]) -> String {
    Uuid::new_v5(parent, parts.join("\0").as_bytes()).to_string()
}

/// `id` as an OSCAL token (an XML NCName): `(x)` becomes `.x`, every other character that a
/// token cannot hold becomes `_`, lowercase.
pub(crate) fn token(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for c in id.chars() {
        match c {
            '(' => out.push('.'),
            ')' => {}
            c if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') => {
                out.extend(c.to_lowercase());
            }
            _ => out.push('_'),
        }
    }
    match out.chars().next() {
        Some(c) if c.is_alphabetic() || c == '_' => out,
        _ => format!("_{out}"),
    }
}

fn prop(name: &str, value: &str) -> Value {
    json!({ "name": name, "ns": NS, "value": one_line(value) })
}

/// The document.
pub(crate) fn render(r: &Report<'_>) -> Result<Value, ReportError> {
    let at = rfc3339(r.generated_at)?;
    // The document's identity is its content: Tribune's own JSON report of the same inputs.
    let content = serde_json::to_string(&crate::json::render(r)?)?;
    let ns = namespace();
    let document = Uuid::new_v5(&ns, content.as_bytes());
    let deployment = &r.bundle.deployment.name;
    let static_run = r.server.is_none();

    // Back matter.
    let packs: Vec<String> = r
        .assessment
        .mandates
        .iter()
        .map(|m| format!("{}@{}", m.id, m.version))
        .collect();
    let plan = v5(&ns, &["plan", &packs.join(",")]);
    let bundle_resource = v5(&ns, &["bundle", &r.bundle.hash]);
    let mut resources = vec![
        json!({
            "uuid": plan,
            "title": "Tribune mandate packs (the assessment plan)",
            "description": format!(
                "Tribune assesses a deployment against the mandate packs its bundle declares; the packs name each requirement's checks. Packs: {}.",
                if packs.is_empty() { "none declared".to_owned() } else { packs.join(", ") }
            ),
            "props": [prop("tribune-version", r.tribune_version)],
            "rlinks": r.assessment.mandates.iter().filter_map(|m| r.catalog.pack(m.id))
                .map(|p| json!({ "href": p.url }))
                .chain(std::iter::once(json!({ "href": "https://github.com/tribune-governance/tribune/blob/main/docs/compliance.md" })))
                .collect::<Vec<_>>(),
        }),
        json!({
            "uuid": bundle_resource,
            "title": one_line(&format!("Governance bundle {}", deployment)),
            "description": one_line(&format!(
                "The governance bundle assessed, version {}, SHA-256 over every file {}.",
                r.bundle.deployment.version, r.bundle.hash
            )),
            "props": [prop("bundle-hash", &r.bundle.hash), prop("deployment", deployment)],
        }),
    ];
    let mut checkpoint_resource = None;
    if let Some(l) = &r.evidence.ledger
        && let LedgerVerification::Verified(v) = &l.verification
    {
        let c = &v.checkpoint;
        let id = v5(&ns, &["checkpoint", &c.origin, &c.size.to_string(), &c.root]);
        let mut props = vec![
            prop("checkpoint-origin", &c.origin),
            prop("checkpoint-size", &c.size.to_string()),
            prop("checkpoint-root", &c.root),
            prop("ledger-entries", &v.entries.to_string()),
            prop("verifier-key", &l.key),
            prop("verifier-key-pinned", if l.key_pinned { "true" } else { "false" }),
        ];
        if let Some((_, signed)) = &c.signed_at {
            props.push(prop("checkpoint-signed-at", signed));
        }
        resources.push(json!({
            "uuid": id,
            "title": one_line(&format!("Ledger checkpoint {} at size {}", c.origin, c.size)),
            "description": one_line(&format!(
                "The signed ledger checkpoint the runtime evidence rests on, read from {} and verified with every entry and every earlier checkpoint.",
                l.source
            )),
            "props": props,
        }));
        checkpoint_resource = Some(id);
    }

    // Observations and findings, one of each per requirement.
    let mut controls = Vec::new();
    let mut observations = Vec::new();
    let mut findings = Vec::new();
    for m in &r.assessment.mandates {
        for req in &m.requirements {
            let q = req.requirement;
            let control = token(&q.id);
            controls.push(json!({ "control-id": control }));
            let observation = v5(&document, &["observation", &q.id]);
            let notes = requirement_notes(req);
            let description = if notes.is_empty() {
                "Every check passed.".to_owned()
            } else {
                notes
                    .iter()
                    .map(|(_, t)| format!("- {}", one_line(t)))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            let used_evidence = !req.observed.is_empty()
                || q.needs_evidence() && !static_run && req.needs_evidence.is_empty();
            let mut evidence = vec![json!({
                "href": format!("#{bundle_resource}"),
                "description": "The governance bundle, read and checked statically.",
            })];
            if used_evidence && let Some(cp) = &checkpoint_resource {
                evidence.push(json!({
                    "href": format!("#{cp}"),
                    "description": "The verified ledger checkpoint the runtime evidence rests on.",
                }));
            }
            let mut observation_json = json!({
                "uuid": observation,
                "title": one_line(&format!("{}: {}", q.id, q.title)),
                "description": description,
                "methods": if used_evidence { vec!["EXAMINE", "TEST"] } else { vec!["EXAMINE"] },
                "types": ["control-objective"],
                "relevant-evidence": evidence,
                "collected": at,
            });
            if !req.gaps.is_empty() {
                observation_json["props"] = json!([prop("gaps", &req.gaps.len().to_string())]);
            }
            observations.push(observation_json);
            let (state, reason, status) = match req.status {
                Status::Met => ("satisfied", "pass", "met"),
                Status::Gap => ("not-satisfied", "fail", "gap"),
                Status::NotAssessed => ("not-satisfied", "other", "not-assessed"),
            };
            let severity = match q.severity {
                PackSeverity::Error => "error",
                PackSeverity::Warning => "warning",
            };
            findings.push(json!({
                "uuid": v5(&ns, &["finding", deployment, &q.id]),
                "title": one_line(&format!("{}: {}", q.id, q.title)),
                "description": format!(
                    "{} ({}). Status: {}.{}",
                    one_line(&q.citation),
                    one_line(&q.title),
                    crate::status_label(req.status),
                    match req.status {
                        Status::NotAssessed => format!(" Awaits runtime evidence: {}.", req.needs_evidence.join("; ")),
                        Status::Gap => format!(" {} gap(s).", req.gaps.len()),
                        Status::Met => String::new(),
                    }
                ),
                "props": [
                    prop("mandate", m.id),
                    prop("requirement-id", &q.id),
                    prop("citation", &q.citation),
                    prop("severity", severity),
                    prop("assessment-status", status),
                ],
                "links": [{ "href": q.url, "rel": "reference", "text": one_line(&q.citation) }],
                "target": {
                    "type": "objective-id",
                    "target-id": control,
                    "status": { "state": state, "reason": reason },
                },
                "related-observations": [{ "observation-uuid": observation }],
            }));
        }
    }
    for t in &r.assessment.coverage {
        let mut lines: Vec<String> = t
            .controls
            .iter()
            .map(|c| {
                format!(
                    "- {}: {}",
                    one_line(c.control),
                    if c.in_place { "in place" } else { "missing" }
                )
            })
            .collect();
        lines.extend(t.reasons.iter().map(|x| format!("- {}", one_line(x))));
        if lines.is_empty() {
            lines.push("- no control applies".to_owned());
        }
        observations.push(json!({
            "uuid": v5(&document, &["threat", t.id]),
            "title": one_line(&format!("{} {}: {}", t.id, t.name, t.status.as_str())),
            "description": lines.join("\n"),
            "props": [
                prop("owasp-agentic-threat", t.id),
                prop("maestro-layers", &t.layers.join(" ")),
                prop("coverage", t.status.as_str()),
            ],
            "methods": ["EXAMINE"],
            "types": ["mitigation"],
            "collected": at,
        }));
    }

    let mut result = json!({
        "uuid": v5(&document, &["result"]),
        "title": one_line(&format!("Compliance assessment of {deployment}")),
        "description": if static_run {
            "Static assessment of the governance bundle: requirements that need runtime evidence are not assessed.".to_owned()
        } else {
            one_line(&format!(
                "Assessment of the governance bundle with runtime evidence read from {}.",
                r.server.unwrap_or_default()
            ))
        },
        "start": at,
        "end": at,
        "props": [prop("evidence", if static_run { "static" } else { "runtime" })],
        "reviewed-controls": {
            "description": "The requirements of the mandates the bundle declares, each as a control.",
            "control-selections": [if controls.is_empty() {
                json!({ "description": "No mandate is declared.", "include-all": {} })
            } else {
                json!({ "include-controls": controls })
            }],
        },
        "observations": observations,
    });
    if !findings.is_empty() {
        result["findings"] = Value::Array(findings);
    }

    Ok(json!({
        "assessment-results": {
            "uuid": document.to_string(),
            "metadata": {
                "title": one_line(&format!("Tribune compliance assessment: {deployment}")),
                "published": at,
                "last-modified": at,
                "version": one_line(&format!("{} ({})", r.bundle.deployment.version, &r.bundle.hash)),
                "oscal-version": OSCAL_VERSION,
                "props": [prop("tribune-version", r.tribune_version)],
            },
            "import-ap": {
                "href": format!("#{plan}"),
                "remarks": "Tribune has no separate assessment plan: the plan is the mandate packs in the back matter.",
            },
            "results": [result],
            "back-matter": { "resources": resources },
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::token;

    #[test]
    fn requirement_ids_become_tokens() {
        assert_eq!(token("HIPAA-164.316(b)(2)(i)"), "hipaa-164.316.b.2.i");
        assert_eq!(token("AU-9(3)"), "au-9.3");
        assert_eq!(token("EU-AIA-Art.14(4)(e)"), "eu-aia-art.14.4.e");
        assert_eq!(token("AI-RMF-GOVERN-1.5"), "ai-rmf-govern-1.5");
        assert_eq!(token("9 lives"), "_9_lives");
    }
}
