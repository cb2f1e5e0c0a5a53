//! Encoded verifier and signer keys: parsing never panics, and what parses re-encodes exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tribune_ledger::{SigningKey, VerifierKey};

fuzz_target!(|text: &str| {
    if let Ok(key) = VerifierKey::parse(text) {
        assert_eq!(key.as_str(), text);
    }
    if let Ok(key) = SigningKey::from_private_key(text) {
        assert_eq!(key.to_private_key(), text);
    }
});
