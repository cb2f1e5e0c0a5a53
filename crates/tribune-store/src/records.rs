//! The records the store keeps, as Rust values.
//!
//! These are the store's vocabulary, free of SQL: callers build and read them, and
//! [`crate::Store`] maps them to rows. The private `*Row` types mirror the tables column by
//! column; converting a row into a record is where a hand-edited or corrupt value is caught.

use std::fmt;
use std::str::FromStr;

use crate::error::{Entity, StoreError};

/// Who a bearer token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An AI agent asking for decisions about its tool calls.
    Agent,
    /// A service (gateway, forwarder) acting on agents' behalf.
    Service,
    /// A person, e.g. an approver of held calls.
    Human,
    /// An operator with full control; has no subject.
    Admin,
}

impl TokenKind {
    /// Every kind, in a stable order.
    pub const ALL: [TokenKind; 4] = [
        TokenKind::Agent,
        TokenKind::Service,
        TokenKind::Human,
        TokenKind::Admin,
    ];

    /// The lowercase name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Agent => "agent",
            TokenKind::Service => "service",
            TokenKind::Human => "human",
            TokenKind::Admin => "admin",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`TokenKind`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token kind `{0}`: expected `agent`, `service`, `human` or `admin`")]
pub struct UnknownTokenKind(pub String);

impl FromStr for TokenKind {
    type Err = UnknownTokenKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TokenKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownTokenKind(s.to_owned()))
    }
}

/// A bearer token of an API caller. The secret itself is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public, stable id of the token (shown in listings, used to revoke).
    pub id: String,
    /// SHA-256 of the secret; unique across all tokens.
    pub hash: [u8; 32],
    /// Who the token speaks for.
    pub kind: TokenKind,
    /// The agent, service or human id; `None` exactly when `kind` is [`TokenKind::Admin`]
    /// (the schema enforces this).
    pub subject: Option<String>,
    /// Free text for operators.
    pub label: String,
    /// When it was minted, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// When it was revoked, if it was. Lookups return revoked tokens too: the caller checks.
    pub revoked_at_ms: Option<i64>,
}

/// One decision of the decision API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRecord {
    /// UUID v7, as text.
    pub id: String,
    /// When it was decided, in milliseconds since the Unix epoch.
    pub created_at_ms: i64,
    /// Who asked, e.g. `agent:summariser-1`.
    pub principal: String,
    /// The tool the call was for.
    pub tool: String,
    /// `allow`, `deny` or `hold` (the schema rejects anything else).
    pub outcome: String,
    /// Hex hash of the call's arguments.
    pub arguments_hash: String,
    /// Hash of the policy bundle that decided.
    pub bundle_hash: String,
    /// The full decision as JSON; reads back exactly as written.
    pub body: serde_json::Value,
}

/// What a caller reported after running an allowed call. At most one per decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeRecord {
    /// The decision this reports on; it must exist.
    pub decision_id: String,
    /// When it was reported, in milliseconds since the Unix epoch.
    pub recorded_at_ms: i64,
    /// The caller's short status, e.g. `ok` or `error`.
    pub status: String,
    /// The full report as JSON; reads back exactly as written.
    pub body: serde_json::Value,
}

/// A policy bundle being made the active one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivationRecord {
    /// Hash of the bundle.
    pub bundle_hash: String,
    /// The bundle's declared version.
    pub version: String,
    /// Where it came from (a path, `api`, ...).
    pub source: String,
    /// When it became active, in milliseconds since the Unix epoch.
    pub activated_at_ms: i64,
}

/// A `tokens` row as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    id: String,
    hash: Vec<u8>,
    kind: String,
    subject: Option<String>,
    label: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        let corrupt = |column| StoreError::Corrupt {
            entity: Entity::Token,
            key: row.id.clone(),
            column,
        };
        let hash = <[u8; 32]>::try_from(row.hash.as_slice()).map_err(|_| corrupt("hash"))?;
        let kind = row.kind.parse().map_err(|_| corrupt("kind"))?;
        Ok(TokenRecord {
            id: row.id,
            hash,
            kind,
            subject: row.subject,
            label: row.label,
            created_at_ms: row.created_at_ms,
            revoked_at_ms: row.revoked_at_ms,
        })
    }
}

/// A `decisions` row as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct DecisionRow {
    id: String,
    created_at_ms: i64,
    principal: String,
    tool: String,
    outcome: String,
    arguments_hash: String,
    bundle_hash: String,
    body: String,
}

impl TryFrom<DecisionRow> for DecisionRecord {
    type Error = StoreError;

    fn try_from(row: DecisionRow) -> Result<Self, StoreError> {
        let body = parse_body(&row.body, Entity::Decision, &row.id)?;
        Ok(DecisionRecord {
            id: row.id,
            created_at_ms: row.created_at_ms,
            principal: row.principal,
            tool: row.tool,
            outcome: row.outcome,
            arguments_hash: row.arguments_hash,
            bundle_hash: row.bundle_hash,
            body,
        })
    }
}

/// An `outcomes` row as stored.
#[derive(sqlx::FromRow)]
pub(crate) struct OutcomeRow {
    decision_id: String,
    recorded_at_ms: i64,
    status: String,
    body: String,
}

impl TryFrom<OutcomeRow> for OutcomeRecord {
    type Error = StoreError;

    fn try_from(row: OutcomeRow) -> Result<Self, StoreError> {
        let body = parse_body(&row.body, Entity::Outcome, &row.decision_id)?;
        Ok(OutcomeRecord {
            decision_id: row.decision_id,
            recorded_at_ms: row.recorded_at_ms,
            status: row.status,
            body,
        })
    }
}

/// An `activations` row as stored (without its sequence number).
#[derive(sqlx::FromRow)]
pub(crate) struct ActivationRow {
    bundle_hash: String,
    version: String,
    source: String,
    activated_at_ms: i64,
}

impl From<ActivationRow> for ActivationRecord {
    fn from(row: ActivationRow) -> Self {
        ActivationRecord {
            bundle_hash: row.bundle_hash,
            version: row.version,
            source: row.source,
            activated_at_ms: row.activated_at_ms,
        }
    }
}

fn parse_body(text: &str, entity: Entity, key: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::CorruptJson {
        entity,
        key: key.to_owned(),
        source,
    })
}
