//! Third-party due diligence: the vetting stage and the tool description pin.
//!
//! The caller looks up the current vetting of the tool's provider (judging its expiry at the
//! decision's time) and whether the tool's pinned description is quarantined, and passes
//! both in [`VettingFacts`]; `decide` turns them into the stage that runs after the emergency
//! stops and before Cedar. A description is pinned by [`description_hash`]: SHA-256 over the
//! RFC 8785 JSON of `{name, description, inputSchema}` as the MCP server lists the tool.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tribune_bundle::{Tool, Vetting};

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
}

/// The vetting stage's inputs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VettingFacts {
    /// The current vetting of the tool's provider.
    pub provider: VettingStatus,
    /// Whether the tool's description changed from its pin and was not approved again.
    pub tool_quarantined: bool,
}

/// The pin of a tool description: lowercase hex SHA-256 of the RFC 8785 JSON of
/// `{name, description, inputSchema}` (`description` left out when there is none).
pub fn description_hash(value: &Value) -> Result<String, String> {
    let bytes = serde_json_canonicalizer::to_vec(value)
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

/// The stage: a quarantined tool, a rejected or expired provider, or (when `[vetting]
/// required`) an unvetted one is denied; probation asks for at least one approval.
pub(crate) fn gate(
    vetting: Vetting,
    facts: VettingFacts,
    tool: &Tool,
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
    match facts.provider {
        VettingStatus::Approved => Ok(None),
        VettingStatus::Unvetted if !vetting.required => Ok(None),
        VettingStatus::Unvetted => denial(
            Code::ProviderUnvetted,
            format!("provider `{provider}` has no vetting record and `[vetting] required` is set"),
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
