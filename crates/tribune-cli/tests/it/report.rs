//! `tribune report` end to end: a real `tribune serve` on the quick-start bundle, on SQLite and
//! on PostgreSQL, and the report of a copy that declares the EU AI Act and FedRAMP Moderate.
//! Statically the evidence requirements await evidence; with `--server` the ledger is read
//! whole and verified (met, resting on a signed checkpoint the server holds), the drills and
//! identities flow in, a drill turns the stop requirement from a gap into met, a wrong pinned
//! key and a tampered database turn the ledger requirement into a gap; in every format.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::deployment::{Api, Backend, Deployment, Running, block_on, cli};
use crate::ledger::support::{LedgerDeployment, flip_one_byte};
use crate::{copy_dir, stderr, stdout, tribune};

const ART12: &str = "EU-AIA-Art.12";
const STOP: &str = "EU-AIA-Art.14(4)(e)";
const AC2: &str = "AC-2";

fn serve(backend: Backend) -> Running {
    // A drill target a loaded test machine always meets: this checks the evidence, not speed.
    block_on(Deployment::new(backend, |text| {
        text.replacen("cadence_days = 30\n", "cadence_days = 30\ntarget_ms = 10000\n", 1)
    }))
    .start()
}

/// A copy of the served bundle that declares mandates with evidence checks, and review terms
/// its identities are judged by.
fn assessed_copy(bundle: &Path, into: &Path) {
    copy_dir(bundle, into);
    let path = into.join("tribune.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        path,
        format!(
            "{text}\n[identities]\nreview_days = 90\n\n[compliance]\nmandates = [\"eu-ai-act\", \"fedramp-moderate\"]\n"
        ),
    )
    .unwrap();
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

fn requirement<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["mandates"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["requirements"].as_array().unwrap())
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no `{id}` in {report:#}"))
}

fn observed(r: &Value) -> Vec<String> {
    r["observed"]
        .as_array()
        .map(|o| o.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

fn gap_messages(r: &Value) -> Vec<String> {
    r["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["message"].as_str().unwrap().to_owned())
        .collect()
}

/// The root hash line of the stored checkpoint of `size` (a C2SP note: origin, size, root).
fn stored_root(s: &Running, size: u64) -> String {
    let (status, body) = block_on(Api::new(s).get(
        crate::deployment::ADMIN,
        &format!("/v1/audit/checkpoints?from={size}&limit=1"),
    ));
    assert_eq!(status, 200, "{body}");
    let c = &body["checkpoints"][0];
    assert_eq!(c["size"], size, "the reported checkpoint is not stored: {body}");
    c["note"].as_str().unwrap().lines().nth(2).unwrap().to_owned()
}

fn report_end_to_end(backend: Backend) {
    let s = serve(backend);
    let carol = s.token("human", "carol"); // auditor
    let dir = s.deployment.dir.path().join("assessed");
    assessed_copy(&s.deployment.bundle, &dir);
    let bundle = dir.to_str().unwrap().to_owned();

    // Static: the evidence requirements await evidence, and the report says which.
    let out = tribune(&["report", "--bundle", &bundle, "--format", "json"]);
    let report = json_of(&out);
    assert_eq!(report["runtime"]["static"], true);
    assert_eq!(requirement(&report, ART12)["status"], "not_assessed");
    let awaiting = report["runtime"]["awaiting_evidence"].as_array().unwrap();
    assert!(awaiting.iter().any(|a| a["id"] == ART12), "{awaiting:?}");
    let check = tribune(&["check", &bundle]);
    assert_eq!(out.status.code(), check.status.code(), "exit codes as `check`");

    // With the server: the ledger verified against the key the server publishes, resting on a
    // checkpoint the server holds; no drill yet, so the stop requirement is a gap and the
    // overdue drill an open finding; the identities judged by the bundle's review term.
    let out = s.cli(&carol, &["report", "--bundle", &bundle, "--format", "json"]);
    let report = json_of(&out);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        s.cli(&carol, &["check", &bundle]).status.code(),
        Some(1),
        "exit codes as `check --server`"
    );
    // Verified, but under the key the server publishes: the requirement awaits a pinned key.
    let art12 = requirement(&report, ART12);
    assert_eq!(art12["status"], "not_assessed", "{art12:#}");
    let awaiting = report["runtime"]["awaiting_evidence"].as_array().unwrap();
    assert!(
        awaiting
            .iter()
            .any(|a| a["id"] == ART12 && a["needs"].to_string().contains("under a pinned verifier key")),
        "{awaiting:?}"
    );
    let ledger = &report["runtime"]["evidence"]["ledger"];
    assert_eq!(ledger["verdict"], "verified", "{ledger:#}");
    let checkpoint = &ledger["verification"]["checkpoint"];
    let size = checkpoint["size"].as_u64().unwrap();
    assert!(size > 0);
    assert_eq!(checkpoint["root"].as_str().unwrap(), stored_root(&s, size));
    assert!(checkpoint["signed_at"][1].as_str().unwrap().ends_with('Z'));
    let stop = requirement(&report, STOP);
    assert_eq!(stop["status"], "gap", "{stop:#}");
    assert!(
        gap_messages(stop)[0].starts_with("no emergency-stop drill has passed"),
        "{stop:#}"
    );
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "drill-overdue"),
        "{:#}",
        report["findings"]
    );
    let ac2 = requirement(&report, AC2);
    assert!(
        observed(ac2)
            .iter()
            .any(|o| o.contains("within their review terms; 0 reviewed at least once")),
        "{ac2:#}"
    );
    let identities = &report["runtime"]["evidence"]["identities"]["facts"];
    assert_ne!(
        identities["identities (not decommissioned)"], "0",
        "{identities:#}"
    );

    // The key pinned: the same verdict, said to rest on the pinned key.
    let key = s.deployment.verifier_key();
    let out = s.cli(
        &carol,
        &[
            "report",
            "--bundle",
            &bundle,
            "--format",
            "json",
            "--ledger-key",
            &key,
        ],
    );
    let art12 = requirement(&json_of(&out), ART12).clone();
    assert_eq!(art12["status"], "met", "{art12:#}");
    let seen = observed(&art12);
    assert!(
        seen[0].starts_with("the ledger verified: ")
            && seen[0].contains(" rest on checkpoint ")
            && seen[0].contains("checked with the pinned verifier key"),
        "{seen:?}"
    );
    // Another key of the same name: no checkpoint verifies, a gap, never met.
    let name = key.split('+').next().unwrap();
    let other = tribune_ledger::SigningKey::from_seed(name, [7; 32])
        .unwrap()
        .verifier_key()
        .to_string();
    let out = s.cli(
        &carol,
        &[
            "report",
            "--bundle",
            &bundle,
            "--format",
            "json",
            "--ledger-key",
            &other,
        ],
    );
    let art12 = requirement(&json_of(&out), ART12).clone();
    assert_eq!(art12["status"], "gap", "{art12:#}");
    assert!(
        gap_messages(&art12)[0].contains("does not verify against its signed checkpoints: FAILED"),
        "{art12:#}"
    );

    // A drill, then every format shows it met, with the checkpoint.
    let (alice, code) = s.enrolled_code("alice");
    let out = s.cli(&alice, &["drill", "stop", "agent:canary", "--mfa-code", &code]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let out = s.cli(&carol, &["report", "--bundle", &bundle, "--format", "json"]);
    let report = json_of(&out);
    let stop = requirement(&report, STOP);
    assert_eq!(stop["status"], "met", "{stop:#}");
    assert!(observed(stop)[0].starts_with("an emergency-stop drill passed at "));
    assert_eq!(
        out.status.code(),
        s.cli(&carol, &["check", &bundle]).status.code(),
        "exit codes as `check --server`"
    );
    let size = report["runtime"]["evidence"]["ledger"]["verification"]["checkpoint"]["size"]
        .as_u64()
        .unwrap();

    let out = s.cli(
        &carol,
        &[
            "report",
            "--bundle",
            &bundle,
            "--format",
            "oscal",
            "--ledger-key",
            &key,
        ],
    );
    let oscal = json_of(&out);
    let ar = &oscal["assessment-results"];
    let findings = ar["results"][0]["findings"].as_array().unwrap();
    for target in ["eu-aia-art.12", "eu-aia-art.14.4.e"] {
        let f = findings
            .iter()
            .find(|f| f["target"]["target-id"] == target)
            .unwrap_or_else(|| panic!("no finding for {target}: {oscal:#}"));
        assert_eq!(f["target"]["status"]["state"], "satisfied", "{f:#}");
    }
    let resources = ar["back-matter"]["resources"].as_array().unwrap();
    let cp = resources
        .iter()
        .find(|r| r["title"].as_str().unwrap().starts_with("Ledger checkpoint "))
        .unwrap_or_else(|| panic!("no checkpoint resource: {oscal:#}"));
    let prop = |name: &str| {
        cp["props"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["value"].as_str().unwrap().to_owned())
    };
    assert!(prop("checkpoint-size").unwrap().parse::<u64>().unwrap() >= size);
    assert_eq!(prop("verifier-key-pinned").as_deref(), Some("true"));

    let html_path = s.deployment.dir.path().join("report.html");
    let out = s.cli(
        &carol,
        &[
            "report",
            "--bundle",
            &bundle,
            "--format",
            "html",
            "--out",
            html_path.to_str().unwrap(),
        ],
    );
    assert!(stdout(&out).is_empty(), "`--out` writes the file only");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("runtime evidence read from <code>http://127.0.0.1:"));
    assert!(html.contains("an emergency-stop drill passed at "));
    assert!(html.contains("<th scope=\"row\">checkpoint size</th>"));
    let out = s.cli(&carol, &["report", "--bundle", &bundle, "--format", "md"]);
    let md = stdout(&out);
    assert!(
        md.contains("### Ledger verified against its signed checkpoints (verified)"),
        "{md}"
    );

    // Tampering with one payload in the database: the ledger does not verify, a gap.
    block_on(async {
        let db = s.deployment.db().await;
        let row = db.row(1).await;
        let (_, changed) = flip_one_byte(row.payload.as_deref().unwrap());
        db.set_payload(1, &changed).await;
        db.close().await;
    });
    let out = s.cli(&carol, &["report", "--bundle", &bundle, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json_of(&out);
    let art12 = requirement(&report, ART12);
    assert_eq!(art12["status"], "gap", "{art12:#}");
    assert!(gap_messages(art12)[0].contains("FAILED at entry 1"), "{art12:#}");
    assert_eq!(report["runtime"]["evidence"]["ledger"]["verdict"], "failed");

    // A token that may not read the evidence: no report, rather than one without it.
    let agent = s.token("agent", "support-bot");
    let html_path = s.deployment.dir.path().join("refused.html");
    let out = s.cli(
        &agent,
        &[
            "report",
            "--bundle",
            &bundle,
            "--out",
            html_path.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: cannot read"), "{}", stderr(&out));
    assert!(!html_path.exists());
}

#[test]
fn report_end_to_end_on_sqlite() {
    report_end_to_end(Backend::Sqlite);
}

#[test]
fn report_end_to_end_on_postgres() {
    report_end_to_end(Backend::Postgres);
}

#[test]
fn report_of_an_invalid_bundle_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&crate::repo().join("examples/clinical-hipaa"), dir.path());
    let path = dir.path().join("tribune.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen("mandates = [\"hipaa\"]", "mandates = [\"hipaa\", \"gdpr\"]", 1),
    )
    .unwrap();
    let out_file = dir.path().join("report.html");
    let out = cli(&[
        "report",
        "--bundle",
        dir.path().to_str().unwrap(),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("error[unknown-value]"), "{}", stderr(&out));
    assert!(!out_file.exists());
}

#[test]
fn report_of_the_hipaa_example_in_every_format() {
    for (format, start, retention) in [
        (
            "html",
            "<!DOCTYPE html>",
            "<tr id=\"req-HIPAA-164.316(b)(2)(i)\">",
        ),
        (
            "md",
            "# Compliance assessment: st-marys.example/clinical-summaries",
            "| HIPAA-164.316(b)(2)(i): Retain documentation for six years | ",
        ),
        ("json", "{", "\"id\": \"HIPAA-164.316(b)(2)(i)\""),
        ("oscal", "{", "\"target-id\": \"hipaa-164.316.b.2.i\""),
    ] {
        let out = tribune(&[
            "report",
            "--bundle",
            "examples/clinical-hipaa",
            "--format",
            format,
        ]);
        // Statically clean: the requirements that need evidence are not gaps.
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.starts_with(start), "{format}: {text}");
        assert!(text.contains(retention), "{format}: {text}");
    }
}
