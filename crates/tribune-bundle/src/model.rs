//! The validated governance model: what a bundle declares, with every reference resolved.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use serde_json::Value;

use crate::diagnostic::{Diagnostic, Location, SourceFile};
use crate::ids::{
    Classification, Destination, EventClass, Id, McpTransport, ProviderKind, Tier, VettingVerdict,
};
use crate::input::ArgRecord;

/// A loaded, valid governance bundle. Immutable once built.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// SHA-256 over every file of the bundle (hex); identifies this exact version.
    pub hash: String,
    /// The `[deployment]` table.
    pub deployment: Deployment,
    /// The deployment's autonomy floor: what each tier needs at least, for every class.
    pub floor: TierRules,
    /// Where approvals go when a tool names no reviewer pool.
    pub default_reviewer_pool: Option<Id>,
    /// The classification scale, least sensitive first.
    pub classifications: Vec<Id>,
    /// Caller-supplied request context attributes the bundle declares, by name.
    pub context: BTreeMap<String, ContextType>,
    /// Humans, by id.
    pub humans: BTreeMap<Id, Human>,
    /// Reviewer pools, by id.
    pub reviewer_pools: BTreeMap<Id, ReviewerPool>,
    /// Agent classes, by id.
    pub classes: BTreeMap<Id, AgentClass>,
    /// Agents, by id.
    pub agents: BTreeMap<Id, Agent>,
    /// Services (non-human identities that are not agents), by id.
    pub services: BTreeMap<Id, Service>,
    /// Providers of tools, by id.
    pub providers: BTreeMap<Id, Provider>,
    /// Tools, by id (the MCP tool name).
    pub tools: BTreeMap<Id, Tool>,
    /// Retention schedules for ledger payloads; an event no rule covers is kept forever.
    pub retention: Vec<RetentionRule>,
    /// The human-in-the-loop program's lifetimes, workload limits and notifications.
    pub hitl: Hitl,
    /// The DLP detectors over tool arguments and results, compiled, and the action per class.
    pub dlp: Dlp,
    /// The mandates `tribune check` assesses the bundle against (`[compliance]`).
    pub compliance: Compliance,
    /// Credentials of agents and services and the lifecycle of their identities.
    pub identities: Identities,
    /// Human sign-in through an OpenID Connect identity provider, if configured.
    pub oidc: Option<Oidc>,
    /// Trust scores: baseline, half-life, thresholds and event weights (`[trust]`).
    pub trust: Trust,
    /// Emergency-stop drills: their cadence and the scopes that may be drilled (`[drills]`).
    pub drills: Drills,
    /// The red-team program: how often the red-team suite must pass (`[redteam]`).
    pub redteam: Redteam,
    /// Incident response: the triggers that open an incident and the containment each runs.
    pub incidents: Incidents,
    /// Third-party due diligence (`[vetting]`).
    pub vetting: Vetting,
    /// The taint memory's bounds (`[taint]`); which tools are untrusted is on each tool.
    pub taint: Taint,
    /// The manifest, `tribune.toml`.
    pub manifest: SourceFile,
    /// `policies/*.cedar`, sorted by path.
    pub policy_files: Vec<SourceFile>,
    /// Warnings found while loading (the bundle is still valid).
    pub findings: Vec<Diagnostic>,
}

/// The `[vetting]` table. By default (and with `required = true`) calls to tools of a provider
/// with no vetting record, declared in the bundle or recorded at run time, are denied; only
/// `required = false` lets them run. A rejected, expired or probation record applies either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vetting {
    /// Whether calls to tools of a provider with no vetting record are denied.
    pub required: bool,
}

impl Default for Vetting {
    fn default() -> Vetting {
        Vetting { required: true }
    }
}

/// A provider's due-diligence record as the bundle declares it (`[providers.ID.vetting]`), so
/// it is reviewed in git like the rest of the bundle. It is dated by `reviewed`; a vetting
/// recorded at run time after that date supersedes it (see the server's provider view).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredVetting {
    /// The verdict.
    pub status: VettingVerdict,
    /// The human who reviewed the provider (a declared human).
    pub reviewer: Id,
    /// The day of the review.
    pub reviewed: time::Date,
    /// The day the record lapses: it holds until 00:00 UTC that day.
    pub expires: time::Date,
    /// The reviewer's notes.
    pub notes: Option<String>,
    /// Where it is declared.
    pub location: Location,
}

impl DeclaredVetting {
    /// When it was reviewed: 00:00 UTC on `reviewed`, in milliseconds since the Unix epoch.
    pub fn reviewed_at_ms(&self) -> i64 {
        day_start_ms(self.reviewed)
    }

    /// When it lapses: 00:00 UTC on `expires`, in milliseconds since the Unix epoch.
    pub fn expires_at_ms(&self) -> i64 {
        day_start_ms(self.expires)
    }

    /// The reviewer as run-time records name actors: `human:ID`.
    pub fn reviewer_actor(&self) -> String {
        format!("human:{}", self.reviewer)
    }
}

fn day_start_ms(day: time::Date) -> i64 {
    day.midnight().assume_utc().unix_timestamp() * 1000
}

/// The `[taint]` table: the bounds of the memory of values seen in untrusted tools' results
/// (the server keeps it, per session). Applies only when some tool is untrusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taint {
    /// The most values remembered per session; older ones are forgotten first.
    pub max_values: NonZeroU32,
    /// The most sessions remembered at once.
    pub max_sessions: NonZeroU32,
    /// Seconds a remembered value stays tainting after it was last seen.
    pub ttl_secs: NonZeroU32,
}

impl Taint {
    /// The defaults: 1,024 values per session, 10,000 sessions, a day.
    pub const DEFAULT: Taint = Taint {
        max_values: nz(1024),
        max_sessions: nz(10_000),
        ttl_secs: nz(86_400),
    };
}

impl Default for Taint {
    fn default() -> Taint {
        Taint::DEFAULT
    }
}

/// The `[hitl]` table: how long approval requests and approvals live, how much reviewers may
/// be asked to carry, how long a caller may wait for a verdict, and where notifications go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hitl {
    /// Seconds a request stays pending before it expires (which denies the call).
    pub expiry_secs: NonZeroU32,
    /// Seconds an approval stays usable once given; the matching call is allowed once within it.
    pub approval_valid_for_secs: NonZeroU32,
    /// The most pending requests one reviewer may be assigned at a time.
    pub reviewer_capacity: NonZeroU32,
    /// The most pending requests one agent (or service) may have at a time.
    pub agent_pending_cap: NonZeroU32,
    /// The most new requests one reviewer pool accepts in any 60 seconds.
    pub pool_rate_per_minute: NonZeroU32,
    /// The longest a caller may wait for a verdict, inline in a decision or by long-polling a
    /// request, in seconds (0: no waiting).
    pub max_wait_secs: u32,
    /// Where request notifications are sent, if anywhere.
    pub webhook: Option<Webhook>,
    /// Where `reviewer_capacity` is written (`None`: the default applies, not a figure the
    /// deployment declared for its reviewers).
    pub reviewer_capacity_at: Option<Location>,
}

/// Builds a `NonZeroU32` from a literal in a const context.
const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(v) => v,
        // INVARIANT(nonzero-defaults): only called below with non-zero literals, at compile time.
        None => NonZeroU32::MIN,
    }
}

impl Hitl {
    /// The defaults of a bundle without a `[hitl]` table.
    pub const DEFAULT: Hitl = Hitl {
        expiry_secs: nz(15 * 60),
        approval_valid_for_secs: nz(5 * 60),
        reviewer_capacity: nz(25),
        agent_pending_cap: nz(10),
        pool_rate_per_minute: nz(60),
        max_wait_secs: 30,
        webhook: None,
        reviewer_capacity_at: None,
    };
}

impl Default for Hitl {
    fn default() -> Self {
        Hitl::DEFAULT
    }
}

/// The `[trust]` table: trust scores of agents, services and providers (0–1000), moved by
/// events and decaying toward `baseline` with a half-life, and the thresholds at which a low
/// score makes calls need approval or denies them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trust {
    /// Whether the bundle declares `[trust]`. Without it, scores are kept and shown with these
    /// defaults, but the decision point's trust gate does not act on them.
    pub enforced: bool,
    /// The score every subject starts at and decays back to.
    pub baseline: u16,
    /// How long it takes a score's distance from `baseline` to halve, in milliseconds.
    pub half_life_ms: u64,
    /// Below this score, every `write` or `irreversible` call needs at least one approval.
    pub review_below: u16,
    /// Below this score, the principal's calls (or calls to the provider's tools) are denied.
    pub block_below: u16,
    /// How much each kind of event moves a score.
    pub events: TrustEvents,
}

/// `[trust.events]`: how much one event of each kind moves a score (negative lowers it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustEvents {
    /// A call allowed (to the principal).
    pub allowed: i32,
    /// A call denied by a `forbid` rule (to the principal).
    pub forbidden: i32,
    /// A call denied by a `forbid` rule (to the tool's provider).
    pub provider_forbidden: i32,
    /// A call denied or held by data governance (to the principal).
    pub dlp: i32,
    /// A human denied the principal's held call.
    pub approval_refused: i32,
    /// A red-team scenario failed against the subject.
    pub redteam_failure: i32,
    /// An incident was opened against the subject.
    pub incident: i32,
}

impl Trust {
    /// The defaults of a bundle without a `[trust]` table (which is not enforced).
    pub const DEFAULT: Trust = Trust {
        enforced: false,
        baseline: 700,
        half_life_ms: 24 * 3_600_000,
        review_below: 400,
        block_below: 200,
        events: TrustEvents {
            allowed: 1,
            forbidden: -25,
            provider_forbidden: -5,
            dlp: -50,
            approval_refused: -75,
            redteam_failure: -100,
            incident: -200,
        },
    };
}

impl Default for Trust {
    fn default() -> Self {
        Trust::DEFAULT
    }
}

/// The `[dlp]` table: which detectors scan tool arguments and results, the data class each
/// reports, and what to do per class.
#[derive(Clone, Debug)]
pub struct Dlp {
    /// The enabled built-ins, then the declared patterns, in the scanner's priority order.
    pub detectors: Vec<tribune_dlp::Detector>,
    /// `detectors` compiled into one automaton, once per load of the bundle.
    pub scanner: tribune_dlp::Scanner,
    /// The action per data class (`[dlp.actions]`; an undeclared class is allowed, reported only).
    pub policy: tribune_dlp::Policy,
    /// The farthest each data class may go (`[dlp.flows]`): a class mapped to
    /// [`Destination::Internal`] may be sent only to tools of internal providers. A class not
    /// listed may go anywhere.
    pub flows: BTreeMap<tribune_dlp::DataClass, Destination>,
    /// The declared patterns (`[[dlp.patterns]]`), as written.
    pub patterns: Vec<DlpPattern>,
}

impl Dlp {
    /// Whether data of `class` may be sent to a provider whose destination is `to`.
    pub fn may_flow(&self, class: &tribune_dlp::DataClass, to: Destination) -> bool {
        !(to == Destination::External && self.flows.get(class) == Some(&Destination::Internal))
    }

    /// Whether some class may not go to `to` at all, so arguments going there must be scanned
    /// for flows even when no action applies.
    pub fn restricts_flows_to(&self, to: Destination) -> bool {
        self.flows
            .values()
            .any(|&farthest| farthest == Destination::Internal)
            && to == Destination::External
    }
}

/// The `[identities]` table: short-lived credentials and the identity lifecycle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identities {
    /// Lifetime of a credential when the caller asks for none, in seconds.
    pub credential_ttl_secs: u32,
    /// The longest lifetime a credential may be issued with, in seconds.
    pub max_credential_ttl_secs: u32,
    /// The audience credentials are issued for and checked against.
    pub audience: String,
    /// Identities created at run time need a human's approval before any credential.
    pub require_approval: bool,
    /// Decisions accept only short-lived credentials, not registration secrets.
    pub require_credentials: bool,
    /// Rotation, review and staleness terms of services and of classes without their own.
    pub lifecycle: Lifecycle,
}

impl Identities {
    /// The defaults of a bundle without an `[identities]` table.
    pub const DEFAULT: Identities = Identities {
        credential_ttl_secs: 3600,
        max_credential_ttl_secs: 3600,
        audience: String::new(),
        require_approval: false,
        require_credentials: false,
        lifecycle: Lifecycle::NONE,
    };

    /// The audience: the declared one, or `tribune`.
    pub fn audience(&self) -> &str {
        if self.audience.is_empty() {
            "tribune"
        } else {
            &self.audience
        }
    }
}

impl Default for Identities {
    fn default() -> Self {
        Identities::DEFAULT
    }
}

/// When a non-human identity's registration secret must be rotated, its scopes reviewed, and
/// when it counts as stale. `None` terms are not enforced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifecycle {
    /// Days a registration secret may be used before it must be rotated.
    pub rotation_days: Option<u32>,
    /// Days past `rotation_days` before an unrotated secret is refused.
    pub rotation_grace_days: u32,
    /// Days between reviews of an identity's scopes.
    pub review_days: Option<u32>,
    /// Days past `review_days` before an unreviewed identity is suspended.
    pub review_grace_days: u32,
    /// Days unused after which an identity is reported stale.
    pub stale_days: Option<u32>,
}

impl Lifecycle {
    /// No terms at all.
    pub const NONE: Lifecycle = Lifecycle {
        rotation_days: None,
        rotation_grace_days: 0,
        review_days: None,
        review_grace_days: 0,
        stale_days: None,
    };
}

/// The `[oidc]` table: humans sign in with an identity provider's JWTs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Oidc {
    /// The `iss` the tokens must carry.
    pub issuer: String,
    /// The `aud` the tokens must include.
    pub audience: String,
    /// Where the provider's signing keys are.
    pub jwks: JwksSource,
    /// The claim whose value names the human: matched against each human's `email`, then id.
    pub claim: String,
    /// Where the table is declared.
    pub location: Location,
}

/// Where an identity provider's JWK Set is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// A file, relative to the bundle directory.
    File(String),
    /// An `http://` or `https://` URL, fetched when the bundle is activated.
    Url(String),
}

/// The `[compliance]` table: which mandate packs `tribune check` assesses the bundle against,
/// and the few declarations only those checks read. Nothing in the decision path reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compliance {
    /// The mandate pack ids, as written. Only their form is checked here: the packs ship in
    /// `tribune-compliance`, which resolves them when the bundle is checked.
    pub mandates: Vec<Located<Id>>,
    /// Days between human reviews of the ledger's activity, if declared.
    pub activity_review_days: Option<Located<u32>>,
    /// Tiers the deployment has committed to two-person approval for; `tribune check` verifies
    /// that the autonomy rules enforce it (the list itself changes no decision).
    pub two_person_tiers: Vec<Located<Tier>>,
    /// Where the table is declared (`None`: the bundle has none).
    pub location: Option<Location>,
}

/// The `[drills]` table: how often an emergency-stop drill must pass, and which scopes may be
/// drilled. A drill stops its scope for real, proves the stop enforced, and resumes it at once
/// without the two holders a resume otherwise needs; so only the scopes declared here (a
/// canary agent, say) may be drilled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drills {
    /// Days within which a drill must have passed, if the deployment commits to a cadence.
    pub cadence_days: Option<Located<u32>>,
    /// The stop scopes that may be drilled, as `tribune stop` writes them (`all`, `class:ID`,
    /// `agent:ID`, `service:ID`, `tool:ID`, `provider:ID`), each id declared in the bundle.
    pub scopes: Vec<Located<String>>,
    /// The most milliseconds from the drill command to enforcement for a drill to pass, if
    /// not the product's target of 50 ms ([`Drills::target_ms`]).
    pub target_ms: Option<u32>,
    /// Where the table is declared (`None`: the bundle has none).
    pub location: Option<Location>,
}

impl Drills {
    /// The product's target: a stop enforced on the same node within 50 ms of the command.
    pub const TARGET_MS: u32 = 50;

    /// The most milliseconds from the drill command to enforcement for a drill to pass.
    pub fn target_ms(&self) -> u32 {
        self.target_ms.unwrap_or(Self::TARGET_MS)
    }

    /// Whether `scope` (as written by `tribune stop`) is one the bundle lets be drilled.
    pub fn allows(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.value == scope)
    }
}

/// The `[redteam]` table: how often a red-team run (`tribune redteam run --server`) must pass
/// on the running system. An overdue run is a finding of `tribune check --server`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redteam {
    /// Days within which a red-team run must have passed, if the deployment commits to a cadence.
    pub cadence_days: Option<Located<u32>>,
    /// Where the table is declared (`None`: the bundle has none).
    pub location: Option<Location>,
}

/// The `[incidents]` table: declared triggers, each opening an incident and running its
/// containment when it fires, and where incidents are announced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Incidents {
    /// The triggers, in the order declared.
    pub triggers: Vec<IncidentTrigger>,
    /// Where `notify` sends incidents, if `[incidents]` names its own webhook.
    pub webhook: Option<Webhook>,
}

impl Incidents {
    /// The webhook `notify` uses: `[incidents]`'s own, else `[hitl]`'s.
    pub fn webhook<'a>(&'a self, hitl: &'a Hitl) -> Option<&'a Webhook> {
        self.webhook.as_ref().or(hitl.webhook.as_ref())
    }
}

/// One `[[incidents.triggers]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentTrigger {
    /// Id, unique among the triggers; it names the incidents it opens.
    pub id: Id,
    /// What fires it.
    pub on: TriggerOn,
    /// The containment it runs, in the order it runs them (stops first, notify last).
    pub actions: Vec<IncidentAction>,
    /// Free text.
    pub description: Option<String>,
    /// Where it is declared.
    pub location: Location,
}

/// What fires a trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TriggerOn {
    /// `count` denied calls of one agent (or service) within `window_secs`.
    Denials {
        /// How many denials.
        count: u32,
        /// Within how many seconds.
        window_secs: u32,
    },
    /// A call denied by a `forbid` rule whose tool or data is of `classification` or more
    /// sensitive.
    Forbid {
        /// The least sensitive level that counts.
        classification: Classification,
    },
    /// A call denied by data governance (`dlp_blocked`, `flow_forbidden`) whose tool or data
    /// is of `classification` or more sensitive.
    Dlp {
        /// The least sensitive level that counts.
        classification: Classification,
    },
    /// Any call of `tool`, a honeytoken no legitimate agent calls, whatever its decision.
    Canary {
        /// The canary tool.
        tool: Id,
    },
    /// An agent's (or service's) trust score fell below `threshold`.
    TrustBelow {
        /// The score (trust scores run from 0 to 1000) below which the trigger fires.
        threshold: u16,
    },
    /// An emergency-stop drill failed.
    DrillFailed,
}

impl TriggerOn {
    /// The `on` value that declares it.
    pub fn kind(&self) -> &'static str {
        match self {
            TriggerOn::Denials { .. } => "denials",
            TriggerOn::Forbid { .. } => "forbid",
            TriggerOn::Dlp { .. } => "dlp",
            TriggerOn::Canary { .. } => "canary",
            TriggerOn::TrustBelow { .. } => "trust_below",
            TriggerOn::DrillFailed => "drill_failed",
        }
    }

    /// Every `on` value, as written.
    pub const KINDS: [&'static str; 6] = [
        "denials",
        "forbid",
        "dlp",
        "canary",
        "trust_below",
        "drill_failed",
    ];
}

/// One containment step of an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IncidentAction {
    /// An emergency stop of the agent (or service) itself.
    StopAgent,
    /// An emergency stop of the agent's class.
    StopClass,
    /// Revokes every short-lived credential of the agent, and everything delegated from them.
    RevokeCredentials,
    /// A legal hold over the ledger range of the evidence.
    LegalHold,
    /// A signed webhook notification.
    Notify,
}

impl IncidentAction {
    /// Every action, in the order an incident runs them.
    pub const ALL: [IncidentAction; 5] = [
        IncidentAction::StopAgent,
        IncidentAction::StopClass,
        IncidentAction::RevokeCredentials,
        IncidentAction::LegalHold,
        IncidentAction::Notify,
    ];

    /// As written in the bundle.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentAction::StopAgent => "stop_agent",
            IncidentAction::StopClass => "stop_class",
            IncidentAction::RevokeCredentials => "revoke_credentials",
            IncidentAction::LegalHold => "legal_hold",
            IncidentAction::Notify => "notify",
        }
    }

    /// The action written as `s`.
    pub fn parse(s: &str) -> Option<IncidentAction> {
        IncidentAction::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether it acts on an agent or service, so a trigger that names none cannot run it.
    pub fn needs_principal(self) -> bool {
        matches!(
            self,
            IncidentAction::StopAgent | IncidentAction::StopClass | IncidentAction::RevokeCredentials
        )
    }
}

/// A declared value and where it is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it is written.
    pub location: Location,
}

/// A DLP pattern the bundle declares (its compiled form is in [`Dlp::detectors`]).
#[derive(Clone, Debug)]
pub struct DlpPattern {
    /// The detector id, which names its findings and its redaction marker.
    pub id: Id,
    /// The classification its findings belong to.
    pub classification: Id,
    /// Free text.
    pub description: Option<String>,
    /// Where it is declared.
    pub location: Location,
}

/// A webhook that receives signed notifications of approval requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    /// The `http://` url notifications are POSTed to.
    pub url: String,
    /// The environment variable of the server that holds the HMAC key (never the key itself:
    /// a bundle is kept in git).
    pub secret_env: String,
    /// Where it is declared.
    pub location: Location,
}

/// How long the payloads of one class of ledger event are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionRule {
    /// The event class.
    pub event: EventClass,
    /// Only events about this data classification (`None`: any without a more specific rule).
    pub classification: Option<Id>,
    /// Days after the event before its payload may be deleted (its hash stays in the log).
    pub keep_days: u32,
    /// Where the rule is written.
    pub location: Location,
}

impl Bundle {
    /// The rule that governs an event of `event` about `classification`: the rule naming that
    /// classification, else the event's general rule, else none (keep forever).
    pub fn retention_for(&self, event: EventClass, classification: Option<&str>) -> Option<&RetentionRule> {
        let specific = classification.and_then(|c| {
            self.retention
                .iter()
                .find(|r| r.event == event && r.classification.as_ref().is_some_and(|rc| rc.as_str() == c))
        });
        specific.or_else(|| {
            self.retention
                .iter()
                .find(|r| r.event == event && r.classification.is_none())
        })
    }
}

/// The `[deployment]` table.
#[derive(Clone, Debug)]
pub struct Deployment {
    /// Names the deployment, e.g. in ledger checkpoints.
    pub name: String,
    /// A human-readable version; defaults to the first 12 hex digits of the bundle hash.
    pub version: String,
    /// Free text.
    pub description: Option<String>,
}

/// What a call of one tier needs before it may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TierRule {
    /// Distinct human approvals required; 0 means the agent may act alone.
    pub approvals: u32,
    /// Whether each approval needs a fresh MFA code.
    pub mfa: bool,
}

/// A [`TierRule`] for each tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TierRules {
    /// For `read` tools.
    pub read: TierRule,
    /// For `write` tools.
    pub write: TierRule,
    /// For `irreversible` tools.
    pub irreversible: TierRule,
}

impl TierRules {
    /// The built-in floor: read alone, write with one approval, irreversible with two and MFA.
    pub const DEFAULT_FLOOR: TierRules = TierRules {
        read: TierRule {
            approvals: 0,
            mfa: false,
        },
        write: TierRule {
            approvals: 1,
            mfa: false,
        },
        irreversible: TierRule {
            approvals: 2,
            mfa: true,
        },
    };

    /// The rule for `tier`.
    pub fn get(&self, tier: Tier) -> TierRule {
        match tier {
            Tier::Read => self.read,
            Tier::Write => self.write,
            Tier::Irreversible => self.irreversible,
        }
    }

    fn get_mut(&mut self, tier: Tier) -> &mut TierRule {
        match tier {
            Tier::Read => &mut self.read,
            Tier::Write => &mut self.write,
            Tier::Irreversible => &mut self.irreversible,
        }
    }
}

/// The type of a declared request context attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContextType {
    /// Cedar `String`.
    String,
    /// Cedar `Long`.
    Long,
    /// Cedar `Bool`.
    Bool,
}

/// A person.
#[derive(Clone, Debug)]
pub struct Human {
    /// Id.
    pub id: Id,
    /// Display name.
    pub name: Option<String>,
    /// Contact address.
    pub email: Option<String>,
    /// Roles, e.g. `admin`, `auditor`, `reviewer`.
    pub roles: Vec<Id>,
    /// May trigger an emergency stop.
    pub stop_authority: bool,
    /// Where it is declared.
    pub location: Location,
}

/// A named group of humans who review held calls.
#[derive(Clone, Debug)]
pub struct ReviewerPool {
    /// Id.
    pub id: Id,
    /// Member humans.
    pub members: Vec<Id>,
    /// Free text.
    pub description: Option<String>,
    /// Where it is declared.
    pub location: Location,
}

/// A class of agents with a shared autonomy boundary.
#[derive(Clone, Debug)]
pub struct AgentClass {
    /// Id.
    pub id: Id,
    /// The highest tier the class may call at all; tools above it are denied.
    pub ceiling: Tier,
    /// Per-tier requirements: the floor, tightened where the class asks.
    pub autonomy: TierRules,
    /// Calls per minute per agent, if bounded.
    pub calls_per_minute: Option<u32>,
    /// Its agents' rotation, review and staleness terms (`[identities]` unless it sets its own).
    pub lifecycle: Lifecycle,
    /// Free text.
    pub description: Option<String>,
    /// Where it is declared.
    pub location: Location,
}

/// An AI agent.
#[derive(Clone, Debug)]
pub struct Agent {
    /// Id.
    pub id: Id,
    /// Its class.
    pub class: Id,
    /// The accountable human.
    pub owner: Id,
    /// The tools it may call at all, if limited beyond its class (`None`: every tool its class
    /// reaches).
    pub scopes: Option<Vec<Id>>,
    /// Free text.
    pub description: Option<String>,
    /// Where it is declared.
    pub location: Location,
}

/// A non-human identity that is not an agent, limited to its scopes.
#[derive(Clone, Debug)]
pub struct Service {
    /// Id.
    pub id: Id,
    /// The accountable human.
    pub owner: Id,
    /// Tools it may call at all.
    pub scopes: Vec<Id>,
    /// Free text.
    pub description: Option<String>,
    /// Where it is declared.
    pub location: Location,
}

/// A third party that offers tools.
#[derive(Clone, Debug)]
pub struct Provider {
    /// Id.
    pub id: Id,
    /// What it is.
    pub kind: ProviderKind,
    /// Whether data sent to it leaves the deployment (default: external).
    pub destination: Destination,
    /// How an MCP server is reached, if the bundle says (`transport`).
    pub transport: Option<McpTransport>,
    /// Where it is reached: for `transport = "streamable_http"` an `http://` URL (checked),
    /// otherwise free text.
    pub url: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Whether its tools' results are untrusted content (unless a tool says otherwise).
    pub untrusted: bool,
    /// Its due-diligence record, if the bundle declares one.
    pub vetting: Option<DeclaredVetting>,
    /// Where it is declared.
    pub location: Location,
}

impl Provider {
    /// The upstream URL of an MCP server reached over Streamable HTTP, which `tribune serve`
    /// fronts at `/mcp/{provider}`; `None` for every other provider.
    pub fn streamable_http_url(&self) -> Option<&str> {
        match (self.kind, self.transport) {
            (ProviderKind::McpServer, Some(McpTransport::StreamableHttp)) => self.url.as_deref(),
            _ => None,
        }
    }
}

/// A tool an agent may call.
#[derive(Clone, Debug)]
pub struct Tool {
    /// Id: the tool's name as the provider advertises it.
    pub id: Id,
    /// Who offers it.
    pub provider: Id,
    /// How far-reaching a call is.
    pub tier: Tier,
    /// The most sensitive data the tool touches.
    pub classification: Classification,
    /// Who reviews held calls of this tool (the tool's own pool, else the default).
    pub reviewer_pool: Option<Id>,
    /// Free text, as in the MCP tool description.
    pub description: Option<String>,
    /// The JSON Schema of its arguments, as in the MCP tool description.
    pub input_schema: Value,
    /// The Cedar-visible part of `input_schema`.
    pub input: ArgRecord,
    /// Whether its results are untrusted content (web pages, e-mail bodies, shared
    /// documents): values in them taint later calls' arguments in the same session. The
    /// tool's own `untrusted`, else its provider's.
    pub untrusted: bool,
    /// Where it is declared.
    pub location: Location,
}

impl Bundle {
    /// Whether any tool's results are untrusted, so the server tracks taint at all.
    pub fn tracks_taint(&self) -> bool {
        self.tools.values().any(|t| t.untrusted)
    }

    /// Whether `diagnostics` contains an error.
    pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
        diagnostics.iter().any(|d| d.severity == crate::Severity::Error)
    }

    /// The rule a call of `tier` by an agent of `class` must meet.
    pub fn rule_for(&self, class: Option<&AgentClass>, tier: Tier) -> TierRule {
        class.map_or(self.floor.get(tier), |c| c.autonomy.get(tier))
    }
}

pub(crate) fn apply_tier_override(
    rules: &mut TierRules,
    tier: Tier,
    approvals: Option<u32>,
    mfa: Option<bool>,
) {
    let rule = rules.get_mut(tier);
    if let Some(a) = approvals {
        rule.approvals = a;
    }
    if let Some(m) = mfa {
        rule.mfa = m;
    }
}
