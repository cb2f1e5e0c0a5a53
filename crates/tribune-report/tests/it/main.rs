//! Tests of the reports: every format over the example bundles, OSCAL against NIST's published
//! schema, and the HTML page rendered by a real headless Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Evidence literals name the sources these tests supply and leave the rest (e.g. red-team
// runs) at their default.
#![allow(clippy::needless_update)]

mod browser;
mod formats;
mod oscal;

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::macros::datetime;
use tribune_bundle::{Bundle, Diagnostic};
use tribune_compliance::{
    Assessment, CheckpointEvidence, DrillEvidence, Evidence, IdentityEvidence, IdentityReview,
    LedgerEvidence, LedgerVerification, VerifiedLedger,
};
use tribune_report::{Format, Report};

pub const SERVER: &str = "http://127.0.0.1:7070";
pub const AT: OffsetDateTime = datetime!(2026-01-15 12:00 UTC);
const DAY_MS: i64 = 86_400_000;

pub fn now_ms() -> i64 {
    (AT.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A bundle, assessed, with the evidence it was assessed with.
pub struct Fixture {
    pub dir: String,
    pub bundle: Bundle,
    pub evidence: Evidence,
    pub assessment: Assessment,
    pub findings: Vec<Diagnostic>,
    pub server: Option<String>,
}

impl Fixture {
    /// `path` (under the repository, or absolute), assessed with `evidence` (read from
    /// [`SERVER`] unless it is [`Evidence::NONE`]).
    pub fn new(path: &Path, evidence: Evidence) -> Fixture {
        let bundle = tribune_bundle::load_dir(&repo().join(path)).unwrap();
        let catalog = tribune_compliance::catalog().unwrap();
        let assessment = tribune_compliance::assess_with(catalog, &bundle, &evidence);
        assert!(assessment.diagnostics.is_empty(), "{:?}", assessment.diagnostics);
        let server = (evidence != Evidence::NONE).then(|| SERVER.to_owned());
        Fixture {
            dir: path.display().to_string(),
            bundle,
            evidence,
            assessment,
            findings: Vec::new(),
            server,
        }
    }

    /// The HIPAA example, static.
    pub fn hipaa() -> Fixture {
        Fixture::new(Path::new("examples/clinical-hipaa"), Evidence::NONE)
    }

    /// The HIPAA example with evidence that holds.
    pub fn hipaa_with_evidence() -> Fixture {
        Fixture::new(Path::new("examples/clinical-hipaa"), evidence_that_holds())
    }

    pub fn report(&self) -> Report<'_> {
        Report {
            bundle: &self.bundle,
            bundle_dir: &self.dir,
            catalog: tribune_compliance::catalog().unwrap(),
            assessment: &self.assessment,
            findings: &self.findings,
            evidence: &self.evidence,
            server: self.server.as_deref(),
            generated_at: AT,
            tribune_version: "0.1.0",
        }
    }

    pub fn render(&self, format: Format) -> String {
        tribune_report::render(&self.report(), format).unwrap()
    }
}

fn printed(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// A verified ledger.
pub fn ledger_verified() -> LedgerEvidence {
    let signed = now_ms() - 60_000;
    LedgerEvidence {
        source: SERVER.to_owned(),
        key: "st-marys.example/clinical-summaries+5c1f2a3b+AeYxhFmRZ8N8S9rX2R8bq1nB7S8vQqfK0Qy1eW4M3xw="
            .to_owned(),
        key_pinned: true,
        verification: LedgerVerification::Verified(VerifiedLedger {
            entries: 1234,
            pruned: 17,
            checkpoints: 42,
            checkpoint: CheckpointEvidence {
                origin: "st-marys.example/clinical-summaries".to_owned(),
                size: 1234,
                root: "q5GSqXbOIqG0pZXOTnBHGGzY3G4y2wGSTBE6zqZTHc0=".to_owned(),
                signed_at: Some((signed, printed(signed))),
            },
        }),
    }
}

/// Runtime evidence under which every evidence check the HIPAA example has holds, except the
/// activity review, which no server records.
pub fn evidence_that_holds() -> Evidence {
    let drill = now_ms() - 3 * DAY_MS;
    let reviewed = now_ms() - 10 * DAY_MS;
    Evidence {
        stop_drills: Some(DrillEvidence {
            source: SERVER.to_owned(),
            last_passed: Some((drill, printed(drill))),
            now_ms: now_ms(),
        }),
        ledger: Some(ledger_verified()),
        identities: Some(IdentityEvidence {
            source: SERVER.to_owned(),
            identities: vec![IdentityReview {
                id: "agent:summariser-1".to_owned(),
                class: Some("clinical-summariser".to_owned()),
                created_at_ms: now_ms() - 40 * DAY_MS,
                last_reviewed: Some((reviewed, printed(reviewed))),
            }],
            now_ms: now_ms(),
        }),
        ..Evidence::NONE
    }
}

/// [`evidence_that_holds`] with a ledger that failed verification.
pub fn evidence_with_tampered_ledger() -> Evidence {
    let mut e = evidence_that_holds();
    if let Some(l) = &mut e.ledger {
        l.verification = LedgerVerification::Failed {
            reason: "FAILED at entry 17: entry 17's payload does not hash to its leaf hash".to_owned(),
        };
    }
    e
}

/// Copies the bundle at `from` (under the repository) into `to`, editing its manifest.
pub fn edited_copy(from: &str, to: &Path, edit: impl FnOnce(String) -> String) {
    copy_dir(&repo().join(from), to);
    let manifest = to.join("tribune.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, edit(text)).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
