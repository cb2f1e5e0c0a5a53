//! Shared fixtures: a fixed clock, an issuer, root claims, and raw signing for hand-made
//! tokens.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tribune_identity::{Claims, Issuer, Scopes};

/// 2026-11-26T10:00:00Z.
pub const NOW: i64 = 1_795_687_200;
pub const SEED: [u8; 32] = [7; 32];
pub const ISSUER: &str = "https://tribune.example";
pub const AUDIENCE: &str = "tribune";

pub fn issuer() -> Issuer {
    Issuer::from_seed(SEED, ISSUER)
}

/// A root credential valid for 15 minutes from `NOW`.
pub fn claims(jti: &str) -> Claims {
    Claims {
        iss: ISSUER.into(),
        sub: "agent:planner".into(),
        aud: AUDIENCE.into(),
        iat: NOW,
        nbf: NOW,
        exp: NOW + 900,
        jti: jti.into(),
        scope: scopes(&["crm.read", "web.fetch", "web.search"]),
        generation: 3,
        cls: Some("research".into()),
        act: None,
        anc: vec![],
    }
}

pub fn scopes(tools: &[&str]) -> Scopes {
    tools.iter().copied().collect()
}

/// The PKCS#8 DER of the Ed25519 key of `seed`, by ed25519-dalek (not the crate's own prefix).
pub fn ed25519_pkcs8(seed: [u8; 32]) -> Vec<u8> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

/// Signs any JSON `payload` with the Ed25519 key of `seed` under `header`.
pub fn sign_ed25519(seed: [u8; 32], header: &Header, payload: &serde_json::Value) -> String {
    jsonwebtoken::encode(header, payload, &EncodingKey::from_ed_der(&ed25519_pkcs8(seed))).unwrap()
}

/// An EdDSA header with `typ` and `kid`.
pub fn header(typ: Option<&str>, kid: Option<&str>) -> Header {
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = typ.map(str::to_owned);
    header.kid = kid.map(str::to_owned);
    header
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(part).unwrap()
}

/// The token's three parts.
pub fn parts(token: &str) -> [&str; 3] {
    let v: Vec<&str> = token.split('.').collect();
    [v[0], v[1], v[2]]
}
