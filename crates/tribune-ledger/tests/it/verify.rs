//! The offline verifier: a clean log passes, and every kind of tampering fails with the first
//! bad index named.

use proptest::prelude::*;
use tribune_ledger::{Checkpoint, Error, Hash, SigningKey, Tree, leaf_hash, verify_log};

const ORIGIN: &str = "tribune.example/ledger";

fn key() -> SigningKey {
    SigningKey::from_seed(ORIGIN, [11; 32]).unwrap()
}

/// Entry `i` is unique, so any move is visible.
fn payload(i: usize) -> Vec<u8> {
    format!(r#"{{"decision":"allow","seq":{i},"tool":"fs.read"}}"#).into_bytes()
}

struct Log {
    entries: Vec<Option<Vec<u8>>>,
    hashes: Vec<Hash>,
    checkpoints: Vec<Vec<u8>>,
}

/// A log of `n` entries with checkpoints signed at `sizes`.
fn log(n: usize, sizes: &[u64]) -> Log {
    let entries: Vec<Option<Vec<u8>>> = (0..n).map(|i| Some(payload(i))).collect();
    let hashes: Vec<Hash> = entries.iter().flatten().map(|e| leaf_hash(e)).collect();
    let checkpoints = sign_checkpoints(&hashes, sizes, &key());
    Log {
        entries,
        hashes,
        checkpoints,
    }
}

fn sign_checkpoints(hashes: &[Hash], sizes: &[u64], key: &SigningKey) -> Vec<Vec<u8>> {
    let tree = Tree::from_leaf_hashes(hashes.iter().copied());
    sizes
        .iter()
        .map(|&size| {
            let root = tree.root_at(size, hashes).unwrap();
            Checkpoint::new(ORIGIN, size, root).unwrap().sign(key).unwrap()
        })
        .collect()
}

fn verify(log: &Log) -> Result<tribune_ledger::VerifyReport, Error> {
    verify_log(&log.entries, &log.hashes, &log.checkpoints, &key().verifier_key())
}

#[test]
fn a_clean_log_verifies() {
    let mut log = log(1_000, &[0, 1, 256, 700, 700, 1_000]);
    log.entries[3] = None;
    log.entries[999] = None;
    let report = verify(&log).unwrap();
    assert_eq!(report.entries, 1_000);
    assert_eq!(report.pruned, 2);
    assert_eq!(report.checkpoints, 6);
    assert_eq!(report.verified_size, 1_000);
    assert_eq!(report.verified_root, report.root);
}

#[test]
fn entries_after_the_last_checkpoint_are_reported_unattested() {
    let log = log(100, &[40]);
    let report = verify(&log).unwrap();
    assert_eq!((report.entries, report.verified_size), (100, 40));
    assert_ne!(report.verified_root, report.root);
    let empty = Log {
        entries: Vec::new(),
        hashes: Vec::new(),
        checkpoints: Vec::new(),
    };
    assert_eq!(verify(&empty).unwrap().root, Hash::EMPTY_ROOT);
}

#[test]
fn payload_tampering_names_the_exact_index() {
    let base = log(50, &[50]);

    let mut modified = clone(&base);
    modified.entries[17] = Some(b"{\"decision\":\"deny\"}".to_vec());
    assert_first_bad(&modified, 17);

    let mut removed = clone(&base);
    removed.entries.remove(17);
    assert_first_bad(&removed, 17);

    let mut swapped = clone(&base);
    swapped.entries.swap(17, 30);
    assert_first_bad(&swapped, 17);

    let mut inserted = clone(&base);
    inserted.entries.insert(17, Some(b"{}".to_vec()));
    assert_first_bad(&inserted, 17);

    let mut last_removed = clone(&base);
    last_removed.entries.pop();
    assert!(matches!(
        verify(&last_removed),
        Err(Error::EntryCountMismatch {
            entries: 49,
            leaf_hashes: 50,
            index: 49
        })
    ));
}

#[test]
fn truncation_is_caught_by_the_checkpoint() {
    let mut log = log(50, &[10, 50]);
    log.entries.truncate(45);
    log.hashes.truncate(45);
    let err = verify(&log).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CheckpointBeyondLog {
                checkpoint: 1,
                size: 50,
                entries: 45,
                verified_size: 10
            }
        ),
        "{err:?}"
    );
    // Entries 10..45 are no longer vouched for: the removal may have been anywhere there.
    assert_eq!(err.first_bad_index(), Some(10));
}

#[test]
fn rewriting_payload_and_hash_is_caught_by_the_roots() {
    // The database was edited consistently: payload and stored hash of entry 17 replaced.
    let mut log = log(50, &[10, 20, 30, 50]);
    let forged = b"{\"decision\":\"allow\",\"forged\":true}".to_vec();
    log.hashes[17] = leaf_hash(&forged);
    log.entries[17] = Some(forged);
    let err = verify(&log).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CheckpointRootMismatch {
                checkpoint: 1,
                size: 20,
                verified_size: 10
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.first_bad_index(), Some(10));

    // With a checkpoint at every size the index is exact.
    let every: Vec<u64> = (1..=50).collect();
    let mut dense = self::log(50, &every);
    dense.hashes[17] = leaf_hash(b"x");
    dense.entries[17] = None;
    assert_eq!(verify(&dense).unwrap_err().first_bad_index(), Some(17));
}

#[test]
fn checkpoint_problems_are_refused() {
    // A bad signature.
    let mut log = log(20, &[5, 20]);
    let text = String::from_utf8(log.checkpoints[1].clone()).unwrap();
    let sig_start = text.find("— ").unwrap() + ORIGIN.len() + 12;
    let mut bytes = text.into_bytes();
    bytes[sig_start] = if bytes[sig_start] == b'A' { b'B' } else { b'A' };
    log.checkpoints[1] = bytes;
    let err = verify(&log).unwrap_err();
    assert!(
        matches!(&err, Error::CheckpointInvalid { checkpoint: 1, source } if matches!(**source, Error::BadSignature { .. })),
        "{err:?}"
    );

    // Signed by another key.
    let mut log = self::log(20, &[5]);
    let stranger = SigningKey::from_seed(ORIGIN, [12; 32]).unwrap();
    log.checkpoints = sign_checkpoints(&log.hashes, &[5], &stranger);
    assert!(matches!(
        verify(&log),
        Err(Error::CheckpointInvalid { checkpoint: 0, .. })
    ));

    // Out of order: a later checkpoint may never be smaller.
    let log = self::log(20, &[10, 5]);
    assert!(matches!(
        verify(&log),
        Err(Error::CheckpointsOutOfOrder {
            checkpoint: 1,
            size: 5,
            previous_size: 10
        })
    ));

    // A forked view: a checkpoint for a different tree of the same size.
    let mut log = self::log(20, &[10, 20]);
    let mut fork = log.hashes.clone();
    fork[15] = leaf_hash(b"fork");
    log.checkpoints[1] = sign_checkpoints(&fork, &[20], &key()).remove(0);
    assert!(matches!(
        verify(&log),
        Err(Error::CheckpointRootMismatch {
            checkpoint: 1,
            size: 20,
            verified_size: 10
        })
    ));
}

fn clone(log: &Log) -> Log {
    Log {
        entries: log.entries.clone(),
        hashes: log.hashes.clone(),
        checkpoints: log.checkpoints.clone(),
    }
}

fn assert_first_bad(log: &Log, index: u64) {
    let err = verify(log).unwrap_err();
    assert_eq!(err.first_bad_index(), Some(index), "{err:?}");
}

#[derive(Clone, Debug)]
enum Tamper {
    Modify(usize),
    Delete(usize),
    Swap(usize, usize),
    Insert(usize),
}

fn tamper(max: usize) -> impl Strategy<Value = (usize, Tamper)> {
    (2usize..max).prop_flat_map(|n| {
        let kind = prop_oneof![
            (0..n).prop_map(Tamper::Modify),
            (0..n).prop_map(Tamper::Delete),
            (0..n, 0..n)
                .prop_filter("distinct", |(a, b)| a != b)
                .prop_map(|(a, b)| Tamper::Swap(a, b)),
            (0..=n).prop_map(Tamper::Insert),
        ];
        (Just(n), kind)
    })
}

/// Applies `tamper` to the payloads only, or to payloads and stored hashes alike, and returns
/// the first index it changes.
fn apply(log: &mut Log, tamper: &Tamper, hashes_too: bool) -> u64 {
    let n = log.hashes.len();
    let forged = b"{\"forged\":true}".to_vec();
    let index = match *tamper {
        Tamper::Modify(i) => {
            log.entries[i] = Some(forged.clone());
            if hashes_too {
                log.hashes[i] = leaf_hash(&forged);
            }
            i
        }
        Tamper::Delete(i) => {
            log.entries.remove(i);
            if hashes_too {
                log.hashes.remove(i);
            }
            i
        }
        Tamper::Swap(a, b) => {
            log.entries.swap(a, b);
            if hashes_too {
                log.hashes.swap(a, b);
            }
            a.min(b)
        }
        Tamper::Insert(i) => {
            // Appending a consistent entry after the last one is an entry no checkpoint covers
            // yet, not tampering; insert before the end instead.
            let i = if hashes_too { i.min(n - 1) } else { i };
            log.entries.insert(i, Some(forged.clone()));
            if hashes_too {
                log.hashes.insert(i, leaf_hash(&forged));
            }
            i
        }
    };
    index as u64
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any modification, deletion, swap or insertion of payloads is reported at the exact first
    /// index it affects.
    #[test]
    fn payload_tampering_is_located((n, tamper) in tamper(400)) {
        let sizes: Vec<u64> = (1..=n as u64).filter(|s| s % 64 == 0 || *s == n as u64).collect();
        let mut log = log(n, &sizes);
        prop_assert!(verify(&log).is_ok());
        let expected = apply(&mut log, &tamper, false);
        let err = verify(&log).unwrap_err();
        prop_assert_eq!(err.first_bad_index(), Some(expected), "{:?}", err);
    }

    /// The same tampering applied to payloads and stored hashes alike is caught by the roots and
    /// located after the last checkpoint that still matches, within one checkpoint interval.
    #[test]
    fn consistent_tampering_is_bounded_by_checkpoints((n, tamper) in tamper(300)) {
        let every = 16;
        let sizes: Vec<u64> = (1..=n as u64).filter(|s| s % every == 0 || *s == n as u64).collect();
        let mut log = log(n, &sizes);
        let expected = apply(&mut log, &tamper, true);
        let err = verify(&log).unwrap_err();
        let first = err.first_bad_index().unwrap();
        prop_assert!(first <= expected && expected - first < every, "{:?}", err);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// With a checkpoint at every size, consistent tampering is located exactly.
    #[test]
    fn consistent_tampering_with_dense_checkpoints_is_exact((n, tamper) in tamper(40)) {
        let sizes: Vec<u64> = (1..=n as u64).collect();
        let mut log = log(n, &sizes);
        let expected = apply(&mut log, &tamper, true);
        let err = verify(&log).unwrap_err();
        prop_assert_eq!(err.first_bad_index(), Some(expected), "{:?}", err);
    }
}
