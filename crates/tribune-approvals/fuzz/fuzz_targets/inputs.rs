//! Text people and agents type: ids, principals, hashes, rationales, TOTP codes and secrets.
//! Parsing never panics, and what parses prints back as it was read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tribune_approvals::totp::{TotpParams, TotpSecret, verify};
use tribune_approvals::{ArgumentsHash, HumanId, Principal, Rationale};

fuzz_target!(|text: &str| {
    if let Ok(h) = HumanId::parse(text) {
        assert_eq!(h.as_str(), text);
    }
    if let Ok(p) = Principal::parse(text) {
        assert_eq!(p.to_string(), text);
    }
    if let Ok(h) = ArgumentsHash::parse(text) {
        assert_eq!(h.to_string(), text.to_ascii_lowercase());
    }
    if let Ok(r) = Rationale::parse(text) {
        assert_eq!(r.as_str(), text.trim());
    }
    if let Ok(s) = TotpSecret::from_base32(text) {
        let again = TotpSecret::from_base32(&s.to_base32()).map(|t| t.as_bytes().to_vec());
        assert_eq!(again.as_deref(), Ok(s.as_bytes()));
    }
    if let Ok(secret) = TotpSecret::from_bytes(b"12345678901234567890") {
        let _ = verify(&secret, TotpParams::default(), text, 1_795_687_200_000, Some(1));
    }
});
