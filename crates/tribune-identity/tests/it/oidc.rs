//! OIDC ID-token verification with RS256, ES256 and EdDSA keys: the test-only RSA and P-256
//! keys under `tests/fixtures`, an Ed25519 key from a fixed seed.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tribune_identity::{OidcError, OidcVerifier, SkipReason, SkippedKey};

use crate::support::*;

const IDP: &str = "https://idp.example";
const CLIENT: &str = "tribune-console";

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(include_bytes!("../fixtures/test-only-rsa-2048.pem")).unwrap()
}

fn weak_rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(include_bytes!("../fixtures/test-only-rsa-1024.pem")).unwrap()
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(include_bytes!("../fixtures/test-only-p256.pem")).unwrap()
}

fn ed_key() -> EncodingKey {
    EncodingKey::from_ed_der(&ed25519_pkcs8([42; 32]))
}

/// The public JWK of `key` for `alg`, with `kid` and any `extra` members.
fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str, extra: Value) -> Value {
    let mut value = serde_json::to_value(Jwk::from_encoding_key(key, alg).unwrap()).unwrap();
    value["kid"] = json!(kid);
    for (k, v) in extra.as_object().unwrap() {
        value[k] = v.clone();
    }
    value
}

/// The public JWK of the Ed25519 key of `seed`. (`Jwk::from_encoding_key` reads only PKCS#8
/// v1 DER, and ed25519-dalek writes v2.)
fn ed_jwk(seed: [u8; 32], kid: &str) -> Value {
    let x = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    json!({"kty": "OKP", "crv": "Ed25519", "x": b64(x), "kid": kid})
}

/// A provider's JWK Set: one usable key per algorithm, and keys to skip.
fn jwks() -> Value {
    json!({"keys": [
        jwk(&rsa_key(), Algorithm::RS256, "rsa-1", json!({"use": "sig", "x5c": ["MIIB..."]})),
        jwk(&ec_key(), Algorithm::ES256, "ec-1", json!({})),
        ed_jwk([42; 32], "ed-1"),
        jwk(&rsa_key(), Algorithm::RS256, "rsa-enc", json!({"use": "enc", "alg": "RSA-OAEP"})),
        jwk(&weak_rsa_key(), Algorithm::RS256, "rsa-weak", json!({})),
        jwk(&rsa_key(), Algorithm::RS256, "rsa-ps", json!({"alg": "PS256"})),
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "kid": "ed-short"},
        {"kty": "EC", "crv": "P-384", "x": "AAAA", "y": "AAAA", "kid": "p384"},
        42,
    ]})
}

fn verifier() -> OidcVerifier {
    OidcVerifier::new(&jwks(), IDP.into(), CLIENT.into()).unwrap()
}

fn id_claims() -> Value {
    json!({
        "iss": IDP, "sub": "248289761001", "aud": CLIENT, "email": "ada@example.com",
        "iat": NOW, "exp": NOW + 3600,
    })
}

fn sign(key: &EncodingKey, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn outcome(verifier: &OidcVerifier, token: &str, now: i64) -> String {
    match verifier.verify(token, now) {
        Ok(claims) => format!("ok {}", claims["email"]),
        Err(e) => format!("{e:?}"),
    }
}

#[test]
fn keys_in_the_set_are_used_or_skipped_with_a_reason() {
    let v = verifier();
    assert_eq!(v.key_count(), 3);
    let skipped = |kid: Option<&str>, reason| SkippedKey {
        kid: kid.map(str::to_owned),
        reason,
    };
    assert_eq!(
        v.skipped(),
        [
            skipped(Some("rsa-enc"), SkipReason::NotForSignatures),
            skipped(Some("rsa-weak"), SkipReason::WeakRsaKey { bits: 1024 }),
            skipped(Some("rsa-ps"), SkipReason::Unsupported),
            skipped(Some("hmac"), SkipReason::Unsupported),
            skipped(Some("ed-short"), SkipReason::BadKeyMaterial),
            skipped(Some("p384"), SkipReason::Unsupported),
            skipped(None, SkipReason::Unreadable),
        ]
    );
    assert!(matches!(
        OidcVerifier::new(&json!({}), IDP.into(), CLIENT.into()),
        Err(OidcError::InvalidJwks)
    ));
    assert!(matches!(
        OidcVerifier::new(
            &json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
            IDP.into(),
            CLIENT.into()
        ),
        Err(OidcError::NoUsableKeys)
    ));
}

#[test]
fn tokens_of_each_algorithm_verify() {
    let v = verifier();
    let claims = id_claims();
    let rs = sign(&rsa_key(), Algorithm::RS256, Some("rsa-1"), &claims);
    let es = sign(&ec_key(), Algorithm::ES256, Some("ec-1"), &claims);
    let ed = sign(&ed_key(), Algorithm::EdDSA, Some("ed-1"), &claims);
    for token in [&rs, &es, &ed] {
        let got = v.verify(token, NOW).unwrap();
        assert_eq!(Value::Object(got), claims);
    }
    // Without a kid, the one key for the algorithm.
    let es_no_kid = sign(&ec_key(), Algorithm::ES256, None, &claims);
    assert_eq!(outcome(&v, &es_no_kid, NOW), r#"ok "ada@example.com""#);
    // `aud` as an array containing the client.
    let mut multi = claims.clone();
    multi["aud"] = json!(["other", CLIENT]);
    assert_eq!(
        outcome(&v, &sign(&ed_key(), Algorithm::EdDSA, Some("ed-1"), &multi), NOW),
        r#"ok "ada@example.com""#
    );
}

#[test]
fn our_own_credentials_verify_as_eddsa_tokens() {
    let issuer = issuer();
    let token = issuer.issue(&claims("j1")).unwrap();
    let v = OidcVerifier::new(&issuer.jwks(), ISSUER.into(), AUDIENCE.into()).unwrap();
    assert_eq!(
        v.verify(&token, NOW).unwrap()["scope"],
        "crm.read web.fetch web.search"
    );
}

#[test]
fn negative_samples() {
    let v = verifier().with_leeway(60);
    let claims = id_claims();
    let ed = |c: &Value| sign(&ed_key(), Algorithm::EdDSA, Some("ed-1"), c);
    let with = |k: &str, val: Value| {
        let mut c = claims.clone();
        c[k] = val;
        c
    };
    let without = |k: &str| {
        let mut c = claims.clone();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let good = ed(&claims);
    let [h, p, s] = parts(&good);
    let tampered = format!(
        "{h}.{}.{s}",
        b64(serde_json::to_vec(&with("email", json!("eve@example.com"))).unwrap())
    );
    let hs256 = sign(
        &EncodingKey::from_secret(b"secret"),
        Algorithm::HS256,
        Some("hmac"),
        &claims,
    );
    let alg_none = format!("{}.{p}.", b64(r#"{"alg":"none"}"#));
    let rs384 = format!("{}.{p}.{s}", b64(r#"{"alg":"RS384","kid":"rsa-1"}"#));
    let weak = sign(&weak_rsa_key(), Algorithm::RS256, Some("rsa-1"), &claims);
    let other_ed = sign(
        &EncodingKey::from_ed_der(&ed25519_pkcs8([43; 32])),
        Algorithm::EdDSA,
        Some("ed-1"),
        &claims,
    );

    let cases: Vec<(&str, String, i64, String)> = vec![
        ("good", good.clone(), NOW, r#"ok "ada@example.com""#.into()),
        ("tampered", tampered, NOW, "BadSignature".into()),
        ("another key", other_ed, NOW, "BadSignature".into()),
        (
            "signed by the weak key, kid of the good one",
            weak,
            NOW,
            "BadSignature".into(),
        ),
        (
            "hs256",
            hs256,
            NOW,
            r#"UnsupportedAlgorithm { found: "HS256" }"#.into(),
        ),
        (
            "alg none",
            alg_none,
            NOW,
            r#"UnsupportedAlgorithm { found: "none" }"#.into(),
        ),
        (
            "rs384",
            rs384,
            NOW,
            r#"UnsupportedAlgorithm { found: "RS384" }"#.into(),
        ),
        (
            "unknown kid",
            sign(&ed_key(), Algorithm::EdDSA, Some("nope"), &claims),
            NOW,
            r#"UnknownKey { kid: Some("nope"), alg: "EdDSA" }"#.into(),
        ),
        (
            "kid of a key for another alg",
            sign(&ed_key(), Algorithm::EdDSA, Some("ec-1"), &claims),
            NOW,
            r#"UnknownKey { kid: Some("ec-1"), alg: "EdDSA" }"#.into(),
        ),
        (
            "kid of a skipped key",
            sign(&ed_key(), Algorithm::EdDSA, Some("ed-short"), &claims),
            NOW,
            r#"UnknownKey { kid: Some("ed-short"), alg: "EdDSA" }"#.into(),
        ),
        (
            "expired",
            good.clone(),
            NOW + 3660,
            format!("Expired {{ exp: {} }}", NOW + 3600),
        ),
        (
            "inside leeway",
            good.clone(),
            NOW + 3659,
            r#"ok "ada@example.com""#.into(),
        ),
        (
            "not yet valid",
            ed(&with("nbf", json!(NOW + 100))),
            NOW + 39,
            format!("NotYetValid {{ nbf: {} }}", NOW + 100),
        ),
        (
            "nbf inside leeway",
            ed(&with("nbf", json!(NOW + 100))),
            NOW + 40,
            r#"ok "ada@example.com""#.into(),
        ),
        (
            "fractional exp",
            ed(&with("exp", json!(NOW as f64 + 10.75))),
            NOW + 69,
            r#"ok "ada@example.com""#.into(),
        ),
        (
            "wrong issuer",
            ed(&with("iss", json!("https://evil.example"))),
            NOW,
            format!(r#"WrongIssuer {{ expected: "{IDP}", found: "https://evil.example" }}"#),
        ),
        (
            "wrong audience",
            ed(&with("aud", json!("other"))),
            NOW,
            format!(r#"WrongAudience {{ expected: "{CLIENT}", found: ["other"] }}"#),
        ),
        (
            "wrong audiences",
            ed(&with("aud", json!(["a", "b"]))),
            NOW,
            format!(r#"WrongAudience {{ expected: "{CLIENT}", found: ["a", "b"] }}"#),
        ),
        (
            "no exp",
            ed(&without("exp")),
            NOW,
            r#"BadClaim { claim: "exp" }"#.into(),
        ),
        (
            "string exp",
            ed(&with("exp", json!("later"))),
            NOW,
            r#"BadClaim { claim: "exp" }"#.into(),
        ),
        (
            "no iss",
            ed(&without("iss")),
            NOW,
            r#"BadClaim { claim: "iss" }"#.into(),
        ),
        (
            "numeric aud",
            ed(&with("aud", json!(7))),
            NOW,
            r#"BadClaim { claim: "aud" }"#.into(),
        ),
        ("garbage", "garbage".into(), NOW, "Malformed(Shape)".into()),
    ];
    let mut failures = Vec::new();
    for (name, token, now, expected) in &cases {
        let got = outcome(&v, token, *now);
        if got != *expected {
            failures.push(format!("{name}: expected {expected}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn without_a_kid_two_keys_for_the_algorithm_are_ambiguous() {
    let set = json!({"keys": [
        ed_jwk([42; 32], "ed-1"),
        ed_jwk([43; 32], "ed-2"),
    ]});
    let v = OidcVerifier::new(&set, IDP.into(), CLIENT.into()).unwrap();
    let token = sign(&ed_key(), Algorithm::EdDSA, None, &id_claims());
    assert_eq!(
        outcome(&v, &token, NOW),
        r#"UnknownKey { kid: None, alg: "EdDSA" }"#
    );
    let token = sign(&ed_key(), Algorithm::EdDSA, Some("ed-1"), &id_claims());
    assert_eq!(outcome(&v, &token, NOW), r#"ok "ada@example.com""#);
}
