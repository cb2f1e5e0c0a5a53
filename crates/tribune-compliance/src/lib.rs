//! Compliance verification for Tribune bundles.
//!
//! Mandate packs (HIPAA, the EU AI Act, FedRAMP Moderate, SOC 2, the NIST AI RMF) are data
//! files under `mandates/`, compiled in and parsed once ([`catalog`]). Each requirement cites
//! the provision it implements and names the checks that assess it; [`assess`] runs the packs a
//! bundle declares in `[compliance] mandates` and reports every gap where it is written, and
//! maps the bundle's controls onto the OWASP agentic threats and MAESTRO layers
//! ([`coverage`]). Static checks read the bundle only; evidence checks (the ledger verifies, a
//! drill happened, no identity is past its review) are reported as not assessed until runtime
//! evidence is supplied ([`assess_with`] and an [`Evidence`] the caller read, e.g. the drills
//! from a server for `tribune check --server`, and the ledger it verified and the identities
//! for `tribune report --server`). Pure: no IO, no clock.

mod check;
pub mod coverage;
mod pack;
pub mod sarif;

use std::sync::LazyLock;

use serde::Serialize;
use tribune_bundle::{Bundle, Diagnostic, Location};

pub use check::{Check, DrillEvidence, Evidence, Gap, Inventory, Kind, Outcome, RedteamEvidence, Who};
pub use check::{
    CheckpointEvidence, IdentityEvidence, IdentityReview, LastReview, LedgerEvidence, LedgerVerification,
    ReviewEvidence, VerifiedLedger,
};
pub use coverage::{Coverage, ThreatCoverage, ThreatModel};
pub use pack::{LoadError, Pack, PackSeverity, Requirement, parse_pack};

use check::Cx;

/// Every shipped pack and the threat map, parsed.
#[derive(Debug)]
pub struct Catalog {
    /// The mandate packs, in the order they ship.
    pub packs: Vec<Pack>,
    /// The OWASP agentic threats and MAESTRO layers, with Tribune's controls.
    pub threats: ThreatModel,
}

impl Catalog {
    /// The pack a bundle names as `id`.
    pub fn pack(&self, id: &str) -> Option<&Pack> {
        self.packs.iter().find(|p| p.id == id)
    }
}

static CATALOG: LazyLock<Result<Catalog, LoadError>> = LazyLock::new(load);

fn load() -> Result<Catalog, LoadError> {
    let mut packs: Vec<Pack> = Vec::new();
    for (file, text) in pack::SHIPPED {
        let pack = parse_pack(file, text)?;
        if packs.iter().any(|p| p.id == pack.id) {
            return Err(LoadError::DuplicateId { file, id: pack.id });
        }
        for r in &pack.requirements {
            if packs.iter().flat_map(|p| &p.requirements).any(|o| o.id == r.id) {
                return Err(LoadError::DuplicateId {
                    file,
                    id: r.id.clone(),
                });
            }
        }
        packs.push(pack);
    }
    let (file, text) = coverage::SHIPPED;
    let threats = coverage::parse(file, text)?;
    Ok(Catalog { packs, threats })
}

/// The shipped packs and threat map, parsed on first use.
pub fn catalog() -> Result<&'static Catalog, &'static LoadError> {
    CATALOG.as_ref()
}

/// A requirement's verdict for one bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every check passes.
    Met,
    /// A static check found a gap.
    Gap,
    /// The static checks pass, but the requirement needs runtime evidence (`tribune report`).
    NotAssessed,
}

impl Status {
    /// As printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Gap => "gap",
            Status::NotAssessed => "not assessed",
        }
    }
}

/// One requirement, assessed.
#[derive(Clone, Debug, Serialize)]
pub struct RequirementResult {
    /// The requirement.
    #[serde(flatten)]
    pub requirement: &'static Requirement,
    /// The verdict.
    pub status: Status,
    /// Every gap, in file order.
    pub gaps: Vec<Gap>,
    /// The runtime evidence it still needs.
    pub needs_evidence: Vec<&'static str>,
    /// What the runtime evidence supplied showed where it met a check (e.g. the last passed
    /// drill). Empty in a static run. (`evidence` is the requirement's own description of what
    /// would show it.)
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub observed: Vec<String>,
}

impl RequirementResult {
    /// Its gaps as diagnostics: `file:line:col: error[ID]: message (citation: title)`.
    pub fn diagnostics(&self) -> impl Iterator<Item = Diagnostic> + '_ {
        let r = self.requirement;
        self.gaps.iter().map(move |g| Diagnostic {
            location: g.location.clone(),
            severity: r.severity.into(),
            code: &r.id,
            message: format!("{} ({}: {})", g.message, r.citation, lower_first(&r.title)),
        })
    }
}

/// One declared mandate, assessed.
#[derive(Clone, Debug, Serialize)]
pub struct MandateResult {
    /// The pack's id.
    pub id: &'static str,
    /// Its title.
    pub title: &'static str,
    /// Its version.
    pub version: &'static str,
    /// Where the bundle declares it.
    pub declared_at: Location,
    /// Each requirement, in the pack's order.
    pub requirements: Vec<RequirementResult>,
}

impl MandateResult {
    /// How many requirements have each status: (met, gap, not assessed).
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |s| self.requirements.iter().filter(|r| r.status == s).count();
        (n(Status::Met), n(Status::Gap), n(Status::NotAssessed))
    }
}

/// A bundle assessed against its declared mandates and the threat map.
#[derive(Clone, Debug, Serialize)]
pub struct Assessment {
    /// Declared mandate ids that name no shipped pack (errors, `unknown-value`).
    pub diagnostics: Vec<Diagnostic>,
    /// Each declared mandate that names a pack, in declaration order.
    pub mandates: Vec<MandateResult>,
    /// Each OWASP agentic threat, T1 first.
    pub coverage: Vec<ThreatCoverage>,
}

impl Assessment {
    /// Every gap as a diagnostic, in file order.
    pub fn gaps(&self) -> Vec<Diagnostic> {
        let mut out: Vec<Diagnostic> = self
            .mandates
            .iter()
            .flat_map(|m| &m.requirements)
            .flat_map(RequirementResult::diagnostics)
            .collect();
        out.sort();
        out
    }

    /// Whether a requirement of severity error has a gap.
    pub fn has_error_gaps(&self) -> bool {
        self.mandates
            .iter()
            .flat_map(|m| &m.requirements)
            .any(|r| r.status == Status::Gap && r.requirement.severity == PackSeverity::Error)
    }
}

/// Assesses `bundle` against the mandates it declares and the threat map.
pub fn assess(catalog: &'static Catalog, bundle: &Bundle) -> Assessment {
    assess_with(catalog, bundle, &Evidence::NONE)
}

/// [`assess`], with the evidence checks `evidence` covers assessed from it rather than reported
/// as not assessed.
pub fn assess_with(catalog: &'static Catalog, bundle: &Bundle, evidence: &Evidence) -> Assessment {
    let mut diagnostics = Vec::new();
    let mut mandates = Vec::new();
    for declared in &bundle.compliance.mandates {
        let Some(pack) = catalog.pack(declared.value.as_str()) else {
            let known: Vec<&str> = catalog.packs.iter().map(|p| p.id.as_str()).collect();
            diagnostics.push(Diagnostic::error(
                declared.location.clone(),
                "unknown-value",
                format!(
                    "`[compliance] mandates` names `{}`, which is not a mandate pack Tribune ships (one of {})",
                    declared.value,
                    known.join(", ")
                ),
            ));
            continue;
        };
        let cx = Cx {
            bundle,
            anchor: &declared.location,
            evidence,
        };
        mandates.push(MandateResult {
            id: &pack.id,
            title: &pack.title,
            version: &pack.version,
            declared_at: declared.location.clone(),
            requirements: pack.requirements.iter().map(|r| requirement(r, &cx)).collect(),
        });
    }
    let anchor = bundle
        .compliance
        .location
        .clone()
        .unwrap_or_else(|| Location::file(&bundle.manifest.path));
    let coverage = coverage::assess(&catalog.threats, bundle, &anchor);
    Assessment {
        diagnostics,
        mandates,
        coverage,
    }
}

fn requirement(r: &'static Requirement, cx: &Cx<'_>) -> RequirementResult {
    let mut gaps = Vec::new();
    let mut needs_evidence = Vec::new();
    let mut observed = Vec::new();
    for c in &r.checks {
        match c.run(cx) {
            Outcome::Met => observed.extend(c.evidence_shown(cx)),
            Outcome::Gaps(g) => gaps.extend(g),
            Outcome::NotAssessed(what) => needs_evidence.push(what),
        }
    }
    gaps.sort();
    gaps.dedup();
    let status = if !gaps.is_empty() {
        Status::Gap
    } else if !needs_evidence.is_empty() {
        Status::NotAssessed
    } else {
        Status::Met
    };
    RequirementResult {
        requirement: r,
        status,
        gaps,
        needs_evidence,
        observed,
    }
}

/// `title` as it reads inside a sentence: its first letter lowercased, unless the first word
/// is an acronym (`AI systems ...`).
fn lower_first(title: &str) -> String {
    let mut chars = title.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_uppercase() && b.is_uppercase() => title.to_owned(),
        (Some(a), _) => a.to_lowercase().chain(title.chars().skip(1)).collect(),
        (None, _) => String::new(),
    }
}
