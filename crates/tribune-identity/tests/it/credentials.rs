//! Issuing and verifying credentials: the format, independent verification, known-answer
//! vectors from RFC 8037, and one negative sample per way a token can be wrong.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::json;
use tribune_identity::{CredentialError, Issuer, MAX_TOKEN_BYTES, Malformed, Verifier};

use crate::support::*;

/// The verifier's answer for `token` at `now`: `ok` or the error's `Debug`.
fn outcome(verifier: &Verifier, token: &str, now: i64) -> String {
    match verifier.verify(token, now) {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("{e:?}"),
    }
}

#[test]
fn issued_token_has_the_rfc_9068_header_and_claims() {
    let issuer = issuer();
    let token = issuer.issue(&claims("j1")).unwrap();
    let [h, p, _] = parts(&token);
    let header: serde_json::Value = serde_json::from_slice(&unb64(h)).unwrap();
    assert_eq!(
        header,
        json!({"alg": "EdDSA", "typ": "at+jwt", "kid": issuer.kid()})
    );
    let payload: serde_json::Value = serde_json::from_slice(&unb64(p)).unwrap();
    assert_eq!(
        payload,
        json!({
            "iss": ISSUER, "sub": "agent:planner", "aud": AUDIENCE,
            "iat": NOW, "nbf": NOW, "exp": NOW + 900, "jti": "j1",
            "scope": "crm.read web.fetch web.search", "gen": 3, "cls": "research",
        })
    );
    let verified = issuer.verifier(AUDIENCE).verify(&token, NOW).unwrap();
    assert_eq!(*verified.claims, claims("j1"));
}

#[test]
fn issued_token_verifies_with_the_published_jwk_and_with_ed25519_dalek() {
    let issuer = issuer();
    let token = issuer.issue(&claims("j1")).unwrap();

    // jsonwebtoken, with the key taken from our JWK Set.
    let set: JwkSet = serde_json::from_value(issuer.jwks()).unwrap();
    let jwk = set.find(issuer.kid()).unwrap();
    assert_eq!(
        jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).unwrap(),
        issuer.kid()
    );
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false; // the fixed `NOW` is not the system clock
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);
    let data =
        jsonwebtoken::decode::<serde_json::Value>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap();
    assert_eq!(data.claims["scope"], "crm.read web.fetch web.search");

    // ed25519-dalek, directly over `header.payload`.
    let x: [u8; 32] = unb64(issuer.jwks()["keys"][0]["x"].as_str().unwrap())
        .try_into()
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&x).unwrap();
    let (message, signature) = token.rsplit_once('.').unwrap();
    let signature = ed25519_dalek::Signature::from_slice(&unb64(signature)).unwrap();
    key.verify_strict(message.as_bytes(), &signature).unwrap();
}

/// RFC 8037 Appendix A: the Ed25519 key (A.1, A.2), its thumbprint (A.3) and a JWS (A.4).
#[test]
fn rfc_8037_known_answers() {
    let d: [u8; 32] = unb64("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
        .try_into()
        .unwrap();
    let issuer = Issuer::from_seed(d, ISSUER);
    assert_eq!(issuer.kid(), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    assert_eq!(
        issuer.jwks(),
        json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
            "use": "sig", "alg": "EdDSA", "kid": "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
        }]})
    );
    let jws = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
               hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    let (message, signature) = jws.rsplit_once('.').unwrap();
    let key = DecodingKey::from_ed_components("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo").unwrap();
    assert!(jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key, Algorithm::EdDSA).unwrap());
    // Correctly signed by the right key, but not an access token.
    assert_eq!(
        outcome(&issuer.verifier(AUDIENCE), jws, NOW),
        format!(
            "{:?}",
            CredentialError::Malformed(Malformed::Type { found: None })
        )
    );
}

#[test]
fn negative_samples() {
    let issuer = issuer();
    let verifier = issuer.verifier(AUDIENCE).with_cache_capacity(0);
    let token = issuer.issue(&claims("j1")).unwrap();
    let [h, p, s] = parts(&token);
    let kid = issuer.kid().to_owned();

    let widened = {
        let mut c = claims("j1");
        c.scope.insert("crm.write");
        b64(serde_json::to_vec(&c).unwrap())
    };
    let other_key = Issuer::from_seed([8; 32], ISSUER).issue(&claims("j1")).unwrap();
    let other_key_our_kid = sign_ed25519([8; 32], &header(Some("at+jwt"), Some(&kid)), &json!(claims("j1")));
    let other_issuer = Issuer::from_seed(SEED, "https://elsewhere.example")
        .issue(&{
            let mut c = claims("j1");
            c.iss = "https://elsewhere.example".into();
            c
        })
        .unwrap();
    let alg_none = format!(
        "{}.{p}.",
        b64(serde_json::to_vec(&json!({"alg": "none", "typ": "at+jwt"})).unwrap())
    );
    let hs256 = {
        // The classic confusion: an HMAC keyed with the public key.
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid.clone());
        let secret = issuer.public_key().to_bytes();
        jsonwebtoken::encode(&header, &claims("j1"), &EncodingKey::from_secret(&secret)).unwrap()
    };
    let typ_jwt = sign_ed25519(SEED, &header(Some("JWT"), Some(&kid)), &json!(claims("j1")));
    let no_kid = sign_ed25519(
        SEED,
        &header(Some("application/at+jwt"), None),
        &json!(claims("j1")),
    );
    let missing_scope = {
        let mut c = json!(claims("j1"));
        c.as_object_mut().unwrap().remove("scope");
        sign_ed25519(SEED, &header(Some("at+jwt"), Some(&kid)), &c)
    };
    let string_exp = {
        let mut c = json!(claims("j1"));
        c["exp"] = json!("soon");
        sign_ed25519(SEED, &header(Some("at+jwt"), Some(&kid)), &c)
    };
    let aud_array = {
        let mut c = json!(claims("j1"));
        c["aud"] = json!([AUDIENCE]);
        sign_ed25519(SEED, &header(Some("at+jwt"), Some(&kid)), &c)
    };
    let not_yet = issuer
        .issue(&{
            let mut c = claims("j1");
            c.nbf = NOW + 100;
            c
        })
        .unwrap();
    let long = format!("{h}.{}.{s}", "A".repeat(MAX_TOKEN_BYTES));

    let bad_signature = "BadSignature".to_owned();
    let cases: Vec<(&str, String, i64, String)> = vec![
        ("valid", token.clone(), NOW, "ok".into()),
        (
            "tampered payload",
            format!("{h}.{widened}.{s}"),
            NOW,
            bad_signature.clone(),
        ),
        (
            "truncated signature",
            format!("{h}.{p}.{}", &s[..20]),
            NOW,
            bad_signature.clone(),
        ),
        ("empty signature", format!("{h}.{p}."), NOW, bad_signature.clone()),
        ("another key", other_key, NOW, bad_signature.clone()),
        (
            "another key, our kid",
            other_key_our_kid,
            NOW,
            bad_signature.clone(),
        ),
        (
            "alg none",
            alg_none,
            NOW,
            r#"UnsupportedAlgorithm { found: "none" }"#.into(),
        ),
        (
            "hs256",
            hs256,
            NOW,
            r#"UnsupportedAlgorithm { found: "HS256" }"#.into(),
        ),
        (
            "typ JWT",
            typ_jwt,
            NOW,
            r#"Malformed(Type { found: Some("JWT") })"#.into(),
        ),
        ("no kid, media type typ", no_kid, NOW, "ok".into()),
        (
            "expired",
            token.clone(),
            NOW + 905,
            format!("Expired {{ exp: {} }}", NOW + 900),
        ),
        ("inside exp leeway", token.clone(), NOW + 904, "ok".into()),
        (
            "not yet valid",
            not_yet.clone(),
            NOW + 94,
            format!("NotYetValid {{ nbf: {} }}", NOW + 100),
        ),
        ("inside nbf leeway", not_yet, NOW + 95, "ok".into()),
        (
            "wrong issuer",
            other_issuer,
            NOW,
            format!(r#"WrongIssuer {{ expected: "{ISSUER}", found: "https://elsewhere.example" }}"#),
        ),
        (
            "missing claim",
            missing_scope.clone(),
            NOW,
            "Malformed(Claims { detail: \"missing field `scope` at line 1 column 158\" })".into(),
        ),
        (
            "mistyped claim",
            string_exp,
            NOW,
            "Malformed(Claims { detail: \"invalid type: string \\\"soon\\\", expected i64 at line 1 column 46\" })".into(),
        ),
        (
            "aud array",
            aud_array,
            NOW,
            "Malformed(Claims { detail: \"invalid type: sequence, expected a string at line 1 column 7\" })".into(),
        ),
        (
            "reordered parts",
            format!("{p}.{h}.{s}"),
            NOW,
            "Malformed(Header { detail: \"missing field `alg` at line 1 column 198\" })".into(),
        ),
        ("garbage", "garbage".into(), NOW, "Malformed(Shape)".into()),
        ("empty", String::new(), NOW, "Malformed(Shape)".into()),
        ("four parts", format!("{token}.x"), NOW, "Malformed(Shape)".into()),
        (
            "bad base64 header",
            format!("*{h}.{p}.{s}"),
            NOW,
            "Malformed(Base64)".into(),
        ),
        (
            "bad base64 payload",
            format!("{h}.*{p}.{s}"),
            NOW,
            bad_signature.clone(),
        ),
        (
            "bad base64 signature",
            format!("{h}.{p}.*{s}"),
            NOW,
            "Malformed(Base64)".into(),
        ),
        (
            "too long",
            long,
            NOW,
            format!(
                "Malformed(TooLong {{ len: {}, max: {MAX_TOKEN_BYTES} }})",
                MAX_TOKEN_BYTES + h.len() + s.len() + 2
            ),
        ),
    ];
    let mut failures = Vec::new();
    for (name, token, now, expected) in &cases {
        let got = outcome(&verifier, token, *now);
        // Positions in serde's messages depend on the JSON's key order, which another crate in
        // a workspace build may change (serde_json's `preserve_order`); compare without them.
        if without_position(&got) != without_position(expected) {
            failures.push(format!("{name}: expected {expected}, got {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let wrong_audience = issuer.verifier("billing");
    assert_eq!(
        outcome(&wrong_audience, &token, NOW),
        format!(r#"WrongAudience {{ expected: "billing", found: "{AUDIENCE}" }}"#)
    );
    assert_eq!(verifier.cache_len(), 0);
}

#[test]
fn error_messages() {
    let verifier = issuer().verifier(AUDIENCE);
    let messages: Vec<String> = ["garbage", "e30.e30.e30"]
        .iter()
        .map(|t| verifier.verify(t, NOW).unwrap_err().to_string())
        .collect();
    assert_eq!(
        messages,
        [
            "malformed credential: not a compact JWS (three base64url parts separated by dots)",
            "malformed credential: bad header: missing field `alg` at line 1 column 2",
        ]
    );
    let e = CredentialError::WrongAudience {
        expected: "tribune".into(),
        found: "billing".into(),
    };
    assert_eq!(
        e.to_string(),
        "credential is for audience `billing`, expected `tribune`"
    );
}

#[test]
fn issuing_checks_the_issuer_and_the_scope_tokens() {
    let issuer = issuer();
    let mut c = claims("j1");
    c.iss = "someone-else".into();
    assert_eq!(
        format!("{:?}", issuer.issue(&c).unwrap_err()),
        format!(r#"WrongIssuer {{ expected: "{ISSUER}", found: "someone-else" }}"#)
    );
    let mut c = claims("j1");
    c.scope.insert("two words");
    let e = issuer.issue(&c).unwrap_err();
    assert!(matches!(e, CredentialError::Signing(_)), "{e:?}");
    assert!(e.to_string().contains("`two words` is not a scope token"), "{e}");
}

#[test]
fn delegated_claims_round_trip() {
    let issuer = issuer();
    let mut c = claims("j3");
    c.act = Some(tribune_identity::Actor {
        sub: "fetcher".into(),
        act: Some(Box::new(tribune_identity::Actor {
            sub: "researcher".into(),
            act: None,
        })),
    });
    c.anc = vec!["j1".into(), "j2".into()];
    let token = issuer.issue(&c).unwrap();
    let verified = issuer.verifier(AUDIENCE).verify(&token, NOW).unwrap();
    assert_eq!(*verified.claims, c);
    assert_eq!(
        verified.claims.chain(),
        ["agent:planner", "researcher", "fetcher"]
    );
}

#[test]
fn type_error_messages() {
    let none = CredentialError::Malformed(Malformed::Type { found: None });
    let jwt = CredentialError::Malformed(Malformed::Type {
        found: Some("JWT".into()),
    });
    assert_eq!(
        none.to_string(),
        "malformed credential: token type missing, expected `at+jwt`"
    );
    assert_eq!(
        jwt.to_string(),
        "malformed credential: token type `JWT`, expected `at+jwt`"
    );
}

/// `s` without serde_json's ` at line N column M` positions.
fn without_position(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find(" at line ") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + " at line ".len()..];
        let after_line = tail.trim_start_matches(|c: char| c.is_ascii_digit());
        match after_line.strip_prefix(" column ") {
            Some(col) => rest = col.trim_start_matches(|c: char| c.is_ascii_digit()),
            None => {
                out.push_str(" at line ");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}
