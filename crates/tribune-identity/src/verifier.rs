//! Verification of Tribune credentials, with a bounded cache of verified claims.
//!
//! [`Verifier::verify`] checks, in order: the size and shape, the header (`alg` is `EdDSA`,
//! `typ` is `at+jwt`, no `crit`, a `kid` if present is the verifier's), the Ed25519 signature,
//! the claims' JSON (every claim but `cls`, `act` and `anc` is required), `iss`, `aud`
//! (exactly the verifier's), then `exp` and `nbf` against `now` with a leeway of
//! [`DEFAULT_LEEWAY_SECS`]: a credential is valid while `nbf - leeway <= now < exp + leeway`.
//!
//! # The cache
//! A verified credential's claims are cached under SHA-256 of the token, so the next
//! presentation of the same token costs a hash and a map lookup instead of a signature check.
//! A hit still checks `exp` and `nbf` against `now`: an expired credential is refused even when
//! cached. Failures are never cached. Revocation, suspension, generation and scope are state
//! the caller checks after `verify`, so a cached entry never outlives a revocation.
//!
//! The cache holds at most [`DEFAULT_CACHE_CAPACITY`] entries (set with
//! [`Verifier::with_cache_capacity`]; 0 disables it). When it is full, an insert first drops
//! every expired entry and, if it is still full, clears the cache: crude, but O(n) once per
//! `capacity` inserts, with no per-entry bookkeeping on the hit path; the cost of a clear is
//! one signature check per live credential. It is one `RwLock<HashMap>`: hits take the read
//! lock, so concurrent hits do not wait for each other.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use ed25519_dalek::VerifyingKey;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sha2::{Digest, Sha256};

use crate::claims::Claims;
use crate::error::{CredentialError, Malformed};
use crate::issuer::{ACCESS_TOKEN_TYPE, thumbprint};
use crate::jws::{self, DecodeError, MAX_TOKEN_BYTES};

/// The default clock leeway for `exp` and `nbf`, in seconds. Issuer and verifier are the same
/// deployment, so only the skew between its hosts needs absorbing.
pub const DEFAULT_LEEWAY_SECS: u32 = 5;

/// The default bound on cached credentials.
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;

/// Verifies credentials of one issuer and key for one audience.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    kid: String,
    issuer: String,
    audience: String,
    leeway_secs: i64,
    cache: Cache,
}

/// A verified credential.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Its claims.
    pub claims: Arc<Claims>,
    /// Whether they came from the cache.
    pub cached: bool,
}

impl Verifier {
    /// A verifier of credentials signed by `public_key` and issued by `issuer`, for `audience`.
    pub fn new(public_key: VerifyingKey, issuer: impl Into<String>, audience: impl Into<String>) -> Verifier {
        // Only the signature is left to `jsonwebtoken`: its time checks read the system clock,
        // and the claims are checked here with exact errors.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        Verifier {
            // `from_ed_der` takes the raw 32-byte public key, despite its name.
            key: DecodingKey::from_ed_der(public_key.as_bytes()),
            validation,
            kid: thumbprint(&public_key),
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs: i64::from(DEFAULT_LEEWAY_SECS),
            cache: Cache::new(DEFAULT_CACHE_CAPACITY),
        }
    }

    /// The same verifier with a clock leeway of `secs` seconds for `exp` and `nbf`.
    pub fn with_leeway(mut self, secs: u32) -> Verifier {
        self.leeway_secs = i64::from(secs);
        self
    }

    /// The same verifier caching at most `capacity` credentials; 0 disables the cache.
    pub fn with_cache_capacity(mut self, capacity: usize) -> Verifier {
        self.cache = Cache::new(capacity);
        self
    }

    /// The issuer whose credentials this accepts.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience this accepts.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The key id of the verifying key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// How many credentials are cached.
    pub fn cache_len(&self) -> usize {
        self.cache.len()
    }

    /// Empties the cache.
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    /// Verifies `token` at `now_secs` (unix seconds).
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Verified, CredentialError> {
        // Before hashing: a huge token costs nothing.
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Malformed::TooLong {
                len: token.len(),
                max: MAX_TOKEN_BYTES,
            }
            .into());
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(claims) = self.cache.get(&digest) {
            self.check_time(&claims, now_secs)?;
            return Ok(Verified { claims, cached: true });
        }
        let claims = Arc::new(self.verify_uncached(token, now_secs)?);
        self.cache
            .insert(digest, Arc::clone(&claims), now_secs, self.leeway_secs);
        Ok(Verified {
            claims,
            cached: false,
        })
    }

    fn verify_uncached(&self, token: &str, now_secs: i64) -> Result<Claims, CredentialError> {
        let header = jws::header(token)?;
        if header.alg != "EdDSA" {
            return Err(CredentialError::UnsupportedAlgorithm { found: header.alg });
        }
        // RFC 9068 §4: the `typ` keeps other JWTs signed by the same key (none today) from
        // passing as access tokens. RFC 8725 §3.11 allows the `application/` prefix.
        let typ = header
            .typ
            .as_deref()
            .map(|t| t.strip_prefix("application/").unwrap_or(t));
        if !typ.is_some_and(|t| t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)) {
            return Err(Malformed::Type { found: header.typ }.into());
        }
        if header.kid.as_ref().is_some_and(|kid| *kid != self.kid) {
            return Err(CredentialError::BadSignature);
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation)
            .map_err(|e| match jws::decode_error(&e) {
                DecodeError::Malformed(m) => CredentialError::Malformed(m),
                DecodeError::Algorithm => CredentialError::UnsupportedAlgorithm {
                    found: "EdDSA".into(),
                },
                DecodeError::Signature => CredentialError::BadSignature,
            })?
            .claims;
        if claims.iss != self.issuer {
            return Err(CredentialError::WrongIssuer {
                expected: self.issuer.clone(),
                found: claims.iss,
            });
        }
        if claims.aud != self.audience {
            return Err(CredentialError::WrongAudience {
                expected: self.audience.clone(),
                found: claims.aud,
            });
        }
        self.check_time(&claims, now_secs)?;
        Ok(claims)
    }

    fn check_time(&self, claims: &Claims, now_secs: i64) -> Result<(), CredentialError> {
        if now_secs >= claims.exp.saturating_add(self.leeway_secs) {
            return Err(CredentialError::Expired { exp: claims.exp });
        }
        if now_secs.saturating_add(self.leeway_secs) < claims.nbf {
            return Err(CredentialError::NotYetValid { nbf: claims.nbf });
        }
        Ok(())
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("kid", &self.kid)
            .field("leeway_secs", &self.leeway_secs)
            .field("cached", &self.cache.len())
            .finish_non_exhaustive()
    }
}

/// Verified claims by SHA-256 of their token; see the module docs for the policy.
struct Cache {
    capacity: usize,
    map: RwLock<HashMap<[u8; 32], Arc<Claims>>>,
}

// A panic while the lock is held cannot leave the map half-changed (its operations do not
// call user code), so a poisoned lock is used as is.
impl Cache {
    fn new(capacity: usize) -> Cache {
        Cache {
            capacity,
            map: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, key: &[u8; 32]) -> Option<Arc<Claims>> {
        if self.capacity == 0 {
            return None;
        }
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn insert(&self, key: [u8; 32], claims: Arc<Claims>, now_secs: i64, leeway_secs: i64) {
        if self.capacity == 0 {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, c| now_secs < c.exp.saturating_add(leeway_secs));
            if map.len() >= self.capacity {
                map.clear();
            }
        }
        map.insert(key, claims);
    }

    fn len(&self) -> usize {
        self.map.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn clear(&self) {
        self.map.write().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
