//! Presented OIDC ID tokens: verification against a fixed Ed25519 JWK Set never panics.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tribune_identity::{Issuer, OidcVerifier};

static VERIFIER: LazyLock<OidcVerifier> = LazyLock::new(|| {
    let issuer = Issuer::from_seed([7; 32], "https://idp.example");
    OidcVerifier::new(&issuer.jwks(), "https://idp.example".into(), "client".into()).unwrap()
});

fuzz_target!(|token: &str| {
    let _ = VERIFIER.verify(token, 1_795_687_200);
});
