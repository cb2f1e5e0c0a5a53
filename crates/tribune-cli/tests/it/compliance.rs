//! `tribune check` against mandate packs: the motivating HIPAA case, exit codes, JSON and
//! SARIF output, and the threat-coverage table.

use std::path::Path;

use crate::{copy_dir, repo, stdout, tribune};

const FIXTURES: &str = "crates/tribune-compliance/tests/fixtures";

/// Copies the bundle at `from` (relative to the repository) with `edits` applied to its
/// manifest, runs `tribune check` on it with `extra` arguments, and returns (exit code, output
/// with the temporary path replaced by `BUNDLE`).
fn check(from: &str, edits: &[(&str, &str)], extra: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    copy_dir(&repo().join(from), &bundle);
    let manifest = bundle.join("tribune.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    for (old, new) in edits {
        assert!(text.contains(old), "`{old}` is not in {from}");
        text = text.replacen(old, new, 1);
    }
    std::fs::write(&manifest, text).unwrap();
    let path = bundle.to_str().unwrap();
    let mut args = vec!["check", path];
    args.extend(extra);
    let out = tribune(&args);
    (out.status.code().unwrap(), stdout(&out).replace(path, "BUNDLE"))
}

const SEVEN_DAYS: (&str, &str) = ("keep_days = 2190        # six years", "keep_days = 7");

/// The motivating failure: PHI access decisions rotated after seven days. `tribune check` must
/// catch it, cite 45 CFR 164.316(b)(2)(i) at the rule, and fail; six years passes.
#[test]
fn compliance_hipaa_retention_of_seven_days_fails_and_six_years_passes() {
    let (code, text) = check("examples/clinical-hipaa", &[SEVEN_DAYS], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains(
        "error[HIPAA-164.316(b)(2)(i)]: `decision` events about `phi` data are kept only 7 days; at least 2190 days are required (45 CFR 164.316(b)(2)(i): retain documentation for six years)"
    ));
    insta::assert_snapshot!(text);

    let (code, text) = check("examples/clinical-hipaa", &[], &[]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("error["), "{text}");
    assert!(
        text.ends_with("BUNDLE: valid; 0 finding(s); 0 mandate error(s), 0 mandate warning(s)\n"),
        "{text}"
    );
}

#[test]
fn compliance_sarif_is_sarif_2_1_0_with_rules_and_located_results() {
    let (code, text) = check("examples/clinical-hipaa", &[SEVEN_DAYS], &["--format", "sarif"]);
    assert_eq!(code, 1);
    let log: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(log["version"], "2.1.0");
    assert_eq!(log["$schema"], "https://json.schemastore.org/sarif-2.1.0.json");
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "tribune");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    let fail = results
        .iter()
        .find(|r| r["ruleId"] == "HIPAA-164.316(b)(2)(i)" && r["kind"] == "fail")
        .unwrap();
    assert_eq!(fail["level"], "error");
    let rule = &rules[fail["ruleIndex"].as_u64().unwrap() as usize];
    assert_eq!(rule["id"], "HIPAA-164.316(b)(2)(i)");
    assert_eq!(rule["properties"]["citation"], "45 CFR 164.316(b)(2)(i)");
    assert!(
        rule["helpUri"]
            .as_str()
            .unwrap()
            .starts_with("https://www.ecfr.gov/")
    );
    let at = &fail["locations"][0]["physicalLocation"];
    // The bundle was named by an absolute path, so locations are `file://` URIs.
    assert_eq!(at["artifactLocation"]["uri"], "file://BUNDLE/tribune.toml");
    assert!(at["region"]["startLine"].as_u64().unwrap() > 1);
    // Requirements that need runtime evidence are open, not passed.
    assert!(
        results
            .iter()
            .any(|r| r["kind"] == "open" && r["level"] == "none")
    );
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
        assert!(r["locations"][0]["physicalLocation"]["region"]["startLine"].is_u64());
    }
}

#[test]
fn compliance_json_carries_mandates_and_coverage() {
    let fixture = format!("{FIXTURES}/nist-ai-rmf");
    let (code, text) = check(
        &fixture,
        &[("activity_review_days = 90", "activity_review_days = 120")],
        &["--format", "json"],
    );
    // The AI RMF's gaps are warnings: reported, but they do not fail the check.
    assert_eq!(code, 0);
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    insta::assert_json_snapshot!(body);
}

#[test]
fn compliance_unknown_mandate_is_an_invalid_bundle() {
    let (code, text) = check(
        "examples/clinical-hipaa",
        &[("mandates = [\"hipaa\"]", "mandates = [\"hipaa\", \"gdpr\"]")],
        &[],
    );
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("error[unknown-value]: `[compliance] mandates` names `gdpr`, which is not a mandate pack Tribune ships"));
}

#[test]
fn compliance_every_pack_fixture_passes() {
    for pack in ["hipaa", "eu-ai-act", "fedramp-moderate", "soc2", "nist-ai-rmf"] {
        let path = format!("{FIXTURES}/{pack}");
        assert!(Path::new(&repo().join(&path)).is_dir());
        let out = tribune(&["check", &path]);
        assert_eq!(out.status.code(), Some(0), "{pack}: {}", stdout(&out));
    }
}

#[test]
fn compliance_coverage_table_on_request() {
    let out = tribune(&["check", "examples/quickstart", "--coverage"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains("  T1   open     L2,L3     Memory poisoning: out of scope: "),
        "{text}"
    );
    assert!(text.contains(
        "  T10  partly   L5,L6     Overwhelming human in the loop: reviewer capacity is declared: "
    ));
    // Without the flag or a `[compliance]` table, the output is what it always was.
    let plain = stdout(&tribune(&["check", "examples/quickstart"]));
    assert_eq!(plain, "examples/quickstart: valid; 0 finding(s)\n");
}
