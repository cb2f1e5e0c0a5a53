//! Delegation as a pure function: a credential's holder hands a narrower, shorter-lived
//! credential to another actor (RFC 8693 token exchange with an `act` claim).
//!
//! `INVARIANT(attenuation)`: a delegated credential never has more than its parent: its scopes
//! are a subset of the parent's (a wider request is an error naming the extra tools, never a
//! silent intersection), it expires no later, and it keeps the parent's `sub`, `aud`, `iss`,
//! `gen` and `cls`. Its `anc` is the parent's plus the parent's `jti`, so revoking any ancestor
//! revokes it, and its actor chain is the parent's plus the new actor.

use crate::claims::{Actor, Claims, Scopes};
use crate::error::{ActorError, DelegationError};

/// The most delegations between a root credential and any of its descendants.
pub const MAX_DELEGATION_DEPTH: usize = 4;

/// The longest actor name, in characters.
pub const MAX_ACTOR_LEN: usize = 128;

/// A request to delegate a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// Who will act with the new credential.
    pub actor: String,
    /// The tools it may call; `None` keeps all of the parent's.
    pub scopes: Option<Scopes>,
    /// Its lifetime, cut to the parent's `exp`.
    pub ttl_secs: u64,
}

/// Derives the credential `request` asks for from `parent`, at `now_secs`, with id `jti`.
///
/// The checks run in this order: the actor name, the jti, the lifetime, the parent's validity
/// at `now_secs` (no leeway), the depth, the scopes. The caller has verified `parent` and
/// checked that it is not revoked; the child is issued at `now_secs` (`iat` and `nbf`).
pub fn delegate(
    parent: &Claims,
    request: &Delegation,
    now_secs: i64,
    jti: String,
) -> Result<Claims, DelegationError> {
    validate_actor(&request.actor).map_err(|reason| DelegationError::BadActor {
        actor: request.actor.clone(),
        reason,
    })?;
    if jti.is_empty() || jti == parent.jti || parent.anc.contains(&jti) {
        return Err(DelegationError::BadJti { jti });
    }
    if request.ttl_secs == 0 {
        return Err(DelegationError::ZeroTtl);
    }
    if now_secs >= parent.exp {
        return Err(DelegationError::ParentExpired { exp: parent.exp });
    }
    if now_secs < parent.nbf {
        return Err(DelegationError::ParentNotYetValid { nbf: parent.nbf });
    }
    if parent.depth() >= MAX_DELEGATION_DEPTH {
        return Err(DelegationError::TooDeep {
            max: MAX_DELEGATION_DEPTH,
        });
    }
    let scope = match &request.scopes {
        None => parent.scope.clone(),
        Some(requested) if requested.is_subset(&parent.scope) => requested.clone(),
        Some(requested) => {
            return Err(DelegationError::ScopeEscalation {
                extra: requested.difference(&parent.scope),
            });
        }
    };
    let ttl = i64::try_from(request.ttl_secs).unwrap_or(i64::MAX);
    let mut anc = Vec::with_capacity(parent.anc.len() + 1);
    anc.extend_from_slice(&parent.anc);
    anc.push(parent.jti.clone());
    Ok(Claims {
        iss: parent.iss.clone(),
        sub: parent.sub.clone(),
        aud: parent.aud.clone(),
        iat: now_secs,
        nbf: now_secs,
        exp: now_secs.saturating_add(ttl).min(parent.exp),
        jti,
        scope,
        generation: parent.generation,
        cls: parent.cls.clone(),
        act: Some(Actor {
            sub: request.actor.clone(),
            act: parent.act.clone().map(Box::new),
        }),
        anc,
    })
}

/// Checks an actor name: 1 to [`MAX_ACTOR_LEN`] characters, none whitespace or control.
pub fn validate_actor(actor: &str) -> Result<(), ActorError> {
    if actor.is_empty() {
        return Err(ActorError::Empty);
    }
    let len = actor.chars().count();
    if len > MAX_ACTOR_LEN {
        return Err(ActorError::TooLong {
            len,
            max: MAX_ACTOR_LEN,
        });
    }
    if actor.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ActorError::BadCharacter);
    }
    Ok(())
}
