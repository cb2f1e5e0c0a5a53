//! Stored entry bytes: the canonical-JSON check never panics, and accepted bytes are a fixpoint.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tribune_ledger::Entry;

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = Entry::from_canonical_bytes(data.to_vec()) {
        assert_eq!(entry.as_bytes(), data);
    }
});
