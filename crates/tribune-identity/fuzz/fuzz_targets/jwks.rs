//! An identity provider's JWK Set: reading it never panics, whatever the keys hold (short or
//! invalid Ed25519 points, odd RSA moduli, unknown members).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tribune_identity::OidcVerifier;

fuzz_target!(|data: &[u8]| {
    let Ok(jwks) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(verifier) = OidcVerifier::new(&jwks, "https://idp.example".into(), "client".into()) {
        assert!(verifier.key_count() > 0);
        let _ = verifier.verify("eyJhbGciOiJFZERTQSJ9.e30.AAAA", 0);
    }
});
