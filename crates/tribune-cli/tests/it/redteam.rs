//! The red-team program end to end: `tribune serve` as a real process on the quick-start bundle
//! with `[redteam] cadence_days`, on SQLite and on PostgreSQL; `tribune check --server`
//! reporting the run overdue, `tribune redteam run --server` replaying the built-in suite on
//! the server (recorded in the store and the ledger), a failing suite recorded as failed, bad
//! suites refused as bad input, and the overdue finding gone once a run passed.

use std::process::Output;

use serde_json::Value;

use crate::deployment::{ADMIN, Api, Backend, Deployment, Running, block_on};
use crate::{stderr, stdout, tribune};

fn serve(backend: Backend) -> Running {
    // The drill cadence is dropped so the red-team cadence is the only runtime finding.
    block_on(Deployment::new(backend, |text| {
        let text = text.replacen("[drills]\ncadence_days = 30\n", "[drills]\n", 1);
        format!("{text}\n[redteam]\ncadence_days = 30\n")
    }))
    .start()
}

fn code(out: &Output) -> Option<i32> {
    out.status.code()
}

fn redteam_end_to_end(backend: Backend) {
    let s = serve(backend);
    let bundle = s.deployment.bundle.to_str().unwrap().to_owned();
    let carol = s.token("human", "carol"); // auditor
    let text = std::fs::read_to_string(s.deployment.bundle.join("tribune.toml")).unwrap();
    let line = text.lines().position(|l| l == "[redteam]").unwrap() + 2;
    let at = format!("tribune.toml:{line}:16");

    // Before any run: overdue, an error finding at `[redteam] cadence_days`.
    let out = s.cli(&carol, &["check", &bundle]);
    assert_eq!(code(&out), Some(1), "{}{}", stdout(&out), stderr(&out));
    let expected = format!(
        "{bundle}/{at}: error[redteam-overdue]: red-team run overdue: no run of the built-in suite has passed against this bundle on `{}`; `[redteam] cadence_days` requires one every 30 days (`tribune redteam run --server URL`)",
        s.url
    );
    assert!(stdout(&out).lines().any(|l| l == expected), "{}", stdout(&out));

    // Only an admin runs a suite on the server.
    let out = s.cli(&carol, &["redteam", "run"]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("403 forbidden"), "{}", stderr(&out));

    // A bad suite is bad input (exit 2), located, and not recorded.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "name = \"x\"\nbundle = \"example.com/quickstart\"\n[[scenarios]]\nid = \"a\"\n",
    )
    .unwrap();
    let out = s.cli(ADMIN, &["redteam", "run", bad.to_str().unwrap()]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("bad.toml:3:1: error[missing-key]: missing field `category`"),
        "{}",
        stderr(&out)
    );

    // A suite whose step cannot get its outcome fails (exit 1) and is recorded as failed.
    let failing = dir.path().join("failing.toml");
    std::fs::write(
        &failing,
        "name = \"too-strict\"\nbundle = \"example.com/quickstart\"\n\n[[scenarios]]\nid = \"docs-are-forbidden\"\ncategory = \"other\"\nthreats = [\"T2\"]\ndescription = \"Expects a deny the bundle does not give.\"\n\n[[scenarios.steps]]\nagent = \"support-bot\"\ntool = \"search_docs\"\narguments = { query = \"refunds\" }\nexpect = \"deny\"\ncode = \"forbidden\"\n",
    )
    .unwrap();
    let out = s.cli(ADMIN, &["redteam", "run", failing.to_str().unwrap()]);
    assert_eq!(code(&out), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("  FAIL step 1 "), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("expected deny (forbidden), got allow (permitted"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("recorded red-team run `redteam-"),
        "{}",
        stderr(&out)
    );
    // Still overdue: a failed run is no evidence.
    let out = s.cli(&carol, &["check", &bundle]);
    assert_eq!(code(&out), Some(1), "{}", stdout(&out));

    // A trivial suite of the admin's own passes, is recorded, and is no evidence either: only
    // the built-in suite counts.
    let trivial = dir.path().join("trivial.toml");
    std::fs::write(
        &trivial,
        "name = \"quickstart\"\nbundle = \"example.com/quickstart\"\n\n[[scenarios]]\nid = \"docs\"\ncategory = \"other\"\nthreats = [\"T2\"]\ndescription = \"Docs are allowed.\"\n\n[[scenarios.steps]]\nagent = \"support-bot\"\ntool = \"search_docs\"\narguments = { query = \"refunds\" }\nexpect = \"allow\"\n",
    )
    .unwrap();
    let out = s.cli(ADMIN, &["redteam", "run", trivial.to_str().unwrap()]);
    assert_eq!(code(&out), Some(0), "{}{}", stdout(&out), stderr(&out));
    let out = s.cli(&carol, &["check", &bundle]);
    assert_eq!(code(&out), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).lines().any(|l| l == expected), "{}", stdout(&out));

    // The built-in suite, replayed on the server: every scenario passes, the run is recorded.
    let out = s.cli(ADMIN, &["redteam", "run", "--format", "json"]);
    assert_eq!(code(&out), Some(0), "{}{}", stdout(&out), stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["suite"], "quickstart");
    assert_eq!(report["scenarios_failed"], 0);
    let scenarios = report["scenarios"].as_array().unwrap();
    assert!(scenarios.len() >= 8, "{report:#}");
    // On the server, the expired credential is minted and verified by the server's own issuer
    // and verifier; with no revoked credential on its list, the revoked step says it simulated.
    let notes = |id: &str| {
        scenarios.iter().find(|sc| sc["id"] == id).unwrap()["steps"][0]["notes"][0]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        notes("expired-credential").contains("this server's issuer"),
        "{report:#}"
    );
    assert!(
        notes("revoked-credential").starts_with("simulated: this server's revocation list"),
        "{report:#}"
    );

    // Listed newest first, with the cadence met; both runs are in the ledger.
    let api = Api::new(&s);
    let (status, listed) = block_on(api.get(&carol, "/v1/redteam/runs"));
    assert_eq!(status, 200, "{listed:#}");
    let runs = listed["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 3, "{listed:#}");
    let summary = |r: &Value| (r["suite"].clone(), r["passed"].clone(), r["builtin"].clone());
    assert_eq!(
        runs.iter().map(summary).collect::<Vec<_>>(),
        [
            (Value::from("quickstart"), Value::from(true), Value::from(true)),
            (Value::from("quickstart"), Value::from(true), Value::from(false)),
            (Value::from("too-strict"), Value::from(false), Value::from(false)),
        ],
        "{listed:#}"
    );
    let (_, _, builtin_text) = tribune_redteam::BUILTIN[0];
    assert_eq!(
        runs[0]["suite_sha256"],
        tribune_redteam::suite_sha256(builtin_text)
    );
    assert_ne!(runs[1]["suite_sha256"], runs[0]["suite_sha256"]);
    assert_eq!(runs[2]["steps_failed"], 1);
    assert_eq!(listed["overdue"], false, "{listed:#}");
    assert_eq!(listed["last_passed_at_ms"], runs[0]["ran_at_ms"]);
    assert_eq!(listed["last_passed"]["id"], runs[0]["id"]);
    assert_eq!(listed["bundle_hash"], runs[0]["bundle_hash"]);
    // Another bundle has no run of its own.
    let (status, other) = block_on(api.get(
        &carol,
        &format!("/v1/redteam/runs?bundle_hash={}", "0".repeat(64)),
    ));
    assert_eq!(status, 200, "{other:#}");
    assert_eq!(
        (&other["last_passed"], &other["overdue"]),
        (&Value::Null, &Value::from(true))
    );
    let entries = block_on(api.entries());
    let recorded = entries
        .iter()
        .filter(|e| e.to_string().contains("redteam_run"))
        .count();
    assert_eq!(recorded, 3, "{entries:#?}");

    // The failed step lowered the trust of the agent that got through.
    let (status, trust) = block_on(api.get(ADMIN, "/v1/trust/agent:support-bot"));
    assert_eq!(status, 200, "{trust:#}");
    let failures: Vec<&Value> = trust["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "redteam_failure")
        .collect();
    assert_eq!(failures.len(), 1, "one event for the one failed run: {trust:#}");
    // The default weight, about the failed run.
    assert_eq!(
        (&failures[0]["delta"], &failures[0]["reference"]),
        (&Value::from(-100), &runs[2]["id"]),
        "{trust:#}"
    );

    // After a passed run: the overdue finding is gone.
    let out = s.cli(&carol, &["check", &bundle]);
    assert_eq!(code(&out), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).ends_with(": valid; 0 finding(s)\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn redteam_end_to_end_on_sqlite() {
    redteam_end_to_end(Backend::Sqlite);
}

#[test]
fn redteam_end_to_end_on_postgres() {
    redteam_end_to_end(Backend::Postgres);
}

/// Offline: the built-in suite passes on both example bundles (exit 0); the weakened fixture
/// fails (exit 1); no bundle and no server is bad input (exit 2).
#[test]
fn redteam_offline_exit_codes() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    for example in ["examples/quickstart", "examples/clinical-hipaa"] {
        let out = tribune(&["redteam", "run", "--bundle", &format!("{root}/{example}")]);
        assert_eq!(code(&out), Some(0), "{example}: {}{}", stdout(&out), stderr(&out));
        assert!(
            stdout(&out).lines().last().unwrap().starts_with("passed: "),
            "{}",
            stdout(&out)
        );
    }
    let weakened = format!("{root}/crates/tribune-redteam/tests/fixtures/weakened-quickstart");
    let out = tribune(&["redteam", "run", "--bundle", &weakened, "--format", "json"]);
    assert_eq!(code(&out), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["scenarios_failed"], 3, "{report:#}");
    let out = tribune(&["redteam", "run"]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
}
