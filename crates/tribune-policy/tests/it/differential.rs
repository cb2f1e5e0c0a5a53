//! Differential test of the policy index (INVARIANT(index-equivalence)): for random requests
//! against a generated 10,000-entity bundle, Cedar over the index's candidates gives the same
//! decision, the same determining policies and the same erroring policies (with the same
//! errors) as Cedar over the whole, unindexed policy set.
//!
//! It also holds `decide` to the plain pipeline (INVARIANT(plan-equivalence)):
//! `Snapshot::decide`, whose policy stage settles some policies ahead of time, skips others
//! and evaluates the rest over only the arguments they read, returns exactly the `Decision`
//! of `Snapshot::decide_reference`, which runs Cedar over the index's whole candidate set with
//! the full context — the very response the first check proves equal to unindexed Cedar.
//! `decide` evaluates most conditions with the compiled evaluator (`src/eval.rs`,
//! INVARIANT(compiled-equals-cedar)), so the bundle adds `Spec::shapes` policies whose
//! conditions use every construct it mirrors, erroring ones included.
//!
//! Requests are seeded from `TRIBUNE_DIFF_SEED` if set, otherwise from the clock; the bundle
//! from `TRIBUNE_DIFF_BUNDLE_SEED`, otherwise [`BUNDLE_SEED`] (the ignored full-size variant
//! draws it from the clock too). Both seeds are printed at the start and in every failure, so
//! `TRIBUNE_DIFF_SEED=.. TRIBUNE_DIFF_BUNDLE_SEED=.. cargo test -p tribune-policy --test it
//! differential` replays a failing run. `TRIBUNE_DIFF_REQUESTS` changes the request count.

#[path = "../support/synth.rs"]
mod synth;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use cedar_policy::{AuthorizationError, Decision, Response};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tribune_policy::{Facts, Snapshot};

use synth::{OwnedRequest, Spec, Synth};

/// 2026-11-26T10:00:00Z; requests are spread over the following week.
const NOW: i64 = 1_795_687_200_000;
const WEEK_MS: i64 = 7 * 86_400_000;

/// Requests per run. The default bundle is `Spec::ci` (100 policies): the unindexed side
/// evaluates every policy on every request, about 2 us each in a debug build, so the policy
/// count is what keeps this near a minute (see BENCHMARKS.md).
const CI_REQUESTS: usize = 100_000;
/// Requests per independently seeded chunk; chunks are shared out among the cores.
const CHUNK: usize = 1_000;
/// How often an argument takes an edge value: often, since edges are where the sides could differ.
const EDGE: f64 = 0.5;
/// The default tests' bundle.
const BUNDLE_SEED: u64 = 0x7121_b0e5;

/// What Cedar said, in a comparable form.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Answer {
    decision: Decision,
    determining: BTreeSet<String>,
    /// `policy id: error`.
    errors: BTreeSet<String>,
}

fn answer(r: &Response) -> Answer {
    Answer {
        decision: r.decision(),
        determining: r.diagnostics().reason().map(ToString::to_string).collect(),
        errors: r
            .diagnostics()
            .errors()
            .map(|e| match e {
                AuthorizationError::PolicyEvaluationError(e) => format!("{}: {e}", e.policy_id()),
            })
            .collect(),
    }
}

/// Compares the two sides on one request. `Ok(None)` when the request does not reach Cedar.
fn compare(snapshot: &Snapshot, request: &OwnedRequest, now: i64) -> Result<Option<Answer>, String> {
    compare_decisions(snapshot, request, now)?;
    let Some((cedar, tool, group)) = snapshot.cedar_request(&request.as_request(), now) else {
        return Ok(None);
    };
    let indexed = snapshot
        .indexed_response(&cedar, tool, group)
        .map_err(|e| format!("the index failed: {e}"))?;
    let indexed = answer(&indexed);
    let raw = answer(&snapshot.raw_response(&cedar));
    if indexed == raw {
        Ok(Some(raw))
    } else {
        Err(format!(
            "indexed and raw Cedar disagree (tool index {tool}, principal group {group})\n  indexed: {indexed:?}\n  raw:     {raw:?}"
        ))
    }
}

/// `decide` and the reference pipeline must agree on the whole decision: outcome, reasons (and
/// so the determining or first erroring policy), approvals, everything.
fn compare_decisions(snapshot: &Snapshot, request: &OwnedRequest, now: i64) -> Result<(), String> {
    let facts = Facts::default();
    let planned = snapshot.decide(&request.as_request(), &facts, now);
    let reference = snapshot.decide_reference(&request.as_request(), &facts, now);
    if planned == reference {
        Ok(())
    } else {
        Err(format!(
            "decide and the reference pipeline disagree\n  decide:    {planned:?}\n  reference: {reference:?}"
        ))
    }
}

/// The context Tribune builds must fit the generated schema, or strict validation proves nothing.
fn check_conforms(snapshot: &Snapshot, request: &OwnedRequest, now: i64) -> Result<(), String> {
    let Some((cedar, _, _)) = snapshot.cedar_request(&request.as_request(), now) else {
        return Ok(());
    };
    let (Some(p), Some(a), Some(r), Some(c)) = (
        cedar.principal(),
        cedar.action(),
        cedar.resource(),
        cedar.context(),
    ) else {
        return Err("the request is partial".to_owned());
    };
    cedar_policy::Request::new(
        p.clone(),
        a.clone(),
        r.clone(),
        c.clone(),
        Some(snapshot.schema()),
    )
    .map(|_| ())
    .map_err(|e| format!("the request does not fit the generated schema: {e}"))
}

#[derive(Debug, Default)]
struct Stats {
    requests: usize,
    reached_cedar: usize,
    allow: usize,
    deny_by_forbid: usize,
    deny_by_default: usize,
    with_errors: usize,
    /// Policies that determined at least one decision.
    determining: BTreeSet<String>,
    /// Policies that raised an error at least once.
    erroring: BTreeSet<String>,
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.requests += other.requests;
        self.reached_cedar += other.reached_cedar;
        self.allow += other.allow;
        self.deny_by_forbid += other.deny_by_forbid;
        self.deny_by_default += other.deny_by_default;
        self.with_errors += other.with_errors;
        self.determining.extend(other.determining.iter().cloned());
        self.erroring.extend(other.erroring.iter().cloned());
    }

    fn count(&mut self, a: &Answer) {
        self.reached_cedar += 1;
        match (a.decision, a.determining.is_empty()) {
            (Decision::Allow, _) => self.allow += 1,
            (Decision::Deny, false) => self.deny_by_forbid += 1,
            (Decision::Deny, true) => self.deny_by_default += 1,
        }
        if !a.errors.is_empty() {
            self.with_errors += 1;
        }
        self.determining.extend(a.determining.iter().cloned());
        for e in &a.errors {
            self.erroring
                .insert(e.split_once(": ").map_or(e.as_str(), |(id, _)| id).to_owned());
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} requests, {} reached Cedar: {} allow, {} deny by a forbid, {} deny by default, {} with errors; {} distinct determining and {} distinct erroring policies",
            self.requests,
            self.reached_cedar,
            self.allow,
            self.deny_by_forbid,
            self.deny_by_default,
            self.with_errors,
            self.determining.len(),
            self.erroring.len()
        )
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Checks `requests` random requests in chunks of [`CHUNK`], each chunk seeded from
/// `seed + chunk`, spread over the machine's cores. Panics on the first disagreement.
fn differential(snapshot: &Snapshot, synth: &Synth, seed: u64, requests: usize) -> Stats {
    let bundle_seed = synth.spec.seed;
    let chunks = requests.div_ceil(CHUNK);
    let next = AtomicUsize::new(0);
    let total = Mutex::new(Stats::default());
    let failure: Mutex<Option<String>> = Mutex::new(None);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut stats = Stats::default();
                loop {
                    let chunk = next.fetch_add(1, Ordering::Relaxed);
                    if chunk >= chunks || failure.lock().unwrap().is_some() {
                        break;
                    }
                    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(chunk as u64));
                    let n = CHUNK.min(requests - chunk * CHUNK);
                    for i in 0..n {
                        let request = synth.request(&mut rng, EDGE);
                        let now = NOW + rng.random_range(0..WEEK_MS);
                        stats.requests += 1;
                        let checked = compare(snapshot, &request, now).and_then(|a| {
                            if i % 64 == 0 {
                                check_conforms(snapshot, &request, now)?;
                            }
                            Ok(a)
                        });
                        match checked {
                            Ok(Some(a)) => stats.count(&a),
                            Ok(None) => {}
                            Err(e) => {
                                *failure.lock().unwrap() = Some(format!(
                                    "TRIBUNE_DIFF_SEED={seed} TRIBUNE_DIFF_BUNDLE_SEED={bundle_seed}: chunk {chunk}, request {i}, now {now}:\n  {request}\n{e}"
                                ));
                                return;
                            }
                        }
                    }
                }
                total.lock().unwrap().add(&stats);
            });
        }
    });
    if let Some(f) = failure.into_inner().unwrap() {
        panic!("{f}");
    }
    total.into_inner().unwrap()
}

/// The run must exercise every outcome, or agreement would prove little.
fn assert_varied(stats: &Stats, seeds: &str) {
    let share = |n: usize| n as f64 / stats.reached_cedar.max(1) as f64;
    let varied = stats.reached_cedar as f64 >= 0.9 * stats.requests as f64
        && share(stats.allow) >= 0.05
        && share(stats.deny_by_forbid) >= 0.05
        && share(stats.deny_by_default) >= 0.05
        && stats.with_errors >= 20;
    assert!(
        varied,
        "{seeds}: the requests do not exercise every outcome: {}",
        stats.summary()
    );
}

fn run(synth: &Synth, snapshot: &Snapshot, requests: usize) {
    let seed = env_u64("TRIBUNE_DIFF_SEED").unwrap_or_else(clock_seed);
    let requests = env_u64("TRIBUNE_DIFF_REQUESTS").map_or(requests, |n| n as usize);
    let seeds = format!(
        "TRIBUNE_DIFF_SEED={seed} TRIBUNE_DIFF_BUNDLE_SEED={}",
        synth.spec.seed
    );
    eprintln!(
        "differential: {seeds}: {} entities, {} policies, {requests} requests",
        synth.spec.entities(),
        synth.spec.policies
    );
    let started = std::time::Instant::now();
    let stats = differential(snapshot, synth, seed, requests);
    eprintln!(
        "differential: checked in {:.1?}: {}",
        started.elapsed(),
        stats.summary()
    );
    assert_eq!(stats.requests, requests);
    assert_varied(&stats, &seeds);
}

/// The default tests' bundle, built once for all of them. A bundle that fails to build fails
/// every test that asks for it, once, rather than being rebuilt per proptest case.
fn ci_bundle() -> &'static (Synth, Snapshot) {
    static CI: OnceLock<Result<(Synth, Snapshot), String>> = OnceLock::new();
    let built = CI.get_or_init(|| {
        let seed = env_u64("TRIBUNE_DIFF_BUNDLE_SEED").unwrap_or(BUNDLE_SEED);
        let synth = Synth::new(Spec::ci(seed));
        if let Some(out) = std::env::var_os("TRIBUNE_DIFF_DUMP") {
            // For inspection of a failing bundle.
            synth.write_to(std::path::Path::new(&out)).unwrap();
        }
        std::panic::catch_unwind(|| synth.snapshot())
            .map(|snapshot| (synth, snapshot))
            .map_err(|e| {
                e.downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| "the bundle does not build".to_owned())
            })
    });
    match built {
        Ok(b) => b,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn indexed_cedar_equals_raw_cedar() {
    let (synth, snapshot) = ci_bundle();
    run(synth, snapshot, CI_REQUESTS);
}

/// The full 1,000-policy, 10,000-entity bundle of the performance targets, with a fresh bundle
/// seed each run. Too slow for a debug build; run with
/// `cargo test --release -p tribune-policy --test it -- --ignored differential`.
#[test]
#[ignore = "slow in debug builds; run in release (see BENCHMARKS.md)"]
fn indexed_cedar_equals_raw_cedar_full() {
    let seed = env_u64("TRIBUNE_DIFF_BUNDLE_SEED").unwrap_or_else(clock_seed);
    let synth = Synth::new(Spec {
        shapes: 200,
        ..Spec::full(seed)
    });
    let snapshot = synth.snapshot();
    run(&synth, &snapshot, CI_REQUESTS);
}

/// A random-number source that replays proptest's choices, so a failing request shrinks.
struct Replay {
    words: Vec<u64>,
    at: usize,
}

impl RngCore for Replay {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    fn next_u64(&mut self) -> u64 {
        let w = self.words.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        w
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let w = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(w.get(..chunk.len()).unwrap_or_default());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn indexed_cedar_equals_raw_cedar_prop(
        words in proptest::collection::vec(any::<u64>(), 0..48),
        offset in 0..WEEK_MS,
    ) {
        let (synth, snapshot) = ci_bundle();
        let request = synth.request(&mut Replay { words, at: 0 }, EDGE);
        let now = NOW + offset;
        if let Err(e) = compare(snapshot, &request, now).and_then(|_| check_conforms(snapshot, &request, now)) {
            prop_assert!(false, "TRIBUNE_DIFF_BUNDLE_SEED={}: {request}\n{e}", synth.spec.seed);
        }
    }
}
