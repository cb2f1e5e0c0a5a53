//! Tribune governance bundles.
//!
//! A bundle is a directory kept in git: `tribune.toml` declares principals, agent classes,
//! providers, tools, the data classification scale and the autonomy floor; `policies/*.cedar`
//! holds the deployment's own Cedar rules. [`load_dir`] reads one; [`parse`] is the pure
//! function every path (CLI, server start, reload) goes through. Cedar compilation and strict
//! validation happen in `tribune-policy`, which reports into the same [`Diagnostic`] type.

mod diagnostic;
mod ids;
pub mod input;
mod model;
mod parse;
mod raw;

use std::path::Path;

pub use diagnostic::{Diagnostic, Location, Severity, SourceFile};
pub use ids::{
    Classification, Destination, EventClass, Id, IdError, McpTransport, ProviderKind, Tier, VettingVerdict,
};
pub use model::*;
pub use parse::{BundleSources, DEFAULT_SCALE, MANIFEST, parse};

/// Reads `dir/tribune.toml` and `dir/policies/*.cedar` (sorted by name).
pub fn read_dir(dir: &Path) -> Result<BundleSources, Vec<Diagnostic>> {
    let manifest_path = dir.join(MANIFEST);
    let manifest = match std::fs::read_to_string(&manifest_path) {
        Ok(text) => SourceFile::new(MANIFEST.to_owned(), text),
        Err(e) => {
            let message = format!("cannot read `{}`: {e}", manifest_path.display());
            return Err(vec![Diagnostic::error(
                Location::file(MANIFEST),
                "unreadable",
                message,
            )]);
        }
    };
    let mut policy_files = Vec::new();
    let policies_dir = dir.join("policies");
    if policies_dir.is_dir() {
        let entries = std::fs::read_dir(&policies_dir).map_err(|e| {
            let message = format!("cannot list `{}`: {e}", policies_dir.display());
            vec![Diagnostic::error(
                Location::file("policies"),
                "unreadable",
                message,
            )]
        })?;
        let mut names = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".cedar") {
                names.push(name);
            }
        }
        names.sort();
        for name in names {
            let path = format!("policies/{name}");
            match std::fs::read_to_string(policies_dir.join(&name)) {
                Ok(text) => policy_files.push(SourceFile::new(path, text)),
                Err(e) => {
                    let message = format!("cannot read `{path}`: {e}");
                    return Err(vec![Diagnostic::error(
                        Location::file(&path),
                        "unreadable",
                        message,
                    )]);
                }
            }
        }
    }
    Ok(BundleSources {
        manifest,
        policy_files,
    })
}

/// Reads and parses the bundle in `dir`.
pub fn load_dir(dir: &Path) -> Result<Bundle, Vec<Diagnostic>> {
    parse(read_dir(dir)?)
}
