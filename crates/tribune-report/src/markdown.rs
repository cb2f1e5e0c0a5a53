//! The report as Markdown (CommonMark with GitHub tables), for a pull request, a wiki or a
//! ticket. Bundle text goes through [`crate::text::markdown`], so none of it becomes markup.

use std::fmt::Write as _;

use crate::text::markdown as md;
use crate::{Report, ReportError, requirement_notes, rfc3339, severity_label, status_label, threat_tally};

/// The document.
pub(crate) fn render(r: &Report<'_>) -> Result<String, ReportError> {
    let generated = rfc3339(r.generated_at)?;
    let d = &r.bundle.deployment;
    let mut m = String::with_capacity(32 * 1024);
    let _ = writeln!(m, "# Compliance assessment: {}\n", md(&d.name));
    if let Some(desc) = &d.description {
        let _ = writeln!(m, "{}\n", md(desc));
    }
    let evidence = match r.server {
        Some(s) => format!("runtime evidence read from {}", md(s)),
        None => "static: no runtime evidence was read".to_owned(),
    };
    let _ = writeln!(
        m,
        "| | |\n|---|---|\n| Bundle | {} (version {}) |\n| Bundle hash | `{}` |\n| Generated | {} |\n| Evidence | {evidence} |\n| Tool | Tribune {} |\n",
        md(r.bundle_dir),
        md(&d.version),
        r.bundle.hash,
        md(&generated),
        md(r.tribune_version)
    );

    let t = r.tally();
    let threats = threat_tally(r.assessment);
    let _ = writeln!(
        m,
        "## Summary\n\n{} requirement(s): **{} met**, **{} with gaps**, **{} not assessed**. {} open finding(s), {} of them errors. Threats: {} covered, {} partly covered, {} open.\n",
        t.total(),
        t.met,
        t.gap,
        t.not_assessed,
        r.open_findings().len(),
        r.error_findings(),
        threats[0].1,
        threats[1].1,
        threats[2].1
    );
    if !r.assessment.mandates.is_empty() {
        m.push_str("| Mandate | Met | Gap | Not assessed |\n|---|---:|---:|---:|\n");
        for mandate in &r.assessment.mandates {
            let (met, gap, open) = mandate.counts();
            let _ = writeln!(m, "| {} | {met} | {gap} | {open} |", md(mandate.id));
        }
        m.push('\n');
    }

    m.push_str("## Runtime evidence\n\n");
    let awaiting = r.awaiting();
    if r.server.is_none() {
        let _ = writeln!(
            m,
            "This report is **static**: it read the bundle only. {} requirement(s) need runtime evidence and are reported as not assessed; run `tribune report --server URL --token TOKEN` to assess them.\n",
            awaiting.len()
        );
    }
    for item in r.evidence_items() {
        let _ = writeln!(
            m,
            "### {} ({})\n\n| | |\n|---|---|",
            md(item.title),
            item.verdict.as_str()
        );
        for (label, value) in &item.facts {
            let _ = writeln!(m, "| {} | {} |", md(label), md(value));
        }
        m.push('\n');
    }
    if !awaiting.is_empty() {
        m.push_str(
            "### Requirements awaiting evidence\n\n| Mandate | Requirement | Needs |\n|---|---|---|\n",
        );
        for (mandate, req) in awaiting {
            let _ = writeln!(
                m,
                "| {} | {} | {} |",
                md(mandate),
                md(&req.requirement.id),
                md(&req.needs_evidence.join("; "))
            );
        }
        m.push('\n');
    }

    m.push_str("## Open findings\n\n");
    let findings = r.open_findings();
    if findings.is_empty() {
        m.push_str("No open findings.\n\n");
    } else {
        m.push_str("| Severity | Code | Where | Finding |\n|---|---|---|---|\n");
        for f in &findings {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} |",
                severity_label(f.severity),
                md(f.code),
                md(&format!("{}/{}", r.bundle_dir, f.location)),
                md(&f.message)
            );
        }
        m.push('\n');
    }

    m.push_str("## Mandates\n\n");
    for mandate in &r.assessment.mandates {
        let (met, gap, open) = mandate.counts();
        let _ = writeln!(
            m,
            "### {} ({}, pack version {})\n\n{met} met, {gap} with gaps, {open} not assessed; declared at {}.\n",
            md(mandate.title),
            md(mandate.id),
            md(mandate.version),
            md(&mandate.declared_at.to_string())
        );
        m.push_str("| Requirement | Citation | Status | Evidence |\n|---|---|---|---|\n");
        for req in &mandate.requirements {
            let q = req.requirement;
            let notes: Vec<String> = requirement_notes(req)
                .into_iter()
                .map(|(_, text)| md(&text))
                .collect();
            let _ = writeln!(
                m,
                "| {}: {} | [{}](<{}>) | {} | {} |",
                md(&q.id),
                md(&q.title),
                md(&q.citation),
                q.url.replace(['<', '>', '|', ' '], ""),
                status_label(req.status),
                notes.join("<br>")
            );
        }
        m.push('\n');
    }

    let model = &r.catalog.threats;
    let _ = writeln!(
        m,
        "## MAESTRO layers and OWASP agentic threats\n\nSource: {}.\n\n| Threat | Layers | Coverage | Reasons |\n|---|---|---|---|",
        md(&model.source)
    );
    for t in &r.assessment.coverage {
        let reasons: Vec<String> = t.reasons.iter().map(|x| md(x)).collect();
        let _ = writeln!(
            m,
            "| {} {} | {} | {} | {} |",
            md(t.id),
            md(t.name),
            md(&t.layers.join(", ")),
            t.status.as_str(),
            reasons.join("<br>")
        );
    }
    m.push('\n');
    Ok(m)
}
