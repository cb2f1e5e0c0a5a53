//! The verifier's cache: hits, time checks on hits, failures never cached, the eviction
//! policy, and concurrent use.

use std::sync::Arc;

use tribune_identity::CredentialError;

use crate::support::*;

#[test]
fn second_verification_is_a_hit_with_the_same_claims() {
    let issuer = issuer();
    let verifier = issuer.verifier(AUDIENCE);
    let token = issuer.issue(&claims("j1")).unwrap();
    let first = verifier.verify(&token, NOW).unwrap();
    let second = verifier.verify(&token, NOW + 1).unwrap();
    assert!(!first.cached && second.cached);
    assert!(Arc::ptr_eq(&first.claims, &second.claims));
    assert_eq!(verifier.cache_len(), 1);
    verifier.clear_cache();
    assert!(!verifier.verify(&token, NOW + 2).unwrap().cached);
}

#[test]
fn a_cached_credential_is_still_refused_once_expired_or_before_nbf() {
    let issuer = issuer();
    let verifier = issuer.verifier(AUDIENCE).with_leeway(0);
    let mut c = claims("j1");
    c.nbf = NOW + 10;
    let token = issuer.issue(&c).unwrap();
    assert!(verifier.verify(&token, NOW + 10).is_ok());
    assert!(
        matches!(verifier.verify(&token, NOW + 9), Err(CredentialError::NotYetValid { nbf }) if nbf == NOW + 10)
    );
    assert!(verifier.verify(&token, NOW + 899).unwrap().cached);
    assert!(
        matches!(verifier.verify(&token, NOW + 900), Err(CredentialError::Expired { exp }) if exp == NOW + 900)
    );
}

#[test]
fn failures_are_not_cached() {
    let issuer = issuer();
    let verifier = issuer.verifier(AUDIENCE);
    let mut c = claims("j1");
    c.nbf = NOW + 100;
    let token = issuer.issue(&c).unwrap();
    assert!(verifier.verify(&token, NOW).is_err());
    assert!(verifier.verify("garbage", NOW).is_err());
    assert_eq!(verifier.cache_len(), 0);
    assert!(!verifier.verify(&token, NOW + 100).unwrap().cached);
}

#[test]
fn when_full_expired_entries_go_first_then_everything() {
    let issuer = issuer();
    let verifier = issuer.verifier(AUDIENCE).with_cache_capacity(3).with_leeway(0);
    let token = |jti: &str, exp: i64| {
        let mut c = claims(jti);
        c.exp = exp;
        issuer.issue(&c).unwrap()
    };
    let short = [token("s1", NOW + 10), token("s2", NOW + 10)];
    let long = [
        token("l1", NOW + 900),
        token("l2", NOW + 900),
        token("l3", NOW + 900),
    ];
    for t in short.iter().chain(&long[..1]) {
        verifier.verify(t, NOW).unwrap();
    }
    assert_eq!(verifier.cache_len(), 3);
    // Full, but both short ones have expired: they go, the live one stays.
    verifier.verify(&long[1], NOW + 10).unwrap();
    assert_eq!(verifier.cache_len(), 2);
    assert!(verifier.verify(&long[0], NOW + 10).unwrap().cached);
    verifier.verify(&long[2], NOW + 10).unwrap();
    assert_eq!(verifier.cache_len(), 3);
    // Full of live entries: cleared, then the new one is inserted.
    verifier.verify(&token("l4", NOW + 900), NOW + 11).unwrap();
    assert_eq!(verifier.cache_len(), 1);
    assert!(!verifier.verify(&long[0], NOW + 11).unwrap().cached);
    // There is room again: the next miss is simply inserted.
    assert_eq!(verifier.cache_len(), 2);
}

#[test]
fn capacity_zero_disables_the_cache() {
    let issuer = issuer();
    let verifier = issuer.verifier(AUDIENCE).with_cache_capacity(0);
    let token = issuer.issue(&claims("j1")).unwrap();
    assert!(!verifier.verify(&token, NOW).unwrap().cached);
    assert!(!verifier.verify(&token, NOW).unwrap().cached);
    assert_eq!(verifier.cache_len(), 0);
}

#[test]
fn concurrent_verification() {
    let issuer = issuer();
    let verifier = issuer.verifier(AUDIENCE).with_cache_capacity(50);
    let tokens: Vec<String> = (0..64)
        .map(|i| issuer.issue(&claims(&format!("j{i}"))).unwrap())
        .collect();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (verifier, tokens) = (&verifier, &tokens);
            s.spawn(move || {
                for round in 0..5 {
                    for (i, token) in tokens.iter().enumerate() {
                        let v = verifier.verify(token, NOW + round).unwrap();
                        assert_eq!(v.claims.jti, format!("j{i}"), "thread {t}");
                    }
                }
            });
        }
    });
    assert!(verifier.cache_len() <= 50);
}
