//! Integration tests of the decision point over real bundles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod credentials;
mod data;
mod decisions;
mod differential;
mod invalid;
mod reach;
mod stops;
mod taint;
mod trust;
mod vetting;

use std::path::{Path, PathBuf};

use tribune_policy::Snapshot;

pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

pub fn snapshot(example: &str) -> Snapshot {
    let bundle = tribune_bundle::load_dir(&examples_dir().join(example)).unwrap_or_else(|d| {
        panic!(
            "{}",
            d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        )
    });
    Snapshot::build(bundle).unwrap_or_else(|d| {
        panic!(
            "{}",
            d.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
        )
    })
}
