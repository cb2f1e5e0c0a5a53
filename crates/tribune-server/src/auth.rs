//! Who is calling: bearer tokens resolved to a [`Caller`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

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
            return credential_caller(parts, state, &token).await;
        }
        let hash = tokens::hash(token);
        // Read before the token is, so a revocation racing with this lookup leaves the entry
        // stale (INVARIANT(token-revocation-epoch)).
        let epoch = state.store.token_revocations();
        if let Some(caller) = state.tokens.get(&hash, epoch, Instant::now()) {
            parts.extensions.insert(Presented::Secret);
            return Ok(caller);
        }
        let record = state
            .store
            .token_by_hash(&hash)
            .await
            .map_err(|e| ApiError::Unavailable(format!("cannot check the token: {e}")))?
            .ok_or(ApiError::InvalidToken)?;
        if record.revoked_at_ms.is_some() {
            return Err(ApiError::RevokedToken);
        }
        let subject = || record.subject.clone().ok_or(ApiError::InvalidToken);
        let caller = match record.kind {
            TokenKind::Admin => Caller::Admin,
            TokenKind::Agent => Caller::Agent(subject()?),
            TokenKind::Service => Caller::Service(subject()?),
            TokenKind::Human => Caller::Human(subject()?),
        };
        state.tokens.insert(hash, caller.clone(), epoch, Instant::now());
        parts.extensions.insert(Presented::Secret);
        Ok(caller)
    }
}

/// How long a verified bearer token is trusted without reading the token table again: the
/// interval at which replicas read each other's stops and registry changes, so a token revoked
/// by another process (another replica on the same database) stops working here within it.
pub const TOKEN_CACHE_TTL: Duration = crate::stops::POLL;

/// The most verified tokens kept; beyond it the expired ones go, and if that is not enough,
/// all of them (they are read again on their next use).
const TOKEN_CACHE_MAX: usize = 4096;

/// Bearer tokens verified against the token table recently, by the SHA-256 of the secret, so
/// that a request costs a hash and a map lookup instead of a database read.
///
/// INVARIANT(revoke-before-answer) for tokens: an entry is trusted only while
/// [`tribune_store::Store::token_revocations`] still has the value it had before the token
/// was read, so any revocation through this process's store (the identity API's rotate and
/// decommission, anything else calling `revoke_token`) makes the very next request read the
/// table again; a revocation made by another process is seen within [`TOKEN_CACHE_TTL`].
/// Only tokens that were found and not revoked are kept: an unknown or revoked token is read
/// every time.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: RwLock<HashMap<[u8; 32], Verified>>,
}

#[derive(Debug)]
struct Verified {
    caller: Caller,
    epoch: u64,
    at: Instant,
}

impl TokenCache {
    /// The caller `hash` was verified as, if that was at revocation count `epoch` and less than
    /// [`TOKEN_CACHE_TTL`] before `now`. A poisoned lock is a miss.
    pub fn get(&self, hash: &[u8; 32], epoch: u64, now: Instant) -> Option<Caller> {
        let entries = self.entries.read().ok()?;
        let v = entries.get(hash)?;
        (v.epoch == epoch && now.saturating_duration_since(v.at) < TOKEN_CACHE_TTL).then(|| v.caller.clone())
    }

    /// Remembers that `hash` was verified as `caller`, having read revocation count `epoch`
    /// before the token table.
    pub fn insert(&self, hash: [u8; 32], caller: Caller, epoch: u64, now: Instant) {
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        if entries.len() >= TOKEN_CACHE_MAX && !entries.contains_key(&hash) {
            entries.retain(|_, v| v.epoch == epoch && now.saturating_duration_since(v.at) < TOKEN_CACHE_TTL);
            if entries.len() >= TOKEN_CACHE_MAX {
                entries.clear();
            }
        }
        entries.insert(
            hash,
            Verified {
                caller,
                epoch,
                at: now,
            },
        );
    }
}

/// A caller presenting a JWT: a short-lived credential Tribune issued to an agent or service,
/// or, when the bundle configures `[oidc]`, a human's ID token from the identity provider.
async fn credential_caller(parts: &mut Parts, state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let now_secs = crate::state::now_ms() / 1000;
    let verifier = state.identities.verifier();
    if let Some(oidc) = state.identities.oidc()
        && !issued_by(token, verifier.issuer())
    {
        return oidc.caller(token, now_secs, &state.snapshot()).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str) -> Caller {
        Caller::Agent(id.to_owned())
    }

    #[test]
    fn a_cached_token_is_trusted_only_at_its_revocation_count_and_within_the_ttl() {
        let cache = TokenCache::default();
        let at = Instant::now();
        cache.insert([1; 32], agent("a"), 7, at);
        assert_eq!(cache.get(&[1; 32], 7, at), Some(agent("a")));
        assert_eq!(cache.get(&[1; 32], 7, at + TOKEN_CACHE_TTL / 2), Some(agent("a")));
        // Any revocation since it was read: read the table again.
        assert_eq!(cache.get(&[1; 32], 8, at), None);
        // Too old: read the table again (another process may have revoked it).
        assert_eq!(cache.get(&[1; 32], 7, at + TOKEN_CACHE_TTL), None);
        assert_eq!(cache.get(&[2; 32], 7, at), None);
        // Read again, it is trusted again.
        cache.insert([1; 32], agent("a"), 8, at + TOKEN_CACHE_TTL);
        assert_eq!(cache.get(&[1; 32], 8, at + TOKEN_CACHE_TTL), Some(agent("a")));
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = TokenCache::default();
        let at = Instant::now();
        let key = |i: usize| {
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(i as u64).to_le_bytes());
            k
        };
        for i in 0..TOKEN_CACHE_MAX * 2 + 3 {
            cache.insert(key(i), agent("a"), 0, at);
        }
        let len = cache.entries.read().map(|e| e.len()).unwrap_or(usize::MAX);
        assert!(len <= TOKEN_CACHE_MAX, "{len}");
        // The newest is always kept.
        assert_eq!(cache.get(&key(TOKEN_CACHE_MAX * 2 + 2), 0, at), Some(agent("a")));
    }
}
