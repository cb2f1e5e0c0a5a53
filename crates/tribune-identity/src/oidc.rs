//! Verification of OIDC ID tokens for humans, against the identity provider's JWK Set, which
//! the caller fetched.
//!
//! Accepted algorithms are RS256 (RSA keys of at least 2048 bits), ES256 (P-256) and EdDSA
//! (Ed25519); everything else, `none` and HMAC included, is refused. The key is chosen by the
//! token's `kid`; a token without a `kid` uses the one key usable for its algorithm, if there
//! is exactly one. Then `iss` must equal the configured issuer, `aud` (a string or an array)
//! must contain the configured audience, `exp` is required and `nbf` checked when present,
//! with a leeway of [`DEFAULT_OIDC_LEEWAY_SECS`]. Nonce, `azp` and `auth_time` are the login
//! flow's business, left to the caller.
//!
//! Keys the set holds but this cannot use (encryption keys, other algorithms and curves, short
//! RSA keys, bad key material) are skipped and listed by [`OidcVerifier::skipped`], so a
//! provider's odd key does not break logins with its good ones.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::error::OidcError;
use crate::jws::{self, DecodeError};

/// The default clock leeway for ID tokens, in seconds: the provider's clock is not ours.
pub const DEFAULT_OIDC_LEEWAY_SECS: u32 = 60;

/// The shortest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// Verifies ID tokens from one provider for one client.
pub struct OidcVerifier {
    keys: Vec<Key>,
    skipped: Vec<SkippedKey>,
    issuer: String,
    audience: String,
    leeway_secs: i64,
}

struct Key {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// A key of the JWK Set that is not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// The key's `kid`, if any.
    pub kid: Option<String>,
    /// Why it is skipped.
    pub reason: SkipReason,
}

/// Why a key is skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// Not a JWK this reads.
    Unreadable,
    /// `use` is not `sig`.
    NotForSignatures,
    /// A key type, curve or `alg` other than RSA/RS256, P-256/ES256 and Ed25519/EdDSA.
    Unsupported,
    /// An RSA modulus shorter than [`MIN_RSA_BITS`].
    WeakRsaKey {
        /// The modulus length.
        bits: usize,
    },
    /// Coordinates or modulus that do not decode to a key.
    BadKeyMaterial,
}

impl OidcVerifier {
    /// A verifier for tokens issued by `issuer` for `audience` (the client id), signed by a key
    /// of `jwks`.
    pub fn new(jwks: &Value, issuer: String, audience: String) -> Result<OidcVerifier, OidcError> {
        let entries = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(OidcError::InvalidJwks)?;
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for entry in entries {
            let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
            match serde_json::from_value::<Jwk>(entry.clone())
                .map_err(|_| SkipReason::Unreadable)
                .and_then(|jwk| usable(&jwk))
            {
                Ok((alg, key)) => keys.push(Key { kid, alg, key }),
                Err(reason) => skipped.push(SkippedKey { kid, reason }),
            }
        }
        if keys.is_empty() {
            return Err(OidcError::NoUsableKeys);
        }
        Ok(OidcVerifier {
            keys,
            skipped,
            issuer,
            audience,
            leeway_secs: i64::from(DEFAULT_OIDC_LEEWAY_SECS),
        })
    }

    /// The same verifier with a clock leeway of `secs` seconds for `exp` and `nbf`.
    pub fn with_leeway(mut self, secs: u32) -> OidcVerifier {
        self.leeway_secs = i64::from(secs);
        self
    }

    /// How many keys of the set are used.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The keys of the set that are not used, and why.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// Verifies `token` at `now_secs` (unix seconds) and returns its claims.
    pub fn verify(&self, token: &str, now_secs: i64) -> Result<Map<String, Value>, OidcError> {
        let header = jws::header(token)?;
        let alg = match header.alg.as_str() {
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            "EdDSA" => Algorithm::EdDSA,
            _ => return Err(OidcError::UnsupportedAlgorithm { found: header.alg }),
        };
        let key = self
            .key(header.kid.as_deref(), alg)
            .ok_or_else(|| OidcError::UnknownKey {
                kid: header.kid.clone(),
                alg: header.alg.clone(),
            })?;
        let mut validation = Validation::new(alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation)
            .map_err(|e| match jws::decode_error(&e) {
                DecodeError::Malformed(m) => OidcError::Malformed(m),
                DecodeError::Algorithm => OidcError::UnsupportedAlgorithm {
                    found: header.alg.clone(),
                },
                DecodeError::Signature => OidcError::BadSignature,
            })?
            .claims;

        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(OidcError::BadClaim { claim: "iss" })?;
        if iss != self.issuer {
            return Err(OidcError::WrongIssuer {
                expected: self.issuer.clone(),
                found: iss.to_owned(),
            });
        }
        let aud = audiences(claims.get("aud")).ok_or(OidcError::BadClaim { claim: "aud" })?;
        if !aud.contains(&self.audience.as_str()) {
            return Err(OidcError::WrongAudience {
                expected: self.audience.clone(),
                found: aud.into_iter().map(str::to_owned).collect(),
            });
        }
        let exp = numeric_date(claims.get("exp")).ok_or(OidcError::BadClaim { claim: "exp" })?;
        if now_secs >= exp.saturating_add(self.leeway_secs) {
            return Err(OidcError::Expired { exp });
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric_date(Some(nbf)).ok_or(OidcError::BadClaim { claim: "nbf" })?;
            if now_secs.saturating_add(self.leeway_secs) < nbf {
                return Err(OidcError::NotYetValid { nbf });
            }
        }
        Ok(claims)
    }

    /// The key for `kid` and `alg`; without a `kid`, the only key usable for `alg`.
    fn key(&self, kid: Option<&str>, alg: Algorithm) -> Option<&Key> {
        let mut candidates = self.keys.iter().filter(|k| k.alg == alg);
        match kid {
            Some(kid) => candidates.find(|k| k.kid.as_deref() == Some(kid)),
            None => match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only),
                _ => None,
            },
        }
    }
}

impl fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<_> = self.keys.iter().map(|k| (k.kid.as_deref(), k.alg)).collect();
        f.debug_struct("OidcVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("keys", &keys)
            .field("skipped", &self.skipped)
            .field("leeway_secs", &self.leeway_secs)
            .finish()
    }
}

/// The algorithm `jwk` verifies and its decoding key, or why it is not used.
fn usable(jwk: &Jwk) -> Result<(Algorithm, DecodingKey), SkipReason> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return Err(SkipReason::NotForSignatures);
    }
    let declared = jwk.common.key_algorithm;
    let allows = |alg: KeyAlgorithm| declared.is_none_or(|d| d == alg);
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s).map_err(|_| SkipReason::BadKeyMaterial);
    match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) if allows(KeyAlgorithm::RS256) => {
            let n = decode(&rsa.n)?;
            let e = decode(&rsa.e)?;
            let bits = bit_length(&n);
            if bits < MIN_RSA_BITS {
                return Err(SkipReason::WeakRsaKey { bits });
            }
            if bit_length(&e) < 2 || e.len() > 8 {
                return Err(SkipReason::BadKeyMaterial);
            }
            Ok((Algorithm::RS256, DecodingKey::from_rsa_raw_components(&n, &e)))
        }
        AlgorithmParameters::EllipticCurve(ec)
            if ec.curve == EllipticCurve::P256 && allows(KeyAlgorithm::ES256) =>
        {
            let (x, y) = (decode(&ec.x)?, decode(&ec.y)?);
            if x.len() != 32 || y.len() != 32 {
                return Err(SkipReason::BadKeyMaterial);
            }
            let key =
                DecodingKey::from_ec_components(&ec.x, &ec.y).map_err(|_| SkipReason::BadKeyMaterial)?;
            Ok((Algorithm::ES256, key))
        }
        AlgorithmParameters::OctetKeyPair(okp)
            if okp.curve == EllipticCurve::Ed25519 && allows(KeyAlgorithm::EdDSA) =>
        {
            // `jsonwebtoken` slices the first 32 bytes of an Ed25519 key without checking its
            // length, so the length and the point are checked here.
            let x: [u8; 32] = decode(&okp.x)?
                .try_into()
                .map_err(|_| SkipReason::BadKeyMaterial)?;
            ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|_| SkipReason::BadKeyMaterial)?;
            Ok((Algorithm::EdDSA, DecodingKey::from_ed_der(&x)))
        }
        _ => Err(SkipReason::Unsupported),
    }
}

/// The number of significant bits of a big-endian unsigned integer.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.iter().position(|b| *b != 0) {
        Some(i) => (bytes.len() - i) * 8 - bytes[i].leading_zeros() as usize,
        None => 0,
    }
}

/// `aud` as a list: a string, or an array of strings (RFC 7519 §4.1.3).
fn audiences(aud: Option<&Value>) -> Option<Vec<&str>> {
    match aud? {
        Value::String(s) => Some(vec![s.as_str()]),
        Value::Array(items) => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// An RFC 7519 NumericDate, whole seconds (a fraction is dropped).
fn numeric_date(value: Option<&Value>) -> Option<i64> {
    let value = value?;
    value.as_i64().or_else(|| {
        let f = value.as_f64()?;
        // The range check keeps the cast exact; NaN and infinities cannot come from JSON.
        (f.is_finite() && f.abs() < 9.0e15).then(|| f.floor() as i64)
    })
}
