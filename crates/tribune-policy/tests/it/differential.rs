//! Differential test of the policy index (INVARIANT(index-equivalence)): for random requests
//! against a generated 10,000-entity bundle, Cedar over the index's candidates gives the same
//! decision, the same determining policies and the same erroring policies (with the same
//! errors) as Cedar over the whole, unindexed policy set.
//!
//! The seed comes from `TRIBUNE_DIFF_SEED` if set, otherwise from the clock; it is printed at
//! the start and in every failure, so `TRIBUNE_DIFF_SEED=<seed> cargo test -p tribune-policy
//! --test it differential` replays a failing run. `TRIBUNE_DIFF_REQUESTS` changes the count.

#[path = "../support/synth.rs"]
mod synth;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use cedar_policy::{AuthorizationError, Decision, Response};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tribune_policy::Snapshot;

use synth::{OwnedRequest, Spec, Synth};

/// 2026-11-26T10:00:00Z; requests are spread over the following week.
const NOW: i64 = 1_795_687_200_000;
const WEEK_MS: i64 = 7 * 86_400_000;

/// Policies in the bundle of the default-run tests: the unindexed side evaluates every one of
/// them per request, so this bounds the debug-build running time. The full 1,000 run in the
/// ignored variant.
const CI_POLICIES: usize = 100;
const CI_REQUESTS: usize = 100_000;
const CHUNK: usize = 1_000;

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
}

impl Stats {
    fn add(&mut self, other: &Stats) {
        self.requests += other.requests;
        self.reached_cedar += other.reached_cedar;
        self.allow += other.allow;
        self.deny_by_forbid += other.deny_by_forbid;
        self.deny_by_default += other.deny_by_default;
        self.with_errors += other.with_errors;
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
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn run_seed() -> u64 {
    env_u64("TRIBUNE_DIFF_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    })
}

/// Checks `requests` random requests in chunks of [`CHUNK`], each chunk seeded from
/// `seed + chunk`, spread over the machine's cores. Panics on the first disagreement.
fn differential(snapshot: &Snapshot, synth: &Synth, seed: u64, requests: usize) -> Stats {
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
                        let request = synth.request(&mut rng);
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
                                    "seed {seed} (TRIBUNE_DIFF_SEED={seed}), chunk {chunk}, request {i}, now {now}:\n  {request}\n{e}"
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
fn assert_varied(stats: &Stats, seed: u64) {
    let share = |n: usize| n as f64 / stats.reached_cedar.max(1) as f64;
    let varied = share(stats.reached_cedar) > 0.0
        && stats.reached_cedar as f64 >= 0.85 * stats.requests as f64
        && share(stats.allow) >= 0.05
        && share(stats.deny_by_forbid) >= 0.02
        && share(stats.deny_by_default) >= 0.05
        && share(stats.with_errors) >= 0.001;
    assert!(
        varied,
        "seed {seed}: the requests do not exercise every outcome: {stats:?}"
    );
}

fn run(policies: usize, requests: usize) {
    let seed = run_seed();
    let requests = env_u64("TRIBUNE_DIFF_REQUESTS").map_or(requests, |n| n as usize);
    eprintln!(
        "differential: seed {seed} (replay with TRIBUNE_DIFF_SEED={seed}), {policies} policies, {requests} requests"
    );
    let started = std::time::Instant::now();
    let synth = Synth::new(Spec::full(seed).with_policies(policies));
    let snapshot = synth.snapshot();
    let built = started.elapsed();
    let stats = differential(&snapshot, &synth, seed, requests);
    eprintln!(
        "differential: built in {built:.1?}, checked in {:.1?}: {stats:?}",
        started.elapsed() - built
    );
    assert_eq!(stats.requests, requests);
    assert_varied(&stats, seed);
}

#[test]
fn indexed_cedar_equals_raw_cedar() {
    run(CI_POLICIES, CI_REQUESTS);
}

/// The full 1,000-policy bundle of the performance targets. Too slow for a debug build; run
/// with `cargo test --release -p tribune-policy --test it -- --ignored differential`.
#[test]
#[ignore = "slow in debug builds; run in release (see BENCHMARKS.md)"]
fn indexed_cedar_equals_raw_cedar_full() {
    run(1_000, CI_REQUESTS);
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

/// One fixed bundle for every proptest case.
fn fixed() -> &'static (Synth, Snapshot) {
    static FIXED: OnceLock<(Synth, Snapshot)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let synth = Synth::new(Spec::full(0x7121_b0e5).with_policies(CI_POLICIES));
        let snapshot = synth.snapshot();
        (synth, snapshot)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn indexed_cedar_equals_raw_cedar_prop(
        words in proptest::collection::vec(any::<u64>(), 0..48),
        offset in 0..WEEK_MS,
    ) {
        let (synth, snapshot) = fixed();
        let request = synth.request(&mut Replay { words, at: 0 });
        let now = NOW + offset;
        if let Err(e) = compare(snapshot, &request, now).and_then(|_| check_conforms(snapshot, &request, now)) {
            prop_assert!(false, "{request}\n{e}");
        }
    }
}
