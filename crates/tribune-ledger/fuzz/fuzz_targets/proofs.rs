//! Untrusted proofs: verification never panics, whatever the sizes, index and hashes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tribune_ledger::{Hash, root_from_inclusion_proof, verify_consistency, verify_inclusion};

fuzz_target!(|input: (u64, u64, [u8; 32], [u8; 32], Vec<[u8; 32]>)| {
    let (a, b, x, y, proof) = input;
    let proof: Vec<Hash> = proof.into_iter().map(Hash).collect();
    let (x, y) = (Hash(x), Hash(y));
    let _ = root_from_inclusion_proof(a, b, &x, &proof);
    let _ = verify_inclusion(a, b, &x, &proof, &y);
    let _ = verify_consistency(a, b, &x, &y, &proof);
});
