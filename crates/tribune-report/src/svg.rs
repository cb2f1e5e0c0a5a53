//! The HTML report's charts, as inline SVG: requirement status per mandate (stacked bars) and
//! OWASP agentic-threat coverage over the MAESTRO layers (a matrix). Counts are written on the
//! bars and statuses beside the rows, so a chart printed in grey still reads.

use std::fmt::Write as _;

use tribune_compliance::Coverage;

use crate::text::html as esc;
use crate::{Report, Tally};

/// Fill colours, shared with the page's CSS legend.
pub(crate) const MET: &str = "#1a7f37";
pub(crate) const GAP: &str = "#cf222e";
pub(crate) const NOT_ASSESSED: &str = "#bf8700";
const NONE: &str = "#eaeef2";
const INK: &str = "#1f2328";
const MUTED: &str = "#59636e";

pub(crate) fn coverage_colour(c: Coverage) -> &'static str {
    match c {
        Coverage::Covered => MET,
        Coverage::Partly => NOT_ASSESSED,
        Coverage::Open => GAP,
    }
}

/// Requirement status per mandate: one stacked bar each. Empty when no mandate is declared.
pub(crate) fn status_per_mandate(r: &Report<'_>) -> String {
    let mandates = &r.assessment.mandates;
    if mandates.is_empty() {
        return String::new();
    }
    let (label_w, bar_w, count_w, row_h, top) = (170.0, 460.0, 90.0, 34.0, 8.0);
    let width = label_w + bar_w + count_w;
    let legend_y = top + row_h * mandates.len() as f64 + 14.0;
    let height = legend_y + 22.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" id="chart-mandates" role="img" aria-labelledby="chart-mandates-title chart-mandates-desc" viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="13" shape-rendering="crispEdges">"#
    );
    let mut desc = Vec::new();
    for m in mandates {
        let t = Tally::of(&m.requirements);
        desc.push(format!(
            "{}: {} met, {} with gaps, {} not assessed",
            m.id, t.met, t.gap, t.not_assessed
        ));
    }
    let _ = write!(
        s,
        r#"<title id="chart-mandates-title">Requirement status per mandate</title><desc id="chart-mandates-desc">{}</desc>"#,
        esc(&desc.join("; "))
    );
    for (i, m) in mandates.iter().enumerate() {
        let y = top + row_h * i as f64;
        let t = Tally::of(&m.requirements);
        let total = t.total().max(1) as f64;
        let _ = write!(
            s,
            r#"<text x="0" y="{}" fill="{INK}" text-rendering="geometricPrecision">{}</text>"#,
            y + 17.0,
            esc(m.id)
        );
        let mut x = label_w;
        for (n, colour, what) in [
            (t.met, MET, "met"),
            (t.gap, GAP, "with gaps"),
            (t.not_assessed, NOT_ASSESSED, "not assessed"),
        ] {
            if n == 0 {
                continue;
            }
            let w = bar_w * n as f64 / total;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y}" width="{w:.1}" height="24" fill="{colour}"><title>{n} {what}</title></rect>"#
            );
            if w >= 18.0 {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{}" fill="#ffffff" text-anchor="middle" font-weight="600" text-rendering="geometricPrecision">{n}</text>"##,
                    x + w / 2.0,
                    y + 17.0
                );
            }
            x += w;
        }
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" fill="{MUTED}" text-rendering="geometricPrecision">{} / {}</text>"#,
            label_w + bar_w + 10.0,
            y + 17.0,
            t.met,
            t.total()
        );
    }
    legend(
        &mut s,
        legend_y,
        &[(MET, "met"), (GAP, "gap"), (NOT_ASSESSED, "not assessed")],
    );
    s.push_str("</svg>");
    s
}

/// Threat coverage over the MAESTRO layers: one row per threat, one column per layer, a cell
/// filled with the threat's coverage where the threat lies on that layer.
pub(crate) fn threat_matrix(r: &Report<'_>) -> String {
    let layers = &r.catalog.threats.layers;
    let threats = &r.assessment.coverage;
    if threats.is_empty() {
        return String::new();
    }
    let (label_w, cell_w, cell_h, status_w, head) = (300.0, 46.0, 24.0, 90.0, 28.0);
    let width = label_w + cell_w * layers.len() as f64 + status_w;
    let legend_y = head + cell_h * threats.len() as f64 + 14.0;
    let height = legend_y + 22.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" id="chart-threats" role="img" aria-labelledby="chart-threats-title chart-threats-desc" viewBox="0 0 {width} {height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="12" shape-rendering="crispEdges">"#
    );
    let desc: Vec<String> = threats
        .iter()
        .map(|t| format!("{} {}: {}", t.id, t.name, t.status.as_str()))
        .collect();
    let _ = write!(
        s,
        r#"<title id="chart-threats-title">OWASP agentic threats over the MAESTRO layers</title><desc id="chart-threats-desc">{}</desc>"#,
        esc(&desc.join("; "))
    );
    for (j, layer) in layers.iter().enumerate() {
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="18" fill="{INK}" text-anchor="middle" font-weight="600" text-rendering="geometricPrecision">{}<title>{}</title></text>"#,
            label_w + cell_w * j as f64 + cell_w / 2.0,
            esc(&layer.id),
            esc(&layer.name)
        );
    }
    for (i, t) in threats.iter().enumerate() {
        let y = head + cell_h * i as f64;
        let name = truncate(t.name, 40);
        let _ = write!(
            s,
            r#"<text x="0" y="{}" fill="{INK}" text-rendering="geometricPrecision"><tspan font-weight="600">{}</tspan> {}<title>{}</title></text>"#,
            y + 16.0,
            esc(t.id),
            esc(&name),
            esc(t.name)
        );
        let colour = coverage_colour(t.status);
        for (j, layer) in layers.iter().enumerate() {
            let on = t.layers.contains(&layer.id);
            let _ = write!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"/>"#,
                label_w + cell_w * j as f64 + 2.0,
                y + 2.0,
                cell_w - 4.0,
                cell_h - 4.0,
                if on { colour } else { NONE }
            );
        }
        let _ = write!(
            s,
            r#"<text x="{:.1}" y="{}" fill="{colour}" font-weight="600" text-rendering="geometricPrecision">{}</text>"#,
            label_w + cell_w * layers.len() as f64 + 10.0,
            y + 16.0,
            t.status.as_str()
        );
    }
    legend(
        &mut s,
        legend_y,
        &[
            (MET, "covered"),
            (NOT_ASSESSED, "partly covered"),
            (GAP, "open"),
            (NONE, "layer not touched"),
        ],
    );
    s.push_str("</svg>");
    s
}

fn legend(s: &mut String, y: f64, entries: &[(&str, &str)]) {
    let mut x = 0.0;
    for (colour, label) in entries {
        let _ = write!(
            s,
            r#"<rect x="{x:.1}" y="{:.1}" width="14" height="14" fill="{colour}"/><text x="{:.1}" y="{:.1}" fill="{MUTED}" text-rendering="geometricPrecision">{}</text>"#,
            y,
            x + 20.0,
            y + 12.0,
            esc(label)
        );
        x += 30.0 + 7.5 * label.chars().count() as f64;
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}
