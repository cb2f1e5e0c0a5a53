//! Tribune's red-team program: adversarial scenarios replayed against a bundle's policy.
//!
//! A **suite** (TOML, `docs/redteam.md`) is written against one deployment's bundle: its
//! scenarios name the bundle's agents, tools and humans, and each step is one tool call with
//! the setup it needs (a stop in force, an expired or revoked credential, a credential scoped
//! to other tools, humans voting on the held call) and the outcome it must get (allow, deny
//! with a reason code, hold with N approvals and MFA, approved or not). [`parse`] reads a suite
//! with located errors; [`bind::check`] checks it names only what the bundle declares;
//! [`run`] replays it through `tribune-policy`'s [`Snapshot::decide`](tribune_policy::Snapshot)
//! with the facts each step describes, on top of the runtime facts an [`Environment`] reports
//! ([`Offline`]: none; the server: its stops, trust scores and vettings), and reports pass or
//! fail per step.
//!
//! The built-in suites ([`builtin`]) are compiled in, one per example bundle, and cover
//! privilege escalation, autonomy bypass, self-approval, stop bypass, expired and revoked
//! credentials, argument smuggling and data-class egress.
//!
//! No IO, no clock: the caller reads files and passes `now_ms`.

pub mod bind;
pub mod model;
mod parse;
pub mod run;

use std::fmt::Write as _;

pub use model::{Category, CredentialState, Expect, Refusal, Scenario, Setup, Step, Suite, Threat};
pub use parse::parse;
pub use run::{
    BaseFacts, CredentialCheck, CredentialRun, Environment, Got, Offline, Report, ScenarioResult, StepResult,
    run,
};
use tribune_bundle::{Diagnostic, SourceFile};

/// The built-in suites: `(file name, deployment, text)`, one per example bundle.
pub const BUILTIN: &[(&str, &str, &str)] = &[
    (
        "builtin/quickstart.toml",
        "example.com/quickstart",
        include_str!("../suites/quickstart.toml"),
    ),
    (
        "builtin/clinical-hipaa.toml",
        "st-marys.example/clinical-summaries",
        include_str!("../suites/clinical-hipaa.toml"),
    ),
];

/// The SHA-256 of a suite's text (lowercase hex): what a recorded run names its suite by, so
/// the built-in suite can be told from any other suite of the same name.
pub fn suite_sha256(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The text of the built-in suite written for deployment `deployment`, if there is one.
pub fn builtin_text(deployment: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(_, d, _)| *d == deployment)
        .map(|(_, _, text)| *text)
}

/// Whether `text` is exactly the built-in suite for deployment `deployment`.
pub fn is_builtin(deployment: &str, text: &str) -> bool {
    builtin_text(deployment).is_some_and(|b| suite_sha256(b) == suite_sha256(text))
}

/// The built-in suite written for deployment `deployment`, parsed; `None` when there is none.
pub fn builtin(deployment: &str) -> Option<Result<Suite, Vec<Diagnostic>>> {
    BUILTIN
        .iter()
        .find(|(_, d, _)| *d == deployment)
        .map(|(file, _, text)| parse(&SourceFile::new(*file, *text)))
}

/// The report as text: one line per step, a summary line last.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "red-team suite `{}` against `{}` (bundle {})",
        report.suite,
        report.deployment,
        report.bundle_hash.chars().take(12).collect::<String>()
    );
    for s in &report.scenarios {
        let _ = writeln!(
            out,
            "{} {} [{}; {}]",
            if s.passed { "PASS" } else { "FAIL" },
            s.id,
            s.category,
            s.threats.join(", ")
        );
        for (n, st) in s.steps.iter().enumerate() {
            let setup = if st.setup.is_empty() {
                String::new()
            } else {
                format!(" given {}", st.setup.join(", "))
            };
            let verdict = if st.passed { "ok  " } else { "FAIL" };
            let _ = writeln!(
                out,
                "  {verdict} step {} {}: {} calls {}{setup}: expected {}, got {}",
                n + 1,
                st.at,
                st.principal,
                st.tool,
                st.expected,
                st.got
            );
            for note in &st.notes {
                let _ = writeln!(out, "       note: {note}");
            }
        }
    }
    let _ = writeln!(
        out,
        "{}: {} of {} scenario(s) passed, {} of {} step(s) failed",
        if report.passed { "passed" } else { "FAILED" },
        report.scenarios_total - report.scenarios_failed,
        report.scenarios_total,
        report.steps_failed,
        report.steps_total
    );
    out
}
