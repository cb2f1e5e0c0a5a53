//! Tests of the compliance crate: the shipped data loads, every pack's checks pass on a
//! conforming fixture and fail where a declaration breaks them, and threat coverage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod catalog;
mod coverage;
mod evidence;
mod packs;

use std::path::Path;

use tribune_bundle::{Bundle, BundleSources, MANIFEST, SourceFile};
use tribune_compliance::Catalog;

pub fn catalog() -> &'static Catalog {
    tribune_compliance::catalog().unwrap()
}

/// The manifest of `tests/fixtures/NAME`, or of `examples/NAME` at the repository root.
pub fn fixture(name: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let local = root.join("tests/fixtures").join(name).join(MANIFEST);
    let path = if local.exists() {
        local
    } else {
        root.join("../../examples").join(name).join(MANIFEST)
    };
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with every `(from, to)` replaced; each `from` must occur.
pub fn edit(text: &str, edits: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (from, to) in edits {
        assert!(out.contains(from), "`{from}` is not in the manifest");
        out = out.replace(from, to);
    }
    out
}

/// Parses a manifest that must be valid.
pub fn load(text: &str) -> Bundle {
    let sources = BundleSources {
        manifest: SourceFile::new(MANIFEST.to_owned(), text.to_owned()),
        policy_files: Vec::new(),
    };
    match tribune_bundle::parse(sources) {
        Ok(b) => b,
        Err(d) => panic!(
            "invalid bundle:\n{}",
            d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        ),
    }
}

/// Parses a manifest that must be invalid; its diagnostics as printed.
pub fn invalid(text: &str) -> Vec<String> {
    let sources = BundleSources {
        manifest: SourceFile::new(MANIFEST.to_owned(), text.to_owned()),
        policy_files: Vec::new(),
    };
    match tribune_bundle::parse(sources) {
        Ok(_) => panic!("accepted"),
        Err(d) => d.iter().map(ToString::to_string).collect(),
    }
}
