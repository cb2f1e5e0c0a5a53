//! The policy step: from findings to one action, by the bundle's per-class actions.

use std::collections::BTreeMap;

use crate::detector::{DataClass, DetectorId};
use crate::json::JsonFinding;
use crate::scan::Finding;

/// What to do with data of one class. Ordered by strength: `Allow < Redact < Hold < Deny`; the
/// strongest action of any finding wins.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let it through; the finding is still reported (and recorded with the decision).
    #[default]
    Allow,
    /// Replace it with a marker in tool results. In arguments it is a [`Action::Hold`]: the
    /// call the agent asked for is never silently rewritten.
    Redact,
    /// Hold the call (or the result) for human approval.
    Hold,
    /// Refuse the call (or withhold the result).
    Deny,
}

impl Action {
    /// The lowercase name, as written in bundles.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Redact => "redact",
            Action::Hold => "hold",
            Action::Deny => "deny",
        }
    }
}

/// Where the scanned data is going.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A tool call's arguments, leaving the agent (egress).
    Arguments,
    /// A tool's result, coming back to the agent.
    Result,
}

/// The action for each data class, from the bundle's `[dlp.actions]`; an undeclared class is
/// allowed (reported only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    actions: BTreeMap<DataClass, Action>,
}

/// One class's part of a verdict.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClassVerdict {
    /// The data class.
    pub class: DataClass,
    /// Its action in this direction.
    pub action: Action,
    /// The detectors that found data of this class, sorted.
    pub detectors: Vec<DetectorId>,
    /// How many findings.
    pub findings: usize,
}

/// The outcome of the policy step: the strongest action, and why, class by class. It names
/// detectors and classes, never the data, so it can go into a decision's reasons as is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Verdict {
    /// The strongest action over all findings (`Allow` when there are none).
    pub action: Action,
    /// Every class with findings, sorted by class.
    pub classes: Vec<ClassVerdict>,
}

impl Policy {
    /// A policy from (class, action) pairs; a class listed twice keeps its last action.
    pub fn new(actions: impl IntoIterator<Item = (DataClass, Action)>) -> Policy {
        Policy {
            actions: actions.into_iter().collect(),
        }
    }

    /// The declared actions, by class.
    pub fn actions(&self) -> &BTreeMap<DataClass, Action> {
        &self.actions
    }

    /// The action for data of `class` going in `direction`.
    pub fn action(&self, class: &DataClass, direction: Direction) -> Action {
        let action = self.actions.get(class).copied().unwrap_or_default();
        match (direction, action) {
            (Direction::Arguments, Action::Redact) => Action::Hold,
            _ => action,
        }
    }

    /// The verdict on `findings` going in `direction`: deny > hold > redact > allow.
    pub fn verdict<'f>(
        &self,
        direction: Direction,
        findings: impl IntoIterator<Item = &'f Finding>,
    ) -> Verdict {
        let mut classes: BTreeMap<&DataClass, ClassVerdict> = BTreeMap::new();
        for f in findings {
            let entry = classes.entry(&f.class).or_insert_with(|| ClassVerdict {
                class: f.class.clone(),
                action: self.action(&f.class, direction),
                detectors: Vec::new(),
                findings: 0,
            });
            entry.findings += 1;
            if let Err(i) = entry.detectors.binary_search(&f.detector) {
                entry.detectors.insert(i, f.detector.clone());
            }
        }
        let classes: Vec<ClassVerdict> = classes.into_values().collect();
        let action = classes.iter().map(|c| c.action).max().unwrap_or_default();
        Verdict { action, classes }
    }

    /// The findings a result must have redacted: those whose class's action is `redact`.
    /// Only meaningful when the verdict is [`Action::Redact`]; a hold or deny withholds the
    /// whole result instead.
    pub fn redactions(&self, findings: &[JsonFinding]) -> Vec<JsonFinding> {
        findings
            .iter()
            .filter(|f| self.action(&f.finding.class, Direction::Result) == Action::Redact)
            .cloned()
            .collect()
    }
}
