//! Humans signing in with an identity provider's ID token (`[oidc]`): a token that verifies and
//! names a declared human acts as that human, with the bundle's roles; anything else is refused.

use serde_json::{Value, json};

use crate::harness::{ADMIN, Backend, TestServer};

on_both_backends!(an_id_token_acts_as_the_human_it_names);

const IDP: &str = "https://idp.example";
const SEED: [u8; 32] = [42; 32];

fn id_token(seed: [u8; 32], claims: Value) -> String {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let der = ed25519_dalek::SigningKey::from_bytes(&seed)
        .to_pkcs8_der()
        .unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(tribune_identity::Issuer::from_seed(seed, IDP).kid().to_owned());
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
    )
    .unwrap()
}

fn claims(email: &str, aud: &str, exp_in: i64) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    json!({ "iss": IDP, "aud": aud, "sub": "00u1", "email": email, "iat": now, "exp": now + exp_in })
}

async fn an_id_token_acts_as_the_human_it_names(backend: Backend) {
    let s = TestServer::start_with(backend, |dir| {
        // The provider's public keys, as a JWK Set file in the bundle.
        let jwks = tribune_identity::Issuer::from_seed(SEED, IDP).jwks();
        std::fs::write(dir.join("idp-jwks.json"), jwks.to_string()).unwrap();
        let path = dir.join("tribune.toml");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replacen("[humans.alice]\n", "[humans.alice]\nemail = \"alice@example.com\"\n", 1);
        std::fs::write(
            &path,
            format!("{text}\n[oidc]\nissuer = \"{IDP}\"\naudience = \"tribune-console\"\njwks_file = \"idp-jwks.json\"\n"),
        )
        .unwrap();
    })
    .await;
    // alice (an admin in the bundle) by her e-mail; carol (an auditor) by her id.
    let alice = id_token(SEED, claims("alice@example.com", "tribune-console", 300));
    let listed = s.get("/v1/identities", &alice).await.expect(200).body;
    assert!(listed["identities"].as_array().is_some_and(|a| !a.is_empty()));
    // alice holds the bundle's `admin` role: she may register an identity, carol may not.
    let created = s
        .post(
            "/v1/identities",
            &alice,
            json!({ "id": "agent:made-by-alice", "owner": "alice", "class": "support" }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(created["created_by"], "human:alice");
    let carol = id_token(SEED, claims("carol", "tribune-console", 300));
    s.get("/v1/identities", &carol).await.expect(200);
    s.post(
        "/v1/identities",
        &carol,
        json!({ "id": "agent:x", "owner": "alice", "class": "support" }),
    )
    .await
    .expect_error(403, "forbidden");

    for token in [
        // Another audience, expired, an unknown human, a key the provider does not have.
        id_token(SEED, claims("alice@example.com", "another-app", 300)),
        id_token(SEED, claims("alice@example.com", "tribune-console", -3600)),
        id_token(SEED, claims("mallory@example.com", "tribune-console", 300)),
        id_token([1; 32], claims("alice@example.com", "tribune-console", 300)),
    ] {
        s.get("/v1/identities", &token)
            .await
            .expect_error(401, "oidc_invalid");
    }
    // Personal and admin tokens still work alongside.
    s.get("/v1/identities", ADMIN).await.expect(200);
    s.stop().await;
}
