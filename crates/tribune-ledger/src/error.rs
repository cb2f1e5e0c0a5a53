//! The crate's one error type.
//!
//! Variants carry the data a caller needs to act (the index, the size, the key) and messages are
//! lowercase with user input in backticks. The verifier's variants name the first entry it could
//! not accept; [`Error::first_bad_index`] gives it uniformly.

use thiserror::Error;

/// What is wrong with a checkpoint body (c2sp.org/tlog-checkpoint).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointDefect {
    /// The text does not end in a newline.
    MissingFinalNewline,
    /// Fewer than the three lines origin, size and root hash.
    TooFewLines,
    /// The origin line is empty.
    EmptyOrigin,
    /// The size is not ASCII decimal without leading zeroes, or does not fit 64 bits.
    BadTreeSize,
    /// The root hash is not standard base64 of 32 bytes.
    BadRootHash,
    /// An extension line is empty.
    EmptyExtensionLine,
    /// A line contains a newline or another ASCII control character.
    ControlCharacter,
}

/// What is wrong with an encoded key (c2sp.org/signed-note key strings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyDefect {
    /// Not `<name>+<hex id>+<base64 key>` (or the `PRIVATE+KEY+` form for signer keys).
    Format,
    /// The algorithm byte is not 0x01 (Ed25519).
    Algorithm,
    /// The key ID does not match the name and public key.
    KeyId,
}

/// Every failure of this crate.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    // --- hashes and the Merkle tree ---
    /// A hash was not 32 bytes (or not valid base64/hex of 32 bytes).
    #[error("malformed hash: expected 32 bytes, got input of length {len}")]
    MalformedHash {
        /// Length of the input that was rejected.
        len: usize,
    },
    /// A stored frontier whose hash count does not match its size.
    #[error("a frontier of size {size} needs one hash per set bit of the size, not {hashes}")]
    FrontierShape {
        /// The stored size.
        size: u64,
        /// The number of stored hashes.
        hashes: usize,
    },
    /// A leaf index at or beyond the tree size.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The requested index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A tree size larger than the tree built so far.
    #[error("tree size {size} is larger than the {available} leaves held")]
    SizeOutOfRange {
        /// The requested size.
        size: u64,
        /// Leaves in the tree.
        available: u64,
    },
    /// An old tree size larger than the new one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesOutOfOrder {
        /// The older size.
        old: u64,
        /// The newer size.
        new: u64,
    },
    /// An inclusion proof that does not lead to the given root.
    #[error("inclusion proof does not verify")]
    InclusionProofInvalid,
    /// A consistency proof that does not connect the given roots.
    #[error("consistency proof does not verify")]
    ConsistencyProofInvalid,
    /// The tree lacks a subtree hash it should hold: it was not built from all leaves.
    #[error("tree holds no hash for the subtree at level {level}, index {index}")]
    MissingSubtree {
        /// Tree level of the subtree.
        level: u32,
        /// Index of the subtree within its level.
        index: u64,
    },
    /// The caller's leaf hash store failed.
    #[error("leaf hash store failed")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The caller's leaf hash store returned the wrong number of hashes.
    #[error("leaf hash store returned {got} hashes for leaves {start}..{end}")]
    StoreShortRead {
        /// First requested leaf.
        start: u64,
        /// One past the last requested leaf.
        end: u64,
        /// Hashes returned.
        got: u64,
    },

    // --- entries ---
    /// A canonical entry above the 65,535-byte limit.
    #[error("entry is {size} bytes, over the {max}-byte limit")]
    EntryTooLarge {
        /// Canonical size of the entry.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The value cannot be written as RFC 8785 canonical JSON.
    #[error("entry cannot be canonicalized")]
    EntryNotSerializable(#[source] serde_json::Error),
    /// Bytes offered as a canonical entry are not RFC 8785 canonical JSON.
    #[error("entry bytes are not canonical JSON")]
    EntryNotCanonical,

    // --- checkpoints, keys and signed notes ---
    /// A checkpoint body that does not follow c2sp.org/tlog-checkpoint.
    #[error("malformed checkpoint: {defect:?}")]
    MalformedCheckpoint {
        /// What is wrong.
        defect: CheckpointDefect,
    },
    /// A key name that is empty or contains a space or `+`.
    #[error("invalid key name `{name}`")]
    InvalidKeyName {
        /// The rejected name.
        name: String,
    },
    /// An encoded signer or verifier key that cannot be used.
    #[error("malformed key: {defect:?}")]
    MalformedKey {
        /// What is wrong.
        defect: KeyDefect,
    },
    /// A signed note that does not follow c2sp.org/signed-note.
    #[error("malformed signed note")]
    MalformedNote,
    /// A note with no signature by the expected key (only unknown keys signed it).
    #[error("note is not signed by key `{name}+{key_id:08x}`")]
    UnknownKey {
        /// Name of the expected key.
        name: String,
        /// ID of the expected key.
        key_id: u32,
    },
    /// A note whose signature by the expected key does not verify.
    #[error("bad signature by key `{name}+{key_id:08x}`")]
    BadSignature {
        /// Name of the signing key.
        name: String,
        /// ID of the signing key.
        key_id: u32,
    },
    /// A checkpoint whose origin is not the expected one.
    #[error("checkpoint origin `{found}` is not `{expected}`")]
    OriginMismatch {
        /// The expected origin (the key name).
        expected: String,
        /// The origin in the checkpoint.
        found: String,
    },

    // --- tiles ---
    /// A tile coordinate outside c2sp.org/tlog-tiles limits (level 0-63, width 1-256).
    #[error("invalid tile: level {level}, width {width}")]
    InvalidTile {
        /// Tile level.
        level: u8,
        /// Tile width.
        width: u16,
    },
    /// Fewer entries were supplied than the tree size being exported.
    #[error("{supplied} entries supplied for a tree of size {size}")]
    MissingEntries {
        /// Entries supplied.
        supplied: u64,
        /// The tree size.
        size: u64,
    },
    /// The checkpoint to publish does not describe the exported tree.
    #[error("checkpoint is for size {checkpoint_size}, not the exported tree of size {size} and its root")]
    CheckpointMismatch {
        /// Size in the checkpoint.
        checkpoint_size: u64,
        /// Size of the exported tree.
        size: u64,
    },

    // --- the offline verifier: each names the first entry it could not accept ---
    /// The payload at `index` does not hash to its stored leaf hash: modified, or another
    /// entry moved, inserted or removed here.
    #[error("entry {index} does not match its stored leaf hash")]
    EntryHashMismatch {
        /// The first bad index.
        index: u64,
    },
    /// Entries and stored leaf hashes differ in number; `index` is the first with only one.
    #[error("{entries} entries but {leaf_hashes} leaf hashes: entry {index} is unmatched")]
    EntryCountMismatch {
        /// Entries supplied.
        entries: u64,
        /// Leaf hashes supplied.
        leaf_hashes: u64,
        /// The first index present in only one of the two lists.
        index: u64,
    },
    /// A checkpoint covers more entries than the log holds: entries were removed. Whether from
    /// the tail or before it (with their leaf hashes) cannot be told apart, so the first bad
    /// entry lies in `verified_size..=entries`.
    #[error(
        "checkpoint {checkpoint} has size {size} but the log holds {entries} entries: an entry in {verified_size}..={entries} was removed"
    )]
    CheckpointBeyondLog {
        /// Position of the checkpoint in the input.
        checkpoint: usize,
        /// Its tree size.
        size: u64,
        /// Entries in the log.
        entries: u64,
        /// Size of the last checkpoint that matched (0 if none).
        verified_size: u64,
    },
    /// The recomputed root at a checkpoint's size differs from the signed root. The entries
    /// before `verified_size` matched an earlier checkpoint, so the first bad entry lies in
    /// `verified_size..size`; where payloads remain, the leaf hash check would have named it
    /// exactly, so the stored leaf hashes themselves were altered.
    #[error(
        "checkpoint {checkpoint} (size {size}) does not match the log: an entry in {verified_size}..{size} was altered"
    )]
    CheckpointRootMismatch {
        /// Position of the checkpoint in the input.
        checkpoint: usize,
        /// Its tree size.
        size: u64,
        /// Size of the last checkpoint that matched (0 if none).
        verified_size: u64,
    },
    /// A checkpoint smaller than the one before it: the input must be in log order.
    #[error("checkpoint {checkpoint} has size {size}, below the previous size {previous_size}")]
    CheckpointsOutOfOrder {
        /// Position of the checkpoint in the input.
        checkpoint: usize,
        /// Its tree size.
        size: u64,
        /// The previous checkpoint's size.
        previous_size: u64,
    },
    /// A checkpoint that is not a valid signed checkpoint of this log.
    #[error("checkpoint {checkpoint} is invalid")]
    CheckpointInvalid {
        /// Position of the checkpoint in the input.
        checkpoint: usize,
        /// Why.
        #[source]
        source: Box<Error>,
    },
    /// Two checkpoints that no consistency proof connects.
    #[error("checkpoints of sizes {old_size} and {new_size} are inconsistent")]
    CheckpointsInconsistent {
        /// The older size.
        old_size: u64,
        /// The newer size.
        new_size: u64,
    },
}

impl Error {
    /// For verifier failures, the index of the first entry that could not be accepted.
    ///
    /// Exact for [`Error::EntryHashMismatch`] and [`Error::EntryCountMismatch`]: a payload no
    /// longer matches its stored leaf hash there. When the stored leaf hashes were altered too,
    /// only the signed roots can tell, so for [`Error::CheckpointRootMismatch`] and
    /// [`Error::CheckpointBeyondLog`] it is the first index no verified checkpoint vouches for:
    /// the altered entry is at or after it and before the failing checkpoint's size.
    pub fn first_bad_index(&self) -> Option<u64> {
        match self {
            Error::EntryHashMismatch { index } | Error::EntryCountMismatch { index, .. } => Some(*index),
            Error::CheckpointBeyondLog { verified_size, .. }
            | Error::CheckpointRootMismatch { verified_size, .. } => Some(*verified_size),
            _ => None,
        }
    }
}
