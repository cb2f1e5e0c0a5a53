//! The one error type of the crate: why a set of detectors cannot be compiled.
//!
//! Scanning, redaction and the policy step cannot fail; only building a [`crate::Scanner`]
//! (once per bundle activation) can, and the bundle crate turns each variant into a located
//! diagnostic.

/// Why a detector or a set of detectors was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DlpError {
    /// A detector id outside `[A-Za-z0-9_.-]`, empty, or longer than 128 characters.
    #[error(
        "detector id `{0}` must be 1 to 128 letters, digits, `_`, `.` or `-`, starting with a letter or digit"
    )]
    BadId(String),
    /// Two detectors share an id (ids name findings and redaction markers, so they must be unique).
    #[error("detector `{0}` is declared twice")]
    DuplicateId(String),
    /// A pattern is not a valid regular expression.
    #[error("pattern `{id}` is not a valid regular expression: {message}")]
    BadPattern {
        /// The pattern's detector id.
        id: String,
        /// What the regex parser reported.
        message: String,
    },
    /// A pattern that can match the empty string would report findings that cover nothing.
    #[error("pattern `{id}` can match the empty string")]
    EmptyMatch {
        /// The pattern's detector id.
        id: String,
    },
    /// A Unicode word boundary makes the one-pass automaton give up on any non-ASCII text and
    /// fall back to a much slower engine, for every detector at once.
    #[error(
        "pattern `{id}` uses the Unicode word boundary `\\b`; write the ASCII boundary `(?-u:\\b)` instead (a Unicode `\\b` slows every scan of non-ASCII text)"
    )]
    UnicodeWordBoundary {
        /// The pattern's detector id.
        id: String,
    },
    /// The detectors are each valid but too large to compile together.
    #[error("the detectors do not compile together: {message}")]
    Compile {
        /// What the regex compiler reported.
        message: String,
    },
}
