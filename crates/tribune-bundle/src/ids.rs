//! Identifiers and small closed vocabularies of the bundle, parsed once into types.

use std::fmt;
use std::str::FromStr;

/// The identifier of a declared thing (human, agent, class, tool, ...).
///
/// INVARIANT(id-charset): 1 to 128 characters from `[A-Za-z0-9_.-]`, starting with a letter or
/// digit. This is the MCP tool-name character set; it never contains `:` or `"`, so an id can be
/// embedded in a Cedar entity uid or a prefixed principal string without escaping.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Id(String);

/// Why a string is not an [`Id`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Empty string.
    #[error("an id cannot be empty")]
    Empty,
    /// Longer than 128 characters.
    #[error("id `{0}` is longer than 128 characters")]
    TooLong(String),
    /// A character outside the allowed set.
    #[error(
        "id `{0}` may only contain letters, digits, `_`, `.` and `-`, and must start with a letter or digit"
    )]
    BadCharacter(String),
}

impl Id {
    /// Parses an id.
    pub fn parse(s: &str) -> Result<Id, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > 128 {
            return Err(IdError::TooLong(s.to_owned()));
        }
        let first_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !first_ok || !rest_ok {
            return Err(IdError::BadCharacter(s.to_owned()));
        }
        Ok(Id(s.to_owned()))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Id {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Id::parse(s)
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Id {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// How far-reaching a tool call is. Ordered: `Read < Write < Irreversible`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Observes, changes nothing.
    Read,
    /// Changes state that can be undone.
    Write,
    /// Changes state that cannot be undone (payments, deletion, sending data out).
    Irreversible,
}

impl Tier {
    /// All tiers, lowest first.
    pub const ALL: [Tier; 3] = [Tier::Read, Tier::Write, Tier::Irreversible];

    /// The lowercase name used in bundles, policies and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Read => "read",
            Tier::Write => "write",
            Tier::Irreversible => "irreversible",
        }
    }

    /// 0 for read, 1 for write, 2 for irreversible.
    pub fn rank(self) -> i64 {
        match self {
            Tier::Read => 0,
            Tier::Write => 1,
            Tier::Irreversible => 2,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What kind of third party a provider is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// A Model Context Protocol server.
    McpServer,
    /// An external HTTP API.
    ExternalApi,
    /// Another agent, reached as a peer.
    PeerAgent,
    /// A supplier of models.
    ModelSupplier,
}

impl ProviderKind {
    /// The snake_case name used in bundles and policies.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::McpServer => "mcp_server",
            ProviderKind::ExternalApi => "external_api",
            ProviderKind::PeerAgent => "peer_agent",
            ProviderKind::ModelSupplier => "model_supplier",
        }
    }
}

/// The verdict of a provider's due diligence, as a vetting record states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VettingVerdict {
    /// Its tools may be called.
    Approved,
    /// Its tools may be called with a human's approval.
    Probation,
    /// Its tools may not be called.
    Rejected,
}

impl VettingVerdict {
    /// The name used in bundles and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            VettingVerdict::Approved => "approved",
            VettingVerdict::Probation => "probation",
            VettingVerdict::Rejected => "rejected",
        }
    }
}

/// How Tribune reaches an MCP server provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum McpTransport {
    /// A local process on stdio, which `tribune mcp wrap` runs next to the agent.
    Stdio,
    /// A remote server over Streamable HTTP at the provider's `url`, which `tribune serve`
    /// fronts at `/mcp/{provider}`.
    StreamableHttp,
}

impl McpTransport {
    /// The snake_case name used in bundles.
    pub fn as_str(self) -> &'static str {
        match self {
            McpTransport::Stdio => "stdio",
            McpTransport::StreamableHttp => "streamable_http",
        }
    }
}

/// Where data sent to a provider ends up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Destination {
    /// Stays inside the deployment's trust boundary.
    Internal,
    /// Leaves it.
    External,
}

impl Destination {
    /// The lowercase name used in bundles and policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Destination::Internal => "internal",
            Destination::External => "external",
        }
    }
}

/// A class of ledger event, as retention schedules name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventClass {
    /// A decision on a tool call.
    Decision,
    /// A post-call outcome report.
    Outcome,
    /// A bundle activation.
    Activation,
    /// An identity or credential change (e.g. a token issued).
    Identity,
    /// A legal hold placed or released.
    LegalHold,
    /// A retention run.
    Retention,
    /// A read of ledger entries.
    AuditRead,
    /// A change of an approval request: a vote, its resolution, its expiry.
    Approval,
    /// An emergency stop, a resume step or a drill's stop.
    Stop,
    /// An incident opened, contained or closed.
    Incident,
    /// A trust score crossing a threshold band.
    Trust,
    /// A provider's vetting, a tool description pinned or quarantined.
    Provider,
    /// A red-team run.
    Redteam,
    /// A human's review of the ledger's activity.
    AuditReview,
}

impl EventClass {
    /// Every event class.
    pub const ALL: [EventClass; 14] = [
        EventClass::Decision,
        EventClass::Outcome,
        EventClass::Activation,
        EventClass::Identity,
        EventClass::LegalHold,
        EventClass::Retention,
        EventClass::AuditRead,
        EventClass::Approval,
        EventClass::Stop,
        EventClass::Incident,
        EventClass::Trust,
        EventClass::Provider,
        EventClass::Redteam,
        EventClass::AuditReview,
    ];

    /// The snake_case name stored with each ledger entry.
    pub fn as_str(self) -> &'static str {
        match self {
            EventClass::Decision => "decision",
            EventClass::Outcome => "outcome",
            EventClass::Activation => "activation",
            EventClass::Identity => "identity",
            EventClass::LegalHold => "legal_hold",
            EventClass::Retention => "retention",
            EventClass::AuditRead => "audit_read",
            EventClass::Approval => "approval",
            EventClass::Stop => "stop",
            EventClass::Incident => "incident",
            EventClass::Trust => "trust",
            EventClass::Provider => "provider",
            EventClass::Redteam => "redteam",
            EventClass::AuditReview => "audit_review",
        }
    }
}

/// A level of the bundle's data classification scale.
///
/// INVARIANT(classification-rank): `rank` is the level's index in the bundle's
/// `[data] classifications` list, lowest first, so ranks compare like the levels.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Classification {
    /// The level's name, e.g. `phi`.
    pub name: Id,
    /// Its position on the scale, 0 = least sensitive.
    pub rank: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_classes_read_as_the_names_stored_with_entries() {
        for class in EventClass::ALL {
            let name = serde_json::to_value(class).expect("an event class serializes");
            assert_eq!(name, class.as_str(), "{class:?}");
            let back: EventClass =
                serde_json::from_value(serde_json::Value::from(class.as_str())).expect("its name parses");
            assert_eq!(back, class);
        }
    }

    #[test]
    fn ids_accept_the_mcp_tool_name_charset_only() {
        assert!(Id::parse("send_email").is_ok());
        assert!(Id::parse("ehr.read-chart_2").is_ok());
        assert_eq!(Id::parse(""), Err(IdError::Empty));
        assert!(matches!(Id::parse("-x"), Err(IdError::BadCharacter(_))));
        assert!(matches!(Id::parse("a:b"), Err(IdError::BadCharacter(_))));
        assert!(matches!(Id::parse("a\"b"), Err(IdError::BadCharacter(_))));
        assert!(matches!(Id::parse(&"a".repeat(129)), Err(IdError::TooLong(_))));
    }

    #[test]
    fn tiers_are_ordered() {
        assert!(Tier::Read < Tier::Write && Tier::Write < Tier::Irreversible);
    }
}
