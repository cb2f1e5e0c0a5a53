//! Durable ledger appends per second through the group-commit `LedgerWriter`, on a SQLite file
//! and on PostgreSQL, with many concurrent appenders, as the decision path uses it.
//!
//! Each append is a ~1 KiB canonical-JSON OCSF decision entry. `entry_only` appends the entry
//! alone; `with_decision_row` also writes its decision row in the same transaction, which is
//! what every decision costs. Criterion reports appends/s (throughput in elements); after each
//! backend a fixed load run prints appends/s, transactions/s and the mean batch from the
//! writer's own counters.
//!
//! ```text
//! cargo bench -p tribune-store --bench ledger_append
//! TRIBUNE_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p tribune-store --bench ledger_append
//! ```
//!
//! Environment: `TRIBUNE_BENCH_APPENDERS` (default 64 concurrent appenders),
//! `TRIBUNE_BENCH_MAX_BATCH` (default 1024, the server's), `TRIBUNE_BENCH_LOAD` (appends in the
//! load run, default 100,000). Without `TRIBUNE_TEST_POSTGRES_URL` the PostgreSQL group is
//! skipped with a notice (a benchmark, unlike a test, may run on SQLite alone).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};
use tokio::runtime::Runtime;
use tokio::task::JoinSet;
use tribune_ledger::Entry;
use tribune_store::testing::{Backend, TestStore};
use tribune_store::{DecisionRecord, EntryMeta, LedgerAppend, LedgerWriter, SideRecord, WriterStats};

/// Distinct entries cycled through, so the appends do not all hash the same bytes.
const TEMPLATES: usize = 256;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A decision as the server records it: the decision, its reasons and the call's arguments.
fn decision_body(seq: usize) -> Value {
    json!({
        "id": format!("0190b6a4-7c1e-7d5a-9f3e-{seq:012x}"),
        "decision": "allow",
        "principal": "agent:claims-summarizer",
        "tool": "read_patient_notes",
        "tier": "read",
        "classification": "phi",
        "bundle": "3f1f0c4b6f1d2e9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a",
        "arguments_hash": format!("{:064x}", seq as u128 * 0x9e37_79b9_7f4a_7c15),
        "reasons": [
            { "code": "permitted", "stage": "policy", "rule": "claims-may-read-notes",
              "message": "permitted by policy `claims-may-read-notes`" }
        ],
        "approvals_required": 0,
        "mfa_required": false,
        "arguments": { "patient_id": format!("P-{seq:06}"), "fields": ["summary", "medications"] },
        "session": format!("sess-{:08x}", seq % 977),
        "context": { "ticket": format!("CLM-{seq:05}"), "region": "eu-west-1" },
    })
}

/// The ledger entry for it, shaped as an OCSF API Activity (6003) event: about 1 KiB.
fn entry(seq: usize, body: &Value) -> Entry {
    let id = body["id"].as_str().unwrap();
    let value = json!({
        "class_uid": 6003, "class_name": "API Activity", "category_uid": 6,
        "category_name": "Application Activity", "activity_id": 99, "activity_name": "Other",
        "type_uid": 600_399, "time": 1_750_000_000_000_u64 + seq as u64, "severity_id": 1,
        "status_id": 1, "action_id": 1, "action": "Allowed", "disposition_id": 1,
        "disposition": "Allowed",
        "metadata": { "version": "1.5.0", "uid": id, "correlation_uid": id,
                      "profiles": ["security_control", "ai_operation"],
                      "product": { "name": "Tribune", "vendor_name": "Tribune", "version": "0.1.0" } },
        "policy": { "uid": "claims-may-read-notes", "name": "permitted",
                    "desc": "permitted by policy `claims-may-read-notes`" },
        "api": { "operation": "read_patient_notes", "request": { "uid": id },
                 "service": { "name": "tribune.decide" } },
        "actor": { "ai_agent": { "uid": "claims-summarizer", "type": "agent" } },
        "message_context": { "session_uid": body["session"] },
        "unmapped": { "tribune": { "event": "decision", "decision": body } },
    });
    Entry::from_json(&value).unwrap()
}

/// Appends queued by `tasks` concurrent appenders.
struct Load {
    entries: Arc<Vec<(Entry, Value)>>,
    with_decision_row: bool,
}

impl Load {
    fn new(with_decision_row: bool) -> Load {
        let entries = (0..TEMPLATES)
            .map(|i| {
                let body = decision_body(i);
                (entry(i, &body), body)
            })
            .collect();
        Load {
            entries: Arc::new(entries),
            with_decision_row,
        }
    }

    /// `n` appends from `tasks` concurrent appenders, each waiting for its append to be
    /// durable before the next; returns the wall time.
    async fn run(&self, writer: &LedgerWriter, n: u64, tasks: usize) -> Duration {
        let start = Instant::now();
        let mut set = JoinSet::new();
        for t in 0..tasks as u64 {
            let count = n / tasks as u64 + u64::from(t < n % tasks as u64);
            let (writer, entries, side) = (writer.clone(), self.entries.clone(), self.with_decision_row);
            set.spawn(async move {
                for i in 0..count {
                    let (entry, body) = &entries[((t * 7919 + i) % TEMPLATES as u64) as usize];
                    let id = uuid::Uuid::now_v7().to_string();
                    let side = if side {
                        SideRecord::Decision(DecisionRecord {
                            id: id.clone(),
                            created_at_ms: 1_750_000_000_000,
                            principal: "agent:claims-summarizer".to_owned(),
                            tool: "read_patient_notes".to_owned(),
                            outcome: "allow".to_owned(),
                            arguments_hash: body["arguments_hash"].as_str().unwrap().to_owned(),
                            bundle_hash: body["bundle"].as_str().unwrap().to_owned(),
                            body: body.clone(),
                        })
                    } else {
                        SideRecord::None
                    };
                    writer
                        .append(LedgerAppend {
                            entry: entry.clone(),
                            meta: EntryMeta {
                                event_class: "decision".to_owned(),
                                classification: Some("phi".to_owned()),
                                correlation_uid: Some(id),
                                created_at_ms: 1_750_000_000_000,
                            },
                            side,
                        })
                        .await
                        .unwrap();
                }
            });
        }
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        start.elapsed()
    }
}

/// Whether the benchmark filter given on the command line (if any) names `id`, as a substring.
fn selected(id: &str) -> bool {
    // Criterion's options that take a value (the value is not a filter).
    const WITH_VALUE: &[&str] = &[
        "--baseline",
        "--color",
        "--confidence-level",
        "--format",
        "--load-baseline",
        "--measurement-time",
        "--noise-threshold",
        "--nresamples",
        "--output-format",
        "--plotting-backend",
        "--profile-time",
        "--sample-size",
        "--save-baseline",
        "--significance-level",
        "--warm-up-time",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut filters = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        let is_value = i > 0 && WITH_VALUE.contains(&args[i - 1].as_str());
        if !arg.starts_with('-') && !is_value {
            filters.push(arg.as_str());
        }
    }
    filters.is_empty() || filters.iter().any(|f| id.contains(f))
}

fn delta(after: WriterStats, before: WriterStats) -> (u64, u64) {
    (
        after.records_committed - before.records_committed,
        after.batches_committed - before.batches_committed,
    )
}

fn bench_backend(c: &mut Criterion, backend: Backend) {
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    if backend == Backend::Postgres && std::env::var(tribune_store::testing::POSTGRES_URL_VAR).is_err() {
        eprintln!("ledger_append/postgres: skipped, `TRIBUNE_TEST_POSTGRES_URL` is unset");
        return;
    }
    let tasks = env_or("TRIBUNE_BENCH_APPENDERS", 64);
    let max_batch = env_or("TRIBUNE_BENCH_MAX_BATCH", 1024);
    let load_size = env_or("TRIBUNE_BENCH_LOAD", 100_000) as u64;
    let rt = Runtime::new().unwrap();
    let mut group = c.benchmark_group(format!("ledger_append/{name}"));
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for with_decision_row in [false, true] {
        let variant = if with_decision_row {
            "with_decision_row"
        } else {
            "entry_only"
        };
        // Criterion skips a benchmark a command-line filter leaves out; so does the load run.
        let id = format!("ledger_append/{name}/{variant}");
        if !selected(&id) {
            continue;
        }
        // A fresh database per variant; it grows as the benchmark runs, as a real log does.
        let db = rt.block_on(TestStore::new(backend)).unwrap();
        let writer = rt.block_on(async { LedgerWriter::spawn_ledger(db.store.clone(), max_batch) });
        let load = Load::new(with_decision_row);
        group.bench_function(format!("{variant}/{tasks}_appenders"), |b| {
            b.iter_custom(|iters| rt.block_on(load.run(&writer, iters, tasks)));
        });
        // The load run: a fixed number of appends, with the writer's own counters.
        if load_size > 0 {
            let before = writer.stats();
            let took = rt.block_on(load.run(&writer, load_size, tasks));
            let (records, batches) = delta(writer.stats(), before);
            eprintln!(
                "{id}: {records} durable appends in {took:.2?} from {tasks} appenders = {:.0} appends/s, \
                 {:.0} transactions/s, {:.1} appends per transaction (max_batch {max_batch})",
                records as f64 / took.as_secs_f64(),
                batches as f64 / took.as_secs_f64(),
                records as f64 / batches.max(1) as f64,
            );
        }
        assert_eq!(writer.stats().batches_failed, 0);
        drop(writer);
        rt.block_on(db.store.close());
        drop(db);
    }
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    bench_backend(c, Backend::Sqlite);
}

fn postgres(c: &mut Criterion) {
    bench_backend(c, Backend::Postgres);
}

criterion_group!(benches, sqlite, postgres);
criterion_main!(benches);
