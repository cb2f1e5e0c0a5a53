//! Who is calling: bearer tokens resolved to a [`Caller`].

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tribune_store::TokenKind;

use crate::error::ApiError;
use crate::identities::Presented;
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
        if !token.starts_with(tokens::PREFIX) {
            let token = token.to_owned();
            return credential_caller(parts, state, &token);
        }
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
        parts.extensions.insert(Presented::Secret);
        Ok(match record.kind {
            TokenKind::Admin => Caller::Admin,
            TokenKind::Agent => Caller::Agent(subject()?),
            TokenKind::Service => Caller::Service(subject()?),
            TokenKind::Human => Caller::Human(subject()?),
        })
    }
}

/// A caller presenting a JWT: a short-lived credential Tribune issued to an agent or service,
/// or, when the bundle configures `[oidc]`, a human's ID token from the identity provider.
fn credential_caller(parts: &mut Parts, state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let now_secs = crate::state::now_ms() / 1000;
    let verifier = state.identities.verifier();
    if let Some(oidc) = state.identities.oidc()
        && !issued_by(token, verifier.issuer())
    {
        return oidc.caller(token, now_secs, &state.snapshot());
    }
    let verified = verifier.verify(token, now_secs).map_err(ApiError::Credential)?;
    let claims = verified.claims;
    let caller = match claims.sub.split_once(':') {
        Some(("agent", id)) => Caller::Agent(id.to_owned()),
        Some(("service", id)) => Caller::Service(id.to_owned()),
        _ => return Err(ApiError::InvalidToken),
    };
    parts.extensions.insert(Presented::Credential(claims));
    Ok(caller)
}

/// Whether `token`'s payload names `issuer` as its `iss` (unverified: only to route it to the
/// verifier that can check it).
fn issued_by(token: &str, issuer: &str) -> bool {
    use base64::Engine as _;
    let Some(payload) = token.split('.').nth(1) else {
        return false;
    };
    let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload) else {
        return false;
    };
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    serde_json::from_slice::<Iss>(&bytes).is_ok_and(|c| c.iss.as_deref() == Some(issuer))
}
