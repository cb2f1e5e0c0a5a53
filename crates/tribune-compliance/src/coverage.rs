//! MAESTRO coverage: which OWASP agentic threats a bundle's controls address.
//!
//! `maestro/threats.toml` maps each threat of OWASP's *Agentic AI – Threats and Mitigations*
//! (T1–T17) to the MAESTRO layers it lands on, to how far Tribune can reach it at all, and to
//! the controls Tribune offers against it, each a [`Check`] over the bundle. A threat is
//! covered when every control is in place and Tribune reaches it fully; partly covered when
//! only some are, or when Tribune by design addresses only part of it; open when no control is
//! in place or it is out of Tribune's scope. The reasons say which.

use serde::{Deserialize, Serialize};
use tribune_bundle::Bundle;

use crate::check::{Check, Cx, Gap, Kind, Outcome};
use crate::pack::LoadError;

/// The threat map as shipped.
pub(crate) const SHIPPED: (&str, &str) = ("maestro/threats.toml", include_str!("../maestro/threats.toml"));

/// The MAESTRO layers and the OWASP agentic threats, with Tribune's controls for each.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ThreatModel {
    /// The documents the map follows.
    pub source: String,
    /// Where the threat taxonomy is published.
    pub url: String,
    /// The seven MAESTRO layers.
    pub layers: Vec<Layer>,
    /// T1–T17.
    pub threats: Vec<Threat>,
}

/// A MAESTRO layer.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// `L1` … `L7`.
    pub id: String,
    /// Its name, e.g. `Foundation models`.
    pub name: String,
    /// What Tribune governs at this layer, and what it does not.
    pub tribune: String,
}

/// An OWASP agentic threat.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Threat {
    /// `T1` … `T17`.
    pub id: String,
    /// Its name, e.g. `Memory poisoning`.
    pub name: String,
    /// The MAESTRO layers it lands on.
    pub layers: Vec<String>,
    /// How far Tribune can address it at all.
    pub reach: Reach,
    /// What Tribune leaves to other controls (required unless the reach is full).
    #[serde(default)]
    pub limits: Option<String>,
    /// Tribune's controls against it.
    #[serde(default)]
    pub controls: Vec<Control>,
}

/// How far Tribune can address a threat, with every control in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reach {
    /// Tribune's controls address it.
    Full,
    /// Tribune bounds it, but part of it is outside what a governance layer sees.
    Partial,
    /// Out of Tribune's scope.
    None,
}

/// One control Tribune offers against a threat.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// What it is, e.g. `irreversible calls need a human`.
    pub control: String,
    /// The bundle check that shows it is in place.
    pub requires: Check,
}

/// How well a bundle covers a threat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Coverage {
    /// Every control is in place and Tribune reaches the whole threat.
    Covered,
    /// Some controls are missing, or Tribune reaches only part of the threat.
    Partly,
    /// No control is in place, or the threat is out of Tribune's scope.
    Open,
}

impl Coverage {
    /// As printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Coverage::Covered => "covered",
            Coverage::Partly => "partly",
            Coverage::Open => "open",
        }
    }
}

/// A threat's coverage in one bundle.
#[derive(Clone, Debug, Serialize)]
pub struct ThreatCoverage {
    /// The threat's id.
    pub id: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its MAESTRO layers.
    pub layers: &'static [String],
    /// The verdict.
    pub status: Coverage,
    /// Why it is not covered: each missing control's first gap, and Tribune's limits.
    pub reasons: Vec<String>,
    /// Each control and whether the bundle has it in place.
    pub controls: Vec<ControlState>,
}

/// One control's state in one bundle.
#[derive(Clone, Debug, Serialize)]
pub struct ControlState {
    /// The control.
    pub control: &'static str,
    /// Whether the bundle has it in place.
    pub in_place: bool,
    /// Why not.
    pub gaps: Vec<Gap>,
}

/// Assesses every threat of `model` against `bundle`.
pub(crate) fn assess(
    model: &'static ThreatModel,
    bundle: &Bundle,
    anchor: &tribune_bundle::Location,
) -> Vec<ThreatCoverage> {
    let cx = Cx {
        bundle,
        anchor,
        evidence: &crate::Evidence::NONE,
    };
    model.threats.iter().map(|t| threat(t, &cx)).collect()
}

fn threat(t: &'static Threat, cx: &Cx<'_>) -> ThreatCoverage {
    let controls: Vec<ControlState> = t
        .controls
        .iter()
        .map(|c| {
            let gaps = match c.requires.run(cx) {
                Outcome::Met => Vec::new(),
                Outcome::Gaps(gaps) => gaps,
                // INVARIANT(controls-are-static): `validate` refuses evidence checks in controls.
                Outcome::NotAssessed(_) => Vec::new(),
            };
            ControlState {
                control: &c.control,
                in_place: gaps.is_empty(),
                gaps,
            }
        })
        .collect();
    let in_place = controls.iter().filter(|c| c.in_place).count();
    let limits = t.limits.as_deref().unwrap_or_default();
    let mut reasons: Vec<String> = controls
        .iter()
        .filter_map(|c| {
            let first = c.gaps.first()?;
            let more = match c.gaps.len() {
                1 => String::new(),
                n => format!(" (and {} more)", n - 1),
            };
            Some(format!("{}: {}{more}", c.control, first.message))
        })
        .collect();
    let status = match t.reach {
        Reach::None => {
            reasons = vec![format!("out of scope: {limits}")];
            Coverage::Open
        }
        _ if in_place == 0 => Coverage::Open,
        Reach::Full if in_place == controls.len() => Coverage::Covered,
        Reach::Full => Coverage::Partly,
        Reach::Partial => {
            reasons.push(format!("beyond Tribune: {limits}"));
            Coverage::Partly
        }
    };
    ThreatCoverage {
        id: &t.id,
        name: &t.name,
        layers: &t.layers,
        status,
        reasons,
        controls,
    }
}

/// Parses the threat map and checks it: T1–T17 each once, known layers, a reason wherever
/// Tribune's reach is limited, controls wherever it reaches, no evidence checks as controls.
pub(crate) fn parse(file: &'static str, text: &str) -> Result<ThreatModel, LoadError> {
    let model: ThreatModel = toml::from_str(text).map_err(|e| LoadError::Syntax {
        file,
        message: e.to_string().trim().replace('\n', " "),
    })?;
    let invalid = |message: String| LoadError::Invalid { file, message };
    let expected_layers: Vec<String> = (1..=7).map(|i| format!("L{i}")).collect();
    let layers: Vec<&String> = model.layers.iter().map(|l| &l.id).collect();
    if layers != expected_layers.iter().collect::<Vec<_>>() {
        return Err(invalid(format!(
            "layers must be L1 to L7 in order, not {layers:?}"
        )));
    }
    let expected: Vec<String> = (1..=17).map(|i| format!("T{i}")).collect();
    let ids: Vec<&String> = model.threats.iter().map(|t| &t.id).collect();
    if ids != expected.iter().collect::<Vec<_>>() {
        return Err(invalid(format!(
            "threats must be T1 to T17 in order, not {ids:?}"
        )));
    }
    for t in &model.threats {
        if t.layers.is_empty() || t.layers.iter().any(|l| !expected_layers.contains(l)) {
            return Err(invalid(format!(
                "threat `{}` names no layer or an unknown one",
                t.id
            )));
        }
        let limited = t.reach != Reach::Full;
        if limited && t.limits.as_deref().is_none_or(str::is_empty) {
            return Err(invalid(format!(
                "threat `{}` needs `limits`: why Tribune's reach is limited",
                t.id
            )));
        }
        match (t.reach, t.controls.is_empty()) {
            (Reach::None, false) => {
                return Err(invalid(format!(
                    "threat `{}` is out of scope but lists controls",
                    t.id
                )));
            }
            (Reach::Full | Reach::Partial, true) => {
                return Err(invalid(format!("threat `{}` lists no control", t.id)));
            }
            _ => {}
        }
        if t.controls.iter().any(|c| c.requires.kind() == Kind::Evidence) {
            return Err(invalid(format!(
                "threat `{}`: controls must be static checks of the bundle",
                t.id
            )));
        }
    }
    Ok(model)
}
