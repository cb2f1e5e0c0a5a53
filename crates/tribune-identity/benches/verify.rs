//! Credential verification cold (every token new to the verifier: Ed25519 signature check,
//! JSON, claim checks, cache insert) against cached (SHA-256 of the token and a map lookup),
//! and issuing (JSON and an Ed25519 signature). The tokens are realistic: a root credential
//! with five tools in scope and a class, ~540 bytes.
//!
//! `cargo bench -p tribune-identity --bench verify`
//!
//! `TRIBUNE_BENCH_NO_CRITERION=1 cargo bench -p tribune-identity --bench verify` instead times
//! single calls with `Instant` and prints p50 and p99, and the mean CPU time per call.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tribune_identity::{Claims, Issuer, Verifier};

/// 2026-11-26T10:00:00Z.
const NOW: i64 = 1_795_687_200;
/// Distinct tokens; a cold pass verifies each once on an empty cache.
const TOKENS: usize = 4_096;

fn claims(i: usize) -> Claims {
    Claims {
        iss: "https://tribune.example".into(),
        sub: format!("agent:summariser-{}", i % 64),
        aud: "tribune".into(),
        iat: NOW,
        nbf: NOW,
        exp: NOW + 900,
        jti: format!("01JDQ8Z6V4N2W0{i:012}"),
        scope: [
            "crm.read",
            "docs.search",
            "web.fetch",
            "web.search",
            "tickets.comment",
        ]
        .into_iter()
        .collect(),
        generation: 3,
        cls: Some("research".into()),
        act: None,
        anc: vec![],
    }
}

struct Setup {
    issuer: Issuer,
    verifier: Verifier,
    tokens: Vec<String>,
}

fn setup() -> Setup {
    let issuer = Issuer::from_seed([7; 32], "https://tribune.example");
    let verifier = issuer.verifier("tribune");
    let tokens: Vec<String> = (0..TOKENS).map(|i| issuer.issue(&claims(i)).unwrap()).collect();
    println!("{} tokens of {} bytes", tokens.len(), tokens[0].len());
    Setup {
        issuer,
        verifier,
        tokens,
    }
}

/// CPU time this thread has run, in nanoseconds (Linux).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Times `calls` single calls of `f(i)` and prints p50 and p99 by wall clock, and the mean CPU
/// time per call (which does not count time spent descheduled, so it holds on a loaded
/// machine).
fn percentiles(name: &str, calls: usize, mut f: impl FnMut(usize)) {
    let mut times = Vec::with_capacity(calls);
    let cpu = thread_cpu_ns();
    for i in 0..calls {
        let start = Instant::now();
        f(i);
        times.push(start.elapsed());
    }
    let cpu = Duration::from_nanos((thread_cpu_ns() - cpu) / calls as u64);
    times.sort();
    let at = |q: f64| times[((calls as f64 * q) as usize).min(calls - 1)];
    println!(
        "| {name} | {calls} | {:.2?} | {:.2?} | {cpu:.2?} |",
        at(0.5),
        at(0.99)
    );
}

fn no_criterion(s: &Setup) {
    println!("| operation | calls | p50 | p99 | mean CPU |");
    println!("|---|---|---|---|---|");
    let n = s.tokens.len();
    percentiles("verify, cold", 8 * n, |i| {
        if i % n == 0 {
            s.verifier.clear_cache();
        }
        black_box(s.verifier.verify(black_box(&s.tokens[i % n]), NOW)).unwrap();
    });
    for t in &s.tokens {
        s.verifier.verify(t, NOW).unwrap();
    }
    percentiles("verify, cached", 64 * n, |i| {
        black_box(s.verifier.verify(black_box(&s.tokens[i % n]), NOW)).unwrap();
    });
    let all = claims(0);
    percentiles("issue", 4 * n, |_| {
        black_box(s.issuer.issue(black_box(&all))).unwrap();
    });
}

fn bench(c: &mut Criterion) {
    let s = setup();
    if std::env::var_os("TRIBUNE_BENCH_NO_CRITERION").is_some() {
        no_criterion(&s);
        std::process::exit(0);
    }
    let mut group = c.benchmark_group("credential");
    group.bench_function("verify/cold", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                s.verifier.clear_cache();
                let n = (iters - done).min(TOKENS as u64) as usize;
                let start = Instant::now();
                for t in &s.tokens[..n] {
                    black_box(s.verifier.verify(black_box(t), NOW)).unwrap();
                }
                total += start.elapsed();
                done += n as u64;
            }
            total
        })
    });
    for t in &s.tokens {
        s.verifier.verify(t, NOW).unwrap();
    }
    let mut i = 0;
    group.bench_function("verify/cached", |b| {
        b.iter(|| {
            i = (i + 1) % TOKENS;
            black_box(s.verifier.verify(black_box(&s.tokens[i]), NOW)).unwrap()
        })
    });
    let all = claims(0);
    group.bench_function("issue", |b| {
        b.iter(|| black_box(s.issuer.issue(black_box(&all))).unwrap())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
