//! Compliance reports: one [`Assessment`] of a bundle, with the runtime [`Evidence`] it rests
//! on, written for the people and tools that read it.
//!
//! [`render`] writes a [`Report`] as a self-contained HTML page (inline CSS and SVG charts, a
//! print stylesheet, nothing fetched), as Markdown, as JSON, or as OSCAL assessment results
//! (NIST OSCAL 1.2.3 JSON). Every format says the same things: the mandates and each
//! requirement's status with what shows it (the evidence read, its counts and dates, the ledger
//! checkpoint it rests on) or what it still awaits, the MAESTRO / OWASP agentic-threat
//! coverage, and the open findings.
//!
//! Pure: no IO and no clock; the caller reads the evidence and passes the time. Bundle text is
//! untrusted, so every format escapes it for its syntax ([`text`]).

mod html;
mod json;
mod markdown;
mod oscal;
mod svg;
pub mod text;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tribune_bundle::{Bundle, Diagnostic, Severity};
use tribune_compliance::{
    Assessment, Catalog, Coverage, Evidence, LedgerVerification, RequirementResult, Status,
};

pub use oscal::OSCAL_VERSION;

/// Everything a report says, gathered by the caller.
#[derive(Clone, Copy, Debug)]
pub struct Report<'a> {
    /// The bundle assessed.
    pub bundle: &'a Bundle,
    /// The bundle directory, as the caller named it.
    pub bundle_dir: &'a str,
    /// The packs and threat map the assessment used.
    pub catalog: &'static Catalog,
    /// The assessment.
    pub assessment: &'a Assessment,
    /// The bundle's own findings and any runtime finding (e.g. a drill overdue), sorted.
    pub findings: &'a [Diagnostic],
    /// The runtime evidence the assessment read ([`Evidence::NONE`] for a static report).
    pub evidence: &'a Evidence,
    /// The server the evidence was read from, if any.
    pub server: Option<&'a str>,
    /// When the report was made.
    pub generated_at: OffsetDateTime,
    /// The Tribune version that made it.
    pub tribune_version: &'a str,
}

/// The formats a report is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A self-contained HTML page.
    Html,
    /// CommonMark with GitHub tables.
    Markdown,
    /// Tribune's report as one JSON object.
    Json,
    /// OSCAL assessment results, JSON.
    Oscal,
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A time cannot be written as RFC 3339 (e.g. a year beyond 9999).
    #[error("cannot write `{at}` as an RFC 3339 time: {source}")]
    Time {
        /// The time.
        at: OffsetDateTime,
        /// Why.
        source: time::error::Format,
    },
    /// The JSON could not be serialized.
    #[error("cannot write the report as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Writes `report` in `format`.
pub fn render(report: &Report<'_>, format: Format) -> Result<String, ReportError> {
    match format {
        Format::Html => html::render(report),
        Format::Markdown => markdown::render(report),
        Format::Json => Ok(serde_json::to_string_pretty(&json::render(report)?)?),
        Format::Oscal => Ok(serde_json::to_string_pretty(&oscal::render(report)?)?),
    }
}

/// `at` as RFC 3339 in UTC, whole seconds.
pub(crate) fn rfc3339(at: OffsetDateTime) -> Result<String, ReportError> {
    let at = at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at);
    at.format(&Rfc3339)
        .map_err(|source| ReportError::Time { at, source })
}

/// How many requirements, over every mandate, have each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub met: usize,
    pub gap: usize,
    pub not_assessed: usize,
}

impl Tally {
    pub fn total(self) -> usize {
        self.met + self.gap + self.not_assessed
    }

    fn add(&mut self, status: Status) {
        match status {
            Status::Met => self.met += 1,
            Status::Gap => self.gap += 1,
            Status::NotAssessed => self.not_assessed += 1,
        }
    }

    pub fn of<'r>(requirements: impl IntoIterator<Item = &'r RequirementResult>) -> Tally {
        let mut t = Tally::default();
        for r in requirements {
            t.add(r.status);
        }
        t
    }
}

/// How many threats have each coverage.
pub(crate) fn threat_tally(a: &Assessment) -> [(Coverage, usize); 3] {
    [Coverage::Covered, Coverage::Partly, Coverage::Open]
        .map(|c| (c, a.coverage.iter().filter(|t| t.status == c).count()))
}

impl Report<'_> {
    /// Every requirement's status, over every mandate.
    pub(crate) fn tally(&self) -> Tally {
        Tally::of(self.assessment.mandates.iter().flat_map(|m| &m.requirements))
    }

    /// The open findings: the bundle's own and runtime findings, then every requirement gap
    /// (as `tribune check` prints them), in file order.
    pub(crate) fn open_findings(&self) -> Vec<Diagnostic> {
        let mut all: Vec<Diagnostic> = self.findings.to_vec();
        all.extend(self.assessment.gaps());
        all.sort();
        all.dedup();
        all
    }

    /// How many open findings are errors.
    pub(crate) fn error_findings(&self) -> usize {
        self.open_findings()
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    /// The requirements still awaiting runtime evidence, with what each needs.
    pub(crate) fn awaiting(&self) -> Vec<(&'static str, &RequirementResult)> {
        self.assessment
            .mandates
            .iter()
            .flat_map(|m| m.requirements.iter().map(move |r| (m.id, r)))
            .filter(|(_, r)| r.status == Status::NotAssessed)
            .collect()
    }

    /// The runtime evidence read, each source as label/value facts, for every format.
    pub(crate) fn evidence_items(&self) -> Vec<EvidenceItem> {
        let e = self.evidence;
        let mut items = Vec::new();
        if let Some(l) = &e.ledger {
            let mut facts = vec![
                ("read from", l.source.clone()),
                (
                    "verifier key",
                    format!(
                        "{} ({})",
                        l.key,
                        if l.key_pinned {
                            "pinned by the caller"
                        } else {
                            "as the server publishes it, not pinned"
                        }
                    ),
                ),
            ];
            let verdict = match &l.verification {
                LedgerVerification::Verified(v) => {
                    facts.extend([
                        ("entries", v.entries.to_string()),
                        ("pruned payloads", v.pruned.to_string()),
                        ("signed checkpoints verified", v.checkpoints.to_string()),
                        ("checkpoint origin", v.checkpoint.origin.clone()),
                        ("checkpoint size", v.checkpoint.size.to_string()),
                        ("checkpoint root", v.checkpoint.root.clone()),
                    ]);
                    if let Some((_, at)) = &v.checkpoint.signed_at {
                        facts.push(("checkpoint signed at", at.clone()));
                    }
                    EvidenceVerdict::Holds
                }
                LedgerVerification::Unsigned { entries } => {
                    facts.push(("entries", entries.to_string()));
                    facts.push(("signed checkpoints", "none".to_owned()));
                    EvidenceVerdict::Fails
                }
                LedgerVerification::Failed { reason } => {
                    facts.push(("failure", reason.clone()));
                    EvidenceVerdict::Fails
                }
            };
            items.push(EvidenceItem {
                key: "ledger",
                title: "Ledger verified against its signed checkpoints",
                verdict,
                facts,
            });
        }
        if let Some(d) = &e.stop_drills {
            let last = d
                .last_passed
                .as_ref()
                .map_or_else(|| "none".to_owned(), |(_, at)| at.clone());
            items.push(EvidenceItem {
                key: "stop_drills",
                title: "Emergency-stop drills",
                verdict: if d.last_passed.is_some() {
                    EvidenceVerdict::Read
                } else {
                    EvidenceVerdict::Fails
                },
                facts: vec![("read from", d.source.clone()), ("last drill that passed", last)],
            });
        }
        if let Some(r) = &e.redteam {
            let last = r
                .last_passed
                .as_ref()
                .map_or_else(|| "none".to_owned(), |(_, at)| at.clone());
            items.push(EvidenceItem {
                key: "redteam",
                title: "Red-team runs",
                verdict: if r.last_passed.is_some() {
                    EvidenceVerdict::Read
                } else {
                    EvidenceVerdict::Fails
                },
                facts: vec![("read from", r.source.clone()), ("last run that passed", last)],
            });
        }
        if let Some(i) = &e.identities {
            let reviewed = i.identities.iter().filter(|r| r.last_reviewed.is_some()).count();
            let latest = i
                .identities
                .iter()
                .filter_map(|r| r.last_reviewed.as_ref())
                .max_by_key(|(at, _)| *at)
                .map_or_else(|| "none".to_owned(), |(_, at)| at.clone());
            items.push(EvidenceItem {
                key: "identities",
                title: "Agent and service identities",
                verdict: EvidenceVerdict::Read,
                facts: vec![
                    ("read from", i.source.clone()),
                    ("identities (not decommissioned)", i.identities.len().to_string()),
                    ("reviewed at least once", reviewed.to_string()),
                    ("latest review", latest),
                ],
            });
        }
        items
    }
}

/// One source of runtime evidence, as every format shows it.
#[derive(Clone, Debug)]
pub(crate) struct EvidenceItem {
    /// A stable key (the JSON field).
    pub key: &'static str,
    pub title: &'static str,
    pub verdict: EvidenceVerdict,
    pub facts: Vec<(&'static str, String)>,
}

/// What an evidence source showed on its own (the requirements judge it against their terms).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EvidenceVerdict {
    /// It verified.
    Holds,
    /// It was read; the requirements judge it.
    Read,
    /// It shows a failure or an absence.
    Fails,
}

impl EvidenceVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceVerdict::Holds => "verified",
            EvidenceVerdict::Read => "read",
            EvidenceVerdict::Fails => "failed",
        }
    }
}

/// A requirement's evidence lines: what showed it met, each gap, what it still needs.
pub(crate) fn requirement_notes(r: &RequirementResult) -> Vec<(Note, String)> {
    let mut notes: Vec<(Note, String)> = Vec::new();
    notes.extend(r.observed.iter().map(|o| (Note::Observed, o.clone())));
    notes.extend(
        r.gaps
            .iter()
            .map(|g| (Note::Gap, format!("{}: {}", g.location, g.message))),
    );
    notes.extend(
        r.needs_evidence
            .iter()
            .map(|n| (Note::Awaiting, format!("awaits runtime evidence: {n}"))),
    );
    notes
}

/// Kinds of requirement notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Note {
    Observed,
    Gap,
    Awaiting,
}

/// The status as every format writes it.
pub(crate) fn status_label(s: Status) -> &'static str {
    s.as_str()
}

/// The severity as every format writes it.
pub(crate) fn severity_label(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}
