//! Trust scores: their arithmetic (decay toward the baseline, order independence, clamping,
//! the thresholds' boundaries), the `[trust]` table, and the trust gate in `decide`.

use serde_json::{Value, json};
use tribune_bundle::{Bundle, Diagnostic, MANIFEST, SourceFile, Trust};
use tribune_policy::trust::{Accumulator, Band, decay_factor, score};
use tribune_policy::{Facts, PrincipalKind, Request, Snapshot, TrustScores};

const HOUR: u64 = 3_600_000;

// --- arithmetic ---

#[test]
fn a_deviation_halves_every_half_life_back_to_the_baseline() {
    let mut acc = Accumulator::default();
    acc.add(-400.0, 0, 1000);
    let at = |t: i64| acc.score_at(700, t, 1000);
    assert_eq!(at(0), 300);
    assert_eq!(at(1000), 500);
    assert_eq!(at(2000), 600);
    assert_eq!(at(3000), 650);
    assert_eq!(
        at(64_000),
        700,
        "after enough half-lives the score is the baseline"
    );
    // Nothing decays backwards: before the event the score is as at the event.
    assert_eq!(at(-5000), 300);
    assert_eq!(decay_factor(0, 1000), 1.0);
    assert_eq!(decay_factor(-1, 1000), 1.0);
    assert!((decay_factor(500, 1000) - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
}

#[test]
fn adding_an_event_is_the_closed_form_sum() {
    // D(t) = Σ δᵢ · 2^(−(t − tᵢ)/h), whatever the order the events are added in.
    let h = 7 * HOUR;
    let events = [
        (-25.0, 1_000),
        (40.0, 5 * HOUR as i64),
        (-75.0, 2 * HOUR as i64),
        (1.0, 0),
    ];
    let t = 9 * HOUR as i64;
    let closed: f64 = events.iter().map(|(d, at)| d * decay_factor(t - at, h)).sum();
    let orders = [[0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1]];
    for order in orders {
        let mut acc = Accumulator::default();
        for i in order {
            let (d, at) = events[i];
            acc.add(d, at, h);
        }
        assert_eq!(
            acc.at_ms,
            5 * HOUR as i64,
            "the accumulator keeps the latest event's time"
        );
        assert!(
            (acc.deviation_at(t, h) - closed).abs() < 1e-9,
            "order {order:?}: {} vs {closed}",
            acc.deviation_at(t, h)
        );
    }
}

#[test]
fn scores_are_rounded_and_clamped_to_0_1000() {
    assert_eq!(score(700, 0.0), 700);
    assert_eq!(score(700, -0.4), 700);
    assert_eq!(score(700, -0.6), 699);
    assert_eq!(score(700, -700.0), 0);
    assert_eq!(score(700, -5000.0), 0);
    assert_eq!(score(700, 299.6), 1000);
    assert_eq!(score(700, 1e9), 1000);
    assert_eq!(score(700, f64::NAN), 0, "an impossible deviation fails low");
    assert_eq!(score(0, 0.0), 0);
    assert_eq!(score(1000, 0.0), 1000);
}

#[test]
fn bands_change_strictly_below_each_threshold() {
    let t = Trust::DEFAULT;
    assert_eq!((t.review_below, t.block_below), (400, 200));
    for (s, band) in [
        (1000, Band::Normal),
        (400, Band::Normal),
        (399, Band::Review),
        (200, Band::Review),
        (199, Band::Blocked),
        (0, Band::Blocked),
    ] {
        assert_eq!(Band::of(s, &t), band, "score {s}");
    }
    for b in [Band::Normal, Band::Review, Band::Blocked] {
        assert_eq!(Band::parse(b.as_str()), Some(b));
    }
}

// --- the [trust] table ---

fn quickstart_manifest() -> String {
    std::fs::read_to_string(crate::examples_dir().join("quickstart/tribune.toml")).unwrap()
}

fn parse(manifest: &str) -> Result<Bundle, Vec<Diagnostic>> {
    let mut sources = tribune_bundle::read_dir(&crate::examples_dir().join("quickstart")).unwrap();
    sources.manifest = SourceFile::new(MANIFEST, manifest);
    tribune_bundle::parse(sources)
}

/// The quick-start manifest with `extra` appended, and the 1-based line `extra` starts on.
fn with(extra: &str) -> (String, usize) {
    let base = quickstart_manifest();
    let first = base.lines().count() + 2;
    (format!("{base}\n{extra}"), first)
}

fn errors(extra: &str) -> Vec<String> {
    let (manifest, _) = with(extra);
    parse(&manifest)
        .map(|_| Vec::new())
        .unwrap_or_else(|d| d.iter().map(ToString::to_string).collect())
}

#[test]
fn without_the_table_the_defaults_apply_unenforced() {
    let b = parse(&quickstart_manifest()).unwrap();
    assert_eq!(b.trust, Trust::DEFAULT);
    assert!(!b.trust.enforced);
    assert_eq!(b.trust.half_life_ms, 24 * HOUR);
    let (m, _) = with("[trust]\n");
    let b = parse(&m).unwrap();
    assert!(
        b.trust.enforced,
        "an empty [trust] turns the gate on with the defaults"
    );
    assert_eq!(
        Trust {
            enforced: false,
            ..b.trust
        },
        Trust::DEFAULT
    );
}

#[test]
fn every_key_is_read() {
    let (m, _) = with(
        "[trust]\nbaseline = 650\nhalf_life_hours = 0.5\nreview_below = 500\nblock_below = 100\n\
         [trust.events]\nallowed = 2\nforbidden = -30\nprovider_forbidden = 0\ndlp = -60\n\
         approval_refused = -80\nredteam_failure = -90\nincident = -1000\n",
    );
    let t = parse(&m).unwrap().trust;
    assert!(t.enforced);
    assert_eq!((t.baseline, t.review_below, t.block_below), (650, 500, 100));
    assert_eq!(t.half_life_ms, HOUR / 2);
    let e = t.events;
    assert_eq!(
        (
            e.allowed,
            e.forbidden,
            e.provider_forbidden,
            e.dlp,
            e.approval_refused,
            e.redteam_failure,
            e.incident
        ),
        (2, -30, 0, -60, -80, -90, -1000)
    );
    let (m, _) = with("[trust]\nhalf_life_secs = 2\n");
    assert_eq!(parse(&m).unwrap().trust.half_life_ms, 2000);
    let (m, _) = with("[trust]\nhalf_life_hours = 48\n");
    assert_eq!(parse(&m).unwrap().trust.half_life_ms, 48 * HOUR);
}

#[test]
fn bad_values_are_located() {
    let (_, l) = with("");
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "[trust]\nbaseline = 1001\n",
            vec![format!(
                "tribune.toml:{}:12: error[bad-value]: `[trust] baseline` must be between 0 and 1000, not 1001",
                l + 1
            )],
        ),
        (
            "[trust]\nreview_below = 300\nblock_below = 350\n",
            vec![format!(
                "tribune.toml:{}:15: error[bad-value]: `[trust] block_below` (350) must not be above `review_below` (300)",
                l + 2
            )],
        ),
        (
            "[trust]\nbaseline = 100\n",
            vec![format!(
                "tribune.toml:{}:12: error[bad-value]: `[trust] baseline` (100) is below `block_below` (200): every principal would be denied",
                l + 1
            )],
        ),
        (
            "[trust]\nhalf_life_hours = 1\nhalf_life_secs = 60\n",
            vec![format!(
                "tribune.toml:{}:18: error[bad-value]: `[trust]` sets both `half_life_hours` and `half_life_secs`; keep one",
                l + 2
            )],
        ),
        (
            "[trust]\nhalf_life_secs = 0\n",
            vec![format!(
                "tribune.toml:{}:18: error[bad-value]: `[trust] half_life_secs` must be between 1 and 31536000 (365 days), not 0",
                l + 1
            )],
        ),
        (
            "[trust]\nhalf_life_hours = 0.0001\n",
            vec![format!(
                "tribune.toml:{}:19: error[bad-value]: `[trust] half_life_hours` must be between 1 second and 365 days, not 0.0001",
                l + 1
            )],
        ),
        (
            "[trust.events]\nforbidden = -1001\n",
            vec![format!(
                "tribune.toml:{}:13: error[bad-value]: `[trust.events] forbidden` must be between -1000 and 1000, not -1001",
                l + 1
            )],
        ),
    ];
    for (extra, expected) in cases {
        assert_eq!(errors(extra), expected, "{extra}");
    }
    let unknown = errors("[trust]\nhalflife = 3\n");
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(unknown[0].contains("error[unknown-key]"), "{unknown:?}");
}

// --- the gate ---

/// The quick-start bundle with `[trust]` appended; `write` calls need no approval from the
/// floor, so a trust review is what holds them.
fn gated(trust: &str) -> Snapshot {
    let manifest = quickstart_manifest().replace("write = { approvals = 1 }", "write = { approvals = 0 }");
    let bundle = parse(&format!("{manifest}\n{trust}")).unwrap();
    Snapshot::build(bundle).unwrap()
}

fn decide(s: &Snapshot, tool: &str, args: Value, principal: Option<u16>, provider: Option<u16>) -> Value {
    let req = Request {
        kind: PrincipalKind::Agent,
        principal: "support-bot",
        tool,
        arguments: &args,
        session: None,
        context: None,
    };
    let facts = Facts {
        trust: TrustScores { principal, provider },
        ..Facts::default()
    };
    let reference = s.decide_reference(&req, &facts, 0);
    let d = s.decide(&req, &facts, 0);
    assert_eq!(d, reference, "decide and decide_reference disagree");
    serde_json::to_value(d).unwrap()
}

fn read() -> (&'static str, Value) {
    ("search_docs", json!({ "query": "q" }))
}

fn write() -> (&'static str, Value) {
    ("update_ticket", json!({ "ticket_id": "T-1", "status": "open" }))
}

fn irreversible() -> (&'static str, Value) {
    ("issue_refund", json!({ "order_id": "O-1", "amount": 10 }))
}

fn codes(d: &Value) -> Vec<String> {
    d["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{}:{}", r["stage"].as_str().unwrap(), r["code"].as_str().unwrap()))
        .collect()
}

#[test]
fn below_block_below_every_call_is_denied() {
    let s = gated("[trust]\n");
    for (tool, args) in [read(), write(), irreversible()] {
        let d = decide(&s, tool, args, Some(199), Some(700));
        assert_eq!(d["decision"], "deny", "{d:#}");
        let last = d["reasons"].as_array().unwrap().last().unwrap();
        assert_eq!(last["stage"], "trust");
        assert_eq!(last["code"], "trust_blocked");
        assert_eq!(last["rule"], "trust:block");
        assert_eq!(
            last["message"],
            "the trust score of agent:support-bot is 199, below `[trust] block_below` (200)"
        );
        assert!(d["obligations"].as_array().unwrap().is_empty());
    }
    // At the threshold itself the principal is reviewed, not blocked.
    let (tool, args) = read();
    assert_eq!(decide(&s, tool, args, Some(200), Some(700))["decision"], "allow");
}

#[test]
fn a_provider_below_block_below_blocks_its_tools_only() {
    let s = gated("[trust]\n");
    let (tool, args) = read();
    let d = decide(&s, tool, args, Some(700), Some(150));
    assert_eq!(d["decision"], "deny");
    assert_eq!(
        d["reasons"].as_array().unwrap().last().unwrap()["message"],
        "the trust score of provider `helpdesk` is 150, below `[trust] block_below` (200)"
    );
}

#[test]
fn below_review_below_writes_and_irreversible_calls_are_held() {
    let s = gated("[trust]\n");
    // Write: the floor asks for no approval here, so the trust review holds the call alone.
    let (tool, args) = write();
    let d = decide(&s, tool, args.clone(), Some(399), Some(700));
    assert_eq!(d["decision"], "hold", "{d:#}");
    assert_eq!(d["approvals_required"], 1);
    assert_eq!(d["reviewer_pool"], "support-leads");
    assert_eq!(codes(&d), ["policy:permitted", "trust:trust_review"]);
    let reason = &d["reasons"][1];
    assert_eq!(reason["rule"], "trust:review");
    assert_eq!(
        reason["message"],
        "the trust score of agent:support-bot is 399, below `[trust] review_below` (400), so its `write` calls need a human's approval"
    );
    // The provider's score reviews the same way.
    let d = decide(&s, tool, args.clone(), Some(700), Some(300));
    assert_eq!(d["decision"], "hold");
    assert_eq!(codes(&d), ["policy:permitted", "trust:trust_review"]);
    // At the threshold nothing changes.
    assert_eq!(decide(&s, tool, args, Some(400), Some(400))["decision"], "allow");
    // Irreversible: the tier's two approvals with MFA stand; the review is one more reason.
    let (tool, args) = irreversible();
    let d = decide(&s, tool, args, Some(399), Some(700));
    assert_eq!(d["decision"], "hold");
    assert_eq!(
        (d["approvals_required"].clone(), d["mfa_required"].clone()),
        (json!(2), json!(true))
    );
    assert_eq!(
        codes(&d),
        [
            "policy:permitted",
            "autonomy:approval_required",
            "trust:trust_review"
        ]
    );
}

#[test]
fn reads_are_not_reviewed() {
    let s = gated("[trust]\n");
    let (tool, args) = read();
    let d = decide(&s, tool, args, Some(201), Some(201));
    assert_eq!(d["decision"], "allow", "{d:#}");
    assert_eq!(codes(&d), ["policy:permitted"]);
}

#[test]
fn a_forbid_is_judged_before_trust() {
    let s = gated("[trust]\n");
    let args = json!({ "ticket_id": "T-1", "status": "deleted" });
    let d = decide(&s, "update_ticket", args, Some(0), Some(0));
    assert_eq!(codes(&d), ["policy:forbidden"]);
}

#[test]
fn without_trust_or_without_scores_nothing_changes() {
    // No [trust]: the scores are known but the gate is off.
    let s = gated("");
    let (tool, args) = write();
    assert_eq!(
        decide(&s, tool, args.clone(), Some(0), Some(0))["decision"],
        "allow"
    );
    // [trust], but the caller keeps no scores.
    let s = gated("[trust]\n");
    assert_eq!(decide(&s, tool, args, None, None)["decision"], "allow");
}

#[test]
fn the_thresholds_are_the_bundles() {
    let s = gated("[trust]\nreview_below = 800\nblock_below = 600\n");
    let (tool, args) = write();
    assert_eq!(
        decide(&s, tool, args.clone(), Some(700), Some(900))["decision"],
        "hold"
    );
    assert_eq!(
        decide(&s, tool, args.clone(), Some(599), Some(900))["decision"],
        "deny"
    );
    assert_eq!(decide(&s, tool, args, Some(800), Some(900))["decision"], "allow");
}
