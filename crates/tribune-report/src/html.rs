//! The report as one self-contained HTML page: inline CSS (with a print stylesheet) and inline
//! SVG charts; no script, no font, no image or style is fetched, and a Content Security Policy
//! forbids the page to load or run anything, so even text that escaped escaping could do
//! nothing. Every piece of bundle text goes through [`crate::text::html`].

use std::fmt::Write as _;

use tribune_compliance::Status;

use crate::svg::{self, GAP, MET, NOT_ASSESSED};
use crate::text::{html as esc, html_with_code as esc_code};
use crate::{
    EvidenceVerdict, Note, Report, ReportError, requirement_notes, rfc3339, severity_label, status_label,
    threat_tally,
};

const CSS: &str = r#"
:root { --ink: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa;
  --met: MET; --gap: GAP; --na: NA; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { margin: 0; color: var(--ink); background: #ffffff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Liberation Sans", sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 32px 28px 64px; }
header { border-bottom: 3px solid var(--ink); padding-bottom: 16px; margin-bottom: 24px; }
h1 { font-size: 28px; margin: 0 0 4px; }
h2 { font-size: 21px; margin: 36px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 17px; margin: 28px 0 8px; }
.subject { font-size: 18px; color: var(--muted); margin: 0 0 12px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; font-size: 13px; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 12px; margin: 12px 0 20px; }
.card { border: 1px solid var(--line); border-left: 6px solid var(--muted); border-radius: 6px; padding: 10px 14px; background: var(--soft); }
.card .n { font-size: 26px; font-weight: 700; }
.card .l { font-size: 13px; color: var(--muted); }
.card.met { border-left-color: var(--met); } .card.gap { border-left-color: var(--gap); } .card.na { border-left-color: var(--na); }
figure { margin: 16px 0 24px; overflow-x: auto; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
svg.chart { max-width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 8px 0 16px; }
th, td { text-align: left; vertical-align: top; padding: 6px 8px; border-bottom: 1px solid var(--line); }
th { background: var(--soft); font-weight: 600; }
td.id { white-space: nowrap; font-weight: 600; }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 0 3px; overflow-wrap: anywhere; }
.badge { display: inline-block; min-width: 92px; text-align: center; border-radius: 10px; padding: 1px 8px;
  font-size: 12px; font-weight: 700; color: #ffffff; white-space: nowrap; }
.badge.met, .badge.covered { background: var(--met); }
.badge.gap, .badge.open, .badge.error { background: var(--gap); }
.badge.not-assessed, .badge.partly, .badge.warning { background: var(--na); }
.badge.verified { background: var(--met); } .badge.read { background: var(--muted); } .badge.failed { background: var(--gap); }
ul.notes { margin: 0; padding-left: 18px; }
ul.notes li { margin: 2px 0; }
li.observed::marker { color: var(--met); } li.gap::marker { color: var(--gap); } li.awaiting::marker { color: var(--na); }
.muted { color: var(--muted); }
.notice { border: 1px solid var(--na); background: #fff8c5; border-radius: 6px; padding: 10px 14px; }
.evidence { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 10px 0; }
.evidence h3 { margin: 0 0 6px; }
.evidence th { width: 16em; }
td.where code { white-space: nowrap; }
footer { margin-top: 40px; font-size: 12px; color: var(--muted); border-top: 1px solid var(--line); padding-top: 10px; }
a { color: #0550ae; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  h2 { break-after: avoid; page-break-after: avoid; }
  h3 { break-after: avoid; }
  tr, figure, .card, .evidence { break-inside: avoid; page-break-inside: avoid; }
  section#mandates > .mandate { break-before: auto; }
  a { color: inherit; text-decoration: none; }
  a.cite::after { content: " <" attr(href) ">"; font-size: 8pt; color: var(--muted); overflow-wrap: anywhere; }
  .cards { grid-template-columns: repeat(5, 1fr); }
  @page { margin: 16mm 14mm; }
}
"#;

/// The page.
pub(crate) fn render(r: &Report<'_>) -> Result<String, ReportError> {
    let generated = rfc3339(r.generated_at)?;
    let deployment = &r.bundle.deployment;
    let css = CSS
        .replace("MET;", &format!("{MET};"))
        .replace("GAP;", &format!("{GAP};"))
        .replace("NA;", &format!("{NOT_ASSESSED};"));
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="Tribune {}">
<title>Compliance assessment: {}</title>
<style>{css}</style>
</head>
<body>
<main>
"#,
        esc(r.tribune_version),
        esc(&deployment.name)
    );

    // Header.
    let evidence = match r.server {
        Some(s) => format!("runtime evidence read from <code>{}</code>", esc(s)),
        None => "static: no runtime evidence was read".to_owned(),
    };
    let _ = write!(
        h,
        r#"<header>
<h1>Compliance assessment</h1>
<p class="subject">{}</p>
<dl class="meta">
<dt>Deployment</dt><dd>{}{}</dd>
<dt>Bundle</dt><dd><code>{}</code>, version {}</dd>
<dt>Bundle hash</dt><dd><code>{}</code> (SHA-256 over every file)</dd>
<dt>Generated</dt><dd>{}</dd>
<dt>Evidence</dt><dd>{evidence}</dd>
<dt>Tool</dt><dd>Tribune {}</dd>
</dl>
</header>
"#,
        esc(&deployment.name),
        esc(&deployment.name),
        deployment
            .description
            .as_deref()
            .map(|d| format!(": {}", esc(d)))
            .unwrap_or_default(),
        esc(r.bundle_dir),
        esc(&deployment.version),
        esc(&r.bundle.hash),
        esc(&generated),
        esc(r.tribune_version)
    );

    summary(&mut h, r);
    evidence_section(&mut h, r);
    findings(&mut h, r);
    mandates(&mut h, r);
    coverage(&mut h, r);

    let _ = write!(
        h,
        r#"<footer>Written by Tribune {} from the bundle <code>{}</code> ({}). A requirement is <em>met</em> only when every check passes; one whose checks need runtime evidence that was not read, or could not be verified, is <em>not assessed</em> or a <em>gap</em>, never met. Threat map: {}.</footer>
</main>
</body>
</html>
"#,
        esc(r.tribune_version),
        esc(r.bundle_dir),
        esc(&generated),
        esc(&r.catalog.threats.source)
    );
    Ok(h)
}

fn summary(h: &mut String, r: &Report<'_>) {
    let t = r.tally();
    let threats = threat_tally(r.assessment);
    let _ = write!(
        h,
        r#"<section id="summary">
<h2>Summary</h2>
<div class="cards">
<div class="card met"><div class="n">{}</div><div class="l">requirements met</div></div>
<div class="card gap"><div class="n">{}</div><div class="l">requirements with gaps</div></div>
<div class="card na"><div class="n">{}</div><div class="l">requirements not assessed</div></div>
<div class="card gap"><div class="n">{}</div><div class="l">open findings ({} error)</div></div>
<div class="card met"><div class="n">{} / {}</div><div class="l">threats covered ({} partly)</div></div>
</div>
"#,
        t.met,
        t.gap,
        t.not_assessed,
        r.open_findings().len(),
        r.error_findings(),
        threats[0].1,
        r.assessment.coverage.len(),
        threats[1].1
    );
    let chart = svg::status_per_mandate(r);
    if chart.is_empty() {
        h.push_str(
            r#"<p class="muted">The bundle declares no mandate (<code>[compliance] mandates</code>); only the threat coverage is assessed.</p>"#,
        );
    } else {
        let _ = write!(
            h,
            r#"<figure>{chart}<figcaption>Requirement status per mandate: met, with gaps, not assessed (count per segment; met / total on the right).</figcaption></figure>"#
        );
    }
    h.push_str("</section>\n");
}

fn evidence_section(h: &mut String, r: &Report<'_>) {
    h.push_str("<section id=\"evidence\">\n<h2>Runtime evidence</h2>\n");
    let awaiting = r.awaiting();
    if r.server.is_none() {
        let _ = write!(
            h,
            r#"<p class="notice">This report is <strong>static</strong>: it read the bundle only. {} requirement(s) need runtime evidence and are reported as not assessed; run <code>tribune report --server URL --token TOKEN</code> to assess them from a running server.</p>"#,
            awaiting.len()
        );
    }
    for item in r.evidence_items() {
        let _ = write!(
            h,
            r#"<div class="evidence" id="evidence-{}"><h3>{} <span class="badge {}">{}</span></h3><table><tbody>"#,
            item.key,
            esc(item.title),
            item.verdict.as_str(),
            item.verdict.as_str()
        );
        for (label, value) in &item.facts {
            let _ = write!(
                h,
                "<tr><th scope=\"row\">{}</th><td><code>{}</code></td></tr>",
                esc(label),
                esc(value)
            );
        }
        h.push_str("</tbody></table></div>\n");
        if item.verdict == EvidenceVerdict::Fails {
            h.push_str(
                "<p class=\"muted\">The requirements resting on this evidence are gaps, not met.</p>\n",
            );
        }
    }
    if !awaiting.is_empty() {
        h.push_str("<h3>Requirements awaiting evidence</h3>\n<table><thead><tr><th>Mandate</th><th>Requirement</th><th>Needs</th></tr></thead><tbody>\n");
        for (mandate, req) in awaiting {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"id\">{}</td><td>{}</td></tr>",
                esc(mandate),
                esc(&req.requirement.id),
                esc_code(&req.needs_evidence.join("; "))
            );
        }
        h.push_str("</tbody></table>\n");
    }
    h.push_str("</section>\n");
}

fn findings(h: &mut String, r: &Report<'_>) {
    let all = r.open_findings();
    h.push_str("<section id=\"findings\">\n<h2>Open findings</h2>\n");
    if all.is_empty() {
        h.push_str("<p>No open findings.</p>\n</section>\n");
        return;
    }
    let _ = writeln!(
        h,
        "<p>Locations are in the bundle <code>{}</code>.</p>",
        esc(r.bundle_dir)
    );
    h.push_str("<table><thead><tr><th>Severity</th><th>Code</th><th>Where</th><th>Finding</th></tr></thead><tbody>\n");
    for d in &all {
        let sev = severity_label(d.severity);
        let _ = writeln!(
            h,
            "<tr><td><span class=\"badge {sev}\">{sev}</span></td><td class=\"id\">{}</td><td class=\"where\"><code>{}</code></td><td>{}</td></tr>",
            esc(d.code),
            esc(&d.location.to_string()),
            esc_code(&d.message)
        );
    }
    h.push_str("</tbody></table>\n</section>\n");
}

fn mandates(h: &mut String, r: &Report<'_>) {
    h.push_str("<section id=\"mandates\">\n<h2>Mandates</h2>\n");
    if r.assessment.mandates.is_empty() {
        h.push_str("<p class=\"muted\">No mandate is declared.</p>\n");
    }
    for m in &r.assessment.mandates {
        let (met, gap, open) = m.counts();
        let pack = r.catalog.pack(m.id);
        let source = pack
            .map(|p| {
                format!(
                    r#" Source: <a class="cite" href="{}">{}</a>."#,
                    esc(&p.url),
                    esc(&p.source)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            h,
            r#"<div class="mandate" id="mandate-{}"><h3>{} <span class="muted">({}, pack version {})</span></h3>
<p>{met} met, {gap} with gaps, {open} not assessed. Declared at <code>{}</code>.{source}</p>
<table><thead><tr><th>Requirement</th><th>Citation</th><th>Status</th><th>Evidence</th></tr></thead><tbody>
"#,
            esc(m.id),
            esc(m.title),
            esc(m.id),
            esc(m.version),
            esc(&m.declared_at.to_string())
        );
        for req in &m.requirements {
            let q = req.requirement;
            let class = match req.status {
                Status::NotAssessed => "not-assessed",
                Status::Met => "met",
                Status::Gap => "gap",
            };
            let mut notes = String::from("<ul class=\"notes\">");
            for (kind, text) in requirement_notes(req) {
                let class = match kind {
                    Note::Observed => "observed",
                    Note::Gap => "gap",
                    Note::Awaiting => "awaiting",
                };
                let _ = write!(notes, "<li class=\"{class}\">{}</li>", esc_code(&text));
            }
            if let Some(by) = &q.evidence {
                let _ = write!(
                    notes,
                    "<li class=\"muted\">By construction: {}</li>",
                    esc_code(by)
                );
            }
            notes.push_str("</ul>");
            let severity = if q.severity == tribune_compliance::PackSeverity::Warning {
                " <span class=\"muted\">(warning)</span>"
            } else {
                ""
            };
            let _ = writeln!(
                h,
                r#"<tr id="req-{}"><td class="id">{}<br><span class="muted">{}</span></td><td><a class="cite" href="{}">{}</a>{severity}</td><td><span class="badge {class}">{}</span></td><td>{notes}</td></tr>"#,
                esc(&q.id),
                esc(&q.id),
                esc(&q.title),
                esc(&q.url),
                esc(&q.citation),
                status_label(req.status)
            );
        }
        h.push_str("</tbody></table></div>\n");
    }
    h.push_str("</section>\n");
}

fn coverage(h: &mut String, r: &Report<'_>) {
    let model = &r.catalog.threats;
    let _ = write!(
        h,
        r#"<section id="coverage">
<h2>MAESTRO layers and OWASP agentic threats</h2>
<p>Source: <a class="cite" href="{}">{}</a>.</p>
"#,
        esc(&model.url),
        esc(&model.source)
    );
    let chart = svg::threat_matrix(r);
    if !chart.is_empty() {
        let _ = write!(
            h,
            r#"<figure>{chart}<figcaption>Each threat on the MAESTRO layers it lies on, coloured by how far this bundle's controls cover it.</figcaption></figure>"#
        );
    }
    h.push_str("<table><thead><tr><th>Threat</th><th>Layers</th><th>Coverage</th><th>Controls and reasons</th></tr></thead><tbody>\n");
    for t in &r.assessment.coverage {
        let mut cell = String::from("<ul class=\"notes\">");
        for c in &t.controls {
            let class = if c.in_place { "observed" } else { "gap" };
            let state = if c.in_place { "in place" } else { "missing" };
            let _ = write!(
                cell,
                "<li class=\"{class}\">{}: {state}</li>",
                esc_code(c.control)
            );
        }
        for reason in &t.reasons {
            let _ = write!(cell, "<li class=\"awaiting\">{}</li>", esc_code(reason));
        }
        cell.push_str("</ul>");
        let status = t.status.as_str();
        let _ = writeln!(
            h,
            "<tr><td class=\"id\">{} <span class=\"muted\">{}</span></td><td>{}</td><td><span class=\"badge {status}\">{status}</span></td><td>{cell}</td></tr>",
            esc(t.id),
            esc(t.name),
            esc(&t.layers.join(", "))
        );
    }
    h.push_str("</tbody></table>\n<h3>Layers</h3>\n<table><thead><tr><th>Layer</th><th>What Tribune governs there</th></tr></thead><tbody>\n");
    for l in &model.layers {
        let _ = writeln!(
            h,
            "<tr><td class=\"id\">{} <span class=\"muted\">{}</span></td><td>{}</td></tr>",
            esc(&l.id),
            esc(&l.name),
            esc_code(&l.tribune)
        );
    }
    h.push_str("</tbody></table>\n</section>\n");
}
