//! Mandate packs: each a TOML file under `mandates/`, versioned with the code and compiled in.
//!
//! A pack lists requirements; each has a stable id, the citation it implements, a severity and
//! the checks that assess it (see [`crate::Check`]). Packs are data so that a reviewer can
//! read exactly what `tribune check` asks of a bundle, and change it in one reviewed commit.

use serde::{Deserialize, Serialize};

use crate::check::{Check, Kind};

/// A mandate pack, e.g. HIPAA.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    /// The id a bundle names in `[compliance] mandates`, e.g. `hipaa`.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The pack's own version: changes when its requirements or parameters do.
    pub version: String,
    /// The legal or standards text it implements.
    pub source: String,
    /// Where that text is published.
    pub url: String,
    /// The requirements, in the order reports list them.
    pub requirements: Vec<Requirement>,
}

/// One requirement of a mandate.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// A stable id, unique across packs, e.g. `HIPAA-164.316(b)(2)(i)`; diagnostics print it.
    pub id: String,
    /// The provision it implements, e.g. `45 CFR 164.316(b)(2)(i)`.
    pub citation: String,
    /// A short title.
    pub title: String,
    /// How a gap is reported: errors fail `tribune check`, warnings do not.
    pub severity: PackSeverity,
    /// Where the provision's text is published.
    pub url: String,
    /// Why the checks below assess this provision, and what they leave out.
    pub rationale: String,
    /// What Tribune guarantees toward it by construction, whatever the bundle says.
    #[serde(default)]
    pub evidence: Option<String>,
    /// The checks; the requirement is met when every static check is, and fully assessed only
    /// when it has no evidence checks.
    pub checks: Vec<Check>,
}

impl Requirement {
    /// Whether any of its checks needs runtime evidence.
    pub fn needs_evidence(&self) -> bool {
        self.checks.iter().any(|c| c.kind() == Kind::Evidence)
    }
}

/// A requirement's severity, as a pack writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackSeverity {
    /// A gap fails `tribune check` (exit 1).
    Error,
    /// A gap is reported only.
    Warning,
}

impl From<PackSeverity> for tribune_bundle::Severity {
    fn from(s: PackSeverity) -> Self {
        match s {
            PackSeverity::Error => tribune_bundle::Severity::Error,
            PackSeverity::Warning => tribune_bundle::Severity::Warning,
        }
    }
}

/// Why the shipped packs or threat map could not be loaded (a bug in this crate's data, caught
/// by its tests).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file is not valid TOML of the expected shape (e.g. it names a check that does not exist).
    #[error("`{file}`: {message}")]
    Syntax {
        /// The data file.
        file: &'static str,
        /// The TOML error, located in the file.
        message: String,
    },
    /// Two requirements, packs or threats share an id.
    #[error("`{file}`: id `{id}` is declared twice")]
    DuplicateId {
        /// The data file.
        file: &'static str,
        /// The id.
        id: String,
    },
    /// A pack or threat refers to something that does not exist, or is empty.
    #[error("`{file}`: {message}")]
    Invalid {
        /// The data file.
        file: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// The packs shipped with Tribune: (file name, text).
pub(crate) const SHIPPED: [(&str, &str); 5] = [
    ("mandates/hipaa.toml", include_str!("../mandates/hipaa.toml")),
    (
        "mandates/eu-ai-act.toml",
        include_str!("../mandates/eu-ai-act.toml"),
    ),
    (
        "mandates/fedramp-moderate.toml",
        include_str!("../mandates/fedramp-moderate.toml"),
    ),
    ("mandates/soc2.toml", include_str!("../mandates/soc2.toml")),
    (
        "mandates/nist-ai-rmf.toml",
        include_str!("../mandates/nist-ai-rmf.toml"),
    ),
];

/// Parses one pack file and checks that it is usable: ids unique, every requirement checked.
pub fn parse_pack(file: &'static str, text: &str) -> Result<Pack, LoadError> {
    let pack: Pack = toml::from_str(text).map_err(|e| LoadError::Syntax {
        file,
        message: e.to_string().trim().replace('\n', " "),
    })?;
    if pack.requirements.is_empty() {
        return Err(LoadError::Invalid {
            file,
            message: format!("pack `{}` has no requirements", pack.id),
        });
    }
    for (i, r) in pack.requirements.iter().enumerate() {
        if pack.requirements.iter().take(i).any(|o| o.id == r.id) {
            return Err(LoadError::DuplicateId {
                file,
                id: r.id.clone(),
            });
        }
        if r.checks.is_empty() {
            return Err(LoadError::Invalid {
                file,
                message: format!("requirement `{}` runs no check", r.id),
            });
        }
    }
    Ok(pack)
}
