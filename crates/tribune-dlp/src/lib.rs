//! Tribune's DLP detectors: find sensitive data in tool-call arguments (egress) and tool
//! results, decide what to do about it, and redact it.
//!
//! A [`Scanner`] compiles every enabled [`Detector`] — the [`Builtin`]s (SSNs, payment cards,
//! IBANs, e-mail addresses, phone numbers, vendor API keys, PEM private keys) and the patterns
//! a bundle declares — into one multi-pattern automaton (`regex-automata`'s meta regex), so a
//! text is read once for all of them; candidates are then validated (Luhn, ISO 13616 mod-97,
//! SSA numbering, context) so near misses are not reported. [`Scanner::scan_value`] locates
//! findings in JSON by pointer; [`redact`] replaces them with `[REDACTED:<detector>]`;
//! [`Policy::verdict`] maps findings to the strongest [`Action`] (deny > hold > redact >
//! allow) by the bundle's per-class actions; [`Policy::screen`] does all of it to a tool result
//! and says what to [`Release`] of it.
//!
//! Pure: no IO, no clock, no async. A [`Finding`] holds a span, never the matched text, so
//! findings and verdicts are safe to log and to record.
//!
//! ```
//! use tribune_dlp::{Action, DataClass, Detector, Direction, Policy, Scanner, redact};
//!
//! let phi = DataClass::new("phi");
//! let scanner = Scanner::new(&Detector::all_builtins(&phi))?;
//! let policy = Policy::new([(phi, Action::Redact)]);
//!
//! let result = serde_json::json!({ "note": "SSN 536-22-1947, card 4111 1111 1111 1111" });
//! let findings = scanner.scan_value(&result);
//! let verdict = policy.verdict(Direction::Result, findings.iter().map(|f| &f.finding));
//! assert_eq!(verdict.action, Action::Redact);
//! let clean = redact(result, &policy.redactions(&findings));
//! assert_eq!(
//!     clean,
//!     serde_json::json!({ "note": "SSN [REDACTED:ssn], card [REDACTED:payment-card]" })
//! );
//! # Ok::<(), tribune_dlp::DlpError>(())
//! ```

mod detector;
mod error;
mod json;
mod policy;
mod scan;
mod screen;
pub mod taint;
pub mod validate;

pub use detector::{Builtin, DataClass, Detector, DetectorId};
pub use error::DlpError;
pub use json::{JsonFinding, Target, marker, redact, redact_str};
pub use policy::{Action, ClassVerdict, Direction, Policy, Verdict};
pub use scan::{Finding, Scanner};
pub use screen::{Located, POINTER_KEPT, Release, Screened};
