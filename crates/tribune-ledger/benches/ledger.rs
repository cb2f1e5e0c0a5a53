//! Ledger benchmarks: the DESIGN.md targets (verify 1,000,000 entries in < 2 s; inclusion proof
//! at 10,000,000 entries in < 100 us), append throughput, and canonicalizing an entry (ours
//! against `serde_json_canonicalizer`, side by side).
//!
//! `cargo bench -p tribune-ledger --bench ledger` (add `-- --quick` for a short run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tribune_ledger::{Checkpoint, Hash, SigningKey, Tree, leaf_hash, verify_log};

const ORIGIN: &str = "tribune.example/ledger";

/// A decision entry shaped like an OCSF API Activity event, about 500 bytes of canonical JSON.
fn entry(seq: u64) -> Vec<u8> {
    format!(
        concat!(
            r#"{{"activity_id":1,"actor":{{"agent":{{"name":"claims-summarizer","uid":"agt-{}"}},"#,
            r#""session":{{"uid":"0190b6a4-7c1e-7d5a-9f3e-{:012x}"}}}},"api":{{"operation":"tools/call","#,
            r#""service":{{"name":"mcp://records.internal/fs"}}}},"category_uid":6,"class_uid":6003,"#,
            r#""metadata":{{"product":{{"name":"tribune"}},"version":"1.3.0"}},"#,
            r#""resource":{{"name":"patients/123/notes","type":"file"}},"severity_id":1,"status_id":1,"#,
            r#""time":{},"tribune":{{"decision":"allow","policy":"pol-read-phi","seq":{},"#,
            r#""stage":"cedar","tier":2}},"type_uid":600301}}"#
        ),
        seq % 97,
        seq,
        1_750_000_000_000u64 + seq,
        seq
    )
    .into_bytes()
}

fn signed_checkpoints(hashes: &[Hash], every: usize, key: &SigningKey) -> Vec<Vec<u8>> {
    let mut tree = Tree::new();
    let mut notes = Vec::new();
    for (i, hash) in hashes.iter().enumerate() {
        tree.push(*hash);
        if (i + 1) % every == 0 || i + 1 == hashes.len() {
            let checkpoint = Checkpoint::new(ORIGIN, tree.size(), tree.root()).unwrap();
            notes.push(checkpoint.sign(key).unwrap());
        }
    }
    notes
}

fn verify_one_million(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let key = SigningKey::from_seed(ORIGIN, [3; 32]).unwrap();
    let mut entries: Vec<Option<Vec<u8>>> = (0..N).map(|i| Some(entry(i))).collect();
    let hashes: Vec<Hash> = (0..N).map(|i| leaf_hash(&entry(i))).collect();
    // Retention deleted one payload in ten; their hashes remain.
    for slot in entries.iter_mut().step_by(10) {
        *slot = None;
    }
    let checkpoints = signed_checkpoints(&hashes, 10_000, &key);
    let verifier = key.verifier_key();
    let bytes: usize = entries.iter().flatten().map(Vec::len).sum();
    eprintln!(
        "verify_log: {N} entries, {} payload bytes, {} checkpoints",
        bytes,
        checkpoints.len()
    );

    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(N));
    group.bench_function("verify_log/1_000_000_entries", |b| {
        b.iter(|| {
            let report = verify_log(&entries, &hashes, &checkpoints, &verifier).unwrap();
            black_box(report)
        })
    });
    group.finish();
}

fn proofs_at_ten_million(c: &mut Criterion) {
    const N: u64 = 10_000_000;
    let hashes: Vec<Hash> = (0..N).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let tree = Tree::from_leaf_hashes(hashes.iter().copied());
    let mut rng = StdRng::seed_from_u64(1);
    let indexes: Vec<u64> = (0..4096).map(|_| rng.random_range(0..N)).collect();
    let olds: Vec<u64> = (0..4096).map(|_| rng.random_range(1..N)).collect();

    let mut group = c.benchmark_group("proofs_10m");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("inclusion_proof/latest_size", |b| {
        b.iter(|| {
            i = (i + 1) % indexes.len();
            black_box(tree.inclusion_proof(indexes[i], N, &hashes).unwrap())
        })
    });
    // A checkpoint trailing the tree by 100 entries: its right edge is still in memory.
    let recent = N - 100;
    group.bench_function("inclusion_proof/checkpoint_100_behind", |b| {
        b.iter(|| {
            i = (i + 1) % indexes.len();
            black_box(
                tree.inclusion_proof(indexes[i] % recent, recent, &hashes)
                    .unwrap(),
            )
        })
    });
    // The worst case: an old size whose right edge is a 255-leaf partial tile read from storage
    // (9,999,615 = 39,060 * 256 + 255, below the two tiles held in memory).
    let worst = 9_999_615;
    group.bench_function("inclusion_proof/old_size_worst_case", |b| {
        b.iter(|| {
            i = (i + 1) % indexes.len();
            black_box(tree.inclusion_proof(indexes[i] % worst, worst, &hashes).unwrap())
        })
    });
    group.bench_function("consistency_proof/random_old_size", |b| {
        b.iter(|| {
            i = (i + 1) % olds.len();
            black_box(tree.consistency_proof(olds[i], N, &hashes).unwrap())
        })
    });
    let proof = tree.inclusion_proof(indexes[0], N, &hashes).unwrap();
    let root = tree.root();
    let leaf = hashes[indexes[0] as usize];
    group.bench_function("verify_inclusion", |b| {
        b.iter(|| proof.verify(black_box(&leaf), black_box(&root)).unwrap())
    });
    group.finish();
}

fn append_throughput(c: &mut Criterion) {
    const BATCH: u64 = 1_000;
    let batch: Vec<Hash> = (0..BATCH).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(BATCH));
    // The tree keeps growing across iterations, as a live log does.
    let mut tree = Tree::from_leaf_hashes((0..1_000_000u64).map(|i| leaf_hash(&i.to_be_bytes())));
    group.bench_function("push_batch_of_1000_then_root", |b| {
        b.iter(|| {
            tree.extend(batch.iter().copied());
            black_box(tree.root())
        })
    });
    group.finish();
}

/// `value` with every object's members in reverse order: the server builds an entry's objects
/// in its own order (serde_json keeps insertion order here), not sorted.
fn unsorted(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let members: Vec<_> = map.into_iter().collect();
            serde_json::Value::Object(members.into_iter().rev().map(|(k, v)| (k, unsorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(unsorted).collect())
        }
        other => other,
    }
}

/// Canonical JSON of one decision entry as the server holds it (a `serde_json::Value`, members
/// not in canonical order): the ledger's own writer against the library it replaced, which must
/// give the same bytes.
fn canonicalize_entry(c: &mut Criterion) {
    let value = unsorted(serde_json::from_slice(&entry(42)).unwrap());
    let ours = tribune_ledger::canonical::to_vec(&value).unwrap();
    assert_eq!(ours, serde_json_canonicalizer::to_vec(&value).unwrap());
    let mut group = c.benchmark_group("canonical");
    group.throughput(Throughput::Bytes(ours.len() as u64));
    group.bench_function("decision_entry/tribune_ledger", |b| {
        b.iter(|| tribune_ledger::canonical::to_vec(black_box(&value)).unwrap())
    });
    group.bench_function("decision_entry/serde_json_canonicalizer", |b| {
        b.iter(|| serde_json_canonicalizer::to_vec(black_box(&value)).unwrap())
    });
    group.finish();
}

criterion_group!(
    benches,
    verify_one_million,
    proofs_at_ten_million,
    append_throughput,
    canonicalize_entry
);
criterion_main!(benches);
