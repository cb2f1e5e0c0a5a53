//! The named checks a mandate requirement (or a threat control) runs over a bundle.
//!
//! A pack names a check and its parameters (`{ check = "retention_at_least", events =
//! ["decision"], classification = "phi", days = 2190 }`); [`Check`] is that closed set, so a pack
//! naming a check that does not exist fails to load. Static checks read only the bundle's
//! declarations and report each gap where it is written. Evidence checks need what happened at
//! run time (the ledger, drills, reviews): a static run reports them as not assessed, never as
//! met.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tribune_bundle::{Bundle, EventClass, Id, Location, Tier, TierRule};

/// One named check and its parameters, as a pack writes it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "check", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// Payloads of `events` (about data of `classification` and every more sensitive level,
    /// when given) are kept at least `days`. No rule means kept forever, which passes.
    RetentionAtLeast {
        /// The event classes.
        events: Vec<EventClass>,
        /// The least sensitive level the check covers; `None`: the events' general rules.
        #[serde(default)]
        classification: Option<String>,
        /// The minimum, in days.
        days: u32,
    },
    /// The classification scale has `level`, so activity on such data can be told apart.
    ClassificationDeclared {
        /// The level, e.g. `phi`.
        level: String,
    },
    /// Every human in one of the `who` groups has a `name` or an `email`, so records of what
    /// they did identify a person.
    HumansIdentifiable {
        /// Which humans.
        who: Vec<Who>,
    },
    /// At least `min` humans hold `role`.
    RoleHeld {
        /// The role, e.g. `auditor`.
        role: String,
        /// How many.
        #[serde(default = "one")]
        min: u32,
    },
    /// Some human holds `role` without also holding `from` (separation of duties).
    RoleIndependent {
        /// The role that must be held independently, e.g. `auditor`.
        role: String,
        /// The role it must be independent of, e.g. `admin`.
        from: String,
    },
    /// At least `min` humans hold stop authority (one stops; resuming takes two).
    StopAuthorityHeld {
        /// How many.
        min: u32,
    },
    /// Every caller that may make `tier` calls (each class whose ceiling reaches it, and each
    /// service scoped to such a tool, which follows the floor) needs at least `approvals`
    /// distinct approvals, with MFA when `mfa`.
    TierApprovals {
        /// The tier.
        tier: Tier,
        /// The least number of distinct approvals.
        approvals: u32,
        /// Whether each approval must carry MFA.
        #[serde(default)]
        mfa: bool,
    },
    /// Every tier listed in `[compliance] two_person_tiers` needs two distinct approvals from
    /// every caller that may make such calls, and its tools' reviewer pools have two members.
    TwoPersonMarked,
    /// Every tool whose calls may be held names a reviewer pool with enough members to approve
    /// or refuse them.
    HeldToolsReviewable,
    /// `[compliance] activity_review_days` is declared and at most `max_days`.
    ActivityReviewDeclared {
        /// The longest allowed interval between reviews.
        max_days: u32,
    },
    /// No retention rule deletes payloads before the next declared activity review.
    RetentionCoversReview,
    /// Every class that has agents bounds their calls per minute.
    QuotasDeclared,
    /// DLP findings of `classification` (and every more sensitive level) are redacted, held or
    /// denied; without a classification, at least one level is.
    DlpEnforced {
        /// The least sensitive level that must be enforced.
        #[serde(default)]
        classification: Option<String>,
    },
    /// At least one DLP detector runs.
    DlpDetectorsEnabled,
    /// Every declared thing of the given kinds says what it is (`description`).
    InventoryDescribed {
        /// Which kinds.
        kinds: Vec<Inventory>,
    },
    /// Every tool declares its arguments' JSON Schema, so calls are validated before policy.
    InputSchemasDeclared,
    /// Vetting is required (`[vetting] required` is not `false`) and every provider declares
    /// its due diligence in the bundle (`[providers.ID.vetting]`) with a verdict other than
    /// `rejected`. (Expiry is judged at each decision, with the clock; this check has none.)
    ProvidersVetted,
    /// `[hitl] reviewer_capacity` is declared: the queue is capped by what this deployment's
    /// reviewers can carry, not by a default.
    HitlCapacityDeclared,
    /// Decisions accept only short-lived credentials (`[identities] require_credentials`).
    CredentialsRequired,
    /// No credential may live longer than `secs` (`[identities] max_credential_ttl_secs`).
    CredentialTtlAtMost {
        /// The longest lifetime, in seconds.
        secs: u32,
    },
    /// Registration secrets are rotated within `days`, grace included, for services and every
    /// class.
    RotationAtMost {
        /// The longest rotation period, in days.
        days: u32,
    },
    /// Identities' scopes are reviewed within `days`, grace included, for services and every
    /// class.
    IdentityReviewAtMost {
        /// The longest review period, in days.
        days: u32,
    },
    /// Identities unused for `days` are reported stale, for services and every class.
    StaleAtMost {
        /// The longest idle period, in days.
        days: u32,
    },
    /// Identities created at run time need a human's approval (`[identities] require_approval`).
    IdentityApprovalRequired,
    /// `[redteam] cadence_days` is declared and at most `max_days`: the deployment commits to
    /// replaying adversarial scenarios on a schedule.
    RedteamCadenceDeclared {
        /// The longest allowed cadence.
        max_days: u32,
    },
    /// Evidence: the ledger verifies against its signed checkpoints.
    LedgerVerifies,
    /// Evidence: the declared activity review happened within its interval.
    ActivityReviewed,
    /// Evidence: an emergency-stop drill happened within `days`.
    StopDrillWithin {
        /// The drill cadence, in days.
        days: u32,
    },
    /// Evidence: no identity is past its review.
    IdentitiesReviewed,
    /// Evidence: a red-team run (`tribune redteam run --server`) passed within `days`.
    RedteamWithin {
        /// The red-team cadence, in days.
        days: u32,
    },
}

fn one() -> u32 {
    1
}

/// Groups of humans a check can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Who {
    /// Members of any reviewer pool.
    Approvers,
    /// Holders of stop authority.
    StopAuthority,
    /// Owners of agents and services.
    Owners,
}

/// Kinds of declared things an inventory check can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Inventory {
    /// `[agents.*]`.
    Agents,
    /// `[classes.*]`.
    Classes,
    /// `[services.*]`.
    Services,
    /// `[providers.*]`.
    Providers,
    /// `[tools.*]`.
    Tools,
}

/// What a check reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The bundle's declarations only.
    Static,
    /// What happened at run time; assessed by `tribune report`, not by `tribune check`.
    Evidence,
}

/// One gap a check found, where it is written.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Gap {
    /// Where the declaration at fault is, or the mandate's entry when what is missing has no
    /// place of its own.
    pub location: Location,
    /// A lowercase sentence; bundle names in backticks.
    pub message: String,
}

/// The result of running one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The bundle meets it.
    Met,
    /// The bundle does not; every gap found.
    Gaps(Vec<Gap>),
    /// It needs runtime evidence; what it would look for.
    NotAssessed(&'static str),
}

/// What a check runs against: the bundle, where to point at for gaps that have no
/// declaration of their own (the mandate's entry in `[compliance] mandates`), and whatever
/// runtime evidence the caller read.
pub(crate) struct Cx<'a> {
    pub bundle: &'a Bundle,
    pub anchor: &'a Location,
    pub evidence: &'a Evidence,
}

/// Runtime evidence the caller read (from a running server), for the evidence checks that can
/// be assessed from it. An evidence check without its evidence stays not assessed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Emergency-stop drills, for `stop_drill_within`.
    pub stop_drills: Option<DrillEvidence>,
    /// The ledger, verified against its signed checkpoints, for `ledger_verifies`.
    pub ledger: Option<LedgerEvidence>,
    /// The agent and service identities a server holds, for `identities_reviewed`.
    pub identities: Option<IdentityEvidence>,
    /// Red-team runs, for `redteam_within`.
    pub redteam: Option<RedteamEvidence>,
    /// Activity reviews, for `activity_reviewed`.
    pub reviews: Option<ReviewEvidence>,
}

impl Evidence {
    /// No runtime evidence: what a static run has.
    pub const NONE: Evidence = Evidence {
        stop_drills: None,
        ledger: None,
        identities: None,
        redteam: None,
        reviews: None,
    };
}

/// The activity reviews a server recorded (`tribune audit review`), as of `now_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewEvidence {
    /// Where they were read (the server's url).
    pub source: String,
    /// The latest review, if any: when it was recorded (milliseconds since the Unix epoch),
    /// that time as the caller prints it, who reviewed, and the size of the signed checkpoint
    /// it rests on.
    pub last: Option<LastReview>,
    /// When the evidence was read (milliseconds since the Unix epoch; this crate reads no clock).
    pub now_ms: i64,
}

/// The latest activity review.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastReview {
    /// When it was recorded (milliseconds since the Unix epoch).
    pub at_ms: i64,
    /// That time as the caller prints it.
    pub at: String,
    /// Who reviewed (`human:ID`).
    pub by: String,
    /// The size of the signed checkpoint the reviewer verified the ledger against.
    pub checkpoint_size: u64,
}

impl ReviewEvidence {
    /// Whether the ledger's activity was reviewed within `days`: `Ok` with what shows it,
    /// `Err` with the gap.
    fn within(&self, days: u32) -> Result<String, String> {
        let source = &self.source;
        let Some(last) = &self.last else {
            return Err(format!(
                "no activity review is recorded (reviews read from `{source}`); the ledger's activity must be reviewed at least every {days} days (`tribune audit review`)"
            ));
        };
        let ago = self.now_ms.saturating_sub(last.at_ms).max(0) / DAY_MS;
        let (at, by, size) = (&last.at, &last.by, last.checkpoint_size);
        if self.now_ms.saturating_sub(last.at_ms) <= i64::from(days) * DAY_MS {
            Ok(format!(
                "{by} reviewed the ledger's activity at {at} ({ago} day(s) ago, within {days}), up to the signed checkpoint of {size} entries (read from `{source}`)"
            ))
        } else {
            Err(format!(
                "the last activity review was at {at} by {by}, {ago} days ago (read from `{source}`); the ledger's activity must be reviewed at least every {days} days"
            ))
        }
    }
}

/// The red-team runs a server recorded that count for one bundle, as of `now_ms`: only passed
/// runs of the built-in suite for the bundle's deployment against exactly that bundle (by
/// hash). A run of any other suite, or against another bundle, is no evidence for it: an admin
/// chooses the suite a run replays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedteamEvidence {
    /// Where they were read (the server's url).
    pub source: String,
    /// The hash of the bundle being assessed.
    pub bundle_hash: String,
    /// The latest passed run of the built-in suite against that bundle, if any: when it ran
    /// (milliseconds since the Unix epoch), and that time as the caller prints it.
    pub last_passed: Option<(i64, String)>,
    /// That run's suite: its name and the SHA-256 of its text.
    pub suite: Option<(String, String)>,
    /// When the evidence was read (milliseconds since the Unix epoch; this crate reads no clock).
    pub now_ms: i64,
}

impl RedteamEvidence {
    /// Whether a red-team run passed within `days`: `Ok` with what shows it, `Err` with the gap.
    fn within(&self, days: u32) -> Result<String, String> {
        let source = &self.source;
        let bundle = &self.bundle_hash;
        let Some((at_ms, at)) = &self.last_passed else {
            return Err(format!(
                "no run of the built-in red-team suite has passed against bundle `{bundle}` (runs read from `{source}`); one must pass at least every {days} days (`tribune redteam run --server URL`)"
            ));
        };
        let suite = match &self.suite {
            Some((name, sha256)) => format!("the built-in suite `{name}` (sha256 `{sha256}`)"),
            None => "the built-in suite".to_owned(),
        };
        let ago = self.now_ms.saturating_sub(*at_ms).max(0) / DAY_MS;
        if self.now_ms.saturating_sub(*at_ms) <= i64::from(days) * DAY_MS {
            Ok(format!(
                "a red-team run of {suite} passed against bundle `{bundle}` at {at} ({ago} day(s) ago, within {days}; read from `{source}`)"
            ))
        } else {
            Err(format!(
                "the last red-team run of {suite} that passed against bundle `{bundle}` was at {at}, {ago} days ago (read from `{source}`); one must pass at least every {days} days"
            ))
        }
    }
}

/// The emergency-stop drills a server recorded, as of `now_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrillEvidence {
    /// Where they were read (the server's url).
    pub source: String,
    /// The latest drill that passed, if any did: when it started (milliseconds since the Unix
    /// epoch), and that time as the caller prints it.
    pub last_passed: Option<(i64, String)>,
    /// When the evidence was read (milliseconds since the Unix epoch; this crate reads no clock).
    pub now_ms: i64,
}

const DAY_MS: i64 = 86_400_000;

impl DrillEvidence {
    /// Whether a drill passed within `days`: `Ok` with what shows it, `Err` with the gap.
    fn within(&self, days: u32) -> Result<String, String> {
        let source = &self.source;
        let Some((at_ms, at)) = &self.last_passed else {
            return Err(format!(
                "no emergency-stop drill has passed (drills read from `{source}`); one must pass at least every {days} days (`tribune drill stop SCOPE`)"
            ));
        };
        let ago = self.now_ms.saturating_sub(*at_ms).max(0) / DAY_MS;
        if self.now_ms.saturating_sub(*at_ms) <= i64::from(days) * DAY_MS {
            Ok(format!(
                "an emergency-stop drill passed at {at} ({ago} day(s) ago, within {days}; read from `{source}`)"
            ))
        } else {
            Err(format!(
                "the last emergency-stop drill that passed was at {at}, {ago} days ago (read from `{source}`); one must pass at least every {days} days"
            ))
        }
    }
}

/// The ledger a server holds, verified by the caller against its signed checkpoints (every
/// payload against its leaf hash, the tree against each checkpoint's root, each checkpoint's
/// signature and its consistency with the one before), as `tribune audit verify` does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LedgerEvidence {
    /// Where it was read (the server's url).
    pub source: String,
    /// The key the checkpoints were verified with, in signed-note verifier format.
    pub key: String,
    /// Whether the caller supplied the key (`--ledger-key`) rather than taking the one the
    /// server publishes.
    pub key_pinned: bool,
    /// What the verification found.
    pub verification: LedgerVerification,
}

/// The outcome of verifying a ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LedgerVerification {
    /// Every entry and checkpoint verified.
    Verified(VerifiedLedger),
    /// The ledger has no signed checkpoint, so nothing in it is proven.
    Unsigned {
        /// Entries in the log.
        entries: u64,
    },
    /// Verification failed.
    Failed {
        /// Why, naming the first bad entry where the verifier could.
        reason: String,
    },
}

/// What a successful verification established.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VerifiedLedger {
    /// Entries in the log.
    pub entries: u64,
    /// Entries whose payload retention deleted (their leaf hashes still verified).
    pub pruned: u64,
    /// Signed checkpoints verified.
    pub checkpoints: u64,
    /// The newest verified checkpoint: entries `0..size` rest on it.
    pub checkpoint: CheckpointEvidence,
}

/// One signed checkpoint, as the evidence names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointEvidence {
    /// The log's origin line.
    pub origin: String,
    /// The tree size it signs.
    pub size: u64,
    /// The root hash it signs (base64, as in the note).
    pub root: String,
    /// When the server signed it (milliseconds since the Unix epoch, as the server recorded
    /// it: the note itself carries no time), and that time as the caller prints it.
    pub signed_at: Option<(i64, String)>,
}

/// The agent and service identities a server holds, as of `now_ms`, judged here against the
/// review terms of the bundle being assessed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdentityEvidence {
    /// Where they were read (the server's url).
    pub source: String,
    /// Every identity that is not decommissioned.
    pub identities: Vec<IdentityReview>,
    /// When the evidence was read (milliseconds since the Unix epoch).
    pub now_ms: i64,
}

/// What a review audit needs to know about one identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IdentityReview {
    /// The registry id, e.g. `agent:summariser-1`.
    pub id: String,
    /// Its agent class, whose lifecycle terms apply instead of `[identities]`'.
    pub class: Option<String>,
    /// When it was created (milliseconds since the Unix epoch).
    pub created_at_ms: i64,
    /// When it was last reviewed, if ever, and that time as the caller prints it.
    pub last_reviewed: Option<(i64, String)>,
}

impl LedgerEvidence {
    /// Whether the ledger verified: `Ok` with what shows it, `Err` with the gap.
    fn verifies(&self) -> Result<String, String> {
        let source = &self.source;
        match &self.verification {
            LedgerVerification::Verified(v) => {
                let c = &v.checkpoint;
                let at = c
                    .signed_at
                    .as_ref()
                    .map(|(_, at)| format!(", signed at {at}"))
                    .unwrap_or_default();
                let key = if self.key_pinned {
                    "the pinned verifier key"
                } else {
                    "the verifier key the server publishes (not pinned)"
                };
                Ok(format!(
                    "the ledger verified: {} entries ({} pruned), {} signed checkpoint(s); entries 0..{} rest on checkpoint `{}` size {} root {}{at}, checked with {key} `{}` (read from `{source}`)",
                    v.entries,
                    v.pruned,
                    v.checkpoints,
                    c.size,
                    c.origin,
                    c.size,
                    c.root,
                    key_name(&self.key)
                ))
            }
            LedgerVerification::Unsigned { entries } => Err(format!(
                "the ledger on `{source}` has {entries} entries and no signed checkpoint, so none of them is proven"
            )),
            LedgerVerification::Failed { reason } => Err(format!(
                "the ledger on `{source}` does not verify against its signed checkpoints: {reason}"
            )),
        }
    }
}

/// The key's name: a verifier key is `name+hash+key`.
fn key_name(key: &str) -> &str {
    key.split('+').next().unwrap_or(key)
}

impl IdentityEvidence {
    /// Whether every identity is within its review term (grace included): `Ok` with what
    /// shows it, `Err` with a gap for each that is not.
    fn reviewed(&self, bundle: &Bundle) -> Result<String, Vec<String>> {
        let source = &self.source;
        let mut gaps = Vec::new();
        let (mut reviewed, mut in_grace) = (0usize, Vec::new());
        let mut last: Option<&(i64, String)> = None;
        for identity in &self.identities {
            let terms = identity
                .class
                .as_deref()
                .and_then(|c| bundle.classes.get(c))
                .map_or(&bundle.identities.lifecycle, |c| &c.lifecycle);
            let Some(days) = terms.review_days else {
                gaps.push(format!(
                    "identity `{}` (read from `{source}`) has no review term (`review_days`), so nothing shows it was ever reviewed",
                    identity.id
                ));
                continue;
            };
            let policy = tribune_identity::Lifecycle {
                review_days: Some(days),
                review_grace_days: terms.review_grace_days,
                ..tribune_identity::Lifecycle::default()
            };
            let facts = tribune_identity::IdentityFacts {
                id: identity.id.clone(),
                created_at_ms: identity.created_at_ms,
                secret_rotated_at_ms: identity.created_at_ms,
                last_used_at_ms: None,
                last_reviewed_at_ms: identity.last_reviewed.as_ref().map(|(at, _)| *at),
            };
            if let Some((at, _)) = &identity.last_reviewed {
                reviewed += 1;
                if last.is_none_or(|(l, _)| at > l) {
                    last = identity.last_reviewed.as_ref();
                }
            }
            let since = match &identity.last_reviewed {
                Some((_, at)) => format!("last reviewed at {at}"),
                None => "never reviewed since it was created".to_owned(),
            };
            for f in tribune_identity::audit(&facts, &policy, self.now_ms) {
                let ago = self.now_ms.saturating_sub(f.due_at_ms).max(0) / DAY_MS;
                match f.kind {
                    tribune_identity::FindingKind::ReviewExpired => gaps.push(format!(
                        "identity `{}` is past its review and its grace: due {ago} day(s) ago ({since}; review every {days} days, {} days' grace; read from `{source}`)",
                        identity.id, terms.review_grace_days
                    )),
                    tribune_identity::FindingKind::ReviewOverdue => in_grace.push(identity.id.as_str()),
                    _ => {}
                }
            }
        }
        if !gaps.is_empty() {
            return Err(gaps);
        }
        let n = self.identities.len();
        let last = last.map_or(String::new(), |(_, at)| format!("; latest review at {at}"));
        let grace = if in_grace.is_empty() {
            String::new()
        } else {
            format!(
                "; in their grace period, to be reviewed now: `{}`",
                in_grace.join("`, `")
            )
        };
        Ok(format!(
            "{n} agent or service identit{} within {} review term{}; {reviewed} reviewed at least once{last}{grace} (read from `{source}`)",
            if n == 1 { "y is" } else { "ies are" },
            if n == 1 { "its" } else { "their" },
            if n == 1 { "" } else { "s" },
        ))
    }
}

impl Cx<'_> {
    fn at_anchor(&self, message: String) -> Gap {
        Gap {
            location: self.anchor.clone(),
            message,
        }
    }
}

impl Check {
    /// Whether the check reads the bundle or runtime evidence.
    pub fn kind(&self) -> Kind {
        match self {
            Check::LedgerVerifies
            | Check::ActivityReviewed
            | Check::StopDrillWithin { .. }
            | Check::IdentitiesReviewed
            | Check::RedteamWithin { .. } => Kind::Evidence,
            _ => Kind::Static,
        }
    }

    /// Runs the check over `bundle`; a gap with no declaration of its own points at `anchor`.
    pub fn assess(&self, bundle: &Bundle, anchor: &Location) -> Outcome {
        self.run(&Cx {
            bundle,
            anchor,
            evidence: &Evidence::NONE,
        })
    }

    /// What the runtime evidence in `cx` shows for this check when it is met (for the report),
    /// if the check read any.
    pub(crate) fn evidence_shown(&self, cx: &Cx<'_>) -> Option<String> {
        let e = cx.evidence;
        match self {
            Check::StopDrillWithin { days } => e.stop_drills.as_ref()?.within(*days).ok(),
            Check::LedgerVerifies => e.ledger.as_ref()?.verifies().ok(),
            Check::IdentitiesReviewed => e.identities.as_ref()?.reviewed(cx.bundle).ok(),
            Check::RedteamWithin { days } => e.redteam.as_ref()?.within(*days).ok(),
            Check::ActivityReviewed => {
                let days = cx.bundle.compliance.activity_review_days.as_ref()?.value;
                e.reviews.as_ref()?.within(days).ok()
            }
            _ => None,
        }
    }

    /// Runs the check over `cx.bundle`.
    pub(crate) fn run(&self, cx: &Cx<'_>) -> Outcome {
        let gaps = match self {
            Check::RetentionAtLeast {
                events,
                classification,
                days,
            } => retention_at_least(cx, events, classification.as_deref(), *days),
            Check::ClassificationDeclared { level } => match levels_from(cx.bundle, level) {
                Some(_) => Vec::new(),
                None => vec![missing_level(cx, level)],
            },
            Check::HumansIdentifiable { who } => humans_identifiable(cx, who),
            Check::RoleHeld { role, min } => role_held(cx, role, *min),
            Check::RoleIndependent { role, from } => role_independent(cx, role, from),
            Check::StopAuthorityHeld { min } => {
                let n = cx.bundle.humans.values().filter(|h| h.stop_authority).count();
                if n < *min as usize {
                    vec![cx.at_anchor(format!(
                        "{n} human(s) hold stop authority; at least {min} are required (one to stop an agent, two distinct holders to resume it)"
                    ))]
                } else {
                    Vec::new()
                }
            }
            Check::TierApprovals {
                tier,
                approvals,
                mfa,
            } => tier_approvals(cx, *tier, *approvals, *mfa, None),
            Check::TwoPersonMarked => two_person_marked(cx),
            Check::HeldToolsReviewable => held_tools_reviewable(cx),
            Check::ActivityReviewDeclared { max_days } => activity_review_declared(cx, *max_days),
            Check::RetentionCoversReview => retention_covers_review(cx),
            Check::QuotasDeclared => quotas_declared(cx),
            Check::DlpEnforced { classification } => dlp_enforced(cx, classification.as_deref()),
            Check::DlpDetectorsEnabled => {
                if cx.bundle.dlp.detectors.is_empty() {
                    vec![cx.at_anchor(
                        "no DLP detector runs (`[dlp] detectors = []` and no `[[dlp.patterns]]`), so no tool argument or result is scanned".to_owned(),
                    )]
                } else {
                    Vec::new()
                }
            }
            Check::InventoryDescribed { kinds } => inventory_described(cx, kinds),
            Check::InputSchemasDeclared => input_schemas_declared(cx),
            Check::ProvidersVetted => providers_vetted(cx),
            Check::HitlCapacityDeclared => match cx.bundle.hitl.reviewer_capacity_at {
                Some(_) => Vec::new(),
                None => vec![cx.at_anchor(format!(
                    "`[hitl] reviewer_capacity` is not declared: held calls are capped by the default ({} pending per reviewer), not by what this deployment's reviewers can carry",
                    cx.bundle.hitl.reviewer_capacity
                ))],
            },
            Check::CredentialsRequired => {
                if cx.bundle.identities.require_credentials {
                    Vec::new()
                } else {
                    vec![cx.at_anchor(
                        "`[identities] require_credentials` is off: decisions accept long-lived registration secrets, not only short-lived credentials".to_owned(),
                    )]
                }
            }
            Check::CredentialTtlAtMost { secs } => {
                let max = cx.bundle.identities.max_credential_ttl_secs;
                if max > *secs {
                    vec![cx.at_anchor(format!(
                        "credentials may live {max} seconds (`[identities] max_credential_ttl_secs`); at most {secs} are allowed"
                    ))]
                } else {
                    Vec::new()
                }
            }
            Check::RotationAtMost { days } => lifecycle_at_most(cx, *days, Term::Rotation),
            Check::IdentityReviewAtMost { days } => lifecycle_at_most(cx, *days, Term::Review),
            Check::StaleAtMost { days } => lifecycle_at_most(cx, *days, Term::Stale),
            Check::IdentityApprovalRequired => {
                if cx.bundle.identities.require_approval {
                    Vec::new()
                } else {
                    vec![cx.at_anchor(
                        "`[identities] require_approval` is off: identities registered at run time get credentials without a human's approval".to_owned(),
                    )]
                }
            }
            Check::RedteamCadenceDeclared { max_days } => match &cx.bundle.redteam.cadence_days {
                None => vec![cx.at_anchor(format!(
                    "`[redteam] cadence_days` is not declared: nothing commits this deployment to replaying adversarial scenarios (`tribune redteam run`) at least every {max_days} days"
                ))],
                Some(cadence) if cadence.value > *max_days => vec![Gap {
                    location: cadence.location.clone(),
                    message: format!(
                        "red-team runs are due every {} days (`[redteam] cadence_days`); at most {max_days} are allowed",
                        cadence.value
                    ),
                }],
                Some(_) => Vec::new(),
            },
            Check::LedgerVerifies => match &cx.evidence.ledger {
                None => {
                    return Outcome::NotAssessed(
                        "the ledger verifies against its signed checkpoints (`tribune audit verify`)",
                    );
                }
                Some(ledger) => match ledger.verifies() {
                    Err(gap) => vec![cx.at_anchor(gap)],
                    // A server that rewrote its log and re-signed it with a new key verifies
                    // under the key it now publishes: only a pinned key shows the log is the
                    // one it always was.
                    Ok(_) if !ledger.key_pinned => {
                        return Outcome::NotAssessed(
                            "the ledger verifies under a pinned verifier key (`--ledger-key`, from `tribune audit key` or a witness); it verified under the key the server publishes, which a server that re-signed a rewritten log would also pass",
                        );
                    }
                    Ok(_) => Vec::new(),
                },
            },
            Check::ActivityReviewed => {
                const WHAT: &str = "the ledger's activity was reviewed within `[compliance] activity_review_days` (`tribune audit review`)";
                match (&cx.evidence.reviews, &cx.bundle.compliance.activity_review_days) {
                    // Without a declared interval no review can be on time; the static
                    // `activity_review_declared` check reports the missing declaration.
                    (None, _) | (_, None) => return Outcome::NotAssessed(WHAT),
                    (Some(reviews), Some(days)) => reviews
                        .within(days.value)
                        .err()
                        .map(|gap| Gap {
                            location: days.location.clone(),
                            message: gap,
                        })
                        .into_iter()
                        .collect(),
                }
            }
            Check::StopDrillWithin { days } => match &cx.evidence.stop_drills {
                None => {
                    return Outcome::NotAssessed("an emergency-stop drill happened within its cadence");
                }
                Some(drills) => drills.within(*days).err().map(|gap| cx.at_anchor(gap)).into_iter().collect(),
            },
            Check::RedteamWithin { days } => match &cx.evidence.redteam {
                None => return Outcome::NotAssessed("a red-team run passed within its cadence"),
                Some(runs) => runs.within(*days).err().map(|gap| cx.at_anchor(gap)).into_iter().collect(),
            },
            Check::IdentitiesReviewed => match &cx.evidence.identities {
                None => return Outcome::NotAssessed("no agent or service identity is past its review"),
                Some(identities) => match identities.reviewed(cx.bundle) {
                    Ok(_) => Vec::new(),
                    Err(gaps) => gaps.into_iter().map(|g| cx.at_anchor(g)).collect(),
                },
            },
        };
        if gaps.is_empty() {
            Outcome::Met
        } else {
            Outcome::Gaps(gaps)
        }
    }
}

/// The levels of the scale from `level` up (more sensitive), or `None` when it is not on it.
fn levels_from<'b>(bundle: &'b Bundle, level: &str) -> Option<&'b [Id]> {
    let at = bundle.classifications.iter().position(|c| c.as_str() == level)?;
    bundle.classifications.get(at..)
}

fn missing_level(cx: &Cx<'_>, level: &str) -> Gap {
    let scale: Vec<&str> = cx.bundle.classifications.iter().map(Id::as_str).collect();
    cx.at_anchor(format!(
        "the classification scale ({}) has no `{level}` level, so activity on `{level}` data cannot be told apart; add it to `[data] classifications` and label the tools that touch such data",
        scale.join(" < ")
    ))
}

fn retention_at_least(
    cx: &Cx<'_>,
    events: &[EventClass],
    classification: Option<&str>,
    days: u32,
) -> Vec<Gap> {
    let levels: Vec<Option<&str>> = match classification {
        None => vec![None],
        Some(c) => match levels_from(cx.bundle, c) {
            Some(levels) => levels.iter().map(|l| Some(l.as_str())).collect(),
            None => return vec![missing_level(cx, c)],
        },
    };
    let mut gaps: Vec<Gap> = Vec::new();
    for &event in events {
        for &level in &levels {
            let Some(rule) = cx.bundle.retention_for(event, level) else {
                continue;
            };
            if rule.keep_days >= days || gaps.iter().any(|g| g.location == rule.location) {
                continue;
            }
            let what = match (&rule.classification, level) {
                (Some(c), _) => format!("`{}` events about `{c}` data are", event.as_str()),
                (None, Some(l)) => format!(
                    "`{}` events (this general rule also covers `{l}` data) are",
                    event.as_str()
                ),
                (None, None) => format!("`{}` events are", event.as_str()),
            };
            gaps.push(Gap {
                location: rule.location.clone(),
                message: format!(
                    "{what} kept only {} days; at least {days} days are required",
                    rule.keep_days
                ),
            });
        }
    }
    gaps
}

fn humans_identifiable(cx: &Cx<'_>, who: &[Who]) -> Vec<Gap> {
    let b = cx.bundle;
    let mut why: BTreeMap<&Id, BTreeSet<&'static str>> = BTreeMap::new();
    for w in who {
        match w {
            Who::Approvers => {
                for m in b.reviewer_pools.values().flat_map(|p| &p.members) {
                    why.entry(m).or_default().insert("approvals");
                }
            }
            Who::StopAuthority => {
                for h in b.humans.values().filter(|h| h.stop_authority) {
                    why.entry(&h.id).or_default().insert("stops");
                }
            }
            Who::Owners => {
                let owners = b
                    .agents
                    .values()
                    .map(|a| &a.owner)
                    .chain(b.services.values().map(|s| &s.owner));
                for o in owners {
                    why.entry(o)
                        .or_default()
                        .insert("ownership of agents or services");
                }
            }
        }
    }
    let mut gaps = Vec::new();
    for (id, what) in why {
        let Some(h) = b.humans.get(id) else { continue };
        let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
        if blank(&h.name) && blank(&h.email) {
            let what: Vec<&str> = what.into_iter().collect();
            gaps.push(Gap {
                location: h.location.clone(),
                message: format!(
                    "human `{id}` has neither `name` nor `email`, so the records of their {} identify no person",
                    what.join(" and ")
                ),
            });
        }
    }
    gaps
}

fn holds(h: &tribune_bundle::Human, role: &str) -> bool {
    h.roles.iter().any(|r| r.as_str() == role)
}

fn role_held(cx: &Cx<'_>, role: &str, min: u32) -> Vec<Gap> {
    let n = cx.bundle.humans.values().filter(|h| holds(h, role)).count();
    if n >= min as usize {
        return Vec::new();
    }
    let message = if n == 0 {
        format!("no human holds the role `{role}`")
    } else {
        format!("{n} human(s) hold the role `{role}`; at least {min} are required")
    };
    vec![cx.at_anchor(message)]
}

fn role_independent(cx: &Cx<'_>, role: &str, from: &str) -> Vec<Gap> {
    let holders: Vec<&tribune_bundle::Human> = cx.bundle.humans.values().filter(|h| holds(h, role)).collect();
    if holders.iter().any(|h| !holds(h, from)) {
        return Vec::new();
    }
    match holders.first() {
        None => vec![cx.at_anchor(format!("no human holds the role `{role}`"))],
        Some(_) => holders
            .iter()
            .map(|h| Gap {
                location: h.location.clone(),
                message: format!(
                    "human `{}` holds `{role}` and also `{from}`, and no `{role}` is independent of `{from}`",
                    h.id
                ),
            })
            .collect(),
    }
}

fn describe(rule: TierRule) -> String {
    match (rule.approvals, rule.mfa) {
        (0, _) => "no approval".to_owned(),
        (n, true) => format!("{n} approval(s) with MFA"),
        (n, false) => format!("{n} approval(s) without MFA"),
    }
}

fn describe_wanted(rule: TierRule) -> String {
    let mfa = if rule.mfa { " with MFA" } else { "" };
    format!("at least {} approval(s){mfa}", rule.approvals)
}

/// Classes whose ceiling reaches `tier`, and services scoped to a tool of `tier` (with that
/// tool), each with the rule its `tier` calls follow.
fn callers(bundle: &Bundle, tier: Tier) -> Vec<(String, &Location, TierRule)> {
    let mut out: Vec<(String, &Location, TierRule)> = bundle
        .classes
        .values()
        .filter(|c| c.ceiling >= tier)
        .map(|c| (format!("class `{}`", c.id), &c.location, c.autonomy.get(tier)))
        .collect();
    for s in bundle.services.values() {
        let tool = s
            .scopes
            .iter()
            .find(|t| bundle.tools.get(t.as_str()).is_some_and(|t| t.tier == tier));
        if let Some(tool) = tool {
            out.push((
                format!("service `{}` (through `{tool}`, under the floor)", s.id),
                &s.location,
                bundle.floor.get(tier),
            ));
        }
    }
    out
}

fn tier_approvals(cx: &Cx<'_>, tier: Tier, approvals: u32, mfa: bool, why: Option<&Location>) -> Vec<Gap> {
    let want = TierRule { approvals, mfa };
    callers(cx.bundle, tier)
        .into_iter()
        .filter(|(_, _, rule)| rule.approvals < approvals || (mfa && !rule.mfa))
        .map(|(who, location, rule)| {
            let reason = match why {
                Some(at) => {
                    format!("; `[compliance] two_person_tiers` ({at}) commits `{tier}` calls to two persons")
                }
                None => format!("; {} are required", describe_wanted(want)),
            };
            Gap {
                location: location.clone(),
                message: format!("{who} lets `{tier}` calls run with {}{reason}", describe(rule)),
            }
        })
        .collect()
}

fn two_person_marked(cx: &Cx<'_>) -> Vec<Gap> {
    let b = cx.bundle;
    let mut gaps = Vec::new();
    for marked in &b.compliance.two_person_tiers {
        let tier = marked.value;
        gaps.extend(tier_approvals(cx, tier, 2, false, Some(&marked.location)));
        for tool in b.tools.values().filter(|t| t.tier == tier) {
            let members = tool
                .reviewer_pool
                .as_ref()
                .and_then(|p| b.reviewer_pools.get(p))
                .map_or(0, |p| p.members.len());
            if members < 2 {
                gaps.push(Gap {
                    location: tool.location.clone(),
                    message: format!(
                        "tool `{}` is `{tier}`, which `[compliance] two_person_tiers` commits to two persons, but its reviewer pool has {members} member(s)",
                        tool.id
                    ),
                });
            }
        }
    }
    gaps
}

fn held_tools_reviewable(cx: &Cx<'_>) -> Vec<Gap> {
    let b = cx.bundle;
    let mut gaps = Vec::new();
    for tool in b.tools.values() {
        let needed = callers(b, tool.tier)
            .iter()
            .map(|(_, _, r)| r.approvals)
            .chain(std::iter::once(b.floor.get(tool.tier).approvals))
            .max()
            .unwrap_or(0);
        if needed == 0 {
            continue;
        }
        let pool = tool.reviewer_pool.as_ref().and_then(|p| b.reviewer_pools.get(p));
        let message = match pool {
            None => format!(
                "tool `{}` can need {needed} approval(s) but names no reviewer pool, so no human can approve or refuse its held calls",
                tool.id
            ),
            Some(p) if p.members.len() < needed as usize => format!(
                "tool `{}` can need {needed} distinct approvals but its reviewer pool `{}` has {} member(s)",
                tool.id,
                p.id,
                p.members.len()
            ),
            Some(_) => continue,
        };
        gaps.push(Gap {
            location: tool.location.clone(),
            message,
        });
    }
    gaps
}

fn activity_review_declared(cx: &Cx<'_>, max_days: u32) -> Vec<Gap> {
    match &cx.bundle.compliance.activity_review_days {
        None => vec![cx.at_anchor(
            "`[compliance] activity_review_days` is not declared, so no one is committed to reviewing the ledger's activity".to_owned(),
        )],
        Some(d) if d.value > max_days => vec![Gap {
            location: d.location.clone(),
            message: format!(
                "the ledger's activity is reviewed every {} days; at most {max_days} days between reviews are allowed",
                d.value
            ),
        }],
        Some(_) => Vec::new(),
    }
}

fn retention_covers_review(cx: &Cx<'_>) -> Vec<Gap> {
    let Some(review) = &cx.bundle.compliance.activity_review_days else {
        return Vec::new();
    };
    cx.bundle
        .retention
        .iter()
        .filter(|r| r.keep_days < review.value)
        .map(|r| Gap {
            location: r.location.clone(),
            message: format!(
                "`{}` events are deleted after {} days, before the next activity review (every {} days) could see them",
                r.event.as_str(),
                r.keep_days,
                review.value
            ),
        })
        .collect()
}

fn quotas_declared(cx: &Cx<'_>) -> Vec<Gap> {
    let b = cx.bundle;
    b.classes
        .values()
        .filter(|c| c.calls_per_minute.is_none() && b.agents.values().any(|a| a.class == c.id))
        .map(|c| Gap {
            location: c.location.clone(),
            message: format!(
                "class `{}` sets no `quota.calls_per_minute`, so a runaway agent of it is not slowed",
                c.id
            ),
        })
        .collect()
}

fn dlp_enforced(cx: &Cx<'_>, classification: Option<&str>) -> Vec<Gap> {
    use tribune_dlp::{Action, DataClass};
    let actions = cx.bundle.dlp.policy.actions();
    let action = |level: &str| actions.get(&DataClass::new(level)).copied().unwrap_or_default();
    match classification {
        None => {
            if cx
                .bundle
                .classifications
                .iter()
                .any(|l| action(l.as_str()) != Action::Allow)
            {
                Vec::new()
            } else {
                vec![cx.at_anchor(
                    "`[dlp.actions]` blocks, holds or redacts no classification, so DLP only reports what it finds".to_owned(),
                )]
            }
        }
        Some(c) => match levels_from(cx.bundle, c) {
            None => vec![missing_level(cx, c)],
            Some(levels) => levels
                .iter()
                .filter(|l| action(l.as_str()) == Action::Allow)
                .map(|l| {
                    cx.at_anchor(format!(
                        "DLP findings of `{l}` data are only reported (`[dlp.actions] {l}` is `allow`)"
                    ))
                })
                .collect(),
        },
    }
}

fn inventory_described(cx: &Cx<'_>, kinds: &[Inventory]) -> Vec<Gap> {
    let b = cx.bundle;
    let mut entries: Vec<(&str, &Id, &Option<String>, &Location)> = Vec::new();
    for kind in kinds {
        match kind {
            Inventory::Agents => {
                entries.extend(
                    b.agents
                        .values()
                        .map(|x| ("agent", &x.id, &x.description, &x.location)),
                );
            }
            Inventory::Classes => {
                entries.extend(
                    b.classes
                        .values()
                        .map(|x| ("class", &x.id, &x.description, &x.location)),
                );
            }
            Inventory::Services => {
                entries.extend(
                    b.services
                        .values()
                        .map(|x| ("service", &x.id, &x.description, &x.location)),
                );
            }
            Inventory::Providers => {
                entries.extend(
                    b.providers
                        .values()
                        .map(|x| ("provider", &x.id, &x.description, &x.location)),
                );
            }
            Inventory::Tools => {
                entries.extend(
                    b.tools
                        .values()
                        .map(|x| ("tool", &x.id, &x.description, &x.location)),
                );
            }
        }
    }
    entries
        .into_iter()
        .filter(|(_, _, d, _)| d.as_deref().is_none_or(|d| d.trim().is_empty()))
        .map(|(what, id, _, location)| Gap {
            location: location.clone(),
            message: format!("{what} `{id}` has no `description`, so the inventory does not say what it is"),
        })
        .collect()
}

fn providers_vetted(cx: &Cx<'_>) -> Vec<Gap> {
    let mut gaps = Vec::new();
    if !cx.bundle.vetting.required {
        gaps.push(cx.at_anchor(
            "`[vetting] required = false`: tools of a provider vetted nowhere may be called".to_owned(),
        ));
    }
    for p in cx.bundle.providers.values() {
        match &p.vetting {
            None => gaps.push(Gap {
                location: p.location.clone(),
                message: format!(
                    "provider `{}` declares no vetting (`[providers.{}.vetting]`), so its due diligence is not on record in the bundle",
                    p.id, p.id
                ),
            }),
            Some(v) if v.status == tribune_bundle::VettingVerdict::Rejected => gaps.push(Gap {
                location: v.location.clone(),
                message: format!(
                    "provider `{}` was rejected by `{}` on {}, yet the bundle still declares it",
                    p.id,
                    v.reviewer_actor(),
                    v.reviewed
                ),
            }),
            Some(_) => {}
        }
    }
    gaps
}

fn input_schemas_declared(cx: &Cx<'_>) -> Vec<Gap> {
    // The schema `parse` gives a tool that declares none: any object passes it.
    let undeclared = serde_json::json!({"type": "object", "properties": {}});
    cx.bundle
        .tools
        .values()
        .filter(|t| t.input_schema == undeclared)
        .map(|t| Gap {
            location: t.location.clone(),
            message: format!(
                "tool `{}` declares no `input_schema`, so any arguments pass validation",
                t.id
            ),
        })
        .collect()
}

#[derive(Clone, Copy)]
enum Term {
    Rotation,
    Review,
    Stale,
}

impl Term {
    /// The term's limit in days (grace included), and the key that sets it.
    fn limit(self, l: &tribune_bundle::Lifecycle) -> (Option<u32>, &'static str) {
        match self {
            Term::Rotation => (
                l.rotation_days.map(|d| d.saturating_add(l.rotation_grace_days)),
                "rotation_days",
            ),
            Term::Review => (
                l.review_days.map(|d| d.saturating_add(l.review_grace_days)),
                "review_days",
            ),
            Term::Stale => (l.stale_days, "stale_days"),
        }
    }

    /// What goes unchecked when the term is not set.
    fn unset(self) -> &'static str {
        match self {
            Term::Rotation => "when registration secrets must be rotated",
            Term::Review => "when identities' scopes must be reviewed",
            Term::Stale => "when an unused identity is reported stale",
        }
    }

    /// What the term allows at `d` days.
    fn allows(self, d: u32) -> String {
        match self {
            Term::Rotation => {
                format!("lets a registration secret go unrotated for {d} days (grace included)")
            }
            Term::Review => format!("lets an identity's scopes go unreviewed for {d} days (grace included)"),
            Term::Stale => format!("reports an unused identity only after {d} days"),
        }
    }
}

/// A lifecycle term for services and classes without their own (`[identities]`), and for each
/// class that sets its own.
fn lifecycle_at_most(cx: &Cx<'_>, days: u32, term: Term) -> Vec<Gap> {
    let b = cx.bundle;
    let base = &b.identities.lifecycle;
    let judge = |l: &tribune_bundle::Lifecycle, whose: &str| -> Option<String> {
        match term.limit(l) {
            (None, key) => Some(format!(
                "{whose} sets no `{key}`, so nothing says {}; at most {days} days are allowed",
                term.unset()
            )),
            (Some(d), key) if d > days => Some(format!(
                "{whose} `{key}` {}; at most {days} days are allowed",
                term.allows(d)
            )),
            _ => None,
        }
    };
    let mut gaps: Vec<Gap> = judge(base, "`[identities]`")
        .map(|m| cx.at_anchor(m))
        .into_iter()
        .collect();
    for class in b.classes.values() {
        // A class that inherits `[identities]` is judged there, once.
        if class.lifecycle == *base {
            continue;
        }
        if let Some(message) = judge(&class.lifecycle, &format!("class `{}`", class.id)) {
            gaps.push(Gap {
                location: class.location.clone(),
                message,
            });
        }
    }
    gaps
}
