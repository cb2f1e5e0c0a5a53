//! The static C2SP tlog-tiles layout (c2sp.org/tlog-tiles) of a tree: what files to publish.
//!
//! - `tile/<L>/<N>[.p/<W>]`: 256 (or, rightmost, `W` < 256) consecutive hashes of tree level
//!   `8 * L`; level 0 holds leaf hashes.
//! - `tile/entries/<N>[.p/<W>]`: the entries of level-0 tile `N`, each prefixed by its length as
//!   a big-endian `u16`.
//! - `checkpoint`: the signed checkpoint for the tree size.
//!
//! `N` is written in zero-padded 3-digit path elements, all but the last prefixed by `x`
//! (1234067 is `x001/x234/067`). This module computes paths and contents and returns them; the
//! caller writes the files. [`tiles_between`] lists only what changed between two sizes, so a
//! server can publish incrementally; [`export`] builds everything for in-memory data.

use crate::checkpoint::Checkpoint;
use crate::entry::MAX_ENTRY_SIZE;
use crate::error::Error;
use crate::hash::{HASH_SIZE, Hash, leaf_hash};
use crate::store::LeafHashStore;
use crate::tree::{TILE_HEIGHT, TILE_WIDTH, Tree};

/// The coordinates of one tile: level, index within the level, and width in hashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    level: u8,
    index: u64,
    // INVARIANT(tile): 1 <= width <= 256 and level <= 63.
    width: u16,
}

impl TileId {
    /// A tile at `level` (0-63), `index`, holding `width` (1-256) hashes; 256 is a full tile.
    pub fn new(level: u8, index: u64, width: u16) -> Result<Self, Error> {
        if level > 63 || width == 0 || u64::from(width) > TILE_WIDTH {
            return Err(Error::InvalidTile { level, width });
        }
        Ok(Self { level, index, width })
    }

    /// The tile level.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The index within the level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The number of hashes.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether the tile holds fewer than 256 hashes.
    pub fn is_partial(&self) -> bool {
        u64::from(self.width) < TILE_WIDTH
    }

    /// `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, self.suffix())
    }

    /// `tile/entries/<N>[.p/<W>]`: the entry bundle beside a level-0 tile.
    pub fn entries_path(&self) -> String {
        format!("tile/entries/{}", self.suffix())
    }

    fn suffix(&self) -> String {
        let mut path = encode_index(self.index);
        if self.is_partial() {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }

    /// Index of the first tree-level-`8L` hash in the tile.
    fn first_hash(&self) -> u64 {
        self.index << TILE_HEIGHT
    }
}

/// `N` as zero-padded 3-digit path elements, all but the last prefixed with `x`.
fn encode_index(mut index: u64) -> String {
    let mut groups = vec![index % 1000];
    index /= 1000;
    while index > 0 {
        groups.push(index % 1000);
        index /= 1000;
    }
    let mut out = String::new();
    for (i, group) in groups.iter().rev().enumerate() {
        if i + 1 < groups.len() {
            out.push_str(&format!("x{group:03}/"));
        } else {
            out.push_str(&format!("{group:03}"));
        }
    }
    out
}

/// The tiles to publish when the tree grows from `old_size` to `new_size` (all tiles when
/// `old_size` is 0): every tile that is new or grew, full tiles first then the rightmost partial
/// tile, level by level. Entry bundles go with the level-0 tiles.
pub fn tiles_between(old_size: u64, new_size: u64) -> Vec<TileId> {
    let mut tiles = Vec::new();
    for level in 0u8..64 {
        let shift = u32::from(level) * TILE_HEIGHT;
        if shift >= 64 || new_size >> shift == 0 {
            break;
        }
        // Hashes at tree level 8L in each tree.
        let old_hashes = if old_size > new_size { 0 } else { old_size >> shift };
        let new_hashes = new_size >> shift;
        if old_hashes == new_hashes {
            continue;
        }
        for index in (old_hashes >> TILE_HEIGHT)..(new_hashes >> TILE_HEIGHT) {
            tiles.push(TileId {
                level,
                index,
                width: TILE_WIDTH as u16,
            });
        }
        let width = new_hashes % TILE_WIDTH;
        if width > 0 {
            tiles.push(TileId {
                level,
                index: new_hashes >> TILE_HEIGHT,
                width: width as u16,
            });
        }
    }
    tiles
}

/// The contents of a hash tile: `width` concatenated 32-byte hashes.
///
/// Level 0 reads leaf hashes from `store`; higher levels come from the tree's cache.
pub fn hash_tile<S: LeafHashStore + ?Sized>(tree: &Tree, tile: TileId, store: &S) -> Result<Vec<u8>, Error> {
    let start = tile.first_hash();
    let end = start + u64::from(tile.width);
    let hashes: Vec<Hash> = if tile.level == 0 {
        if end > tree.size() {
            return Err(Error::SizeOutOfRange {
                size: end,
                available: tree.size(),
            });
        }
        let mut leaves = Vec::with_capacity(usize::from(tile.width));
        store
            .read_leaf_hashes(start..end, &mut leaves)
            .map_err(|e| Error::Store(Box::new(e)))?;
        if leaves.len() as u64 != end - start {
            return Err(Error::StoreShortRead {
                start,
                end,
                got: leaves.len() as u64,
            });
        }
        leaves
    } else {
        let level = u32::from(tile.level) * TILE_HEIGHT;
        let cached = tree.level_hashes(level).unwrap_or(&[]);
        let slice = usize::try_from(start)
            .ok()
            .zip(usize::try_from(end).ok())
            .and_then(|(s, e)| cached.get(s..e))
            .ok_or(Error::MissingSubtree {
                level,
                index: end.saturating_sub(1),
            })?;
        slice.to_vec()
    };
    let mut bytes = Vec::with_capacity(hashes.len() * HASH_SIZE);
    for hash in &hashes {
        bytes.extend_from_slice(hash.as_bytes());
    }
    Ok(bytes)
}

/// An entry bundle: each entry prefixed by its length as a big-endian `u16`.
pub fn entry_bundle<'a, I>(entries: I) -> Result<Vec<u8>, Error>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut bundle = Vec::new();
    for entry in entries {
        let len = u16::try_from(entry.len()).map_err(|_| Error::EntryTooLarge {
            size: entry.len(),
            max: MAX_ENTRY_SIZE,
        })?;
        bundle.extend_from_slice(&len.to_be_bytes());
        bundle.extend_from_slice(entry);
    }
    Ok(bundle)
}

/// One file of a tiled log: a path relative to the log's URL prefix, and its contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TileFile {
    /// Relative path, e.g. `tile/0/x001/234` or `checkpoint`.
    pub path: String,
    /// File contents.
    pub contents: Vec<u8>,
}

/// Every file of the tiled log at `size` leaves: hash tiles, entry bundles and `checkpoint`.
///
/// `entries[i]` is entry `i`, `None` once its payload was deleted under retention; a bundle that
/// would contain a deleted entry is not produced (readers fall back to the level-0 tile, as for a
/// pruned log). Every published entry is checked against its leaf hash, and the checkpoint must
/// state this size and root; its signature is not checked here.
pub fn export<S, E>(
    tree: &Tree,
    size: u64,
    store: &S,
    entries: &[Option<E>],
    signed_checkpoint: &[u8],
) -> Result<Vec<TileFile>, Error>
where
    S: LeafHashStore + ?Sized,
    E: AsRef<[u8]>,
{
    if (entries.len() as u64) < size {
        return Err(Error::MissingEntries {
            supplied: entries.len() as u64,
            size,
        });
    }
    let root = tree.root_at(size, store)?;
    let checkpoint = Checkpoint::parse_unverified(signed_checkpoint)?;
    if checkpoint.size() != size || checkpoint.root() != &root {
        return Err(Error::CheckpointMismatch {
            checkpoint_size: checkpoint.size(),
            size,
        });
    }

    let mut files = Vec::new();
    for tile in tiles_between(0, size) {
        let contents = hash_tile(tree, tile, store)?;
        if tile.level == 0
            && let Some(bundle) = bundle_for(tile, &contents, entries)?
        {
            files.push(TileFile {
                path: tile.entries_path(),
                contents: bundle,
            });
        }
        files.push(TileFile {
            path: tile.path(),
            contents,
        });
    }
    files.push(TileFile {
        path: "checkpoint".to_owned(),
        contents: signed_checkpoint.to_vec(),
    });
    Ok(files)
}

/// The bundle for a level-0 tile, or `None` if one of its payloads was deleted.
fn bundle_for<E: AsRef<[u8]>>(
    tile: TileId,
    leaf_tile: &[u8],
    entries: &[Option<E>],
) -> Result<Option<Vec<u8>>, Error> {
    let start = tile.first_hash();
    let mut payloads = Vec::with_capacity(usize::from(tile.width));
    for (offset, expected) in leaf_tile.chunks_exact(HASH_SIZE).enumerate() {
        let index = start + offset as u64;
        let Some(Some(payload)) = usize::try_from(index).ok().and_then(|i| entries.get(i)) else {
            return Ok(None);
        };
        let payload = payload.as_ref();
        if leaf_hash(payload).as_bytes().as_slice() != expected {
            return Err(Error::EntryHashMismatch { index });
        }
        payloads.push(payload);
    }
    entry_bundle(payloads).map(Some)
}
