//! Ledger entries: RFC 8785 canonical JSON, at most 65,535 bytes.
//!
//! One value has one byte string, so a leaf hash can be recomputed by anyone who holds the
//! value, whatever JSON library they use. Canonicalization is [`crate::canonical`] (RFC 8785
//! JCS: sorted keys by UTF-16 code units, ECMAScript number formatting, minimal escaping).
//! The size limit is that of a tlog-tiles entry bundle, which prefixes each entry with a
//! big-endian `u16` length: 64 KiB less one byte.

use crate::error::Error;
use crate::hash::{Hash, leaf_hash};

/// Largest canonical entry, in bytes: `u16::MAX`, the most an entry bundle can frame.
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// The canonical JSON bytes of one ledger entry, within [`MAX_ENTRY_SIZE`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Entry {
    // INVARIANT(entry): RFC 8785 canonical JSON of at most MAX_ENTRY_SIZE bytes.
    bytes: Vec<u8>,
}

impl Entry {
    /// Canonicalizes a JSON value.
    pub fn from_json(value: &serde_json::Value) -> Result<Self, Error> {
        let bytes = crate::canonical::to_vec(value).map_err(Error::EntryNotSerializable)?;
        if bytes.len() > MAX_ENTRY_SIZE {
            return Err(Error::EntryTooLarge {
                size: bytes.len(),
                max: MAX_ENTRY_SIZE,
            });
        }
        Ok(Self { bytes })
    }

    /// Accepts bytes that already are canonical JSON (e.g. read back from storage), checking
    /// that re-canonicalizing them changes nothing.
    pub fn from_canonical_bytes(bytes: Vec<u8>) -> Result<Self, Error> {
        if bytes.len() > MAX_ENTRY_SIZE {
            return Err(Error::EntryTooLarge {
                size: bytes.len(),
                max: MAX_ENTRY_SIZE,
            });
        }
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|_| Error::EntryNotCanonical)?;
        let canonical = Self::from_json(&value)?;
        if canonical.bytes != bytes {
            return Err(Error::EntryNotCanonical);
        }
        Ok(canonical)
    }

    /// The canonical bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The canonical bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The RFC 6962 leaf hash of the canonical bytes.
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.bytes)
    }
}

/// The leaf hash of a JSON value's canonical form.
pub fn entry_leaf_hash(value: &serde_json::Value) -> Result<Hash, Error> {
    Entry::from_json(value).map(|entry| entry.leaf_hash())
}
