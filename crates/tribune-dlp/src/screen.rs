//! Screening a tool result: one scan, the result-direction verdict, and what the agent may be
//! given — the result as it is, redacted, or nothing.

use serde_json::Value;

use crate::detector::{DataClass, DetectorId};
use crate::json::{JsonFinding, redact};
use crate::policy::{Action, Direction, Policy, Verdict};
use crate::scan::Scanner;

/// What may be released of a tool result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Release {
    /// The result as the tool returned it: nothing found, or only classes the bundle allows.
    Pass,
    /// The result with every finding of a `redact` class replaced by its marker.
    Redacted,
    /// Nothing: the result holds data of a `deny` or `hold` class. Tribune keeps no result to
    /// release later, so a result is never held; `hold` withholds it like `deny`.
    Withheld,
}

impl Release {
    /// `pass`, `redacted` or `withheld`, as the API and the record name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Release::Pass => "pass",
            Release::Redacted => "redacted",
            Release::Withheld => "withheld",
        }
    }

    /// What to release when the verdict on a result is `action`.
    pub fn for_action(action: Action) -> Release {
        match action {
            Action::Allow => Release::Pass,
            Action::Redact => Release::Redacted,
            Action::Hold | Action::Deny => Release::Withheld,
        }
    }
}

/// A finding as it is recorded and reported: which detector, which class, where. Never the
/// data, nor its span (the pointer is enough to find it again in the result one holds).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Located {
    /// The detector that found it.
    pub detector: DetectorId,
    /// Its data class.
    pub class: DataClass,
    /// The JSON pointer of the string (or key) it is in; keys holding findings are shown as
    /// their markers, so the pointer is safe to record.
    pub pointer: String,
}

/// The longest pointer a [`Located`] keeps, in characters; a longer one is cut and ends in `…`
/// (keys can be long, and a record has a size limit).
pub const POINTER_KEPT: usize = 256;

impl From<&JsonFinding> for Located {
    fn from(f: &JsonFinding) -> Located {
        let mut pointer: String = f.pointer.chars().take(POINTER_KEPT).collect();
        if pointer.len() < f.pointer.len() {
            pointer.push('…');
        }
        Located {
            detector: f.finding.detector.clone(),
            class: f.finding.class.clone(),
            pointer,
        }
    }
}

/// A screened result.
#[derive(Clone, Debug)]
pub struct Screened {
    /// What the agent may be given.
    pub release: Release,
    /// The result-direction verdict, class by class.
    pub verdict: Verdict,
    /// Every finding, in document order.
    pub findings: Vec<JsonFinding>,
    /// The result to give the agent: as it was (`Pass`), redacted (`Redacted`), or `None`
    /// (`Withheld`).
    pub result: Option<Value>,
}

impl Screened {
    /// The first `limit` findings, as recorded (see [`Located`]).
    pub fn located(&self, limit: usize) -> Vec<Located> {
        self.findings.iter().take(limit).map(Located::from).collect()
    }
}

impl Policy {
    /// Screens a tool result (any JSON; an MCP `CallToolResult` as it is on the wire): one
    /// scan with `scanner`, the strongest result-direction action, and the result to release.
    pub fn screen(&self, scanner: &Scanner, result: Value) -> Screened {
        let findings = scanner.scan_value(&result);
        let verdict = self.verdict(Direction::Result, findings.iter().map(|f| &f.finding));
        let release = Release::for_action(verdict.action);
        let result = match release {
            Release::Pass => Some(result),
            Release::Redacted => Some(redact(result, &self.redactions(&findings))),
            Release::Withheld => None,
        };
        Screened {
            release,
            verdict,
            findings,
            result,
        }
    }

    /// Whether a result may go to the agent without being screened: no class has a
    /// result-direction action other than `allow`, so screening could only report.
    pub fn releases_unscreened(&self) -> bool {
        self.actions().values().all(|a| *a == Action::Allow)
    }

    /// Whether arguments need scanning for the actions alone: some class's action is other
    /// than `allow` (in arguments, `redact` holds the call).
    pub fn acts_on_arguments(&self) -> bool {
        !self.releases_unscreened()
    }
}
