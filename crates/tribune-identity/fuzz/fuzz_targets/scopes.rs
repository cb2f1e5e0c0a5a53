//! Scope strings: parsing never panics, and what parses prints back to a string that parses to
//! the same set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tribune_identity::Scopes;

fuzz_target!(|text: &str| {
    if let Ok(scopes) = Scopes::parse(text) {
        assert_eq!(Scopes::parse(&scopes.to_string()).unwrap(), scopes);
    }
});
