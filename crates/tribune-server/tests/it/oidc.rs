//! Humans signing in with an identity provider's ID token (`[oidc]`): a token that verifies and
//! names a declared human acts as that human, with the bundle's roles; anything else is refused.

use serde_json::{Value, json};

use crate::harness::{ADMIN, Backend, TestServer};

on_both_backends!(
    an_id_token_acts_as_the_human_it_names,
    keys_from_a_url_follow_the_providers_rotation,
);

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
    json!({ "iss": IDP, "aud": aud, "sub": "00u1", "email": email, "email_verified": true, "iat": now, "exp": now + exp_in })
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
    // An address the provider has not verified names nobody.
    for verified in [json!(false), json!("true"), Value::Null] {
        let mut c = claims("alice@example.com", "tribune-console", 300);
        c["email_verified"] = verified;
        s.get("/v1/identities", &id_token(SEED, c))
            .await
            .expect_error(401, "oidc_invalid");
    }
    // Personal and admin tokens still work alongside.
    s.get("/v1/identities", ADMIN).await.expect(200);
    s.stop().await;
}

/// A provider's JWK Set endpoint on port 0, serving whatever key set the test puts in `keys`,
/// and counting the fetches.
struct Provider {
    url: String,
    keys: std::sync::Arc<std::sync::Mutex<Value>>,
    fetches: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Provider {
    async fn start(keys: Value) -> Provider {
        let keys = std::sync::Arc::new(std::sync::Mutex::new(keys));
        let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let app = {
            let (keys, fetches) = (keys.clone(), fetches.clone());
            axum::Router::new().route(
                "/jwks",
                axum::routing::get(move || {
                    fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let body = keys.lock().unwrap().clone();
                    async move { axum::Json(body) }
                }),
            )
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Provider {
            url,
            keys,
            fetches,
            task,
        }
    }

    fn fetches(&self) -> usize {
        self.fetches.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn keys_from_a_url_follow_the_providers_rotation(backend: Backend) {
    const NEXT: [u8; 32] = [43; 32];
    let provider = Provider::start(tribune_identity::Issuer::from_seed(SEED, IDP).jwks()).await;
    let url = provider.url.clone();
    let s = TestServer::start_with(backend, move |dir| {
        let path = dir.join("tribune.toml");
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "[humans.alice]\n",
            "[humans.alice]\nemail = \"alice@example.com\"\n",
            1,
        );
        std::fs::write(
            &path,
            format!(
                "{text}\n[oidc]\nissuer = \"{IDP}\"\naudience = \"tribune-console\"\njwks_url = \"{url}\"\n"
            ),
        )
        .unwrap();
    })
    .await;
    let alice = |seed| id_token(seed, claims("alice@example.com", "tribune-console", 300));
    s.get("/v1/identities", &alice(SEED)).await.expect(200);
    let fetched = provider.fetches();
    assert!(fetched >= 1);

    // The provider rotates to a new key: a token under it names a `kid` Tribune has not seen,
    // so Tribune fetches the set again, once, and accepts it.
    *provider.keys.lock().unwrap() = tribune_identity::Issuer::from_seed(NEXT, IDP).jwks();
    s.get("/v1/identities", &alice(NEXT)).await.expect(200);
    assert_eq!(provider.fetches(), fetched + 1);
    s.get("/v1/identities", &alice(NEXT)).await.expect(200);
    assert_eq!(provider.fetches(), fetched + 1, "a known key needs no fetch");
    // The retired key is gone with the old set.
    s.get("/v1/identities", &alice(SEED))
        .await
        .expect_error(401, "oidc_invalid");
    // Tokens under keys the provider never had do not make Tribune fetch again and again.
    for seed in [[7; 32], [8; 32], [9; 32]] {
        s.get("/v1/identities", &alice(seed))
            .await
            .expect_error(401, "oidc_invalid");
    }
    assert_eq!(
        provider.fetches(),
        fetched + 1,
        "unknown kids refetch at most once per 30 s"
    );
    s.stop().await;
    provider.task.abort();
}
