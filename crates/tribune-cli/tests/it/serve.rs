//! `tribune serve` as a real process, on SQLite and on PostgreSQL, driven by the CLI.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::deployment::{ADMIN, Backend, Deployment, Running, block_on};
use crate::{repo, stdout, tribune};

fn serve(backend: Backend) -> Running {
    block_on(Deployment::quickstart(backend)).start()
}

fn decide(s: &Running, token: &str, tool: &str, args: &str) -> (i32, String) {
    let out = tribune(&[
        "decide", "--server", &s.url, "--token", token, "--tool", tool, "--args", args,
    ]);
    (out.status.code().unwrap(), stdout(&out))
}

fn agent_token(s: &Running) -> String {
    let out = tribune(&[
        "token",
        "create",
        "--server",
        &s.url,
        "--token",
        ADMIN,
        "--agent",
        "support-bot",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", crate::stderr(&out));
    let token = stdout(&out).trim().to_owned();
    assert!(token.starts_with("trb_"));
    token
}

fn bundle_hash(s: &Running) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body: serde_json::Value = rt.block_on(async {
        let r = reqwest::Client::new()
            .get(format!("{}/v1/bundle", s.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    });
    body["hash"].as_str().unwrap().to_owned()
}

fn walk_through(s: &Running) {
    let token = agent_token(s);
    let cases = [
        ("search_docs", r#"{"query": "refunds"}"#, 0, "ALLOW"),
        (
            "update_ticket",
            r#"{"ticket_id": "T-1", "status": "solved"}"#,
            3,
            "needs 1 human approval",
        ),
        (
            "issue_refund",
            r#"{"order_id": "O-1", "amount": 25}"#,
            3,
            "needs 2 human approval(s), with MFA",
        ),
        ("wire_money", r#"{}"#, 1, "unknown_tool"),
        (
            "issue_refund",
            r#"{"order_id": "O-1", "amount": 501}"#,
            1,
            "refund-limit",
        ),
    ];
    for (tool, args, code, needle) in cases {
        let (got, out) = decide(s, &token, tool, args);
        assert_eq!(got, code, "{tool} {args}: {out}");
        assert!(
            out.contains(needle),
            "{tool} {args}: expected `{needle}` in\n{out}"
        );
        assert!(
            out.contains("decision id: "),
            "every server decision is recorded with an id:\n{out}"
        );
    }
    // A revoked or made-up token gets no decision.
    let (code, _) = decide(
        s,
        "trb_not-a-real-token-000000000000000000000000",
        "search_docs",
        r#"{"query":"x"}"#,
    );
    assert_eq!(code, 4);
}

fn reload_on_sighup(s: &Running) {
    let before = bundle_hash(s);
    let policy = s.deployment.bundle.join("policies/extra.cedar");
    std::fs::write(
        &policy,
        "@id(\"no-docs-search\")\nforbid (principal, action == Action::\"search_docs\", resource);\n",
    )
    .unwrap();
    hup(s);
    wait_until(|| bundle_hash(s) != before);
    let token = agent_token(s);
    let (code, out) = decide(s, &token, "search_docs", r#"{"query": "x"}"#);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no-docs-search"));

    // A broken bundle is rejected; the one before keeps serving.
    let good = bundle_hash(s);
    std::fs::write(&policy, "this is not cedar").unwrap();
    hup(s);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(bundle_hash(s), good);
    let (code, _) = decide(s, &token, "search_docs", r#"{"query": "x"}"#);
    assert_eq!(code, 1);
}

fn hup(s: &Running) {
    let status = Command::new("kill")
        .args(["-HUP", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_until(mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for the reload"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_on_sqlite_decides_through_the_cli_and_reloads_on_sighup() {
    let s = serve(Backend::Sqlite);
    walk_through(&s);
    reload_on_sighup(&s);
}

#[test]
fn serve_on_postgres_decides_through_the_cli_and_reloads_on_sighup() {
    let s = serve(Backend::Postgres);
    walk_through(&s);
    reload_on_sighup(&s);
}

#[test]
fn first_start_prints_a_one_time_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tribune"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .current_dir(repo())
        .env_remove("TRIBUNE_BOOTSTRAP_TOKEN")
        .env_remove("TRIBUNE_BUNDLE")
        .env_remove("TRIBUNE_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut token = None;
    while let Some(Ok(line)) = lines.next() {
        if let Some(t) = line.split("admin token (shown once; keep it safe): ").nth(1) {
            token = Some(t.trim().to_owned());
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        token.is_some_and(|t| t.starts_with("trb_")),
        "no admin token printed on an empty data directory"
    );
}
