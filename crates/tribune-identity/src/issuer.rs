//! The credential issuer: an Ed25519 key that signs [`Claims`] as RFC 9068 JWT access tokens
//! (`{"alg":"EdDSA","typ":"at+jwt","kid":...}`) and publishes its public key as a JWK Set.
//!
//! The key id is the key's RFC 7638 JWK thumbprint (SHA-256, base64url), so it is derived
//! from the key alone and the same everywhere.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::claims::Claims;
use crate::error::{CredentialError, Malformed};
use crate::jws::MAX_TOKEN_BYTES;
use crate::verifier::Verifier;

/// The RFC 9068 media type of a JWT access token, the header's `typ`.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The DER of an RFC 8410 §7 Ed25519 PKCS#8 v1 `OneAsymmetricKey` up to the 32-byte seed:
/// SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }.
/// `jsonwebtoken` takes Ed25519 signing keys only as PKCS#8 DER.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Signs credentials with an Ed25519 key.
pub struct Issuer {
    name: String,
    kid: String,
    public_key: VerifyingKey,
    encoding: EncodingKey,
}

impl Issuer {
    /// The issuer named `issuer` (the `iss` of its credentials) with the Ed25519 key of `seed`
    /// (RFC 8032 private key).
    pub fn from_seed(seed: [u8; 32], issuer: impl Into<String>) -> Issuer {
        let public_key = SigningKey::from_bytes(&seed).verifying_key();
        let mut der = Vec::with_capacity(PKCS8_ED25519_PREFIX.len() + seed.len());
        der.extend_from_slice(&PKCS8_ED25519_PREFIX);
        der.extend_from_slice(&seed);
        Issuer {
            name: issuer.into(),
            kid: thumbprint(&public_key),
            public_key,
            encoding: EncodingKey::from_ed_der(&der),
        }
    }

    /// The issuer's name, the `iss` of its credentials.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key id: the public key's RFC 7638 thumbprint.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key.
    pub fn public_key(&self) -> VerifyingKey {
        self.public_key
    }

    /// Signs `claims` as a compact JWS. `claims.iss` must be this issuer's name.
    pub fn issue(&self, claims: &Claims) -> Result<String, CredentialError> {
        if claims.iss != self.name {
            return Err(CredentialError::WrongIssuer {
                expected: self.name.clone(),
                found: claims.iss.clone(),
            });
        }
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(self.kid.clone());
        let token =
            jsonwebtoken::encode(&header, claims, &self.encoding).map_err(CredentialError::Signing)?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Malformed::TooLong {
                len: token.len(),
                max: MAX_TOKEN_BYTES,
            }
            .into());
        }
        Ok(token)
    }

    /// The public key as an RFC 8037 JWK (`OKP`, `Ed25519`) with `use: sig`, `alg: EdDSA` and
    /// the `kid`.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.public_key.as_bytes()),
            "use": "sig",
            "alg": "EdDSA",
            "kid": self.kid,
        })
    }

    /// A JWK Set (RFC 7517 §5) holding [`Issuer::jwk`].
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk()] })
    }

    /// A verifier of this issuer's credentials for `audience`.
    pub fn verifier(&self, audience: impl Into<String>) -> Verifier {
        Verifier::new(self.public_key, self.name.clone(), audience)
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("name", &self.name)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The RFC 7638 thumbprint of an Ed25519 public key: SHA-256 over the JWK's required members
/// in lexicographic order without whitespace (RFC 8037 §2), base64url.
pub(crate) fn thumbprint(key: &VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::pkcs8::DecodePrivateKey;

    use super::*;

    #[test]
    fn pkcs8_prefix_is_rfc_8410() {
        let seed = [9u8; 32];
        let mut der = PKCS8_ED25519_PREFIX.to_vec();
        der.extend_from_slice(&seed);
        let parsed = SigningKey::from_pkcs8_der(&der).unwrap();
        assert_eq!(parsed.to_bytes(), seed);
    }
}
