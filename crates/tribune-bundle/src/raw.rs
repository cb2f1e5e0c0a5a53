//! The bundle manifest exactly as written, with source spans.
//!
//! These types mirror `tribune.toml` one to one; `deny_unknown_fields` turns a typo into a
//! located error. Nothing here is trusted: [`crate::model`] checks every reference and rule.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::ids::{Destination, EventClass, McpTransport, ProviderKind, Tier, VettingVerdict};

pub(crate) type Table<T> = BTreeMap<Spanned<String>, Spanned<T>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBundle {
    pub deployment: Spanned<RawDeployment>,
    #[serde(default)]
    pub autonomy: Option<RawAutonomy>,
    #[serde(default)]
    pub data: Option<Spanned<RawData>>,
    #[serde(default)]
    pub context: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub humans: Table<RawHuman>,
    #[serde(default)]
    pub reviewer_pools: Table<RawPool>,
    #[serde(default)]
    pub classes: Table<RawClass>,
    #[serde(default)]
    pub agents: Table<RawAgent>,
    #[serde(default)]
    pub services: Table<RawService>,
    #[serde(default)]
    pub providers: Table<RawProvider>,
    #[serde(default)]
    pub tools: Table<RawTool>,
    #[serde(default)]
    pub retention: Option<RawRetention>,
    #[serde(default)]
    pub hitl: Option<Spanned<RawHitl>>,
    #[serde(default)]
    pub dlp: Option<Spanned<RawDlp>>,
    #[serde(default)]
    pub compliance: Option<Spanned<RawCompliance>>,
    #[serde(default)]
    pub identities: Option<Spanned<RawIdentities>>,
    #[serde(default)]
    pub oidc: Option<Spanned<RawOidc>>,
    #[serde(default)]
    pub trust: Option<Spanned<RawTrust>>,
    #[serde(default)]
    pub drills: Option<Spanned<RawDrills>>,
    #[serde(default)]
    pub redteam: Option<Spanned<RawRedteam>>,
    #[serde(default)]
    pub incidents: Option<Spanned<RawIncidents>>,
    #[serde(default)]
    pub vetting: Option<RawVetting>,
    #[serde(default)]
    pub taint: Option<Spanned<RawTaint>>,
}

/// `[taint]`: how much of untrusted tools' results the server remembers per session, and for
/// how long.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTaint {
    #[serde(default)]
    pub max_values: Option<Spanned<u32>>,
    #[serde(default)]
    pub max_sessions: Option<Spanned<u32>>,
    #[serde(default)]
    pub ttl_secs: Option<Spanned<u32>>,
}

/// `[vetting]`: whether every provider needs a current vetting record before its tools run
/// (default: yes).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVetting {
    #[serde(default)]
    pub required: Option<bool>,
}

/// `[drills]`: how often an emergency-stop drill must pass, and the scopes that may be drilled.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDrills {
    #[serde(default)]
    pub cadence_days: Option<Spanned<u32>>,
    #[serde(default)]
    pub target_ms: Option<Spanned<u32>>,
    #[serde(default)]
    pub scopes: Vec<Spanned<String>>,
}

/// `[redteam]`: how often the red-team suite must pass.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRedteam {
    #[serde(default)]
    pub cadence_days: Option<Spanned<u32>>,
}

/// `[incidents]`: the triggers that open an incident, and where incidents are announced.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIncidents {
    #[serde(default)]
    pub triggers: Vec<Spanned<RawIncidentTrigger>>,
    #[serde(default)]
    pub webhook_url: Option<Spanned<String>>,
    #[serde(default)]
    pub webhook_secret_env: Option<Spanned<String>>,
}

/// One `[[incidents.triggers]]` entry; which of the optional keys apply depends on `on`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIncidentTrigger {
    pub id: Spanned<String>,
    pub on: Spanned<String>,
    #[serde(default)]
    pub count: Option<Spanned<u32>>,
    #[serde(default)]
    pub window_secs: Option<Spanned<u32>>,
    #[serde(default)]
    pub classification: Option<Spanned<String>>,
    #[serde(default)]
    pub tool: Option<Spanned<String>>,
    #[serde(default)]
    pub threshold: Option<Spanned<u32>>,
    pub actions: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub description: Option<String>,
}

/// `[trust]`: trust scores' baseline, half-life, thresholds and event weights.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrust {
    #[serde(default)]
    pub baseline: Option<Spanned<i64>>,
    #[serde(default)]
    pub half_life_hours: Option<Spanned<f64>>,
    #[serde(default)]
    pub half_life_secs: Option<Spanned<i64>>,
    #[serde(default)]
    pub review_below: Option<Spanned<i64>>,
    #[serde(default)]
    pub block_below: Option<Spanned<i64>>,
    #[serde(default)]
    pub events: Option<RawTrustEvents>,
}

/// `[trust.events]`: how much one event of each kind moves a score.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTrustEvents {
    #[serde(default)]
    pub allowed: Option<Spanned<i64>>,
    #[serde(default)]
    pub forbidden: Option<Spanned<i64>>,
    #[serde(default)]
    pub provider_forbidden: Option<Spanned<i64>>,
    #[serde(default)]
    pub dlp: Option<Spanned<i64>>,
    #[serde(default)]
    pub approval_refused: Option<Spanned<i64>>,
    #[serde(default)]
    pub redteam_failure: Option<Spanned<i64>>,
    #[serde(default)]
    pub incident: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIdentities {
    #[serde(default)]
    pub credential_ttl_secs: Option<Spanned<u32>>,
    #[serde(default)]
    pub max_credential_ttl_secs: Option<Spanned<u32>>,
    #[serde(default)]
    pub audience: Option<Spanned<String>>,
    #[serde(default)]
    pub require_approval: bool,
    #[serde(default)]
    pub require_credentials: bool,
    #[serde(default)]
    pub rotation_days: Option<Spanned<u32>>,
    #[serde(default)]
    pub rotation_grace_days: Option<Spanned<u32>>,
    #[serde(default)]
    pub review_days: Option<Spanned<u32>>,
    #[serde(default)]
    pub review_grace_days: Option<Spanned<u32>>,
    #[serde(default)]
    pub stale_days: Option<Spanned<u32>>,
}

impl RawIdentities {
    /// The lifecycle keys, which `[identities]` declares for every identity without a class
    /// of its own terms.
    pub fn lifecycle(&self) -> RawLifecycle {
        RawLifecycle {
            rotation_days: self.rotation_days.clone(),
            rotation_grace_days: self.rotation_grace_days.clone(),
            review_days: self.review_days.clone(),
            review_grace_days: self.review_grace_days.clone(),
            stale_days: self.stale_days.clone(),
        }
    }
}

/// Rotation, review and staleness terms; in `[identities]` (the default) and per class.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLifecycle {
    #[serde(default)]
    pub rotation_days: Option<Spanned<u32>>,
    #[serde(default)]
    pub rotation_grace_days: Option<Spanned<u32>>,
    #[serde(default)]
    pub review_days: Option<Spanned<u32>>,
    #[serde(default)]
    pub review_grace_days: Option<Spanned<u32>>,
    #[serde(default)]
    pub stale_days: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOidc {
    pub issuer: Spanned<String>,
    pub audience: Spanned<String>,
    #[serde(default)]
    pub jwks_file: Option<Spanned<String>>,
    #[serde(default)]
    pub jwks_url: Option<Spanned<String>>,
    #[serde(default)]
    pub claim: Option<Spanned<String>>,
}

/// `[compliance]`: the mandate packs `tribune check` assesses the bundle against, and the
/// declarations only those checks read.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCompliance {
    #[serde(default)]
    pub mandates: Vec<Spanned<String>>,
    #[serde(default)]
    pub activity_review_days: Option<Spanned<u32>>,
    #[serde(default)]
    pub two_person_tiers: Vec<Spanned<Tier>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDlp {
    #[serde(default)]
    pub detectors: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub classifications: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub actions: BTreeMap<Spanned<String>, Spanned<tribune_dlp::Action>>,
    #[serde(default)]
    pub flows: BTreeMap<Spanned<String>, Spanned<Destination>>,
    #[serde(default)]
    pub patterns: Vec<Spanned<RawDlpPattern>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDlpPattern {
    pub id: Spanned<String>,
    pub regex: Spanned<String>,
    pub classification: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHitl {
    #[serde(default)]
    pub expiry_secs: Option<Spanned<u32>>,
    #[serde(default)]
    pub approval_valid_for_secs: Option<Spanned<u32>>,
    #[serde(default)]
    pub reviewer_capacity: Option<Spanned<u32>>,
    #[serde(default)]
    pub agent_pending_cap: Option<Spanned<u32>>,
    #[serde(default)]
    pub pool_rate_per_minute: Option<Spanned<u32>>,
    #[serde(default)]
    pub max_wait_secs: Option<Spanned<u32>>,
    #[serde(default)]
    pub webhook_url: Option<Spanned<String>>,
    #[serde(default)]
    pub webhook_secret_env: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetention {
    #[serde(default)]
    pub rules: Vec<Spanned<RawRetentionRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRetentionRule {
    pub event: Spanned<EventClass>,
    #[serde(default)]
    pub classification: Option<Spanned<String>>,
    pub keep_days: Spanned<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDeployment {
    pub name: Spanned<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAutonomy {
    #[serde(default)]
    pub floor: Option<RawTierRules>,
    #[serde(default)]
    pub default_reviewer_pool: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTierRules {
    #[serde(default)]
    pub read: Option<Spanned<RawTierRule>>,
    #[serde(default)]
    pub write: Option<Spanned<RawTierRule>>,
    #[serde(default)]
    pub irreversible: Option<Spanned<RawTierRule>>,
}

impl RawTierRules {
    pub fn get(&self, tier: Tier) -> Option<&Spanned<RawTierRule>> {
        match tier {
            Tier::Read => self.read.as_ref(),
            Tier::Write => self.write.as_ref(),
            Tier::Irreversible => self.irreversible.as_ref(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTierRule {
    #[serde(default)]
    pub approvals: Option<Spanned<u32>>,
    #[serde(default)]
    pub mfa: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawData {
    pub classifications: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    pub default: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHuman {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub roles: Vec<Spanned<String>>,
    #[serde(default)]
    pub stop_authority: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPool {
    pub members: Vec<Spanned<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawClass {
    pub ceiling: Spanned<Tier>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub autonomy: Option<RawTierRules>,
    #[serde(default)]
    pub quota: Option<RawQuota>,
    #[serde(default)]
    pub lifecycle: Option<Spanned<RawLifecycle>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawQuota {
    #[serde(default)]
    pub calls_per_minute: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    pub class: Spanned<String>,
    pub owner: Spanned<String>,
    #[serde(default)]
    pub scopes: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    pub owner: Spanned<String>,
    #[serde(default)]
    pub scopes: Vec<Spanned<String>>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProvider {
    pub kind: Spanned<ProviderKind>,
    #[serde(default)]
    pub destination: Option<Destination>,
    #[serde(default)]
    pub transport: Option<Spanned<McpTransport>>,
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub untrusted: bool,
    #[serde(default)]
    pub vetting: Option<Spanned<RawProviderVetting>>,
}

/// `[providers.ID.vetting]`: the provider's due-diligence record, declared in the bundle.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProviderVetting {
    pub status: Spanned<VettingVerdict>,
    pub reviewer: Spanned<String>,
    pub reviewed: Spanned<String>,
    pub expires: Spanned<String>,
    #[serde(default)]
    pub notes: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTool {
    pub provider: Spanned<String>,
    pub tier: Spanned<Tier>,
    #[serde(default)]
    pub classification: Option<Spanned<String>>,
    #[serde(default)]
    pub reviewer_pool: Option<Spanned<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub input_schema: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    pub untrusted: Option<bool>,
}
