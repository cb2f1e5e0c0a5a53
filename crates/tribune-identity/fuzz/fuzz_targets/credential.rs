//! Presented credentials: verification never panics, with or without the cache, and whatever
//! verifies was signed by the issuer (the fuzzer cannot forge Ed25519 signatures, so nothing
//! should verify but tokens it copied from the seed corpus).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tribune_identity::{Issuer, Verifier};

static VERIFIER: LazyLock<Verifier> =
    LazyLock::new(|| Issuer::from_seed([7; 32], "https://tribune.example").verifier("tribune"));

fuzz_target!(|token: &str| {
    if let Ok(verified) = VERIFIER.verify(token, 1_795_687_200) {
        assert_eq!(verified.claims.iss, "https://tribune.example");
        assert_eq!(verified.claims.aud, "tribune");
    }
});
