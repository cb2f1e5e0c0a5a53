//! Integration tests of bundle parsing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tribune_bundle::{Bundle, BundleSources, Diagnostic, MANIFEST, SourceFile};

mod dlp;
mod drills;
mod incidents;
mod providers;
mod taint;
mod vetting;

/// Parses a bundle of the manifest `manifest` and no policy files.
pub fn parse_manifest(manifest: &str) -> Result<Bundle, Vec<Diagnostic>> {
    tribune_bundle::parse(BundleSources {
        manifest: SourceFile::new(MANIFEST, manifest),
        policy_files: Vec::new(),
    })
}

/// `d` followed by the line of `text` it points at and a caret under its column.
pub fn render(d: &Diagnostic, text: &str) -> String {
    let mut out = format!("{d}\n");
    if let Some(line) = text.lines().nth(d.location.line - 1) {
        let number = d.location.line.to_string();
        out.push_str(&format!("  {number} | {line}\n"));
        out.push_str(&format!(
            "  {} | {}^\n",
            " ".repeat(number.len()),
            " ".repeat(d.location.column - 1)
        ));
    }
    out
}

/// `error:` and every diagnostic rendered against `text`.
pub fn render_errors(diagnostics: &[Diagnostic], text: &str) -> String {
    let mut out = "error:\n".to_owned();
    for d in diagnostics {
        out.push_str(&render(d, text));
    }
    out
}
