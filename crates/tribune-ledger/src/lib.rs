//! Tribune's tamper-evident ledger, as pure functions and in-memory state: no IO, no database,
//! no clock. The store and the server call into it; an auditor's offline verifier is built from
//! it alone.
//!
//! Every Tribune decision becomes an [`Entry`] (RFC 8785 canonical JSON, at most 65,535 bytes)
//! whose RFC 6962 leaf hash is appended to a SHA-256 Merkle [`Tree`]. Tree heads are C2SP
//! [`Checkpoint`]s signed as C2SP signed notes with the deployment's Ed25519 [`SigningKey`];
//! auditors hold only the [`VerifierKey`] and check everything with [`verify_log`]. The log can
//! also be published as static C2SP tlog tiles ([`tiles`]), which third-party transparency tools
//! read.
//!
//! # Example
//! ```
//! use tribune_ledger::{Checkpoint, Entry, SigningKey, Tree, verify_log};
//!
//! # fn main() -> Result<(), tribune_ledger::Error> {
//! let key = SigningKey::from_seed("tribune.example/ledger", [7; 32])?;
//! let entries: Vec<Entry> = (0..1000)
//!     .map(|seq| Entry::from_json(&serde_json::json!({ "decision": "allow", "seq": seq })))
//!     .collect::<Result<_, _>>()?;
//! // The server stores each entry and its leaf hash, and appends the hash to the tree.
//! let leaf_hashes: Vec<_> = entries.iter().map(Entry::leaf_hash).collect();
//! let tree = Tree::from_leaf_hashes(leaf_hashes.iter().copied());
//! let note = Checkpoint::new(key.name(), tree.size(), tree.root())?.sign(&key)?;
//!
//! // Anyone with the public key checks an inclusion proof against the signed checkpoint...
//! let verifier = key.verifier_key();
//! let checkpoint = Checkpoint::open(&note, &verifier)?;
//! let proof = tree.inclusion_proof(42, checkpoint.size(), &leaf_hashes)?;
//! proof.verify(&entries[42].leaf_hash(), checkpoint.root())?;
//!
//! // ...and an auditor checks the whole export offline.
//! let payloads: Vec<Option<&[u8]>> = entries.iter().map(|e| Some(e.as_bytes())).collect();
//! let report = verify_log(&payloads, &leaf_hashes, &[note], &verifier)?;
//! assert_eq!(report.verified_size, 1000);
//! # Ok(())
//! # }
//! ```
//!
//! # Modules
//! - [`hash`]: the SHA-256 [`Hash`] and the RFC 6962 leaf and node hashes.
//! - [`tree`]: [`Frontier`] (compact range) and [`Tree`] (appends, roots, proof generation).
//! - [`store`]: [`LeafHashStore`], how proof generation reads the leaf hashes kept elsewhere.
//! - [`proof`]: RFC 9162 inclusion and consistency proof verification.
//! - [`entry`]: canonical JSON entries and their leaf hashes.
//! - [`note`] and [`checkpoint`]: keys, signed notes, checkpoints.
//! - [`tiles`]: the tlog-tiles file layout.
//! - [`verify`]: the offline verifier.
//!
//! # Dependencies, and what is written here
//! - **Signed notes: `signed_note`** (Cloudflare, a port of Go's `golang.org/x/mod/sumdb/note`).
//!   It implements c2sp.org/signed-note exactly, including the fiddly parts (the last blank line
//!   separates text from signatures, control characters, signature-count limits, unknown keys
//!   ignored, a failing known key rejects the note) and passes Go's `PeterNeumann` vectors. Only
//!   the key types are ours: seeds from a caller's `rand_core` 0.9 RNG, the `PRIVATE+KEY+` string,
//!   and strict Ed25519 verification.
//! - **Canonical JSON: written here ([`canonical`]), numbers by `serde_json_canonicalizer`.**
//!   The library is RFC 8785 over any `serde::Serialize`, tested against the RFC's own
//!   examples, but to sort an object's keys it buffers every member and parses each key again;
//!   over a `serde_json::Value`, whose keys are at hand, [`canonical`] sorts them in place and
//!   writes straight through. A property test holds its output to the library's.
//! - **The Merkle tree, proofs and tiles are written here**, after evaluating the two crates that
//!   offer them. `ct-merkle` keeps every leaf and node in memory and verifies inclusion from the
//!   leaf *value*, but a pruned entry leaves only its hash and ten million entries' nodes do not
//!   belong in a server's memory. `tlog_tiles` (Cloudflare, ported from Go's `sumdb/tlog`) reads
//!   proofs through a `HashReader` that expects every complete-subtree hash to be stored (two
//!   hashes per entry), writes Go-sumdb tile paths `tile/<H>/<L>/...` rather than C2SP's
//!   `tile/<L>/...` with no entry bundles, panics on internal assertions, and pulls in `url` with
//!   the ICU stack. What Tribune needs is different: the database stores one leaf hash per entry,
//!   the tree keeps the tile levels >= 1 in memory (`size / 128` hashes) and reads at most three
//!   256-leaf tiles per proof, and async callers can prefetch those tiles. The algorithms are the
//!   short RFC 9162 ones; they are pinned by the transparency-dev test vectors, the RFC 6962 8-leaf
//!   example tree, and property tests against a direct recursive MTH.
//!
//! # Performance (see `BENCHMARKS.md` at the repository root, section "Ledger")
//! Appending costs one node hash per leaf on average and a root costs at most 64 node hashes.
//! An inclusion proof at 10,000,000 entries reads at most two 256-leaf tiles (none for recent
//! entries and sizes) and evaluates a few hundred hashes. The verifier hashes each payload once
//! and each tree node once.

pub mod canonical;
pub mod checkpoint;
pub mod entry;
pub mod error;
pub mod hash;
pub mod note;
pub mod proof;
pub mod store;
pub mod tiles;
pub mod tree;
pub mod verify;

pub use checkpoint::Checkpoint;
pub use entry::{Entry, MAX_ENTRY_SIZE, entry_leaf_hash};
pub use error::{CheckpointDefect, Error, KeyDefect};
pub use hash::{HASH_SIZE, Hash, leaf_hash, node_hash};
pub use note::{SigningKey, VerifierKey};
pub use proof::{
    ConsistencyProof, InclusionProof, root_from_inclusion_proof, verify_consistency, verify_inclusion,
};
pub use store::{LeafHashStore, MissingLeafHashes, PrefetchedLeafHashes};
pub use tiles::{TileFile, TileId};
pub use tree::{Frontier, TILE_HEIGHT, TILE_WIDTH, Tree};
pub use verify::{VerifyReport, verify_log};
