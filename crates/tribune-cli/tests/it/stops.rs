//! Emergency stops end to end: `tribune serve` as a real process on the quick-start bundle, on
//! SQLite and on PostgreSQL; `tribune stop` by a holder of stop authority (and refused to
//! anyone else), the agent denied at once, `tribune stops` listing it, and `tribune resume`
//! taking two different holders.

use serde_json::{Value, json};

use crate::deployment::{Api, Backend, Deployment, block_on};
use crate::{stderr, stdout};

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn stops_end_to_end(backend: Backend) {
    // A third holder of stop authority, so each step has a human with an unused code.
    let s = block_on(Deployment::new(backend, |text| {
        format!("{text}\n[humans.dave]\nroles = [\"reviewer\"]\nstop_authority = true\n")
    }))
    .start();
    let api = Api::new(&s);
    let agent = s.token("agent", "support-bot");
    let carol = s.token("human", "carol"); // an auditor: no stop authority
    let (alice, alice_code) = s.enrolled_code("alice");
    let (bob, bob_code) = s.enrolled_code("bob");
    let (dave, dave_code) = s.enrolled_code("dave");
    let search = || json!({ "query": "q" });

    // Only a holder of stop authority stops.
    let out = s.cli(
        &carol,
        &[
            "stop",
            "agent:support-bot",
            "--reason",
            "x",
            "--mfa-code",
            "000000",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("stop authority"), "{}", stderr(&out));

    let stopped = json_of(&s.ok(
        &alice,
        &[
            "stop",
            "agent:support-bot",
            "--reason",
            "prompt injection suspected",
            "--mfa-code",
            &alice_code,
        ],
    ));
    assert_eq!(
        (&stopped["scope"], &stopped["active"], &stopped["stopped_by"]),
        (&json!("agent:support-bot"), &json!(true), &json!("human:alice"))
    );
    let id = stopped["id"].as_str().unwrap().to_owned();
    let (status, d) = block_on(api.decide(&agent, "search_docs", search()));
    assert_eq!(status, 200, "{d}");
    assert_eq!(
        (&d["decision"], &d["reasons"][0]["code"]),
        (&json!("deny"), &json!("stopped")),
        "{d:#}"
    );
    let listed = json_of(&s.ok(&carol, &["stops"]));
    assert_eq!(listed["stops"][0]["id"], json!(id), "{listed:#}");

    // An auditor cannot resume; one holder asks, a second, different one resumes.
    let out = s.cli(&carol, &["resume", &id, "--mfa-code", "000000"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let first = json_of(&s.ok(&bob, &["resume", &id, "--mfa-code", &bob_code]));
    assert_eq!(first["status"], "resume_requested");
    let (_, d) = block_on(api.decide(&agent, "search_docs", search()));
    assert_eq!(d["reasons"][0]["code"], "stopped", "{d:#}");
    let second = json_of(&s.ok(&dave, &["resume", &id, "--mfa-code", &dave_code]));
    assert_eq!(second["status"], "resumed");
    let (_, d) = block_on(api.decide(&agent, "search_docs", search()));
    assert_eq!(d["decision"], "allow", "{d:#}");

    assert_eq!(json_of(&s.ok(&carol, &["stops"]))["stops"], json!([]));
    let all = json_of(&s.ok(&carol, &["stops", "--all"]));
    assert_eq!(
        (
            &all["stops"][0]["id"],
            &all["stops"][0]["active"],
            &all["stops"][0]["resume_requested_by"],
            &all["stops"][0]["resumed_by"]
        ),
        (
            &json!(id),
            &json!(false),
            &json!("human:bob"),
            &json!("human:dave")
        ),
        "{all:#}"
    );
}

#[test]
fn stops_end_to_end_on_sqlite() {
    stops_end_to_end(Backend::Sqlite);
}

#[test]
fn stops_end_to_end_on_postgres() {
    stops_end_to_end(Backend::Postgres);
}
