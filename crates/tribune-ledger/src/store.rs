//! Where proof generation reads leaf hashes from.
//!
//! The server keeps one 32-byte leaf hash per entry in its database; [`crate::Tree`] keeps every
//! hash from tree level 8 up in memory. Proofs therefore need at most a few 256-leaf tiles of
//! leaf hashes, read through [`LeafHashStore`]. The trait is synchronous because this crate does
//! no IO: an async caller asks [`crate::Tree::inclusion_leaf_spans`] (or the consistency
//! variant) which spans a proof needs, fetches them, and hands them over as
//! [`PrefetchedLeafHashes`].

use std::fmt;
use std::ops::Range;

use crate::hash::Hash;

/// Read access to the leaf hashes of a log, by index.
pub trait LeafHashStore {
    /// The store's own failure; it reaches callers boxed in [`crate::Error::Store`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// Appends the leaf hashes of entries `range.start..range.end`, in order, to `out`.
    ///
    /// Must append exactly `range.end - range.start` hashes or fail.
    fn read_leaf_hashes(&self, range: Range<u64>, out: &mut Vec<Hash>) -> Result<(), Self::Error>;
}

/// A read asked for leaf hashes that an in-memory store does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingLeafHashes {
    /// The requested range.
    pub range: Range<u64>,
}

impl fmt::Display for MissingLeafHashes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "leaf hashes {}..{} are not held in memory",
            self.range.start, self.range.end
        )
    }
}

impl std::error::Error for MissingLeafHashes {}

/// The in-memory store: all leaf hashes, index `i` at position `i`. Used by tests, benches and
/// the offline verifier.
impl LeafHashStore for [Hash] {
    type Error = MissingLeafHashes;

    fn read_leaf_hashes(&self, range: Range<u64>, out: &mut Vec<Hash>) -> Result<(), Self::Error> {
        let missing = || MissingLeafHashes { range: range.clone() };
        let start = usize::try_from(range.start).map_err(|_| missing())?;
        let end = usize::try_from(range.end).map_err(|_| missing())?;
        let hashes = self.get(start..end).ok_or_else(missing)?;
        out.extend_from_slice(hashes);
        Ok(())
    }
}

impl LeafHashStore for Vec<Hash> {
    type Error = MissingLeafHashes;

    fn read_leaf_hashes(&self, range: Range<u64>, out: &mut Vec<Hash>) -> Result<(), Self::Error> {
        self.as_slice().read_leaf_hashes(range, out)
    }
}

/// Leaf hashes fetched ahead of time for the spans a proof needs.
#[derive(Clone, Debug, Default)]
pub struct PrefetchedLeafHashes {
    spans: Vec<(u64, Vec<Hash>)>,
}

impl PrefetchedLeafHashes {
    /// An empty set of spans.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the hashes of the leaves starting at index `start`.
    pub fn insert(&mut self, start: u64, hashes: Vec<Hash>) {
        self.spans.push((start, hashes));
    }
}

impl LeafHashStore for PrefetchedLeafHashes {
    type Error = MissingLeafHashes;

    fn read_leaf_hashes(&self, range: Range<u64>, out: &mut Vec<Hash>) -> Result<(), Self::Error> {
        for (start, hashes) in &self.spans {
            let Some(offset) = range.start.checked_sub(*start) else {
                continue;
            };
            let Some(len) = range.end.checked_sub(range.start) else {
                break;
            };
            let (Ok(offset), Ok(len)) = (usize::try_from(offset), usize::try_from(len)) else {
                break;
            };
            if let Some(found) = offset.checked_add(len).and_then(|end| hashes.get(offset..end)) {
                out.extend_from_slice(found);
                return Ok(());
            }
        }
        Err(MissingLeafHashes { range })
    }
}
