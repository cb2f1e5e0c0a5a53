//! The tlog-tiles layout: paths, the spec's worked examples, and a full export read back.

use std::collections::{BTreeMap, BTreeSet};

use tribune_ledger::tiles::{entry_bundle, export, hash_tile, tiles_between};
use tribune_ledger::{Checkpoint, Error, Hash, SigningKey, TileId, Tree, leaf_hash, node_hash};

use crate::support::mth;

#[test]
fn paths_follow_the_spec() {
    let check = |level, index, width, path: &str, entries: &str| {
        let tile = TileId::new(level, index, width).unwrap();
        assert_eq!(tile.path(), path);
        assert_eq!(tile.entries_path(), entries);
    };
    check(
        0,
        1_234_067,
        256,
        "tile/0/x001/x234/067",
        "tile/entries/x001/x234/067",
    );
    check(
        3,
        1_234_067,
        8,
        "tile/3/x001/x234/067.p/8",
        "tile/entries/x001/x234/067.p/8",
    );
    check(0, 0, 1, "tile/0/000.p/1", "tile/entries/000.p/1");
    check(1, 999, 256, "tile/1/999", "tile/entries/999");
    check(
        1,
        1_000,
        255,
        "tile/1/x001/000.p/255",
        "tile/entries/x001/000.p/255",
    );
    check(
        63,
        u64::MAX,
        256,
        "tile/63/x018/x446/x744/x073/x709/x551/615",
        "tile/entries/x018/x446/x744/x073/x709/x551/615",
    );
    for (level, width) in [(64, 1), (0, 0), (0, 257)] {
        assert!(matches!(
            TileId::new(level, 0, width),
            Err(Error::InvalidTile { .. })
        ));
    }
}

fn summary(tiles: &[TileId]) -> Vec<(u8, u64, u16)> {
    tiles.iter().map(|t| (t.level(), t.index(), t.width())).collect()
}

#[test]
fn spec_example_sizes() {
    // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
    // tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
    // partial level 2 tile of width 1."
    let tiles = tiles_between(0, 70_000);
    let level0: Vec<_> = tiles.iter().filter(|t| t.level() == 0).collect();
    assert_eq!(level0.iter().filter(|t| !t.is_partial()).count(), 273);
    assert_eq!(
        summary(&tiles[273..]),
        vec![(0, 273, 112), (1, 0, 256), (1, 1, 17), (2, 0, 1)]
    );
    // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile
    // of width 1."
    assert_eq!(summary(&tiles_between(0, 256)), vec![(0, 0, 256), (1, 0, 1)]);
    assert!(tiles_between(0, 0).is_empty());
}

#[test]
fn incremental_tiles_cover_exactly_what_changed() {
    for (old, new) in [
        (0, 1),
        (1, 2),
        (255, 256),
        (256, 257),
        (70_000, 70_000),
        (1_000, 140_000),
    ] {
        let all_new: BTreeSet<String> = tiles_between(0, new).iter().map(TileId::path).collect();
        let all_old: BTreeSet<String> = tiles_between(0, old).iter().map(TileId::path).collect();
        let changed: BTreeSet<String> = tiles_between(old, new).iter().map(TileId::path).collect();
        let expected: BTreeSet<String> = all_new.difference(&all_old).cloned().collect();
        assert_eq!(changed, expected, "{old} -> {new}");
    }
}

#[test]
fn entry_bundles_are_u16_length_prefixed() {
    let bundle = entry_bundle([&b"ab"[..], b"", b"xyz"]).unwrap();
    assert_eq!(bundle, b"\x00\x02ab\x00\x00\x00\x03xyz");
    let huge = vec![0u8; 65_536];
    assert!(matches!(
        entry_bundle([huge.as_slice()]),
        Err(Error::EntryTooLarge { size: 65_536, .. })
    ));
}

struct Log {
    entries: Vec<Option<Vec<u8>>>,
    hashes: Vec<Hash>,
    tree: Tree,
    key: SigningKey,
}

fn log(n: usize) -> Log {
    let entries: Vec<Option<Vec<u8>>> = (0..n)
        .map(|i| Some(format!("{{\"seq\":{i}}}").into_bytes()))
        .collect();
    let hashes: Vec<Hash> = entries.iter().flatten().map(|e| leaf_hash(e)).collect();
    let tree = Tree::from_leaf_hashes(hashes.iter().copied());
    let key = SigningKey::from_seed("tribune.example/ledger", [5; 32]).unwrap();
    Log {
        entries,
        hashes,
        tree,
        key,
    }
}

fn checkpoint(log: &Log, size: u64) -> Vec<u8> {
    let root = log.tree.root_at(size, &log.hashes).unwrap();
    Checkpoint::new(log.key.name(), size, root)
        .unwrap()
        .sign(&log.key)
        .unwrap()
}

/// Decodes an entry bundle.
fn unbundle(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        let len = u16::from_be_bytes([bytes[0], bytes[1]]) as usize;
        entries.push(bytes[2..2 + len].to_vec());
        bytes = &bytes[2 + len..];
    }
    entries
}

#[test]
fn export_reads_back_to_the_signed_root() {
    let size = 66_000u64;
    let log = log(size as usize);
    let note = checkpoint(&log, size);
    let files: BTreeMap<String, Vec<u8>> = export(&log.tree, size, &log.hashes, &log.entries, &note)
        .unwrap()
        .into_iter()
        .map(|f| (f.path, f.contents))
        .collect();
    // 257 full level-0 tiles + 1 partial, as many bundles, 1 full + 1 partial level-1 tiles,
    // 1 partial level-2 tile, and the checkpoint.
    assert_eq!(files.len(), 2 * 258 + 2 + 1 + 1);
    assert_eq!(files["checkpoint"], note);

    // Bundles hold the entries, level-0 tiles their leaf hashes.
    let tail = &files["tile/entries/257.p/208"];
    let tail_entries = unbundle(tail);
    assert_eq!(tail_entries.len(), 208);
    assert_eq!(tail_entries[0], br#"{"seq":65792}"#);
    let tile0 = &files["tile/0/000"];
    assert_eq!(&tile0[32..64], leaf_hash(br#"{"seq":1}"#).as_bytes());

    // Level 1 holds the hashes of full level-0 tiles; level 2 the one full level-1 tile.
    let level1 = &files["tile/1/000"];
    assert_eq!(level1.len(), 256 * 32);
    assert_eq!(&level1[..32], mth(&log.hashes[..256]).as_bytes());
    assert_eq!(files["tile/1/001.p/1"], mth(&log.hashes[65_536..65_792]).0);
    assert_eq!(files["tile/2/000.p/1"], mth(&log.hashes[..65_536]).0);

    // A client rebuilds the root from tiles alone: the level-2 hash covers [0, 65536); the rest
    // comes from the level-1 partial tile and the level-0 partial tile.
    let h = |bytes: &[u8]| Hash::from_slice(bytes).unwrap();
    let right = node_hash(
        &h(&files["tile/1/001.p/1"]),
        &mth(&unbundle(tail).iter().map(|e| leaf_hash(e)).collect::<Vec<_>>()),
    );
    let root = node_hash(&h(&files["tile/2/000.p/1"]), &right);
    let signed = Checkpoint::open(&note, &log.key.verifier_key()).unwrap();
    assert_eq!(&root, signed.root());
}

#[test]
fn export_at_an_older_size_and_with_pruned_entries() {
    let mut log = log(1_000);
    let note = checkpoint(&log, 600);
    log.entries[300] = None;
    let files = export(&log.tree, 600, &log.hashes, &log.entries, &note).unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "tile/entries/000",
            "tile/0/000",
            "tile/0/001",
            "tile/entries/002.p/88",
            "tile/0/002.p/88",
            "tile/1/000.p/2",
            "checkpoint"
        ]
    );
    // The tile survives the pruning; the bundle does not.
    let one = TileId::new(0, 1, 256).unwrap();
    assert_eq!(
        hash_tile(&log.tree, one, &log.hashes).unwrap()[44 * 32..45 * 32],
        log.hashes[300].0
    );
}

#[test]
fn export_refuses_inconsistent_input() {
    let mut log = log(300);
    let note = checkpoint(&log, 300);
    assert!(matches!(
        export(&log.tree, 299, &log.hashes, &log.entries, &note),
        Err(Error::CheckpointMismatch {
            checkpoint_size: 300,
            size: 299
        })
    ));
    assert!(matches!(
        export(&log.tree, 300, &log.hashes, &log.entries[..299], &note),
        Err(Error::MissingEntries {
            supplied: 299,
            size: 300
        })
    ));
    log.entries[17] = Some(b"tampered".to_vec());
    assert!(matches!(
        export(&log.tree, 300, &log.hashes, &log.entries, &note),
        Err(Error::EntryHashMismatch { index: 17 })
    ));
}
