//! What a passing step proves: a `not_approved` step passes only when the approvals core
//! refuses for the reason it names (never on a harness error), a credential step takes the
//! environment's verdict (offline it is labelled simulated), and a run names its suite by
//! SHA-256 so the built-in suite can be told from any other.

use std::collections::BTreeSet;
use std::path::Path;

use tribune_bundle::SourceFile;
use tribune_policy::Snapshot;
use tribune_redteam::{
    BaseFacts, CredentialCheck, CredentialRun, CredentialState, Environment, Offline, Report, Step,
};

/// 2026-01-01T00:00:00Z.
const NOW_MS: i64 = 1_767_225_600_000;

fn quickstart() -> Snapshot {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
    let bundle = tribune_bundle::load_dir(&dir).unwrap();
    Snapshot::build(bundle).unwrap()
}

fn run_with(steps: &str, env: &dyn Environment) -> Report {
    let text = format!(
        "name = \"t\"\nbundle = \"example.com/quickstart\"\n\n[[scenarios]]\nid = \"s\"\ncategory = \"other\"\nthreats = [\"T14\"]\ndescription = \"d\"\n\n{steps}"
    );
    let suite = tribune_redteam::parse(&SourceFile::new("t.toml", text.as_str())).unwrap();
    tribune_redteam::run(&quickstart(), &suite, env, NOW_MS)
}

fn run(steps: &str) -> Report {
    run_with(steps, &Offline)
}

/// `(passed, got)` per step.
fn steps(report: &Report) -> Vec<(bool, String)> {
    report.scenarios[0]
        .steps
        .iter()
        .map(|s| (s.passed, s.got.to_string()))
        .collect()
}

const TICKET: &str = "agent = \"support-bot\"\ntool = \"update_ticket\"\narguments = { ticket_id = \"T-1\", status = \"solved\" }\n";
const REFUND: &str =
    "agent = \"support-bot\"\ntool = \"issue_refund\"\narguments = { order_id = \"O-1\", amount = 20.0 }\n";

fn step(call: &str, rest: &str) -> String {
    format!("[[scenarios.steps]]\n{call}{rest}")
}

#[test]
fn redteam_not_approved_passes_only_for_the_named_refusal() {
    // The requester's own vote: refused as self-approval.
    let self_vote = "requested_by = \"alice\"\napprove = [\"alice\"]\nexpect = \"not_approved\"\n";
    let report = run(&[
        step(TICKET, &format!("{self_vote}refusal = \"self_approval\"\n")),
        step(TICKET, &format!("{self_vote}refusal = \"not_eligible\"\n")),
        // A human outside the pool: refused as not eligible, and only as that.
        step(
            TICKET,
            "approve = [\"carol\"]\nexpect = \"not_approved\"\nrefusal = \"not_eligible\"\n",
        ),
        step(
            TICKET,
            "approve = [\"carol\"]\nexpect = \"not_approved\"\nrefusal = \"self_approval\"\n",
        ),
        // The owner alone on an irreversible call: counted, a non-owner still needed.
        step(
            REFUND,
            "approve = [\"alice\"]\nexpect = \"not_approved\"\nrefusal = \"owner_only\"\n",
        ),
        // A reviewer who is not the owner, alone: too few approvals is not the owner rule.
        step(
            REFUND,
            "approve = [\"bob\"]\nexpect = \"not_approved\"\nrefusal = \"owner_only\"\n",
        ),
    ]
    .concat());
    let got = steps(&report);
    let passed: Vec<bool> = got.iter().map(|(p, _)| *p).collect();
    assert_eq!(passed, [true, false, true, false, true, false], "{got:#?}");
    assert!(
        got[0].1.starts_with("not approved after hold (self_approval)"),
        "{got:#?}"
    );
    assert!(
        got[2].1.starts_with("not approved after hold (not_eligible)"),
        "{got:#?}"
    );
    assert!(
        got[4].1.starts_with("not approved after hold (owner_only)"),
        "{got:#?}"
    );
    assert!(
        got[5]
            .1
            .starts_with("not approved after hold (too_few_approvals)"),
        "{got:#?}"
    );
}

/// A vote the harness cannot cast (a human id that is not one) was a pass for `not_approved`;
/// it is a failed step, with the error in the report.
#[test]
fn redteam_harness_errors_fail_the_step() {
    let report = run(&step(
        TICKET,
        "approve = [\"Not An Id!\"]\nexpect = \"not_approved\"\nrefusal = \"not_eligible\"\n",
    ));
    let st = &report.scenarios[0].steps[0];
    assert!(!st.passed, "{st:#?}");
    let error = st.got.error.as_deref().unwrap_or_default();
    assert!(error.starts_with("cannot cast `Not An Id!`'s vote: "), "{st:#?}");
    assert!(st.got.to_string().starts_with("a harness error: "), "{}", st.got);
    assert!(!report.passed);
}

/// An environment whose credential path accepts everything: the runner takes its word, so a
/// server whose verifier or registry stopped refusing fails the credential scenarios.
struct AcceptsAnything;

impl Environment for AcceptsAnything {
    fn facts(&self, _: &Step, _: &Snapshot, _: i64) -> BaseFacts {
        BaseFacts::default()
    }

    fn credential(&self, step: &Step, _: CredentialState, _: &Snapshot, _: i64) -> CredentialRun {
        CredentialRun {
            check: CredentialCheck::Accepted {
                scopes: Some(BTreeSet::from([step.tool.clone()])),
                refusal: None,
            },
            exercised: "a broken credential path".to_owned(),
        }
    }
}

#[test]
fn redteam_credential_steps_take_the_environments_verdict() {
    let docs = "agent = \"support-bot\"\ntool = \"search_docs\"\narguments = { query = \"x\" }\n";
    let steps_text = [
        step(
            docs,
            "credential = \"expired\"\nexpect = \"deny\"\ncode = \"credential_expired\"\n",
        ),
        step(
            docs,
            "credential = \"revoked\"\nexpect = \"deny\"\ncode = \"credential_revoked\"\n",
        ),
    ]
    .concat();
    let broken = run_with(&steps_text, &AcceptsAnything);
    let got = steps(&broken);
    assert_eq!(
        got,
        [
            (
                false,
                "allow (permitted, rule `support-may-use-helpdesk`)".to_owned()
            ),
            (
                false,
                "allow (permitted, rule `support-may-use-helpdesk`)".to_owned()
            )
        ],
        "{got:#?}"
    );
    assert_eq!(broken.scenarios[0].steps[0].notes, ["a broken credential path"]);

    // Offline both pass, and each says it only simulated the credential check.
    let offline = run(&steps_text);
    assert!(offline.passed, "{}", tribune_redteam::render_text(&offline));
    for st in &offline.scenarios[0].steps {
        assert!(
            st.notes.len() == 1 && st.notes[0].starts_with("simulated: "),
            "{st:#?}"
        );
    }
    assert!(tribune_redteam::render_text(&offline).contains("\n       note: simulated: "));
}

#[test]
fn redteam_builtin_suite_is_known_by_its_sha256() {
    for (_, deployment, text) in tribune_redteam::BUILTIN {
        assert!(tribune_redteam::is_builtin(deployment, text));
        assert_eq!(tribune_redteam::suite_sha256(text).len(), 64);
        // The same suite with one scenario dropped, or any other text, is not the built-in one.
        let trimmed = text.replacen("[[scenarios]]", "#", 1);
        assert!(!tribune_redteam::is_builtin(deployment, &trimmed));
    }
    let (_, _, quickstart) = tribune_redteam::BUILTIN[0];
    assert!(!tribune_redteam::is_builtin(
        "st-marys.example/clinical-summaries",
        quickstart
    ));
    assert!(!tribune_redteam::is_builtin("example.com/other", quickstart));
    // Known answer: SHA-256 of "abc".
    assert_eq!(
        tribune_redteam::suite_sha256("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}
