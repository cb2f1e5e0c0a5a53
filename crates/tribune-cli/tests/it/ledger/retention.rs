//! Retention and legal holds: expired payloads are deleted but their leaf hashes stay, so the
//! log still verifies; a held range is not pruned until two different humans release it.

use serde_json::{Value, json};

use super::support::{ADMIN, Api, Backend, Deployment, LedgerDeployment, cli, verify};
use crate::approvals::Reviewer;
use crate::{stderr, stdout};

const DAY_MS: i64 = 86_400_000;

/// The quick-start bundle, keeping decision payloads for one day, with bob an auditor too (a
/// release needs two humans who may read the ledger; alice is an admin).
fn bundle(manifest: String) -> String {
    let bob = "[humans.bob]\nname = \"Bob Okafor\"\nroles = [\"reviewer\"]";
    assert!(
        manifest.contains(bob),
        "the quick-start bundle changed: {manifest}"
    );
    manifest.replace(
        bob,
        "[humans.bob]\nname = \"Bob Okafor\"\nroles = [\"reviewer\", \"auditor\"]",
    ) + "\n[[retention.rules]]\nevent = \"decision\"\nkeep_days = 1\n"
}

async fn run_retention(api: &Api) -> Value {
    let (status, report) = api.post(ADMIN, "/v1/audit/retention/run", &json!({})).await;
    assert_eq!(status, 200, "{report}");
    report
}

fn pruned_in(report: &Value) -> u64 {
    report["decision"]["pruned"].as_u64().unwrap_or(0)
}

/// Asserts each of `indices` is pruned (payload gone, leaf hash kept) or not.
fn assert_pruned(entries: &[Value], indices: &[u64], pruned: bool) {
    for &i in indices {
        let e = &entries[i as usize];
        assert_eq!(e["pruned"], pruned, "entry {i}: {e}");
        assert_eq!(e["payload"].is_null(), pruned, "entry {i}: {e}");
        assert_eq!(e["pruned_at_ms"].is_null(), !pruned, "entry {i}: {e}");
        assert_eq!(e["leaf_hash"].as_str().map(str::len), Some(64), "entry {i}: {e}");
    }
}

async fn release(api: &Api, token: &str, hold: &str, code: Option<&str>) -> (u16, Value) {
    api.post(
        token,
        &format!("/v1/audit/holds/{hold}/release"),
        &json!({ "mfa_code": code }),
    )
    .await
}

async fn retention_and_holds(backend: Backend) {
    let d = Deployment::new(backend, bundle).await;
    let server = d.serve();
    let api = Api::new(&server);
    let key = d.verifier_key();
    let agent = api.token("agent", "support-bot").await;

    let decide = async |query: &str| {
        let (status, body) = api.decide(&agent, "search_docs", json!({ "query": query })).await;
        assert_eq!(status, 200, "{body}");
        body["ledger_index"].as_u64().unwrap()
    };
    let mut old = Vec::new();
    for i in 0..10 {
        old.push(decide(&format!("old {i}")).await);
    }
    let fresh = vec![decide("fresh 0").await, decide("fresh 1").await];
    // Two days ago, as far as retention can tell: only metadata changes, not the tree.
    let db = d.db().await;
    db.age(&old, 2 * DAY_MS).await;
    db.close().await;

    // A legal hold over part of the old range.
    let (from, to) = (old[3], old[6]);
    let out = cli(&[
        "hold",
        "add",
        "--from",
        &from.to_string(),
        "--to",
        &to.to_string(),
        "--reason",
        "matter 2024-17",
        "--server",
        &server.url,
        "--token",
        ADMIN,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let hold: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let hold_id = hold["id"].as_str().unwrap().to_owned();
    assert_eq!(hold["active"], true);
    let (held, unheld): (Vec<u64>, Vec<u64>) = old.iter().partition(|&&i| (from..=to).contains(&i));
    assert_eq!(held.len(), 4);

    // Retention prunes the old, unheld decisions only.
    let report = run_retention(&api).await;
    assert_eq!(pruned_in(&report), unheld.len() as u64, "{report}");
    let entries = api.entries().await;
    assert_pruned(&entries, &unheld, true);
    assert_pruned(&entries, &held, false);
    assert_pruned(&entries, &fresh, false);
    let runs: Vec<&Value> = entries
        .iter()
        .filter(|e| e["event_class"] == "retention")
        .collect();
    assert_eq!(runs.len(), 1, "the run is an entry");
    assert!(runs[0]["payload"].as_str().unwrap().contains("retention_run"));
    // A pruned entry reads as pruned, not missing.
    let (status, one) = api.get(ADMIN, &format!("/v1/audit/entries/{}", unheld[0])).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["pruned"], true);
    // The pruned range still verifies.
    let (_, pruned, _) = verify(&server, &key).ok();
    assert_eq!(pruned, unheld.len() as u64);

    // Releasing needs two different humans, each with a fresh TOTP code; neither an agent nor
    // the admin token counts.
    let mut alice = Reviewer::enrol_api(&api, api.token("human", "alice").await).await;
    let mut bob = Reviewer::enrol_api(&api, api.token("human", "bob").await).await;
    assert_eq!(release(&api, &agent, &hold_id, None).await.0, 403);
    assert_eq!(release(&api, ADMIN, &hold_id, None).await.0, 403);
    let (status, body) = release(&api, &alice.token, &hold_id, None).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("mfa_required")),
        "{body}"
    );
    let code = alice.fresh_code().await;
    let (status, body) = release(&api, &alice.token, &hold_id, Some(&code)).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("release_requested")),
        "{body}"
    );
    let code = alice.fresh_code().await;
    let (status, body) = release(&api, &alice.token, &hold_id, Some(&code)).await;
    assert_eq!(status, 409, "the same human twice does not release: {body}");
    // Still held: a run now prunes nothing.
    assert_eq!(pruned_in(&run_retention(&api).await), 0);
    assert_pruned(&api.entries().await, &held, false);
    // Bob confirms from the command line.
    let code = bob.fresh_code().await;
    let out = cli(&[
        "hold",
        "release",
        &hold_id,
        "--server",
        &server.url,
        "--token",
        &bob.token,
        "--mfa-code",
        &code,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let body: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(body["status"], "released", "{body}");
    let code = bob.fresh_code().await;
    assert_eq!(release(&api, &bob.token, &hold_id, Some(&code)).await.0, 409);

    let out = cli(&["hold", "list", "--server", &server.url, "--token", ADMIN]);
    let list: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let h = &list["holds"][0];
    assert_eq!(h["active"], false, "{list}");
    assert_eq!(h["release_requested_by"], "human:alice", "{list}");
    assert_eq!(h["released_by"], "human:bob", "{list}");

    // Released: the next run prunes what was held.
    let report = run_retention(&api).await;
    assert_eq!(pruned_in(&report), held.len() as u64, "{report}");
    let entries = api.entries().await;
    assert_pruned(&entries, &old, true);
    assert_pruned(&entries, &fresh, false);
    let hold_events: Vec<String> = entries
        .iter()
        .filter(|e| e["event_class"] == "legal_hold")
        .map(|e| {
            let p: Value = serde_json::from_str(e["payload"].as_str().unwrap()).unwrap();
            p["unmapped"]["tribune"]["event"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        hold_events,
        [
            "legal_hold_placed",
            "legal_hold_release_requested",
            "legal_hold_released"
        ]
    );
    let (_, pruned, _) = verify(&server, &key).ok();
    assert_eq!(pruned, old.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_expired_payloads_but_not_held_ones_on_sqlite() {
    retention_and_holds(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_expired_payloads_but_not_held_ones_on_postgres() {
    retention_and_holds(Backend::Postgres).await;
}
