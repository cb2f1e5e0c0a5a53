//! Third-party due diligence: the vetting stage and the tool description pin.
//!
//! A provider's vetting is declared in the bundle (`[providers.ID.vetting]`, dated by its
//! `reviewed` day) or recorded at run time (dated when recorded); the current one is the later
//! of the two ([`current`]). The caller looks up the current vetting of the tool's provider
//! (judging its expiry at the decision's time) and whether the tool's pinned description is
//! quarantined, and passes both in [`VettingFacts`]; a caller that knows of no run-time
//! record passes [`VettingStatus::Unvetted`] and the stage reads the bundle's declaration
//! itself, so an offline decision judges by the bundle alone. `decide` turns the facts into
//! the stage that runs after the emergency stops and before Cedar. A description is pinned by [`description_hash`]: SHA-256 over the
//! RFC 8785 JSON of `{name, description, inputSchema}` as the MCP server lists the tool.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tribune_bundle::{Bundle, DeclaredVetting, Tool, VettingVerdict};

use crate::decision::{Code, Reason, Stage};

/// The current vetting of a provider, as the caller found it at the decision's time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VettingStatus {
    /// No vetting record.
    #[default]
    Unvetted,
    /// Approved and not expired.
    Approved,
    /// On probation and not expired: every call needs a human's approval.
    Probation,
    /// Rejected.
    Rejected,
    /// The latest vetting (approved or probation) has lapsed.
    Expired,
}

impl VettingStatus {
    /// The status's name in the API: `unvetted`, `approved`, `probation`, `rejected`, `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            VettingStatus::Unvetted => "unvetted",
            VettingStatus::Approved => "approved",
            VettingStatus::Probation => "probation",
            VettingStatus::Rejected => "rejected",
            VettingStatus::Expired => "expired",
        }
    }

    /// The status of a stored vetting record (`approved`, `probation`, `rejected`) that lapses
    /// at `expires_at_ms`, judged at `now_ms`; `None` for an unknown status.
    pub fn of_record(status: &str, expires_at_ms: i64, now_ms: i64) -> Option<VettingStatus> {
        let current = match status {
            "approved" => VettingStatus::Approved,
            "probation" => VettingStatus::Probation,
            "rejected" => return Some(VettingStatus::Rejected),
            _ => return None,
        };
        Some(if now_ms >= expires_at_ms {
            VettingStatus::Expired
        } else {
            current
        })
    }

    /// The status of a vetting the bundle declares, judged at `now_ms`.
    pub fn of_declared(declared: &DeclaredVetting, now_ms: i64) -> VettingStatus {
        let status = match declared.status {
            VettingVerdict::Approved => "approved",
            VettingVerdict::Probation => "probation",
            VettingVerdict::Rejected => "rejected",
        };
        VettingStatus::of_record(status, declared.expires_at_ms(), now_ms).unwrap_or(VettingStatus::Rejected)
    }
}

/// Which of a provider's vetting records is current.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Current<'a> {
    /// Neither kind of record exists.
    None,
    /// The bundle's declaration.
    Declared(&'a DeclaredVetting),
    /// The latest vetting recorded at run time, at `vetted_at_ms`.
    Recorded {
        /// `approved`, `probation` or `rejected` (anything else counts as rejected).
        status: &'a str,
        /// When it was recorded.
        vetted_at_ms: i64,
        /// When it lapses.
        expires_at_ms: i64,
    },
}

impl Current<'_> {
    /// Its status at `now_ms`. A recorded status this version does not know counts as
    /// rejected: fail closed.
    pub fn status(self, now_ms: i64) -> VettingStatus {
        match self {
            Current::None => VettingStatus::Unvetted,
            Current::Declared(d) => VettingStatus::of_declared(d, now_ms),
            Current::Recorded {
                status,
                expires_at_ms,
                ..
            } => VettingStatus::of_record(status, expires_at_ms, now_ms).unwrap_or(VettingStatus::Rejected),
        }
    }
}

/// The current vetting of a provider: of the bundle's declaration (dated 00:00 UTC on its
/// `reviewed` day) and the latest run-time record (dated when it was recorded), the later one;
/// the run-time record on a tie. A declaration whose `reviewed` day is still ahead of `now_ms`
/// does not supersede a run-time record, so a future-dated review cannot pre-empt one.
pub fn current<'a>(declared: Option<&'a DeclaredVetting>, recorded: Current<'a>, now_ms: i64) -> Current<'a> {
    match (declared, recorded) {
        (None, recorded) => recorded,
        (Some(d), Current::Recorded { vetted_at_ms, .. }) => {
            let dated = d.reviewed_at_ms();
            if dated > vetted_at_ms && dated <= now_ms {
                Current::Declared(d)
            } else {
                recorded
            }
        }
        (Some(d), _) => Current::Declared(d),
    }
}

/// The vetting stage's inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VettingFacts {
    /// The current vetting of the tool's provider ([`current`]); `Unvetted` when the caller
    /// found no record, in which case the stage judges the bundle's declaration, if any.
    pub provider: VettingStatus,
    /// Whether the tool's description changed from its pin and was not approved again.
    pub tool_quarantined: bool,
}

/// The pin of a tool description: lowercase hex SHA-256 of the RFC 8785 JSON of
/// `{name, description, inputSchema}` (`description` left out when there is none).
pub fn description_hash(value: &Value) -> Result<String, String> {
    let bytes = tribune_ledger::canonical::to_vec(value)
        .map_err(|e| format!("cannot canonicalize a tool description: {e}"))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// The description object that is pinned: `{name, description, inputSchema}`.
pub fn description(name: &str, description: Option<&str>, input_schema: &Value) -> Value {
    let mut object = Map::new();
    object.insert("name".to_owned(), Value::String(name.to_owned()));
    if let Some(d) = description {
        object.insert("description".to_owned(), Value::String(d.to_owned()));
    }
    object.insert("inputSchema".to_owned(), input_schema.clone());
    Value::Object(object)
}

/// The stage: a quarantined tool, a rejected or expired provider, or (unless `[vetting]
/// required = false`) an unvetted one is denied; probation asks for at least one approval.
pub(crate) fn gate(
    bundle: &Bundle,
    facts: VettingFacts,
    tool: &Tool,
    now_ms: i64,
) -> Result<Option<Reason>, crate::Denial> {
    let provider = &tool.provider;
    if facts.tool_quarantined {
        return Err((
            Stage::Vetting,
            Code::ToolQuarantined,
            Some(format!("pin:{}", tool.id)),
            format!(
                "the description of `{}` differs from its pin; the tool is quarantined until it is pinned again",
                tool.id
            ),
        ));
    }
    let denial =
        |code, message: String| Err((Stage::Vetting, code, Some(format!("vetting:{provider}")), message));
    let status = match facts.provider {
        VettingStatus::Unvetted => {
            let declared = bundle.providers.get(provider).and_then(|p| p.vetting.as_ref());
            current(declared, Current::None, now_ms).status(now_ms)
        }
        found => found,
    };
    match status {
        VettingStatus::Approved => Ok(None),
        VettingStatus::Unvetted if !bundle.vetting.required => Ok(None),
        VettingStatus::Unvetted => denial(
            Code::ProviderUnvetted,
            format!(
                "provider `{provider}` has no vetting record, declared or recorded, and vetting is required"
            ),
        ),
        VettingStatus::Rejected => denial(
            Code::ProviderRejected,
            format!("provider `{provider}` was rejected"),
        ),
        VettingStatus::Expired => denial(
            Code::VettingExpired,
            format!("the vetting of provider `{provider}` has expired"),
        ),
        VettingStatus::Probation => Ok(Some(Reason {
            stage: Stage::Vetting,
            code: Code::ProviderProbation,
            rule: Some(format!("vetting:{provider}")),
            message: format!("provider `{provider}` is on probation, so its calls need a human's approval"),
        })),
    }
}
