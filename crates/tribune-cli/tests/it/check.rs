//! `tribune check` and `tribune init`: exit codes and located messages.

use crate::{copy_dir, repo, stdout, tribune};

/// Writes the quick-start bundle with `edit` applied to its manifest, checks it, and returns
/// (exit code, output with the temporary path removed).
fn check(edit: impl Fn(String) -> String) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    copy_dir(&repo().join("examples/quickstart"), &bundle);
    let manifest = bundle.join("tribune.toml");
    std::fs::write(&manifest, edit(std::fs::read_to_string(&manifest).unwrap())).unwrap();
    let out = tribune(&["check", bundle.to_str().unwrap()]);
    let text = stdout(&out).replace(bundle.to_str().unwrap(), "BUNDLE");
    (out.status.code().unwrap(), text)
}

#[test]
fn the_examples_are_clean() {
    for example in ["examples/quickstart", "examples/clinical-hipaa"] {
        let out = tribune(&["check", example]);
        assert_eq!(out.status.code(), Some(0), "{example}: {}", stdout(&out));
    }
}

#[test]
fn findings_exit_1() {
    // A one-member pool cannot give the two distinct approvals irreversible calls need.
    let (code, text) = check(|m| m.replace(r#"members = ["alice", "bob"]"#, r#"members = ["alice"]"#));
    assert_eq!(code, 1);
    insta::assert_snapshot!(text);
}

#[test]
fn an_invalid_bundle_exits_2_with_located_errors() {
    let (code, text) = check(|m| {
        m.replace("class = \"support\"", "class = \"supprot\"").replace(
            "ceiling = \"irreversible\"",
            "ceiling = \"irreversible\"\ncolour = \"blue\"",
        )
    });
    assert_eq!(code, 2);
    insta::assert_snapshot!(text);
}

#[test]
fn a_class_looser_than_the_floor_is_invalid() {
    let (code, text) = check(|m| {
        m.replace(
            "quota = { calls_per_minute = 120 }",
            "quota = { calls_per_minute = 120 }\nautonomy.irreversible = { approvals = 1 }",
        )
    });
    assert_eq!(code, 2);
    insta::assert_snapshot!(text);
}

#[test]
fn json_output_carries_every_diagnostic() {
    let out = tribune(&["check", "examples/quickstart", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["diagnostics"].as_array().map(Vec::len), Some(0));
}

#[test]
fn init_writes_a_bundle_that_checks_clean_and_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("gov");
    let out = tribune(&["init", target.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        tribune(&["check", target.to_str().unwrap()]).status.code(),
        Some(0)
    );
    let again = tribune(&["init", target.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(crate::stderr(&again).contains("already holds a bundle"));
}
