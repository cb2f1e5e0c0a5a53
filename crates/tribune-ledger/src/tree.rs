//! The RFC 6962 Merkle tree: incremental appends, roots, and proof generation at any size.
//!
//! Three pieces of state, all small:
//! - a [`Frontier`] (the "compact range" of transparency-dev): the hashes of the maximal complete
//!   subtrees covering `[0, size)`, one per set bit of `size`. Appending a leaf merges at most
//!   `log2(size)` of them; the root is their right-to-left fold. Cheap to clone, so a caller can
//!   stage a batch, compute its root, and only then commit it.
//! - the hashes of every complete subtree at tree level 8 and above, kept as they complete. These
//!   are exactly the hashes of the C2SP tlog-tiles at tile levels >= 1 and take `size / 128`
//!   hashes: 2.5 MB at 10,000,000 entries.
//! - the hashes at levels 0 to 7 of the last two tiles (at most 512 leaves, 32 KB). Checkpoints
//!   trail the live tree by less than a tile, and the entries people ask about are recent, so
//!   their proofs need no storage at all.
//!
//! Older levels 0 to 7 come from leaf hashes read through a [`LeafHashStore`], one 256-leaf tile
//! at a time, so an inclusion proof reads at most two tiles of storage (a consistency proof
//! three) and evaluates a few hundred hashes, whatever the size of the log.
//!
//! Every proof component of RFC 6962 is the Merkle Tree Hash of a range `[lo, hi)` that starts on
//! a multiple of the largest power of two not above its length; such a range is the left-to-right
//! sequence of maximal aligned complete subtrees, folded right to left. All hashing goes through
//! that one decomposition, for proofs and past roots alike.

use std::ops::Range;

use crate::error::Error;
use crate::hash::{Hash, node_hash};
use crate::proof::{ConsistencyProof, InclusionProof};
use crate::store::LeafHashStore;

/// Tree levels per tile (C2SP tlog-tiles): the in-memory cache starts at this level.
pub const TILE_HEIGHT: u32 = 8;
/// Hashes in a full tile, and entries in a full entry bundle.
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// The compact range `[0, size)`: one complete-subtree hash per set bit of `size`, largest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    // INVARIANT(frontier): `hashes.len() == size.count_ones()`; `hashes[i]` is the subtree for
    // the i-th set bit of `size` counting from the most significant.
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a frontier from its stored parts (the size and [`Frontier::hashes`]).
    /// Fails unless there is exactly one hash per set bit of `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, Error> {
        if hashes.len() != size.count_ones() as usize {
            return Err(Error::FrontierShape {
                size,
                hashes: hashes.len(),
            });
        }
        Ok(Frontier { size, hashes })
    }

    /// Number of leaves covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The complete-subtree hashes, largest (leftmost) first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf_hash: Hash) {
        self.push_with(leaf_hash, |_, _| {});
    }

    /// Appends one leaf hash, reporting each subtree completed by the merge as `(level, hash)`.
    fn push_with(&mut self, leaf_hash: Hash, mut completed: impl FnMut(u32, &Hash)) {
        let mut hash = leaf_hash;
        let mut level = 0u32;
        // Each set low bit of `size` is a complete subtree of that level waiting for a right
        // sibling of the same level, which `hash` now is.
        while (self.size >> level) & 1 == 1 {
            // INVARIANT(frontier): a set bit has its hash; without one the state is corrupt and
            // stopping keeps the remaining hashes as they were.
            let Some(left) = self.hashes.pop() else { break };
            hash = node_hash(&left, &hash);
            level += 1;
            completed(level, &hash);
        }
        self.hashes.push(hash);
        // 2^64 appends cannot happen (585 years at a billion per second).
        self.size += 1;
    }

    /// The Merkle Tree Hash of `[0, size)`.
    pub fn root(&self) -> Hash {
        let mut rest = self.hashes.iter().rev();
        let Some(last) = rest.next() else {
            return Hash::EMPTY_ROOT;
        };
        rest.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// An append-only RFC 6962 Merkle tree over leaf hashes held elsewhere.
///
/// Holds the [`Frontier`], the complete-subtree hashes from level 8 up, and the low levels of the
/// last two tiles. Build it once by streaming every stored leaf hash through [`Tree::extend`]
/// (about a second per ten million entries here), then keep it in step with the log by pushing
/// each appended leaf hash. To compute a batch's root before the batch is durable, push it into a
/// clone of [`Tree::frontier`] and push it into the tree once committed.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    frontier: Frontier,
    // INVARIANT(upper): `upper[j]` holds, in order, the hashes of all complete subtrees at level
    // `TILE_HEIGHT + j` within `[0, size)`, i.e. `size >> (TILE_HEIGHT + j)` of them.
    upper: Vec<Vec<Hash>>,
    // INVARIANT(tail): `tail_start` is a multiple of TILE_WIDTH, at most one full tile below the
    // current tile's start; `tail[l]` holds, in order, the hashes of all complete subtrees at
    // level `l` within `[tail_start, size)`.
    tail_start: u64,
    tail: [Vec<Hash>; TILE_HEIGHT as usize],
}

/// Where one complete-subtree hash of a proof plan comes from.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// A hash cached in memory (tree level >= 8, or within the last two tiles).
    Memory(Hash),
    /// Hashed from `2^level` leaf hashes starting at `start`.
    Leaves { level: u32, start: u64 },
}

/// The subtrees behind each proof component, and the leaf tiles they need.
struct Plan {
    sources: Vec<Source>,
    /// `component_ends[c]` is one past the last source of component `c`.
    component_ends: Vec<usize>,
    /// Leaf index ranges to read, one per touched tile, ascending.
    spans: Vec<Range<u64>>,
}

impl Tree {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree over the given leaf hashes, in order.
    pub fn from_leaf_hashes<I: IntoIterator<Item = Hash>>(leaf_hashes: I) -> Self {
        let mut tree = Self::new();
        tree.extend(leaf_hashes);
        tree
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.frontier.size
    }

    /// The current root (Merkle Tree Hash of all leaves).
    pub fn root(&self) -> Hash {
        self.frontier.root()
    }

    /// The frontier (compact range) of the current tree.
    pub fn frontier(&self) -> &Frontier {
        &self.frontier
    }

    /// The cached hashes of all complete subtrees at `level`, in order; `None` below level 8.
    ///
    /// At level `8 * L` these are the hashes of the level-`L` tlog tiles.
    pub fn level_hashes(&self, level: u32) -> Option<&[Hash]> {
        let j = level.checked_sub(TILE_HEIGHT)?;
        match self.upper.get(j as usize) {
            Some(hashes) => Some(hashes),
            None if level < 64 => Some(&[]),
            None => None,
        }
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf_hash: Hash) {
        let (upper, tail) = (&mut self.upper, &mut self.tail);
        if let Some(leaves) = tail.first_mut() {
            leaves.push(leaf_hash);
        }
        self.frontier.push_with(leaf_hash, |level, hash| {
            let hashes = match level.checked_sub(TILE_HEIGHT) {
                None => tail.get_mut(level as usize),
                Some(j) => {
                    let j = j as usize;
                    if upper.len() <= j {
                        upper.resize_with(j + 1, Vec::new);
                    }
                    upper.get_mut(j)
                }
            };
            if let Some(hashes) = hashes {
                hashes.push(*hash);
            }
        });
        // A tile just completed: keep it and the new current tile, drop the one before.
        let size = self.size();
        if size.is_multiple_of(TILE_WIDTH) && size - self.tail_start > TILE_WIDTH {
            for (level, hashes) in self.tail.iter_mut().enumerate() {
                let dropped = (TILE_WIDTH >> level) as usize;
                hashes.drain(..dropped.min(hashes.len()));
            }
            self.tail_start += TILE_WIDTH;
        }
    }

    /// Appends leaf hashes in order.
    pub fn extend<I: IntoIterator<Item = Hash>>(&mut self, leaf_hashes: I) {
        for leaf_hash in leaf_hashes {
            self.push(leaf_hash);
        }
    }

    /// The root of the tree as it was at `size` leaves.
    pub fn root_at<S: LeafHashStore + ?Sized>(&self, size: u64, store: &S) -> Result<Hash, Error> {
        self.check_size(size)?;
        if size == self.size() {
            return Ok(self.root());
        }
        if size == 0 {
            return Ok(Hash::EMPTY_ROOT);
        }
        let hashes = self.hash_components(&[(0, size)], size, store)?;
        hashes
            .into_iter()
            .next()
            .ok_or(Error::MissingSubtree { level: 0, index: 0 })
    }

    /// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 6962 §2.1.1).
    pub fn inclusion_proof<S: LeafHashStore + ?Sized>(
        &self,
        index: u64,
        size: u64,
        store: &S,
    ) -> Result<InclusionProof, Error> {
        let components = self.inclusion_components(index, size)?;
        Ok(InclusionProof {
            leaf_index: index,
            tree_size: size,
            hashes: self.hash_components(&components, size, store)?,
        })
    }

    /// The consistency proof from `old_size` to `new_size` (RFC 6962 §2.1.2).
    pub fn consistency_proof<S: LeafHashStore + ?Sized>(
        &self,
        old_size: u64,
        new_size: u64,
        store: &S,
    ) -> Result<ConsistencyProof, Error> {
        let components = self.consistency_components(old_size, new_size)?;
        Ok(ConsistencyProof {
            old_size,
            new_size,
            hashes: self.hash_components(&components, new_size, store)?,
        })
    }

    /// The leaf-hash spans [`Tree::inclusion_proof`] will read for these arguments, so an async
    /// caller can fetch them first into a [`crate::PrefetchedLeafHashes`].
    pub fn inclusion_leaf_spans(&self, index: u64, size: u64) -> Result<Vec<Range<u64>>, Error> {
        let components = self.inclusion_components(index, size)?;
        Ok(self.plan(&components, size)?.spans)
    }

    /// The leaf-hash spans [`Tree::consistency_proof`] will read for these arguments.
    pub fn consistency_leaf_spans(&self, old_size: u64, new_size: u64) -> Result<Vec<Range<u64>>, Error> {
        let components = self.consistency_components(old_size, new_size)?;
        Ok(self.plan(&components, new_size)?.spans)
    }

    fn check_size(&self, size: u64) -> Result<(), Error> {
        if size > self.size() {
            return Err(Error::SizeOutOfRange {
                size,
                available: self.size(),
            });
        }
        Ok(())
    }

    /// RFC 9162 §2.1.3.1 PATH(m, D[n]) as leaf ranges, bottom-up.
    fn inclusion_components(&self, index: u64, size: u64) -> Result<Vec<(u64, u64)>, Error> {
        self.check_size(size)?;
        if index >= size {
            return Err(Error::IndexOutOfRange { index, size });
        }
        let (mut lo, mut hi) = (0, size);
        let mut components = Vec::with_capacity(64);
        while hi - lo > 1 {
            let k = largest_power_of_two_below(hi - lo);
            if index < lo + k {
                components.push((lo + k, hi));
                hi = lo + k;
            } else {
                components.push((lo, lo + k));
                lo += k;
            }
        }
        components.reverse();
        Ok(components)
    }

    /// RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], true) as leaf ranges, bottom-up.
    fn consistency_components(&self, old_size: u64, new_size: u64) -> Result<Vec<(u64, u64)>, Error> {
        self.check_size(new_size)?;
        if old_size > new_size {
            return Err(Error::SizesOutOfOrder {
                old: old_size,
                new: new_size,
            });
        }
        let mut components = Vec::with_capacity(64);
        if old_size == 0 || old_size == new_size {
            return Ok(components);
        }
        let (mut lo, mut hi) = (0, new_size);
        // Whether [lo, hi) still starts at 0, where the verifier knows the old root itself.
        let mut whole_old_tree = true;
        // Loop invariant: lo < old_size <= hi, so the range shrinks until old_size == hi.
        while old_size != hi {
            let k = largest_power_of_two_below(hi - lo);
            if old_size <= lo + k {
                components.push((lo + k, hi));
                hi = lo + k;
            } else {
                components.push((lo, lo + k));
                lo += k;
                whole_old_tree = false;
            }
        }
        if !whole_old_tree {
            components.push((lo, hi));
        }
        components.reverse();
        Ok(components)
    }

    /// Splits each component into complete subtrees and finds where each hash comes from.
    fn plan(&self, components: &[(u64, u64)], size: u64) -> Result<Plan, Error> {
        let mut sources = Vec::with_capacity(components.len() * 2);
        let mut component_ends = Vec::with_capacity(components.len());
        let mut tiles: Vec<u64> = Vec::new();
        for &(lo, hi) in components {
            let mut start = lo;
            while start < hi {
                let level = aligned_subtree_level(start, hi);
                let index = start >> level;
                let cached = if level >= TILE_HEIGHT {
                    self.upper
                        .get((level - TILE_HEIGHT) as usize)
                        .and_then(|hashes| hashes.get(index as usize))
                } else if start >= self.tail_start {
                    self.tail
                        .get(level as usize)
                        .and_then(|hashes| hashes.get((index - (self.tail_start >> level)) as usize))
                } else {
                    None
                };
                match cached {
                    Some(hash) => sources.push(Source::Memory(*hash)),
                    // INVARIANT(upper), INVARIANT(tail): complete subtrees from level 8 up, and
                    // all those in the tail, are cached.
                    None if level >= TILE_HEIGHT || start >= self.tail_start => {
                        return Err(Error::MissingSubtree { level, index });
                    }
                    None => {
                        // Below level 8 a complete aligned subtree lies within one tile.
                        sources.push(Source::Leaves { level, start });
                        let tile = start >> TILE_HEIGHT;
                        if !tiles.contains(&tile) {
                            tiles.push(tile);
                        }
                    }
                }
                start += 1 << level;
            }
            component_ends.push(sources.len());
        }
        tiles.sort_unstable();
        let spans = tiles
            .into_iter()
            .map(|tile| {
                let start = tile << TILE_HEIGHT;
                start..size.min(start + TILE_WIDTH)
            })
            .collect();
        Ok(Plan {
            sources,
            component_ends,
            spans,
        })
    }

    /// The Merkle Tree Hash of each component range of a tree of `size` leaves.
    fn hash_components<S: LeafHashStore + ?Sized>(
        &self,
        components: &[(u64, u64)],
        size: u64,
        store: &S,
    ) -> Result<Vec<Hash>, Error> {
        let plan = self.plan(components, size)?;
        let mut tiles: Vec<(u64, Vec<Hash>)> = Vec::with_capacity(plan.spans.len());
        for span in plan.spans {
            let expected = span.end - span.start;
            let mut leaves = Vec::with_capacity(expected as usize);
            store
                .read_leaf_hashes(span.clone(), &mut leaves)
                .map_err(|e| Error::Store(Box::new(e)))?;
            if leaves.len() as u64 != expected {
                return Err(Error::StoreShortRead {
                    start: span.start,
                    end: span.end,
                    got: leaves.len() as u64,
                });
            }
            tiles.push((span.start, leaves));
        }

        let mut scratch = Vec::with_capacity(TILE_WIDTH as usize / 2);
        let mut subtree_hashes = Vec::with_capacity(plan.sources.len());
        for source in &plan.sources {
            let hash = match *source {
                Source::Memory(hash) => hash,
                Source::Leaves { level, start } => {
                    let count = 1u64 << level;
                    let leaves = tiles
                        .iter()
                        .find_map(|(tile_start, leaves)| {
                            let offset = usize::try_from(start.checked_sub(*tile_start)?).ok()?;
                            leaves.get(offset..offset + count as usize)
                        })
                        .ok_or(Error::MissingSubtree {
                            level,
                            index: start >> level,
                        })?;
                    hash_complete_subtree(leaves, &mut scratch)
                }
            };
            subtree_hashes.push(hash);
        }

        let mut hashes = Vec::with_capacity(components.len());
        let mut begin = 0;
        for &end in &plan.component_ends {
            let parts = subtree_hashes.get(begin..end).unwrap_or(&[]);
            let mut rest = parts.iter().rev();
            let Some(last) = rest.next() else {
                return Err(Error::MissingSubtree { level: 0, index: 0 });
            };
            hashes.push(rest.fold(*last, |acc, left| node_hash(left, &acc)));
            begin = end;
        }
        Ok(hashes)
    }
}

/// The largest power of two strictly below `n`, for `n >= 2`.
fn largest_power_of_two_below(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

/// The level of the largest complete subtree that starts at `start` and ends at or before `end`.
fn aligned_subtree_level(start: u64, end: u64) -> u32 {
    let by_alignment = if start == 0 { 63 } else { start.trailing_zeros() };
    let by_length = 63 - (end - start).leading_zeros();
    by_alignment.min(by_length)
}

/// The root of a complete subtree from its `2^k` leaf hashes, reducing pairwise in `scratch`.
fn hash_complete_subtree(leaves: &[Hash], scratch: &mut Vec<Hash>) -> Hash {
    scratch.clear();
    scratch.extend_from_slice(leaves);
    let mut width = scratch.len();
    while width > 1 {
        for i in 0..width / 2 {
            // INVARIANT: 2i + 1 < width <= scratch.len(), and i < 2i unless i == 0.
            scratch[i] = node_hash(&scratch[2 * i], &scratch[2 * i + 1]);
        }
        width /= 2;
    }
    scratch.first().copied().unwrap_or(Hash::EMPTY_ROOT)
}
