//! The scanner: every detector compiled into one multi-pattern automaton, run once over a
//! text, with each candidate validated before it becomes a [`Finding`].

use std::fmt;
use std::ops::Range;

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input, MatchKind, PatternID};

use crate::detector::{DataClass, Detector, DetectorId, Kind};
use crate::error::DlpError;

/// One detected item: which detector, its data class, and where it is. A finding never holds
/// the matched text, so logging or recording it cannot leak what it found.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Finding {
    /// The detector that found it.
    pub detector: DetectorId,
    /// The data class the detector reports.
    pub class: DataClass,
    /// Byte offsets into the scanned text (always on `char` boundaries).
    pub span: Range<usize>,
}

/// A compiled set of detectors. Build one per bundle activation and share it: scanning takes
/// `&self` and is safe from any number of threads.
#[derive(Clone)]
pub struct Scanner {
    /// `None` when no detector is enabled.
    regex: Option<Regex>,
    /// By pattern id: the detector each pattern of `regex` belongs to.
    detectors: Vec<Detector>,
}

impl fmt::Debug for Scanner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scanner")
            .field("detectors", &self.detectors)
            .finish_non_exhaustive()
    }
}

impl Default for Scanner {
    /// A scanner with no detectors: it finds nothing.
    fn default() -> Scanner {
        Scanner {
            regex: None,
            detectors: Vec::new(),
        }
    }
}

impl Scanner {
    /// Compiles `detectors` into one automaton. Earlier detectors win when two match at the
    /// same place; a candidate that fails its validator falls through to later ones.
    pub fn new(detectors: &[Detector]) -> Result<Scanner, DlpError> {
        let mut ids: Vec<&DetectorId> = Vec::with_capacity(detectors.len());
        for d in detectors {
            if ids.contains(&&d.id) {
                return Err(DlpError::DuplicateId(d.id.to_string()));
            }
            ids.push(&d.id);
        }
        if detectors.is_empty() {
            return Ok(Scanner::default());
        }
        let patterns: Vec<&str> = detectors.iter().map(Detector::regex).collect();
        let regex = Regex::builder()
            .configure(
                meta::Config::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    // Only the overall span is used: no capture slots to track.
                    .which_captures(regex_automata::nfa::thompson::WhichCaptures::Implicit),
            )
            .syntax(syntax::Config::new())
            .build_many(&patterns)
            .map_err(|e| DlpError::Compile {
                message: e.to_string().replace('\n', " "),
            })?;
        Ok(Scanner {
            regex: Some(regex),
            detectors: detectors.to_vec(),
        })
    }

    /// The detectors, in priority order.
    pub fn detectors(&self) -> &[Detector] {
        &self.detectors
    }

    /// Every finding in `text`, in order, not overlapping.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        self.scan_into(text, &mut out);
        out
    }

    /// Appends every finding in `text` to `out`, in order, not overlapping.
    pub fn scan_into(&self, text: &str, out: &mut Vec<Finding>) {
        let Some(regex) = &self.regex else { return };
        let mut from = 0;
        while from < text.len() {
            let Some(m) = regex.search(&Input::new(text).range(from..)) else {
                break;
            };
            let start = m.start();
            let found = self
                .accept(m.pattern(), text, m.range())
                .or_else(|| self.fall_through(regex, text, start, m.pattern()));
            match found {
                Some((pid, span)) => {
                    from = span.end.max(start + 1);
                    if let Some(d) = self.detectors.get(pid) {
                        out.push(Finding {
                            detector: d.id.clone(),
                            class: d.class.clone(),
                            span,
                        });
                    }
                }
                // Another detector's candidate may start inside the rejected one (a card number
                // after an order number), so search again from the next byte. INVARIANT
                // (bounded-candidates): a rejected candidate is short, so this re-reads a
                // bounded amount of text and scanning stays linear.
                None => from = start + 1,
            }
            while !text.is_char_boundary(from) {
                from += 1;
            }
        }
    }

    /// Validates a candidate of pattern `pid`.
    fn accept(&self, pid: PatternID, text: &str, span: Range<usize>) -> Option<(usize, Range<usize>)> {
        let d = self.detectors.get(pid.as_usize())?;
        let span = match &d.kind {
            Kind::Builtin(b) => b.accept(text, span)?,
            Kind::Pattern(_) => span,
        };
        (!span.is_empty()).then_some((pid.as_usize(), span))
    }

    /// After the preferred pattern's candidate at `start` failed validation, asks each later
    /// pattern whether it matches there (anchored), so one detector's near miss does not hide
    /// another's hit (a 14-digit phone number that is not a card).
    fn fall_through(
        &self,
        regex: &Regex,
        text: &str,
        start: usize,
        failed: PatternID,
    ) -> Option<(usize, Range<usize>)> {
        (failed.as_usize() + 1..self.detectors.len()).find_map(|pid| {
            let pid = PatternID::new(pid).ok()?;
            let input = Input::new(text).range(start..).anchored(Anchored::Pattern(pid));
            let m = regex.search(&input)?;
            self.accept(pid, text, m.range())
        })
    }
}
