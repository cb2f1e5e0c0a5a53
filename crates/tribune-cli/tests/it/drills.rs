//! Emergency-stop drills end to end: `tribune serve` as a real process on the quick-start
//! bundle (its canary agent and `[drills]`), on SQLite and on PostgreSQL; `tribune drill stop`
//! and `tribune drills` against it; and `tribune check --server` reporting the drill overdue
//! (exit 1) in every output format before a drill, and clean (exit 0) after one, with the
//! EU AI Act's "stop drill within its cadence" check assessed from the same evidence.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use tribune_approvals::totp::{TotpParams, TotpSecret, code_at};

use crate::{copy_dir, repo, stderr, stdout, tribune};

const ADMIN: &str = "trb_drill-test-admin-token-0123456789abcdefghijklm";

struct Served {
    child: Child,
    url: String,
    bundle: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(database_url: Option<&str>) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle");
    copy_dir(&repo().join("examples/quickstart"), &bundle);
    // A drill target a loaded test machine always meets: this checks what drills do, not how
    // fast (BENCHMARKS.md measures that).
    let manifest = bundle.join("tribune.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replacen("cadence_days = 30\n", "cadence_days = 30\ntarget_ms = 10000\n", 1),
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tribune"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--bundle"])
        .arg(&bundle)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("TRIBUNE_BOOTSTRAP_TOKEN", ADMIN)
        .env("TRIBUNE_LOG", "warn")
        .env_remove("TRIBUNE_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap());
    if let Some(url) = database_url {
        cmd.args(["--database-url", url]);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let Some(Ok(line)) = lines.next() else {
            let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
            panic!("serve exited before listening: {log}");
        };
        if let Some(rest) = line.split("serving on ").nth(1) {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        url,
        bundle,
        _dir: dir,
    }
}

impl Served {
    /// `tribune ARGS --server URL --token TOKEN`.
    fn cli(&self, token: &str, args: &[&str]) -> Output {
        let mut all = args.to_vec();
        all.extend(["--server", &self.url, "--token", token]);
        tribune(&all)
    }

    /// A personal token for `human`.
    fn human(&self, human: &str) -> String {
        let out = self.cli(ADMIN, &["token", "create", "--human", human]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        stdout(&out).trim().to_owned()
    }

    /// `human`'s token and a current TOTP code, after enrolling through `tribune mfa enroll`.
    fn enrolled_code(&self, human: &str) -> (String, String) {
        let token = self.human(human);
        let out = self.cli(&token, &["mfa", "enroll"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        let secret = text
            .lines()
            .find_map(|l| l.strip_prefix("secret:"))
            .unwrap()
            .trim();
        let secret = TotpSecret::from_base32(secret).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        (token, code_at(&secret, TotpParams::default(), now).unwrap())
    }
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

fn drills_end_to_end(database_url: Option<&str>) {
    let s = serve(database_url);
    let bundle = s.bundle.to_str().unwrap().to_owned();
    let carol = s.human("carol"); // auditor
    let at = cadence_location(&s.bundle);

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
    let eu = s._dir.path().join("eu");
    with_eu_ai_act(&s.bundle, &eu);
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
    drills_end_to_end(None);
}

#[test]
fn drills_end_to_end_on_postgres() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (store, schema) = rt.block_on(tribune_store::testing::postgres_store()).unwrap();
    rt.block_on(store.close());
    drills_end_to_end(Some(&schema.url()));
    drop(schema);
}
