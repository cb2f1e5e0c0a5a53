//! Trust scores: their arithmetic, and the decision point's trust gate.
//!
//! A subject (an agent, a service or a provider) has a score from 0 to 1000. Events move it by
//! their weight (`[trust.events]`); between events, its distance from the bundle's `baseline`
//! halves every `half_life`:
//!
//! ```text
//! score(t) = clamp(baseline + Σ δᵢ · 2^(−(t − tᵢ) / half_life), 0, 1000)
//! ```
//!
//! The sum is kept as an [`Accumulator`] — the deviation at the time of the last event — so
//! adding an event costs the same however long the history is, and the order in which events
//! are added does not matter (replicas that learn of them in different orders agree).
//!
//! The gate ([`gate`]) runs after the autonomy boundary: below `block_below` the call is denied
//! (`trust_blocked`); below `review_below` a `write` or `irreversible` call needs at least one
//! human approval (`trust_review`). The caller gathers the scores ([`TrustScores`]) at the
//! decision's time; `decide` only compares them. A bundle without `[trust]` keeps scores but
//! gates nothing (`Trust::enforced`).

use serde::Serialize;
use tribune_bundle::{Tier, Tool, Trust};

use crate::decision::{Code, Reason, Stage};

/// The highest score.
pub const MAX_SCORE: u16 = 1000;

/// A subject's deviation from the baseline, as of `at_ms`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Accumulator {
    /// The sum of every event's weight, each decayed to `at_ms`.
    pub deviation: f64,
    /// When `deviation` was last brought up to date (the latest event's time).
    pub at_ms: i64,
}

/// `2^(−elapsed / half_life)`: how much of a deviation is left after `elapsed_ms`. Nothing
/// decays over a negative interval.
pub fn decay_factor(elapsed_ms: i64, half_life_ms: u64) -> f64 {
    if elapsed_ms <= 0 {
        return 1.0;
    }
    // INVARIANT(half-life-range): the bundle keeps the half-life at 1 s or more.
    #[allow(clippy::cast_precision_loss)]
    let halvings = elapsed_ms as f64 / half_life_ms.max(1) as f64;
    (-halvings).exp2()
}

impl Accumulator {
    /// Adds an event of weight `delta` that happened at `at_ms`. An event older than the
    /// accumulator's time is decayed to that time instead, so the result does not depend on
    /// the order events are added in.
    pub fn add(&mut self, delta: f64, at_ms: i64, half_life_ms: u64) {
        if at_ms >= self.at_ms {
            self.deviation = self.deviation * decay_factor(at_ms - self.at_ms, half_life_ms) + delta;
            self.at_ms = at_ms;
        } else {
            self.deviation += delta * decay_factor(self.at_ms - at_ms, half_life_ms);
        }
    }

    /// The deviation at `now_ms` (never later than the last event's time: no growth backwards).
    pub fn deviation_at(&self, now_ms: i64, half_life_ms: u64) -> f64 {
        self.deviation * decay_factor(now_ms - self.at_ms, half_life_ms)
    }

    /// The score at `now_ms`.
    pub fn score_at(&self, baseline: u16, now_ms: i64, half_life_ms: u64) -> u16 {
        score(baseline, self.deviation_at(now_ms, half_life_ms))
    }
}

/// `baseline + deviation`, rounded and clamped to 0–1000.
pub fn score(baseline: u16, deviation: f64) -> u16 {
    let s = (f64::from(baseline) + deviation).round();
    if s.is_nan() || s <= 0.0 {
        0
    } else if s >= f64::from(MAX_SCORE) {
        MAX_SCORE
    } else {
        // INVARIANT(score-range): strictly between 0 and 1000 here, so it fits.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = s as u16;
        n
    }
}

/// Where a score stands against the bundle's thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// At or above `review_below`: nothing changes.
    Normal,
    /// Below `review_below`: writes and irreversible calls need an approval.
    Review,
    /// Below `block_below`: calls are denied.
    Blocked,
}

impl Band {
    /// The band of `score` under `trust`'s thresholds.
    pub fn of(score: u16, trust: &Trust) -> Band {
        if score < trust.block_below {
            Band::Blocked
        } else if score < trust.review_below {
            Band::Review
        } else {
            Band::Normal
        }
    }

    /// `normal`, `review` or `blocked`.
    pub fn as_str(self) -> &'static str {
        match self {
            Band::Normal => "normal",
            Band::Review => "review",
            Band::Blocked => "blocked",
        }
    }

    /// The band written as `s`.
    pub fn parse(s: &str) -> Option<Band> {
        [Band::Normal, Band::Review, Band::Blocked]
            .into_iter()
            .find(|b| b.as_str() == s)
    }
}

/// The scores the trust gate compares, as the caller computed them at the decision's time.
/// `None` where the caller keeps no score (the gate then lets the call pass).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrustScores {
    /// The calling agent's or service's score.
    pub principal: Option<u16>,
    /// The score of the tool's provider.
    pub provider: Option<u16>,
}

/// The trust stage. `Err` denies the call; `Ok(Some(reason))` holds it for at least one human
/// approval; `Ok(None)` lets it go on.
pub(crate) fn gate(
    trust: &Trust,
    scores: TrustScores,
    tool: &Tool,
    principal: &str,
) -> Result<Option<Reason>, crate::Denial> {
    if !trust.enforced {
        return Ok(None);
    }
    // Named only when a threshold trips: the common case allocates nothing.
    let who = |principal_side: bool| {
        if principal_side {
            principal.to_owned()
        } else {
            format!("provider `{}`", tool.provider)
        }
    };
    let subjects = [(scores.principal, true), (scores.provider, false)];
    for &(score, side) in &subjects {
        if let Some(s) = score
            && s < trust.block_below
        {
            return Err((
                Stage::Trust,
                Code::TrustBlocked,
                Some("trust:block".to_owned()),
                format!(
                    "the trust score of {} is {s}, below `[trust] block_below` ({})",
                    who(side),
                    trust.block_below
                ),
            ));
        }
    }
    if tool.tier < Tier::Write {
        return Ok(None);
    }
    for &(score, side) in &subjects {
        if let Some(s) = score
            && s < trust.review_below
        {
            return Ok(Some(Reason {
                stage: Stage::Trust,
                code: Code::TrustReview,
                rule: Some("trust:review".to_owned()),
                message: format!(
                    "the trust score of {} is {s}, below `[trust] review_below` ({}), so its `{}` \
                     calls need a human's approval",
                    who(side),
                    trust.review_below,
                    tool.tier
                ),
            }));
        }
    }
    Ok(None)
}
