//! The Merkle tree and proofs: known answers from RFC 6962 / transparency-dev, then properties
//! against the direct recursive definitions in `support`.

use std::convert::Infallible;
use std::ops::Range;

use proptest::prelude::*;
use serde::Deserialize;
use tribune_ledger::{
    Error, Frontier, Hash, LeafHashStore, PrefetchedLeafHashes, Tree, leaf_hash, root_from_inclusion_proof,
    verify_consistency, verify_inclusion,
};

use crate::support::{flip, leaves, mth, path, proof};

// ---------------------------------------------------------------- RFC 6962 example tree

#[derive(Deserialize)]
struct Rfc6962Example {
    leaves: Vec<String>,
    roots: Vec<String>,
    inclusion: Vec<ExampleInclusion>,
    consistency: Vec<ExampleConsistency>,
}

#[derive(Deserialize)]
struct ExampleInclusion {
    leaf: u64,
    size: u64,
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct ExampleConsistency {
    size1: u64,
    size2: u64,
    proof: Vec<String>,
}

fn example() -> Rfc6962Example {
    serde_json::from_str(include_str!("../vectors/rfc6962_example.json")).unwrap()
}

fn hexes(list: &[String]) -> Vec<Hash> {
    list.iter().map(|h| Hash::from_hex(h).unwrap()).collect()
}

fn example_tree() -> (Vec<Hash>, Tree, Vec<Hash>) {
    let ex = example();
    let hashes: Vec<Hash> = ex
        .leaves
        .iter()
        .map(|l| leaf_hash(&hex::decode(l).unwrap()))
        .collect();
    let tree = Tree::from_leaf_hashes(hashes.iter().copied());
    (hashes, tree, hexes(&ex.roots))
}

#[test]
fn rfc6962_example_roots_at_every_size() {
    let (hashes, tree, roots) = example_tree();
    let mut frontier = Frontier::new();
    for (size, root) in (1..=8u64).zip(&roots) {
        assert_eq!(&tree.root_at(size, &hashes).unwrap(), root, "size {size}");
        frontier.push(hashes[size as usize - 1]);
        assert_eq!(&frontier.root(), root, "frontier at size {size}");
    }
    assert_eq!(tree.root(), roots[7]);
    assert_eq!(tree.root_at(0, &hashes).unwrap(), Hash::EMPTY_ROOT);
    assert_eq!(
        Hash::EMPTY_ROOT.to_hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn rfc6962_example_inclusion_proofs_are_generated_and_verified() {
    let (hashes, tree, roots) = example_tree();
    for v in example().inclusion {
        let index = v.leaf - 1;
        let want = hexes(&v.proof);
        let got = tree.inclusion_proof(index, v.size, &hashes).unwrap();
        assert_eq!(got.hashes, want, "leaf {} size {}", v.leaf, v.size);
        let root = roots[v.size as usize - 1];
        got.verify(&hashes[index as usize], &root).unwrap();
        check_inclusion_corruptions(index, v.size, &hashes[index as usize], &want, &root);
    }
}

#[test]
fn rfc6962_example_consistency_proofs_are_generated_and_verified() {
    let (hashes, tree, roots) = example_tree();
    for v in example().consistency {
        let want = hexes(&v.proof);
        let got = tree.consistency_proof(v.size1, v.size2, &hashes).unwrap();
        assert_eq!(got.hashes, want, "sizes {} -> {}", v.size1, v.size2);
        let (r1, r2) = (roots[v.size1 as usize - 1], roots[v.size2 as usize - 1]);
        got.verify(&r1, &r2).unwrap();
        if !want.is_empty() {
            check_consistency_corruptions(v.size1, v.size2, &r1, &r2, &want);
        }
    }
}

/// A corrupted verification input: description, index or old size, size, two hashes, proof.
type Probe = (&'static str, u64, u64, Hash, Hash, Vec<Hash>);

/// The probes of transparency-dev's `corruptInclusionProof`: each must be rejected.
fn check_inclusion_corruptions(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) {
    let some = Hash::from_hex("abacaba000000000000000000000000000000000000000000060061e00123456").unwrap();
    let mut probes: Vec<Probe> = vec![
        (
            "index - 1",
            index.wrapping_sub(1),
            size,
            *leaf,
            *root,
            proof.to_vec(),
        ),
        ("index + 1", index + 1, size, *leaf, *root, proof.to_vec()),
        ("index ^ 2", index ^ 2, size, *leaf, *root, proof.to_vec()),
        ("size * 2", index, size * 2, *leaf, *root, proof.to_vec()),
        ("size / 2", index, size / 2, *leaf, *root, proof.to_vec()),
        (
            "wrong leaf",
            index,
            size,
            leaf_hash(b"WrongLeaf"),
            *root,
            proof.to_vec(),
        ),
        ("empty root", index, size, *leaf, Hash::EMPTY_ROOT, proof.to_vec()),
        ("random root", index, size, *leaf, some, proof.to_vec()),
        (
            "trailing root",
            index,
            size,
            *leaf,
            *root,
            [proof, &[*root]].concat(),
        ),
        (
            "preceding root",
            index,
            size,
            *leaf,
            *root,
            [&[*root], proof].concat(),
        ),
    ];
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p[i].0[0] ^= 8;
        probes.push(("modified bit 3", index, size, *leaf, *root, p));
    }
    if !proof.is_empty() {
        probes.push((
            "removed",
            index,
            size,
            *leaf,
            *root,
            proof[..proof.len() - 1].to_vec(),
        ));
    }
    if proof.len() > 1 {
        let inserted = [&[proof[0], some], &proof[1..]].concat();
        probes.push(("inserted", index, size, *leaf, *root, inserted));
    }
    for (desc, index, size, leaf, root, p) in probes {
        assert!(
            verify_inclusion(index, size, &leaf, &p, &root).is_err(),
            "{desc} verified"
        );
    }
}

/// The probes of transparency-dev's `corruptConsistencyProof`: each must be rejected.
fn check_consistency_corruptions(size1: u64, size2: u64, r1: &Hash, r2: &Hash, proof: &[Hash]) {
    let wrong = leaf_hash(b"WrongRoot");
    let mut probes: Vec<Probe> = vec![
        ("size1 - 1", size1 - 1, size2, *r1, *r2, proof.to_vec()),
        ("size1 + 1", size1 + 1, size2, *r1, *r2, proof.to_vec()),
        ("size1 ^ 2", size1 ^ 2, size2, *r1, *r2, proof.to_vec()),
        ("size2 * 2", size1, size2 * 2, *r1, *r2, proof.to_vec()),
        ("size2 / 2", size1, size2 / 2, *r1, *r2, proof.to_vec()),
        ("wrong root1", size1, size2, wrong, *r2, proof.to_vec()),
        ("wrong root2", size1, size2, *r1, wrong, proof.to_vec()),
        ("swapped roots", size1, size2, *r2, *r1, proof.to_vec()),
        ("empty proof", size1, size2, *r1, *r2, Vec::new()),
        ("trailing root1", size1, size2, *r1, *r2, [proof, &[*r1]].concat()),
        ("trailing root2", size1, size2, *r1, *r2, [proof, &[*r2]].concat()),
        (
            "preceding root1",
            size1,
            size2,
            *r1,
            *r2,
            [&[*r1], proof].concat(),
        ),
        (
            "preceding root2",
            size1,
            size2,
            *r1,
            *r2,
            [&[*r2], proof].concat(),
        ),
        (
            "preceding proof[0]",
            size1,
            size2,
            *r1,
            *r2,
            [&[proof[0]], proof].concat(),
        ),
        (
            "truncated",
            size1,
            size2,
            *r1,
            *r2,
            proof[..proof.len() - 1].to_vec(),
        ),
    ];
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p[i].0[0] ^= 16;
        probes.push(("modified bit 4", size1, size2, *r1, *r2, p));
    }
    for (desc, s1, s2, r1, r2, p) in probes {
        assert!(
            verify_consistency(s1, s2, &r1, &r2, &p).is_err(),
            "{desc} verified"
        );
    }
}

#[test]
fn trivial_consistency_cases_follow_transparency_dev() {
    let (a, b) = (leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2"));
    let e = Hash::EMPTY_ROOT;
    let check = |s1, s2, r1: &Hash, r2: &Hash, p: &[Hash], ok: bool| {
        assert_eq!(verify_consistency(s1, s2, r1, r2, p).is_ok(), ok, "{s1} -> {s2}");
    };
    check(0, 0, &a, &b, &[], false);
    check(1, 1, &a, &b, &[], false);
    check(0, 0, &a, &a, &[], true);
    check(0, 1, &a, &b, &[], true);
    check(1, 1, &b, &b, &[], true);
    check(1, 0, &a, &b, &[], false);
    check(2, 1, &a, &b, &[], false);
    check(1, 2, &a, &b, &[], false);
    check(0, 0, &e, &b, &[], false);
    check(1, 1, &e, &b, &[], false);
    check(0, 0, &e, &e, &[e], false);
    check(0, 1, &e, &e, &[e], false);
    check(1, 1, &e, &e, &[e], false);
}

#[test]
fn inclusion_in_tiny_trees_is_refused() {
    let some = leaf_hash(b"x");
    for (index, size) in [(0, 0), (1, 0), (2, 1)] {
        assert!(matches!(
            verify_inclusion(index, size, &some, &[], &Hash::EMPTY_ROOT),
            Err(Error::IndexOutOfRange { .. })
        ));
    }
    // A one-leaf tree: the root is the leaf hash and the proof is empty.
    verify_inclusion(0, 1, &some, &[], &some).unwrap();
    assert!(verify_inclusion(0, 1, &some, &[], &Hash::EMPTY_ROOT).is_err());
}

// ---------------------------------------------------------------- transparency-dev testdata

#[derive(Deserialize)]
struct TransparencyDev {
    inclusion: Vec<InclusionProbe>,
    consistency: Vec<ConsistencyProbe>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InclusionProbe {
    file: String,
    leaf_idx: u64,
    tree_size: u64,
    root: String,
    leaf_hash: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConsistencyProbe {
    file: String,
    size1: u64,
    size2: u64,
    root1: String,
    root2: String,
    proof: Option<Vec<String>>,
    want_err: bool,
}

fn transparency_dev() -> TransparencyDev {
    serde_json::from_str(include_str!("../vectors/transparency_dev.json")).unwrap()
}

/// Base64 hashes; a value that is not 32 bytes is rejected as the typed API must.
fn b64s(list: &Option<Vec<String>>) -> Result<Vec<Hash>, Error> {
    list.iter().flatten().map(|h| Hash::from_base64(h)).collect()
}

#[test]
fn transparency_dev_inclusion_vectors() {
    let vectors = transparency_dev();
    assert!(vectors.inclusion.len() >= 20);
    for v in vectors.inclusion {
        let result = (|| {
            let root = Hash::from_base64(&v.root)?;
            let leaf = Hash::from_base64(&v.leaf_hash)?;
            let proof = b64s(&v.proof)?;
            verify_inclusion(v.leaf_idx, v.tree_size, &leaf, &proof, &root)
        })();
        assert_eq!(result.is_err(), v.want_err, "{}: {result:?}", v.file);
    }
}

#[test]
fn transparency_dev_consistency_vectors() {
    let vectors = transparency_dev();
    assert!(vectors.consistency.len() >= 10);
    for v in vectors.consistency {
        let result = (|| {
            let r1 = Hash::from_base64(&v.root1)?;
            let r2 = Hash::from_base64(&v.root2)?;
            let proof = b64s(&v.proof)?;
            verify_consistency(v.size1, v.size2, &r1, &r2, &proof)
        })();
        assert_eq!(result.is_err(), v.want_err, "{}: {result:?}", v.file);
    }
}

// ---------------------------------------------------------------- errors and stores

#[test]
fn out_of_range_requests_are_typed_errors() {
    let hashes = leaves(10);
    let tree = Tree::from_leaf_hashes(hashes.iter().copied());
    assert!(matches!(
        tree.inclusion_proof(10, 10, &hashes),
        Err(Error::IndexOutOfRange { index: 10, size: 10 })
    ));
    assert!(matches!(
        tree.inclusion_proof(0, 11, &hashes),
        Err(Error::SizeOutOfRange {
            size: 11,
            available: 10
        })
    ));
    assert!(matches!(
        tree.consistency_proof(5, 4, &hashes),
        Err(Error::SizesOutOfOrder { old: 5, new: 4 })
    ));
    assert!(matches!(
        tree.root_at(11, &hashes),
        Err(Error::SizeOutOfRange { .. })
    ));
    assert!(tree.consistency_proof(0, 10, &hashes).unwrap().hashes.is_empty());
    assert!(tree.consistency_proof(7, 7, &hashes).unwrap().hashes.is_empty());
}

/// A store that always returns one hash too few.
struct ShortStore(Vec<Hash>);

impl LeafHashStore for ShortStore {
    type Error = Infallible;
    fn read_leaf_hashes(&self, range: Range<u64>, out: &mut Vec<Hash>) -> Result<(), Infallible> {
        out.extend_from_slice(&self.0[range.start as usize..range.end as usize - 1]);
        Ok(())
    }
}

#[test]
fn store_failures_surface_as_errors() {
    let hashes = leaves(1000);
    let tree = Tree::from_leaf_hashes(hashes.iter().copied());
    assert!(matches!(
        tree.inclusion_proof(3, 1000, &ShortStore(hashes.clone())),
        Err(Error::StoreShortRead {
            start: 0,
            end: 256,
            got: 255
        })
    ));
    let missing: Vec<Hash> = hashes[..100].to_vec();
    assert!(matches!(
        tree.inclusion_proof(300, 1000, &missing),
        Err(Error::Store(_))
    ));
}

#[test]
fn prefetched_spans_are_enough_and_few() {
    let hashes = leaves(5_000);
    let tree = Tree::from_leaf_hashes(hashes.iter().copied());
    for (index, size) in [(0, 5_000), (4_999, 5_000), (1_234, 3_001), (300, 301), (255, 256)] {
        let spans = tree.inclusion_leaf_spans(index, size).unwrap();
        assert!(spans.len() <= 2, "{spans:?}");
        let mut prefetched = PrefetchedLeafHashes::new();
        for span in spans {
            assert!(span.end - span.start <= 256 && span.end <= size);
            prefetched.insert(
                span.start,
                hashes[span.start as usize..span.end as usize].to_vec(),
            );
        }
        assert_eq!(
            tree.inclusion_proof(index, size, &prefetched).unwrap(),
            tree.inclusion_proof(index, size, &hashes).unwrap()
        );
    }
    for (old, new) in [
        (1, 5_000),
        (4_097, 4_999),
        (300, 301),
        (256, 4_096),
        (2_500, 2_600),
    ] {
        let spans = tree.consistency_leaf_spans(old, new).unwrap();
        assert!(spans.len() <= 3, "{spans:?}");
        let mut prefetched = PrefetchedLeafHashes::new();
        for span in spans {
            prefetched.insert(
                span.start,
                hashes[span.start as usize..span.end as usize].to_vec(),
            );
        }
        assert_eq!(
            tree.consistency_proof(old, new, &prefetched).unwrap(),
            tree.consistency_proof(old, new, &hashes).unwrap()
        );
    }
}

#[test]
fn recent_tiles_are_served_from_memory() {
    // The last two tiles (here [9728, 10000)) are held in memory: proofs at recent sizes read
    // only the tile of the proven leaf, and proofs of recent leaves read nothing.
    let hashes = leaves(10_000);
    let tree = Tree::from_leaf_hashes(hashes.iter().copied());
    let spans = |index, size| tree.inclusion_leaf_spans(index, size).unwrap();
    assert_eq!(spans(5, 10_000), vec![0..256]);
    assert_eq!(spans(5, 9_900), vec![0..256]);
    assert_eq!(spans(5, 9_000), vec![0..256, 8_960..9_000]);
    assert_eq!(spans(9_999, 10_000), Vec::<Range<u64>>::new());
    assert_eq!(spans(9_730, 9_800), Vec::<Range<u64>>::new());
    assert_eq!(
        tree.consistency_leaf_spans(9_800, 10_000).unwrap(),
        Vec::<Range<u64>>::new()
    );
    // And what comes from memory is right.
    let none: Vec<Hash> = Vec::new();
    for (index, size) in [(9_999, 10_000), (9_730, 9_800), (9_728, 9_729)] {
        let got = tree.inclusion_proof(index, size, &none).unwrap();
        assert_eq!(got.hashes, path(index as usize, &hashes[..size as usize]));
    }
}

#[test]
fn staged_frontier_gives_the_root_before_commit() {
    let hashes = leaves(700);
    let mut tree = Tree::from_leaf_hashes(hashes[..500].iter().copied());
    let mut staged = tree.frontier().clone();
    for h in &hashes[500..] {
        staged.push(*h);
    }
    tree.extend(hashes[500..].iter().copied());
    assert_eq!(staged.root(), tree.root());
    assert_eq!(staged.size(), 700);
    assert_eq!(tree.root(), mth(&hashes));
    assert_eq!(staged.hashes().len(), 700u64.count_ones() as usize);
}

#[test]
fn cached_levels_hold_complete_subtrees() {
    let hashes = leaves(70_000);
    let tree = Tree::from_leaf_hashes(hashes.iter().copied());
    let level8 = tree.level_hashes(8).unwrap();
    assert_eq!(level8.len(), 70_000 / 256);
    assert_eq!(level8[3], mth(&hashes[768..1024]));
    assert_eq!(tree.level_hashes(16).unwrap(), &[mth(&hashes[..65_536])]);
    assert!(tree.level_hashes(24).unwrap().is_empty());
    assert!(tree.level_hashes(7).is_none());
}

#[test]
fn large_tree_proofs_match_the_definition() {
    let hashes = leaves(70_001);
    let tree = Tree::from_leaf_hashes(hashes.iter().copied());
    assert_eq!(tree.root(), mth(&hashes));
    for (index, size) in [
        (0, 70_001),
        (65_535, 70_001),
        (65_536, 70_001),
        (70_000, 70_001),
        (12_345, 65_537),
    ] {
        let got = tree.inclusion_proof(index, size, &hashes).unwrap();
        assert_eq!(got.hashes, path(index as usize, &hashes[..size as usize]));
        got.verify(&hashes[index as usize], &mth(&hashes[..size as usize]))
            .unwrap();
    }
    for (old, new) in [
        (1, 70_001),
        (65_536, 70_001),
        (65_537, 70_000),
        (257, 513),
        (70_000, 70_001),
    ] {
        let got = tree.consistency_proof(old, new, &hashes).unwrap();
        assert_eq!(got.hashes, proof(old as usize, &hashes[..new as usize]));
        got.verify(&mth(&hashes[..old as usize]), &mth(&hashes[..new as usize]))
            .unwrap();
    }
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Roots, at the current size and any earlier one, equal the recursive MTH.
    #[test]
    fn roots_match_the_definition(n in 0u64..1_500, m_seed in any::<u64>()) {
        let hashes = leaves(n);
        let tree = Tree::from_leaf_hashes(hashes.iter().copied());
        prop_assert_eq!(tree.root(), mth(&hashes));
        let m = if n == 0 { 0 } else { m_seed % (n + 1) };
        prop_assert_eq!(tree.root_at(m, &hashes).unwrap(), mth(&hashes[..m as usize]));
    }

    /// Every inclusion proof equals PATH, verifies, and fails once any bit of the proof, the
    /// leaf hash or the root is flipped.
    #[test]
    fn inclusion_proofs_verify_and_every_bit_flip_fails(
        n in 1u64..1_200, size_seed in any::<u64>(), index_seed in any::<u64>()
    ) {
        let hashes = leaves(n);
        let tree = Tree::from_leaf_hashes(hashes.iter().copied());
        let size = 1 + size_seed % n;
        let index = index_seed % size;
        let root = mth(&hashes[..size as usize]);
        let leaf = hashes[index as usize];
        let got = tree.inclusion_proof(index, size, &hashes).unwrap();
        prop_assert_eq!(&got.hashes, &path(index as usize, &hashes[..size as usize]));
        prop_assert!(got.verify(&leaf, &root).is_ok());
        prop_assert_eq!(
            root_from_inclusion_proof(index, size, &leaf, &got.hashes).unwrap(),
            root
        );
        for i in 0..got.hashes.len() {
            for bit in 0..256 {
                let mut bad = got.hashes.clone();
                bad[i] = flip(&bad[i], bit);
                prop_assert!(verify_inclusion(index, size, &leaf, &bad, &root).is_err());
            }
        }
        for bit in 0..256 {
            prop_assert!(verify_inclusion(index, size, &flip(&leaf, bit), &got.hashes, &root).is_err());
            prop_assert!(verify_inclusion(index, size, &leaf, &got.hashes, &flip(&root, bit)).is_err());
        }
    }

    /// Consistency proofs equal PROOF and verify for every old size m <= n; a flipped bit fails.
    #[test]
    fn consistency_proofs_verify_for_all_old_sizes(n in 1u64..160, bit in 0usize..256) {
        let hashes = leaves(n);
        let tree = Tree::from_leaf_hashes(hashes.iter().copied());
        let new_root = mth(&hashes);
        for m in 0..=n {
            let old_root = mth(&hashes[..m as usize]);
            let got = tree.consistency_proof(m, n, &hashes).unwrap();
            prop_assert_eq!(&got.hashes, &proof(m as usize, &hashes));
            prop_assert!(got.verify(&old_root, &new_root).is_ok(), "m = {}", m);
            for i in 0..got.hashes.len() {
                let mut bad = got.hashes.clone();
                bad[i] = flip(&bad[i], bit);
                prop_assert!(verify_consistency(m, n, &old_root, &new_root, &bad).is_err());
            }
            if m > 0 && m < n {
                prop_assert!(verify_consistency(m, n, &flip(&old_root, bit), &new_root, &got.hashes).is_err());
                prop_assert!(verify_consistency(m, n, &old_root, &flip(&new_root, bit), &got.hashes).is_err());
            }
        }
    }

    /// Across tile boundaries: consistency between random sizes of a bigger tree.
    #[test]
    fn consistency_proofs_across_tiles(n in 257u64..3_000, a in any::<u64>(), b in any::<u64>()) {
        let hashes = leaves(n);
        let tree = Tree::from_leaf_hashes(hashes.iter().copied());
        let (x, y) = (a % (n + 1), b % (n + 1));
        let (old, new) = (x.min(y), x.max(y));
        let got = tree.consistency_proof(old, new, &hashes).unwrap();
        prop_assert_eq!(&got.hashes, &proof(old as usize, &hashes[..new as usize]));
        prop_assert!(got.verify(&mth(&hashes[..old as usize]), &mth(&hashes[..new as usize])).is_ok());
    }
}
