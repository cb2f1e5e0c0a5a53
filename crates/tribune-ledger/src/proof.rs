//! Verification of RFC 6962 inclusion and consistency proofs.
//!
//! These are the RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms, written iteratively over the bits of
//! the leaf index and tree sizes, so a proof of any length is checked in one pass with no
//! recursion or allocation. They need nothing but the proof, the sizes and the hashes, which is
//! what an auditor holds offline. Generation lives in [`crate::tree`].

use crate::error::Error;
use crate::hash::{Hash, node_hash};

/// A proof that the leaf at `leaf_index` is in the tree of `tree_size` leaves (RFC 6962 §2.1.1
/// "audit path"), ordered from the leaf's sibling up to the root's child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// Index of the proven leaf.
    pub leaf_index: u64,
    /// Size of the tree the proof is for.
    pub tree_size: u64,
    /// Sibling hashes, bottom-up.
    pub hashes: Vec<Hash>,
}

impl InclusionProof {
    /// Checks the proof for `leaf_hash` against the tree's `root`.
    pub fn verify(&self, leaf_hash: &Hash, root: &Hash) -> Result<(), Error> {
        verify_inclusion(self.leaf_index, self.tree_size, leaf_hash, &self.hashes, root)
    }
}

/// A proof that the tree of `old_size` leaves is a prefix of the tree of `new_size` leaves
/// (RFC 6962 §2.1.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// Size of the older tree.
    pub old_size: u64,
    /// Size of the newer tree.
    pub new_size: u64,
    /// Proof hashes, bottom-up.
    pub hashes: Vec<Hash>,
}

impl ConsistencyProof {
    /// Checks the proof between the two roots.
    pub fn verify(&self, old_root: &Hash, new_root: &Hash) -> Result<(), Error> {
        verify_consistency(self.old_size, self.new_size, old_root, new_root, &self.hashes)
    }
}

/// Recomputes the root implied by an inclusion proof (RFC 9162 §2.1.3.2).
///
/// Fails with [`Error::IndexOutOfRange`] when `leaf_index >= tree_size` and with
/// [`Error::InclusionProofInvalid`] when the proof has the wrong number of hashes for the index
/// and size.
pub fn root_from_inclusion_proof(
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
) -> Result<Hash, Error> {
    if leaf_index >= tree_size {
        return Err(Error::IndexOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    let mut fn_ = leaf_index;
    let mut sn = tree_size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if sn == 0 {
            return Err(Error::InclusionProofInvalid);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            // Skip the levels where this node is the last, unpaired one on the right edge.
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(Error::InclusionProofInvalid);
    }
    Ok(r)
}

/// Checks that `proof` proves the leaf `leaf_hash` at `leaf_index` is in the tree of
/// `tree_size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), Error> {
    let computed = root_from_inclusion_proof(leaf_index, tree_size, leaf_hash, proof)?;
    if &computed == root {
        Ok(())
    } else {
        Err(Error::InclusionProofInvalid)
    }
}

/// Checks that `proof` proves the tree of `old_size` leaves with root `old_root` is a prefix of
/// the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// Trivial cases follow the transparency-dev verifier: an empty old tree is consistent with any
/// tree given an empty proof, and equal sizes need equal roots and an empty proof.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), Error> {
    if old_size > new_size {
        return Err(Error::SizesOutOfOrder {
            old: old_size,
            new: new_size,
        });
    }
    if old_size == new_size {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(Error::ConsistencyProofInvalid)
        };
    }
    if old_size == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(Error::ConsistencyProofInvalid)
        };
    }
    // 0 < old_size < new_size from here on.
    let Some((first, rest)) = proof.split_first() else {
        return Err(Error::ConsistencyProofInvalid);
    };
    // When the old tree is a complete subtree its root is the proof's implied first element.
    let (seed, path) = if old_size.is_power_of_two() {
        (old_root, proof)
    } else {
        (first, rest)
    };

    let mut fn_ = old_size - 1;
    let mut sn = new_size - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = *seed;
    let mut sr = *seed;
    for c in path {
        if sn == 0 {
            return Err(Error::ConsistencyProofInvalid);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn == 0 && &fr == old_root && &sr == new_root {
        Ok(())
    } else {
        Err(Error::ConsistencyProofInvalid)
    }
}
