//! The offline verifier: everything an auditor checks with only the deployment's public key.
//!
//! Input is the whole log as exported: entry payloads in order (`None` where retention deleted a
//! payload but kept its leaf hash), the stored leaf hashes, and the signed checkpoints in the
//! order they were issued. One pass over the entries:
//!
//! 1. every present payload must hash to its stored leaf hash, so a modified, removed, inserted
//!    or reordered payload is caught at its exact index;
//! 2. the tree is rebuilt from the leaf hashes, and at each checkpoint's size the recomputed root
//!    must equal the signed root, which catches any change to the leaf hashes themselves;
//! 3. each checkpoint is consistent with the one before (a consistency proof is produced from the
//!    rebuilt tree and checked against both signed roots);
//! 4. every checkpoint must be signed by the key, name this log as origin, and not shrink.
//!
//! A leaf hash altered together with its payload (or a deleted payload's hash) cannot be pinned
//! closer than the checkpoints allow: the error names the first index after the last checkpoint
//! that still matched. The denser the checkpoints, the tighter that bound.

use crate::checkpoint::Checkpoint;
use crate::error::Error;
use crate::hash::{Hash, leaf_hash};
use crate::note::VerifierKey;
use crate::proof::verify_consistency;
use crate::tree::Tree;

/// What a successful verification established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Entries in the log.
    pub entries: u64,
    /// Entries whose payload was deleted; their leaf hashes were still verified.
    pub pruned: u64,
    /// Checkpoints verified.
    pub checkpoints: usize,
    /// Size of the largest verified checkpoint: entries `0..verified_size` are proven.
    pub verified_size: u64,
    /// The root at `verified_size`.
    pub verified_root: Hash,
    /// The root over all entries, including those after the last checkpoint.
    pub root: Hash,
}

/// Verifies a whole log offline; see the module documentation for what is checked.
pub fn verify_log<E, C>(
    entries: &[Option<E>],
    leaf_hashes: &[Hash],
    checkpoints: &[C],
    key: &VerifierKey,
) -> Result<VerifyReport, Error>
where
    E: AsRef<[u8]>,
    C: AsRef<[u8]>,
{
    let checkpoints = open_checkpoints(checkpoints, key)?;

    let mut tree = Tree::new();
    let mut pruned = 0u64;
    let mut next = 0usize;
    // The last checkpoint that matched: (size, root).
    let mut verified = (0u64, Hash::EMPTY_ROOT);
    check_checkpoints_at(&tree, leaf_hashes, &checkpoints, &mut next, &mut verified)?;

    let count = entries.len().max(leaf_hashes.len());
    for i in 0..count {
        let index = i as u64;
        let (Some(payload), Some(stored)) = (entries.get(i), leaf_hashes.get(i)) else {
            return Err(Error::EntryCountMismatch {
                entries: entries.len() as u64,
                leaf_hashes: leaf_hashes.len() as u64,
                index,
            });
        };
        match payload {
            Some(payload) if leaf_hash(payload.as_ref()) != *stored => {
                return Err(Error::EntryHashMismatch { index });
            }
            Some(_) => {}
            None => pruned += 1,
        }
        tree.push(*stored);
        check_checkpoints_at(&tree, leaf_hashes, &checkpoints, &mut next, &mut verified)?;
    }

    if let Some((position, checkpoint)) = checkpoints.get(next) {
        return Err(Error::CheckpointBeyondLog {
            checkpoint: *position,
            size: checkpoint.size(),
            entries: tree.size(),
            verified_size: verified.0,
        });
    }
    Ok(VerifyReport {
        entries: tree.size(),
        pruned,
        checkpoints: checkpoints.len(),
        verified_size: verified.0,
        verified_root: verified.1,
        root: tree.root(),
    })
}

/// Opens every checkpoint and checks that sizes never shrink. Keeps input positions for errors.
fn open_checkpoints<C: AsRef<[u8]>>(
    notes: &[C],
    key: &VerifierKey,
) -> Result<Vec<(usize, Checkpoint)>, Error> {
    let mut checkpoints: Vec<(usize, Checkpoint)> = Vec::with_capacity(notes.len());
    for (position, note) in notes.iter().enumerate() {
        let checkpoint = Checkpoint::open(note.as_ref(), key).map_err(|source| Error::CheckpointInvalid {
            checkpoint: position,
            source: Box::new(source),
        })?;
        if let Some((_, previous)) = checkpoints.last()
            && checkpoint.size() < previous.size()
        {
            return Err(Error::CheckpointsOutOfOrder {
                checkpoint: position,
                size: checkpoint.size(),
                previous_size: previous.size(),
            });
        }
        checkpoints.push((position, checkpoint));
    }
    Ok(checkpoints)
}

/// Checks every checkpoint whose size is the tree's current size.
fn check_checkpoints_at(
    tree: &Tree,
    leaf_hashes: &[Hash],
    checkpoints: &[(usize, Checkpoint)],
    next: &mut usize,
    verified: &mut (u64, Hash),
) -> Result<(), Error> {
    while let Some((position, checkpoint)) = checkpoints.get(*next) {
        if checkpoint.size() != tree.size() {
            break;
        }
        let root = tree.root();
        if checkpoint.root() != &root {
            return Err(Error::CheckpointRootMismatch {
                checkpoint: *position,
                size: checkpoint.size(),
                verified_size: verified.0,
            });
        }
        let (old_size, old_root) = *verified;
        let proof = tree.consistency_proof(old_size, checkpoint.size(), leaf_hashes)?;
        verify_consistency(
            old_size,
            checkpoint.size(),
            &old_root,
            checkpoint.root(),
            &proof.hashes,
        )
        .map_err(|_| Error::CheckpointsInconsistent {
            old_size,
            new_size: checkpoint.size(),
        })?;
        *verified = (checkpoint.size(), root);
        *next += 1;
    }
    Ok(())
}
