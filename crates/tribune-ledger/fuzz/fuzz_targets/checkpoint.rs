//! Signed checkpoints as an auditor receives them: parsing and opening never panic, and whatever
//! opens re-serializes to the same body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tribune_ledger::{Checkpoint, SigningKey};

fuzz_target!(|data: &[u8]| {
    let _ = Checkpoint::parse_unverified(data);
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(checkpoint) = Checkpoint::from_text(text)
    {
        assert_eq!(checkpoint.to_text(), text);
    }
    let Ok(key) = SigningKey::from_seed("fuzz.example/log", [1; 32]) else {
        return;
    };
    let _ = Checkpoint::open(data, &key.verifier_key());
});
