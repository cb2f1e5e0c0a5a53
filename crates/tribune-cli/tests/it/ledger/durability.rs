//! Durability and sequencing under load: `kill -9` in the middle of a burst of decisions loses
//! none that were acknowledged, and two server processes appending to one PostgreSQL log keep
//! one tree with no gaps and no duplicates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::task::JoinSet;

use super::support::{ADMIN, Api, Backend, Deployment, LedgerDeployment, cli, eventually, verify};
use crate::{stderr, stdout};

/// A decision that got a 200 answer: its id and the ledger index the answer named.
#[derive(Debug, Clone)]
struct Acked {
    id: String,
    index: u64,
    server: usize,
}

type AckLog = Arc<Mutex<Vec<Acked>>>;

/// Starts `clients` tasks deciding against `apis` (round robin) until `until`, or until their
/// server stops answering. Every 200 answer is recorded in `acked`.
fn fire(apis: &[Api], agent: &str, clients: usize, until: Instant, acked: &AckLog) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    for c in 0..clients {
        let server = c % apis.len();
        let api = apis[server].clone();
        let agent = agent.to_owned();
        let acked = acked.clone();
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < until {
                n += 1;
                let args = json!({ "query": format!("client {c} call {n}") });
                let Ok((status, body)) = api.try_decide(&agent, "search_docs", args).await else {
                    // The server is gone (killed): this client stops.
                    return;
                };
                if status == 200 {
                    acked.lock().unwrap().push(Acked {
                        id: body["id"].as_str().unwrap().to_owned(),
                        index: body["ledger_index"].as_u64().unwrap(),
                        server,
                    });
                }
            }
        });
    }
    tasks
}

/// Every acknowledged decision is readable and in the log exactly once, at the index its answer
/// named; the log is numbered 0..N without gaps.
async fn all_present(api: &Api, acked: &[Acked]) {
    let entries = api.entries().await;
    let mut decisions: HashMap<&str, Vec<u64>> = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["index"].as_u64(), Some(i as u64), "the log has a gap at {i}");
        if e["event_class"] == "decision" {
            decisions
                .entry(e["correlation_uid"].as_str().unwrap())
                .or_default()
                .push(i as u64);
        }
    }
    for a in acked {
        assert_eq!(
            decisions.get(a.id.as_str()),
            Some(&vec![a.index]),
            "acknowledged decision {} (ledger index {}) must be in the log once, at its index",
            a.id,
            a.index
        );
    }
    // And each is readable as a decision (eight readers at a time).
    let queue = Arc::new(Mutex::new(acked.iter().map(|a| a.id.clone()).collect::<Vec<_>>()));
    let mut readers = JoinSet::new();
    for _ in 0..8 {
        let (api, queue) = (api.clone(), queue.clone());
        readers.spawn(async move {
            loop {
                let Some(id) = queue.lock().unwrap().pop() else {
                    return;
                };
                let (status, body) = api.get(ADMIN, &format!("/v1/decisions/{id}")).await;
                assert_eq!(status, 200, "acknowledged decision {id} is not stored: {body}");
                assert_eq!(body["id"], id.as_str());
            }
        });
    }
    while let Some(r) = readers.join_next().await {
        r.unwrap();
    }
}

async fn kill9_under_load_loses_nothing_acknowledged(backend: Backend) {
    let d = Deployment::quickstart(backend).await;
    let server = d.serve();
    let key = d.verifier_key();
    let api = Api::new(&server);
    let agent = api.token("agent", "support-bot").await;

    let acked: AckLog = Arc::default();
    let started = Instant::now();
    let mut load = fire(
        std::slice::from_ref(&api),
        &agent,
        16,
        started + Duration::from_secs(2),
        &acked,
    );
    // Mid-load: once decisions are flowing, and about a second in.
    eventually(Duration::from_secs(30), "decisions under load", || async {
        (acked.lock().unwrap().len() >= 50).then_some(())
    })
    .await;
    if let Some(rest) = Duration::from_secs(1).checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let log = server.log();
    server.kill9();
    while let Some(r) = load.join_next().await {
        r.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 50,
        "too little load: {} decisions\n{log}",
        acked.len()
    );

    // Restart on the same data directory / database.
    let server = d.serve();
    let api = Api::new(&server);
    all_present(&api, &acked).await;
    let (entries, _, _) = verify(&server, &key).ok();
    assert!(entries as usize > acked.len());
    eprintln!(
        "{backend:?}: {} decisions acknowledged before kill -9, all present; {entries} entries verify",
        acked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_load_loses_no_acknowledged_decision_on_sqlite() {
    kill9_under_load_loses_nothing_acknowledged(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_under_load_loses_no_acknowledged_decision_on_postgres() {
    kill9_under_load_loses_nothing_acknowledged(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_keep_one_log() {
    let d = Deployment::quickstart(Backend::Postgres).await;
    let key_file = d.dir.path().join("shared").join("ledger.key");
    let key_arg = key_file.to_str().unwrap();
    let first = d.serve_with(&["--ledger-key", key_arg]);
    let second = d.serve_with(&["--ledger-key", key_arg]);
    let out = cli(&["audit", "key", "--ledger-key", key_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let key = stdout(&out).trim().to_owned();
    let apis = [Api::new(&first), Api::new(&second)];
    for api in &apis {
        let (_, published) = api.get(ADMIN, "/v1/audit/key").await;
        assert_eq!(
            published["verifier_key"],
            key.as_str(),
            "both replicas sign with one key"
        );
    }
    let agent = apis[0].token("agent", "support-bot").await;

    let acked: AckLog = Arc::default();
    let mut load = fire(&apis, &agent, 16, Instant::now() + Duration::from_secs(2), &acked);
    while let Some(r) = load.join_next().await {
        r.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    for server in 0..2 {
        let n = acked.iter().filter(|a| a.server == server).count();
        assert!(n >= 20, "replica {server} decided only {n} times");
    }

    // One tree: both replicas' checkpoints verify together, over either server.
    let (entries_first, _, _) = verify(&first, &key).ok();
    let (entries_second, _, _) = verify(&second, &key).ok();
    assert!(entries_second >= entries_first);
    for api in &apis {
        all_present(api, &acked).await;
    }
    // Reading the entries ends on a page with only read records, which is not itself logged,
    // so nothing is appended after it.
    let entries = apis[1].entries().await;
    let db = d.db().await;
    let head = db.head_size().await;
    db.close().await;
    assert_eq!(
        entries.len() as u64,
        head,
        "entries 0..{head}, no gaps, none beyond the head"
    );
    eprintln!(
        "two replicas: {} decisions acknowledged ({} + {}), {head} entries, one log",
        acked.len(),
        acked.iter().filter(|a| a.server == 0).count(),
        acked.iter().filter(|a| a.server == 1).count(),
    );
}

/// An auditor may verify while agents keep deciding: the verification ends while entries are
/// still arriving, and checkpoints signed meanwhile do not make a clean log look damaged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_passes_while_decisions_arrive() {
    let d = Deployment::quickstart(Backend::Sqlite).await;
    let server = d.serve();
    let key = d.verifier_key();
    let api = Api::new(&server);
    let agent = api.token("agent", "support-bot").await;
    let acked: AckLog = Arc::default();
    // The load stops by itself after 20 s at the latest; verifications must not need that.
    let started = Instant::now();
    let until = started + Duration::from_secs(20);
    let mut load = fire(std::slice::from_ref(&api), &agent, 8, until, &acked);
    eventually(Duration::from_secs(30), "decisions under load", || async {
        (acked.lock().unwrap().len() >= 20).then_some(())
    })
    .await;
    for run in 0..3 {
        let (url, key) = (server.url.clone(), key.clone());
        let t = Instant::now();
        let out = tokio::task::spawn_blocking(move || {
            cli(&[
                "audit", "verify", "--key", &key, "--server", &url, "--token", ADMIN,
            ])
        })
        .await
        .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "verify under load (run {run}):\n{}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            Instant::now() + Duration::from_secs(5) < until,
            "verify run {run} took {:?}: it did not finish while decisions kept arriving",
            t.elapsed()
        );
        // Let a checkpoint or two be signed between runs.
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    let during = acked.lock().unwrap().len();
    load.abort_all();
    while load.join_next().await.is_some() {}
    eprintln!(
        "3 verifications in {:?} while {during} decisions were acknowledged",
        started.elapsed()
    );
}
