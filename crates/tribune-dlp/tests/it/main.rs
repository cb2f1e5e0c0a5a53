//! Integration tests of the DLP scanner: known positives and near misses per detector,
//! snapshots of findings and redactions, the policy step, and properties.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod detectors;
mod json;
mod policy;
mod props;
mod scanner;

use std::sync::LazyLock;

use tribune_dlp::{DataClass, Detector, Scanner};

/// Every built-in (class `restricted`) and a medical-record-number pattern (class `phi`),
/// compiled once for all tests.
pub fn scanner() -> &'static Scanner {
    static SCANNER: LazyLock<Scanner> = LazyLock::new(build);
    &SCANNER
}

fn build() -> Scanner {
    let mut detectors = Detector::all_builtins(&DataClass::new("restricted"));
    detectors.push(
        Detector::pattern(
            "mrn",
            r"(?-u:\b)MRN[:# ]*[0-9]{7,10}(?-u:\b)",
            DataClass::new("phi"),
        )
        .unwrap(),
    );
    Scanner::new(&detectors).unwrap()
}

/// The findings in `text` as `detector matched-text`, for tables and snapshots.
pub fn render(scanner: &Scanner, text: &str) -> Vec<String> {
    scanner
        .scan(text)
        .iter()
        .map(|f| format!("{} {}", f.detector, &text[f.span.clone()]))
        .collect()
}
