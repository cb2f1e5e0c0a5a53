//! The report as one JSON object: the assessment as `tribune check --format json` writes it,
//! with the evidence it rests on, the summary counts and the open findings.

use serde_json::{Value, json};

use crate::{Report, ReportError, rfc3339, threat_tally};

/// The report's JSON (`format_version` changes when a field changes meaning or goes away).
pub(crate) fn render(r: &Report<'_>) -> Result<Value, ReportError> {
    let tally = r.tally();
    let threats = threat_tally(r.assessment);
    let evidence: serde_json::Map<String, Value> = r
        .evidence_items()
        .into_iter()
        .map(|item| {
            let facts: serde_json::Map<String, Value> = item
                .facts
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::from(v.as_str())))
                .collect();
            (
                item.key.to_owned(),
                json!({ "title": item.title, "verdict": item.verdict.as_str(), "facts": facts }),
            )
        })
        .collect();
    let mut evidence = Value::Object(evidence);
    // The ledger's structured evidence too: the checkpoint a verified ledger rests on.
    if let Some(l) = &r.evidence.ledger {
        evidence["ledger"]["verification"] = serde_json::to_value(&l.verification)?;
    }
    let awaiting: Vec<Value> = r
        .awaiting()
        .into_iter()
        .map(|(mandate, req)| {
            json!({ "mandate": mandate, "id": req.requirement.id, "needs": req.needs_evidence })
        })
        .collect();
    Ok(json!({
        "format_version": 1,
        "generated_at": rfc3339(r.generated_at)?,
        "tribune_version": r.tribune_version,
        "bundle": {
            "dir": r.bundle_dir,
            "deployment": r.bundle.deployment.name,
            "version": r.bundle.deployment.version,
            "hash": r.bundle.hash,
        },
        "runtime": {
            "server": r.server,
            "static": r.server.is_none(),
            "evidence": evidence,
            "awaiting_evidence": awaiting,
        },
        "summary": {
            "requirements": tally.total(),
            "met": tally.met,
            "gap": tally.gap,
            "not_assessed": tally.not_assessed,
            "threats": {
                "covered": threats[0].1,
                "partly": threats[1].1,
                "open": threats[2].1,
            },
            "open_findings": r.open_findings().len(),
            "error_findings": r.error_findings(),
        },
        "mandates": r.assessment.mandates,
        "coverage": {
            "source": r.catalog.threats.source,
            "url": r.catalog.threats.url,
            "layers": r.catalog.threats.layers,
            "threats": r.assessment.coverage,
        },
        "findings": r.open_findings(),
    }))
}
