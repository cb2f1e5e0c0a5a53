//! The built-in suites against the example bundles, offline, and a deliberately weakened copy
//! of the quick-start bundle failing exactly the scenarios its weakening opens.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tribune_policy::Snapshot;
use tribune_redteam::{Category, Offline, Report};

/// 2026-01-01T00:00:00Z.
const NOW_MS: i64 = 1_767_225_600_000;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn snapshot(dir: &Path) -> Snapshot {
    let bundle = tribune_bundle::load_dir(dir).unwrap_or_else(|d| panic!("{}: {d:?}", dir.display()));
    Snapshot::build(bundle).unwrap_or_else(|d| panic!("{}: {d:?}", dir.display()))
}

fn run_builtin(dir: &Path) -> Report {
    let snapshot = snapshot(dir);
    let suite = tribune_redteam::builtin(&snapshot.bundle().deployment.name)
        .expect("a built-in suite for this deployment")
        .unwrap_or_else(|d| panic!("{d:?}"));
    let bind = tribune_redteam::bind::check(&suite, snapshot.bundle());
    assert!(bind.is_empty(), "{bind:?}");
    tribune_redteam::run(&snapshot, &suite, &Offline, NOW_MS)
}

fn failed(report: &Report) -> BTreeSet<&str> {
    report
        .scenarios
        .iter()
        .filter(|s| !s.passed)
        .map(|s| s.id.as_str())
        .collect()
}

/// Every category the issue asks the built-in suite to cover.
fn categories(report: &Report) -> BTreeSet<String> {
    report.scenarios.iter().map(|s| s.category.clone()).collect()
}

fn assert_covers_all(report: &Report) {
    let want: BTreeSet<String> = Category::ALL
        .iter()
        .filter(|c| **c != Category::Other)
        .map(|c| c.as_str().to_owned())
        .collect();
    assert_eq!(categories(report), want);
}

#[test]
fn redteam_builtin_suite_passes_on_quickstart() {
    let report = run_builtin(&repo().join("examples/quickstart"));
    assert!(report.passed, "{}", tribune_redteam::render_text(&report));
    assert_eq!(report.steps_failed, 0);
    assert_covers_all(&report);
}

#[test]
fn redteam_builtin_suite_passes_on_clinical_hipaa() {
    let report = run_builtin(&repo().join("examples/clinical-hipaa"));
    assert!(report.passed, "{}", tribune_redteam::render_text(&report));
    assert_covers_all(&report);
}

/// The weakened quick-start bundle lowers the irreversible floor to one approval
/// and drops the `refund-limit` forbid: the autonomy, refund-limit and payments-egress
/// scenarios must fail, and nothing else (the owner rule still stops self-approval; the ticket
/// deletion forbid, stops and credentials are untouched).
#[test]
fn redteam_weakened_bundle_fails_exactly_the_weakened_scenarios() {
    let report =
        run_builtin(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weakened-quickstart"));
    assert_eq!(
        failed(&report),
        BTreeSet::from([
            "argument-smuggling-refund-limit",
            "autonomy-bypass-refund",
            "data-egress-external-payments",
        ]),
        "{}",
        tribune_redteam::render_text(&report)
    );
    let text = tribune_redteam::render_text(&report);
    insta::assert_snapshot!(
        text.lines()
            .filter(|l| l.contains("FAIL"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The weakened clinical bundle lets credentials through DLP and drops the purpose rule.
#[test]
fn redteam_weakened_clinical_bundle_fails_exactly_the_weakened_scenarios() {
    let report =
        run_builtin(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/weakened-clinical-hipaa"));
    assert_eq!(
        failed(&report),
        BTreeSet::from(["argument-smuggling-purpose", "data-egress-dlp"]),
        "{}",
        tribune_redteam::render_text(&report)
    );
}

/// A suite written for another deployment, or naming what the bundle lacks, does not bind.
#[test]
fn redteam_suite_that_names_undeclared_things_does_not_bind() {
    let snapshot = snapshot(&repo().join("examples/quickstart"));
    let (_, _, text) = tribune_redteam::BUILTIN[1];
    let suite =
        tribune_redteam::parse(&tribune_bundle::SourceFile::new("clinical.toml", text)).expect("parses");
    let errors = tribune_redteam::bind::check(&suite, snapshot.bundle());
    let first: Vec<String> = errors.iter().take(3).map(ToString::to_string).collect();
    insta::assert_snapshot!(first.join("\n"));
}
