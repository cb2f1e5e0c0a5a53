//! Emergency-stop drills end to end: `tribune serve` as a real process on the quick-start
//! bundle (its canary agent and `[drills]`), on SQLite and on PostgreSQL; `tribune drill stop`
//! and `tribune drills` against it; and `tribune check --server` reporting the drill overdue
//! (exit 1) in every output format before a drill, and clean (exit 0) after one, with the
//! EU AI Act's "stop drill within its cadence" check assessed from the same evidence.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::deployment::{ADMIN, Backend, Deployment, Running, block_on};
use crate::{copy_dir, stderr, stdout, tribune};

fn serve(backend: Backend) -> Running {
    // A drill target a loaded test machine always meets: this checks what drills do, not how
    // fast (BENCHMARKS.md measures that).
    block_on(Deployment::new(backend, |text| {
        text.replacen("cadence_days = 30\n", "cadence_days = 30\ntarget_ms = 10000\n", 1)
    }))
    .start()
}

/// The `file:line:col` of `[drills] cadence_days`'s value in `bundle`'s manifest.
fn cadence_location(bundle: &Path) -> String {
    let text = std::fs::read_to_string(bundle.join("tribune.toml")).unwrap();
    let (i, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("cadence_days = "))
        .unwrap();
    format!("tribune.toml:{}:{}", i + 1, line.find('=').unwrap() + 3)
}

/// Adds `[compliance] mandates = ["eu-ai-act"]` to a copy of the served bundle, so the pack's
/// drill check has something to assess.
fn with_eu_ai_act(bundle: &Path, into: &Path) {
    copy_dir(bundle, into);
    let path = into.join("tribune.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        path,
        format!("{text}\n[compliance]\nmandates = [\"eu-ai-act\"]\n"),
    )
    .unwrap();
}

/// The EU AI Act's stop requirement in `tribune check --format json` output.
fn stop_requirement(check: &Value) -> &Value {
    check["mandates"][0]["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "EU-AIA-Art.14(4)(e)")
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

fn drills_end_to_end(backend: Backend) {
    let s = serve(backend);
    let bundle = s.deployment.bundle.to_str().unwrap().to_owned();
    let carol = s.token("human", "carol"); // auditor
    let at = cadence_location(&s.deployment.bundle);

    // Statically the quick start is clean, and stays so without `--server`.
    let out = tribune(&["check", &bundle]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // Before any drill: overdue, an error finding at `[drills] cadence_days`, in every format.
    let out = s.cli(&carol, &["check", &bundle]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    let expected = format!(
        "{bundle}/{at}: error[drill-overdue]: stop drill overdue: no drill has passed on `{}`; `[drills] cadence_days` requires one every 30 days (`tribune drill stop agent:canary`)",
        s.url
    );
    assert!(text.lines().any(|l| l == expected), "{text}");
    assert!(text.ends_with(": valid; 1 finding(s)\n"), "{text}");
    let out = s.cli(&carol, &["check", &bundle, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let json = json_of(&out);
    assert_eq!(json["valid"], true);
    assert_eq!(json["diagnostics"][0]["code"], "drill-overdue", "{json:#}");
    assert_eq!(json["diagnostics"][0]["severity"], "error", "{json:#}");
    assert_eq!(
        (&json["drills"]["overdue"], &json["drills"]["cadence_days"]),
        (&Value::from(true), &Value::from(30))
    );
    let out = s.cli(&carol, &["check", &bundle, "--format", "sarif"]);
    assert_eq!(out.status.code(), Some(1));
    let sarif = json_of(&out);
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(
        (&result["ruleId"], &result["level"]),
        (&Value::from("drill-overdue"), &Value::from("error")),
        "{sarif:#}"
    );
    let region = &result["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        format!("tribune.toml:{}:{}", region["startLine"], region["startColumn"]),
        at
    );

    // The EU AI Act's drill check: not assessed statically, a gap with the server's evidence.
    let eu = s.deployment.dir.path().join("eu");
    with_eu_ai_act(&s.deployment.bundle, &eu);
    let eu = eu.to_str().unwrap().to_owned();
    let out = tribune(&["check", &eu, "--format", "json"]);
    let r = stop_requirement(&json_of(&out)).clone();
    assert_eq!(r["status"], "not_assessed", "{r:#}");
    assert!(
        r.get("observed").is_none(),
        "a static run reads no evidence: {r:#}"
    );
    let out = s.cli(&carol, &["check", &eu, "--format", "json"]);
    let r = stop_requirement(&json_of(&out)).clone();
    assert_eq!(r["status"], "gap", "{r:#}");
    assert!(
        r["gaps"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("no emergency-stop drill has passed"),
        "{r:#}"
    );

    // A drill: only a holder of stop authority, only a declared drill scope.
    let (alice, code) = s.enrolled_code("alice");
    let refused = s.cli(
        &alice,
        &["drill", "stop", "agent:support-bot", "--mfa-code", "000000"],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(stderr(&refused).contains("invalid_body"), "{}", stderr(&refused));
    let out = s.cli(&alice, &["drill", "stop", "agent:canary", "--mfa-code", &code]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains(" on agent:canary: passed: enforced "), "{text}");
    assert!(
        text.contains("ms after the command (target < 10000 ms)"),
        "{text}"
    );
    assert!(
        text.contains("checked: agent:canary calling search_docs was decided `stopped`"),
        "{text}"
    );

    // Listed, with the cadence met.
    let out = s.cli(&carol, &["drills", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed = json_of(&out);
    assert_eq!(listed["overdue"], false);
    assert_eq!(listed["drills"][0]["passed"], true);
    assert!(listed["drills"][0]["enforced_ms"].as_f64().unwrap() < 10_000.0);
    let out = s.cli(&carol, &["drills"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).starts_with("a drill must pass every 30 day(s); last passed drill "),
        "{}",
        stdout(&out)
    );

    // After the drill: clean, and the EU AI Act's drill check met on that evidence.
    let out = s.cli(&carol, &["check", &bundle]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).ends_with(": valid; 0 finding(s)\n"),
        "{}",
        stdout(&out)
    );
    let out = s.cli(&carol, &["check", &eu, "--format", "json"]);
    let r = stop_requirement(&json_of(&out)).clone();
    assert_eq!(r["status"], "met", "{r:#}");
    assert!(
        r["observed"][0]
            .as_str()
            .unwrap()
            .starts_with("an emergency-stop drill passed at "),
        "{r:#}"
    );

    // An agent's token may not read the drills: the check fails rather than guess.
    let out = s.cli(ADMIN, &["token", "create", "--agent", "support-bot"]);
    let agent = stdout(&out).trim().to_owned();
    let out = s.cli(&agent, &["check", &bundle]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read the stop drills"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn drills_end_to_end_on_sqlite() {
    drills_end_to_end(Backend::Sqlite);
}

#[test]
fn drills_end_to_end_on_postgres() {
    drills_end_to_end(Backend::Postgres);
}
