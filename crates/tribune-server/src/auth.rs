//! Who is calling: bearer tokens resolved to a [`Caller`].

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tribune_store::TokenKind;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tokens;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// An agent, by id.
    Agent(String),
    /// A service identity, by id.
    Service(String),
    /// A person, by id.
    Human(String),
    /// The deployment's administrator.
    Admin,
}

impl Caller {
    /// Whether the caller may administer the deployment: the admin token, or a human whose
    /// bundle roles include `admin`.
    pub fn is_admin(&self, state: &AppState) -> bool {
        match self {
            Caller::Admin => true,
            Caller::Human(id) => state
                .snapshot()
                .bundle()
                .humans
                .get(id.as_str())
                .is_some_and(|h| h.roles.iter().any(|r| r.as_str() == "admin")),
            _ => false,
        }
    }

    /// Whether the caller may read the ledger: the admin token, or a human whose roles include
    /// `auditor` or `admin`.
    pub fn is_auditor(&self, state: &AppState) -> bool {
        match self {
            Caller::Admin => true,
            Caller::Human(id) => state
                .snapshot()
                .bundle()
                .humans
                .get(id.as_str())
                .is_some_and(|h| h.roles.iter().any(|r| matches!(r.as_str(), "admin" | "auditor"))),
            _ => false,
        }
    }

    /// Refuses callers that may not read the ledger.
    pub fn require_auditor(&self, state: &AppState) -> Result<(), ApiError> {
        if self.is_auditor(state) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "reading the ledger needs the admin token or a human with the `auditor` or `admin` role"
                    .to_owned(),
            ))
        }
    }

    /// Refuses callers that may not administer the deployment.
    pub fn require_admin(&self, state: &AppState) -> Result<(), ApiError> {
        if self.is_admin(state) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this endpoint needs the admin token or a human with the `admin` role".to_owned(),
            ))
        }
    }

    /// Who did it, for the record: `admin`, `human:ID`, `agent:ID` or `service:ID`.
    pub fn actor(&self) -> String {
        match self {
            Caller::Admin => "admin".to_owned(),
            Caller::Human(id) => format!("human:{id}"),
            Caller::Agent(id) => format!("agent:{id}"),
            Caller::Service(id) => format!("service:{id}"),
        }
    }

    /// The principal string decisions use (`agent:ID`), for agents and services.
    pub fn principal(&self) -> Option<String> {
        match self {
            Caller::Agent(id) => Some(format!("agent:{id}")),
            Caller::Service(id) => Some(format!("service:{id}")),
            _ => None,
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(ApiError::MissingToken)?;
        let value = header.to_str().map_err(|_| ApiError::InvalidToken)?;
        // The auth scheme is case-insensitive (RFC 9110 section 11.1).
        let (scheme, token) = value.split_once(' ').ok_or(ApiError::MissingToken)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ApiError::MissingToken);
        }
        let token = token.trim();
        let record = state
            .store
            .token_by_hash(&tokens::hash(token))
            .await
            .map_err(|e| ApiError::Unavailable(format!("cannot check the token: {e}")))?
            .ok_or(ApiError::InvalidToken)?;
        if record.revoked_at_ms.is_some() {
            return Err(ApiError::RevokedToken);
        }
        let subject = || record.subject.clone().ok_or(ApiError::InvalidToken);
        Ok(match record.kind {
            TokenKind::Admin => Caller::Admin,
            TokenKind::Agent => Caller::Agent(subject()?),
            TokenKind::Service => Caller::Service(subject()?),
            TokenKind::Human => Caller::Human(subject()?),
        })
    }
}
