//! Markdown, JSON and HTML over the example bundles: what each says, and that bundle text
//! cannot become markup.

use std::path::Path;

use serde_json::Value;
use tribune_compliance::{Evidence, Status};
use tribune_report::Format;

use crate::{Fixture, edited_copy, evidence_that_holds, evidence_with_tampered_ledger};

const RETENTION: &str = "HIPAA-164.316(b)(2)(i)";

fn requirement<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["mandates"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["requirements"].as_array().unwrap())
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no requirement `{id}` in {json:#}"))
}

/// The Markdown table row of requirement `id`.
fn md_row<'a>(md: &'a str, id: &str) -> &'a str {
    let escaped = tribune_report::text::markdown(id);
    md.lines()
        .find(|l| l.starts_with(&format!("| {escaped}: ")))
        .unwrap_or_else(|| panic!("no row for `{id}` in\n{md}"))
}

#[test]
fn report_markdown_of_the_hipaa_example_names_every_requirement_with_citation_and_status() {
    let f = Fixture::hipaa();
    let md = f.render(Format::Markdown);
    let catalog = tribune_compliance::catalog().unwrap();
    let pack = catalog.pack("hipaa").unwrap();
    for r in &pack.requirements {
        let row = md_row(&md, &r.id);
        assert!(
            row.contains(&tribune_report::text::markdown(&r.citation)),
            "{row}"
        );
    }
    // Six years of retention is declared: met. The audit-controls requirement needs the
    // ledger: not assessed, and the static report says what it awaits.
    let retention = md_row(&md, RETENTION);
    assert!(retention.contains("| met |"), "{retention}");
    assert!(retention.contains("45 CFR 164.316(b)(2)(i)"), "{retention}");
    let audit = md_row(&md, "HIPAA-164.312(b)");
    assert!(audit.contains("| not assessed |"), "{audit}");
    assert!(audit.contains("awaits runtime evidence"), "{audit}");
    assert!(md.contains("This report is **static**"), "{md}");
    assert!(md.contains("| hipaa | "), "{md}");
}

#[test]
fn report_of_seven_day_phi_retention_is_a_gap_at_its_rule() {
    let dir = tempfile::tempdir().unwrap();
    edited_copy("examples/clinical-hipaa", dir.path(), |t| {
        t.replacen("keep_days = 2190        # six years", "keep_days = 7", 1)
    });
    let f = Fixture::new(dir.path(), Evidence::NONE);
    let md = f.render(Format::Markdown);
    let row = md_row(&md, RETENTION);
    assert!(row.contains("| gap |"), "{row}");
    assert!(
        row.contains(
            "`decision` events about `phi` data are kept only 7 days; at least 2190 days are required"
        ),
        "{row}"
    );
    let json: Value = serde_json::from_str(&f.render(Format::Json)).unwrap();
    assert_eq!(requirement(&json, RETENTION)["status"], "gap");
    let finding = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == RETENTION)
        .unwrap();
    assert_eq!(finding["severity"], "error");
    assert_eq!(finding["location"]["file"], "tribune.toml");
    assert_eq!(json["summary"]["error_findings"], 1, "{:#}", json["summary"]);
}

#[test]
fn report_json_counts_match_the_assessment_and_list_what_awaits_evidence() {
    let f = Fixture::hipaa();
    let json: Value = serde_json::from_str(&f.render(Format::Json)).unwrap();
    let all: Vec<_> = f
        .assessment
        .mandates
        .iter()
        .flat_map(|m| &m.requirements)
        .collect();
    let count = |s| all.iter().filter(|r| r.status == s).count();
    let summary = &json["summary"];
    assert_eq!(summary["requirements"], all.len());
    assert_eq!(summary["met"], count(Status::Met));
    assert_eq!(summary["gap"], count(Status::Gap));
    assert_eq!(summary["not_assessed"], count(Status::NotAssessed));
    assert!(count(Status::NotAssessed) > 0);
    assert_eq!(json["runtime"]["static"], true);
    assert_eq!(json["runtime"]["evidence"], serde_json::json!({}));
    let awaiting = json["runtime"]["awaiting_evidence"].as_array().unwrap();
    assert_eq!(awaiting.len(), count(Status::NotAssessed));
    assert!(awaiting.iter().any(|a| a["id"] == "HIPAA-164.312(b)"));
    assert_eq!(
        json["bundle"]["deployment"],
        "st-marys.example/clinical-summaries"
    );
    assert_eq!(json["bundle"]["hash"], f.bundle.hash);
    assert_eq!(json["generated_at"], "2026-01-15T12:00:00Z");
    assert_eq!(json["coverage"]["threats"].as_array().unwrap().len(), 17);
}

#[test]
fn report_with_evidence_shows_the_checkpoint_the_ledger_rests_on() {
    let f = Fixture::hipaa_with_evidence();
    let json: Value = serde_json::from_str(&f.render(Format::Json)).unwrap();
    let audit = requirement(&json, "HIPAA-164.312(b)");
    assert_eq!(audit["status"], "met", "{audit:#}");
    let observed = audit["observed"][0].as_str().unwrap();
    assert!(
        observed.starts_with("the ledger verified: 1234 entries (17 pruned), 42 signed checkpoint(s); entries 0..1234 rest on checkpoint `st-marys.example/clinical-summaries` size 1234 root q5GSqXbOIqG0pZXOTnBHGGzY3G4y2wGSTBE6zqZTHc0=, signed at 2026-01-15T11:59:00Z"),
        "{observed}"
    );
    let ledger = &json["runtime"]["evidence"]["ledger"];
    assert_eq!(ledger["verdict"], "verified");
    assert_eq!(ledger["verification"]["outcome"], "verified");
    assert_eq!(ledger["verification"]["checkpoint"]["size"], 1234);
    assert_eq!(
        json["runtime"]["evidence"]["stop_drills"]["facts"]["last drill that passed"],
        "2026-01-12T12:00:00Z"
    );
    // The activity review is recorded nowhere: still not assessed, even with a server.
    let review = requirement(&json, "HIPAA-164.308(a)(1)(ii)(D)");
    assert_eq!(review["status"], "not_assessed", "{review:#}");
    let md = f.render(Format::Markdown);
    assert!(md.contains("| checkpoint size | 1234 |"), "{md}");
    let html = f.render(Format::Html);
    assert!(html.contains(
        "<th scope=\"row\">checkpoint root</th><td><code>q5GSqXbOIqG0pZXOTnBHGGzY3G4y2wGSTBE6zqZTHc0=</code>"
    ));
}

#[test]
fn report_with_a_tampered_ledger_is_a_gap_never_met() {
    let f = Fixture::new(
        Path::new("examples/clinical-hipaa"),
        evidence_with_tampered_ledger(),
    );
    let json: Value = serde_json::from_str(&f.render(Format::Json)).unwrap();
    let audit = requirement(&json, "HIPAA-164.312(b)");
    assert_eq!(audit["status"], "gap", "{audit:#}");
    assert!(
        audit["gaps"][0]["message"]
            .as_str()
            .unwrap()
            .contains("does not verify against its signed checkpoints: FAILED at entry 17"),
        "{audit:#}"
    );
    assert_eq!(json["runtime"]["evidence"]["ledger"]["verdict"], "failed");
}

#[test]
fn report_escapes_hostile_bundle_text_in_html_and_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = r#"<script>alert(1)</script><img src=x onerror=alert(2)> [click](javascript:alert(3)) | "q" 'a' &amp;"#;
    edited_copy("examples/clinical-hipaa", dir.path(), |t| {
        t.replacen(
            "description = \"Clinical summarisation assistant for the outpatient clinics (HIPAA covered entity).\"",
            &format!("description = '''{hostile}'''"),
            1,
        )
    });
    let f = Fixture::new(dir.path(), evidence_that_holds());
    let html = f.render(Format::Html);
    // Markdown link syntax is only text in HTML; tags and attributes must not survive.
    for bad in ["<script", "<img", "onerror=alert(2)>"] {
        assert!(!html.contains(bad), "`{bad}` got through:\n{html}");
    }
    assert!(html.contains(
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt; [click](javascript:alert(3)) | &quot;q&quot; &#39;a&#39; &amp;amp;"
    ));
    // No script can run and nothing can load, whatever got through.
    assert!(html.contains("content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\""));
    assert!(!html.contains("<link"));
    assert!(!html.contains("src=\""));
    let md = f.render(Format::Markdown);
    for bad in ["<script", "<img", "[click](javascript"] {
        assert!(!md.contains(bad), "`{bad}` got through:\n{md}");
    }
    assert!(md.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{md}");
    assert!(md.contains("\\[click\\](javascript:alert(3))"), "{md}");
}

#[test]
fn report_html_is_self_contained_with_both_charts_and_a_print_stylesheet() {
    let f = Fixture::hipaa_with_evidence();
    let html = f.render(Format::Html);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("@media print"));
    assert!(html.contains("<svg class=\"chart\" id=\"chart-mandates\""));
    assert!(html.contains("<svg class=\"chart\" id=\"chart-threats\""));
    assert!(!html.contains("<script"));
    assert!(!html.contains("url("), "no external or embedded resources");
    // Every requirement of the pack is a row with its citation linked.
    for r in &tribune_compliance::catalog()
        .unwrap()
        .pack("hipaa")
        .unwrap()
        .requirements
    {
        let id = tribune_report::text::html(&r.id);
        assert!(html.contains(&format!("<tr id=\"req-{id}\">")), "{}", r.id);
        assert!(html.contains(&tribune_report::text::html(&r.citation)));
    }
}

#[test]
fn report_renders_the_same_bytes_for_the_same_inputs() {
    for format in [Format::Html, Format::Markdown, Format::Json, Format::Oscal] {
        assert_eq!(
            Fixture::hipaa_with_evidence().render(format),
            Fixture::hipaa_with_evidence().render(format),
            "{format:?}"
        );
    }
}
