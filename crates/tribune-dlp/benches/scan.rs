//! Scanning throughput over typical text, all built-in detectors plus one declared pattern in
//! one pass: English prose (nothing to find), JSON tool results (records with contact data, a
//! card or an IBAN now and then) and service logs (timestamps, ids, hashes, urls). Each text
//! is ~1 MiB, generated from a fixed seed. `scan/2-threads/*` scans two copies at once on two
//! threads, the DESIGN.md target's shape (>= 200 MB/s on 2 cores). `adversarial` is text made
//! to keep candidates alive and rejected (long runs of `1-2-3-`, `a.b.c.`, `1 2 3 `, a domain
//! without a top-level domain): it shows that scanning stays linear.
//!
//! `cargo bench -p tribune-dlp --bench scan`
//!
//! `TRIBUNE_BENCH_NO_CRITERION=1 cargo bench -p tribune-dlp --bench scan` instead scans each
//! text for about two seconds on one thread and then on two, and prints MB/s by wall clock
//! and per CPU-second (from `/proc/thread-self/schedstat`, which does not count time spent
//! descheduled, so the figure holds on a machine shared with other work).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tribune_dlp::{DataClass, Detector, Scanner};

/// A small deterministic generator (xorshift64*), so the texts are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "the",
    "patient",
    "reported",
    "mild",
    "pain",
    "after",
    "surgery",
    "and",
    "was",
    "advised",
    "to",
    "rest",
    "for",
    "two",
    "weeks",
    "follow-up",
    "visit",
    "scheduled",
    "with",
    "Dr.",
    "Okafor",
    "at",
    "clinic",
    "A",
    "blood",
    "pressure",
    "normal",
    "no",
    "known",
    "allergies",
    "medication",
    "dose",
    "increased",
    "agent",
    "summary",
    "of",
    "request",
    "order",
    "shipped",
    "customer",
    "invoice",
    "team",
    "deployment",
    "release",
    "notes",
    "résumé",
    "naïve",
    "café",
    "version",
    "2.3.1",
    "on",
    "2024-03-15",
    "at",
    "10:45",
    "room",
    "12",
    "total",
    "$1,250.00",
];

const SURNAMES: &[&str] = &[
    "smith",
    "garcia",
    "okafor",
    "lindqvist",
    "raman",
    "chen",
    "müller",
];
const DOMAINS: &[&str] = &["example.com", "mail.example.org", "clinic.example.net"];
const CARDS: &[&str] = &["4111 1111 1111 1111", "5555555555554444", "378282246310005"];
const IBANS: &[&str] = &["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432"];

fn sentence(rng: &mut Rng, out: &mut String) {
    let n = 8 + rng.below(14);
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(rng.pick(WORDS));
    }
    out.push_str(". ");
}

fn prose(rng: &mut Rng, size: usize) -> String {
    let mut out = String::with_capacity(size + 256);
    while out.len() < size {
        for _ in 0..4 + rng.below(4) {
            sentence(rng, &mut out);
        }
        out.push_str("\n\n");
    }
    out
}

fn json_records(rng: &mut Rng, size: usize) -> String {
    let mut records = Vec::new();
    let mut len = 0;
    let mut id = 100_000u64;
    while len < size {
        id += 1 + rng.below(50) as u64;
        let name = rng.pick(SURNAMES);
        let mut note = String::new();
        sentence(rng, &mut note);
        sentence(rng, &mut note);
        let mut record = serde_json::json!({
            "id": id,
            "name": name,
            "email": format!("{name}.{}@{}", rng.below(100), rng.pick(DOMAINS)),
            "phone": format!("+1 415 555 {:04}", rng.below(10_000)),
            "created": format!("2024-0{}-1{}T10:{:02}:00Z", 1 + rng.below(9), rng.below(10), rng.below(60)),
            "amount": rng.below(100_000) as f64 / 100.0,
            "tags": ["priority", "follow-up"],
            "note": note,
        });
        match rng.below(20) {
            0 => record["card"] = rng.pick(CARDS).into(),
            1 => record["iban"] = rng.pick(IBANS).into(),
            _ => {}
        }
        let text = record.to_string();
        len += text.len() + 2;
        records.push(record);
    }
    serde_json::to_string_pretty(&serde_json::json!({ "results": records })).unwrap()
}

fn logs(rng: &mut Rng, size: usize) -> String {
    let mut out = String::with_capacity(size + 512);
    let levels = ["INFO", "WARN", "DEBUG", "ERROR"];
    while out.len() < size {
        let line = format!(
            "2024-03-{:02}T{:02}:{:02}:{:02}.{:03}Z {} request_id={:016x} user_id={} ip=10.{}.{}.{} GET https://api.example.com/v1/items/{}?page={} status={} latency_ms={} sha256={:016x}{:016x}\n",
            1 + rng.below(28),
            rng.below(24),
            rng.below(60),
            rng.below(60),
            rng.below(1000),
            levels[rng.below(4)],
            rng.next(),
            rng.below(1_000_000),
            rng.below(256),
            rng.below(256),
            rng.below(256),
            rng.below(100_000),
            rng.below(10),
            [200, 201, 404, 500][rng.below(4)],
            rng.below(2000),
            rng.next(),
            rng.next(),
        );
        out.push_str(&line);
    }
    out
}

fn adversarial(size: usize) -> String {
    let quarter = size / 4;
    let mut out = String::with_capacity(size + 64);
    let runs: [&dyn Fn(usize) -> String; 4] = [
        &|i| format!("{}-", i % 10),
        &|i| format!("{}.", (b'a' + (i % 26) as u8) as char),
        &|i| format!("{} ", i % 10),
        &|i| {
            if i == 0 {
                "x@".to_owned()
            } else {
                format!("{}.", i % 10)
            }
        },
    ];
    for run in runs {
        let mut i = 0;
        let end = out.len() + quarter;
        while out.len() < end {
            out.push_str(&run(i));
            i += 1;
        }
        out.push('\n');
    }
    out
}

/// CPU time this thread has run, in nanoseconds (Linux).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Scans `text` `n` times on this thread; returns the CPU nanoseconds spent.
fn scan_n(scanner: &Scanner, text: &str, n: usize) -> u64 {
    let cpu = thread_cpu_ns();
    for _ in 0..n {
        black_box(scanner.scan(black_box(text)));
    }
    thread_cpu_ns() - cpu
}

/// `scan_value` of `value`, `n` times on this thread; returns the CPU nanoseconds spent.
fn scan_value_n(scanner: &Scanner, value: &serde_json::Value, n: usize) -> u64 {
    let cpu = thread_cpu_ns();
    for _ in 0..n {
        black_box(scanner.scan_value(black_box(value)));
    }
    thread_cpu_ns() - cpu
}

fn no_criterion(scanner: &Scanner, texts: &[(&str, String)]) {
    println!("| text | threads | MB/s (wall) | MB/s per CPU-second |");
    println!("|---|---|---|---|");
    for (kind, text) in texts {
        let start = std::time::Instant::now();
        let mut n = 0;
        while start.elapsed().as_secs_f64() < 0.3 {
            scan_n(scanner, text, 1);
            n += 1;
        }
        let n = (n * 7).max(1);
        let mb = (n * text.len()) as f64 / 1e6;
        for threads in [1usize, 2] {
            let wall = std::time::Instant::now();
            let cpu: u64 = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|_| s.spawn(|| scan_n(scanner, text, n)))
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            });
            let wall = wall.elapsed().as_secs_f64();
            let total = mb * threads as f64;
            println!(
                "| {kind} | {threads} | {:.0} | {:.0} |",
                total / wall,
                total / (cpu as f64 / 1e9)
            );
        }
    }
    if let Some((_, json)) = texts.iter().find(|(kind, _)| *kind == "json") {
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        let n = 100;
        let wall = std::time::Instant::now();
        let cpu = scan_value_n(scanner, &value, n);
        let mb = (n * json.len()) as f64 / 1e6;
        println!(
            "| json, `scan_value` | 1 | {:.0} | {:.0} |",
            mb / wall.elapsed().as_secs_f64(),
            mb / (cpu as f64 / 1e9)
        );
    }
}

fn scanner() -> Scanner {
    let restricted = DataClass::new("restricted");
    let mut detectors = Detector::all_builtins(&restricted);
    let mrn = Detector::pattern(
        "mrn",
        r"(?-u:\b)MRN[:# ]*[0-9]{7,10}(?-u:\b)",
        DataClass::new("phi"),
    );
    detectors.push(mrn.unwrap());
    Scanner::new(&detectors).unwrap()
}

fn bench(c: &mut Criterion) {
    const SIZE: usize = 1 << 20;
    let scanner = scanner();
    let mut rng = Rng(0x7121_bec4);
    let texts = [
        ("prose", prose(&mut rng, SIZE)),
        ("json", json_records(&mut rng, SIZE)),
        ("logs", logs(&mut rng, SIZE)),
        ("adversarial", adversarial(SIZE)),
    ];
    for (kind, text) in &texts {
        eprintln!(
            "{kind}: {} bytes, {} findings",
            text.len(),
            scanner.scan(text).len()
        );
    }
    if std::env::var_os("TRIBUNE_BENCH_NO_CRITERION").is_some() {
        no_criterion(&scanner, &texts);
        std::process::exit(0);
    }

    let mut one = c.benchmark_group("scan/1-thread");
    for (kind, text) in &texts {
        one.throughput(Throughput::Bytes(text.len() as u64));
        one.bench_function(*kind, |b| b.iter(|| black_box(scanner.scan(black_box(text)))));
    }
    one.finish();

    let mut two = c.benchmark_group("scan/2-threads");
    for (kind, text) in texts.iter().take(3) {
        two.throughput(Throughput::Bytes(2 * text.len() as u64));
        two.bench_function(*kind, |b| {
            b.iter(|| {
                std::thread::scope(|s| {
                    let other = s.spawn(|| black_box(scanner.scan(black_box(text))).len());
                    let here = black_box(scanner.scan(black_box(text))).len();
                    here + other.join().unwrap()
                })
            })
        });
    }
    two.finish();

    let mut value = c.benchmark_group("scan_value/1-thread");
    let (_, json) = &texts[1];
    let parsed: serde_json::Value = serde_json::from_str(json).unwrap();
    value.throughput(Throughput::Bytes(json.len() as u64));
    value.bench_function("json", |b| {
        b.iter(|| black_box(scanner.scan_value(black_box(&parsed))))
    });
    value.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
