//! Located bundle errors and findings.
//!
//! Every problem with a bundle is reported as a [`Diagnostic`] that names the file, line and
//! column it comes from, so an engineer can jump straight to it from CI output.

use std::fmt;
use std::ops::Range;

/// How bad a diagnostic is. Errors make a bundle invalid; findings are reported by
/// `tribune check` but the bundle can still be served.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The bundle cannot be served.
    Error,
    /// The bundle is valid but has a gap worth fixing.
    Warning,
}

/// A position in a bundle file, 1-based.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Location {
    /// Path relative to the bundle directory, with `/` separators.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl Location {
    /// Locates byte offset `offset` of `text`, which is the content of `file`.
    pub fn at(file: &str, text: &str, offset: usize) -> Location {
        let offset = offset.min(text.len());
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Location {
            file: file.to_owned(),
            line,
            column,
        }
    }

    /// The start of `file`, for problems that have no better position.
    pub fn file(file: &str) -> Location {
        Location {
            file: file.to_owned(),
            line: 1,
            column: 1,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One located problem in a bundle.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Diagnostic {
    /// Where it is.
    pub location: Location,
    /// Error or warning.
    pub severity: Severity,
    /// A stable kebab-case code, e.g. `dangling-reference`.
    pub code: &'static str,
    /// A lowercase sentence; user input appears in backticks.
    pub message: String,
}

impl Diagnostic {
    /// An error at `location`.
    pub fn error(location: Location, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            location,
            severity: Severity::Error,
            code,
            message: message.into(),
        }
    }

    /// A warning at `location`.
    pub fn warning(location: Location, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic {
            location,
            severity: Severity::Warning,
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}: {severity}[{}]: {}",
            self.location, self.code, self.message
        )
    }
}

/// A source file of the bundle with a helper to turn byte spans into locations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Path relative to the bundle directory, with `/` separators.
    pub path: String,
    /// The file's full text.
    pub text: String,
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

impl SourceFile {
    /// A source file named `path` holding `text`.
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> SourceFile {
        SourceFile {
            path: path.into(),
            text: text.into(),
            line_starts: std::sync::OnceLock::new(),
        }
    }

    /// The location of the start of `span`. Lines are found by binary search over an index
    /// built once, so locating every declaration of a large manifest stays linear.
    pub fn locate(&self, span: &Range<usize>) -> Location {
        let starts = self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        });
        let offset = span.start.min(self.text.len());
        let line = starts.partition_point(|&s| s <= offset).max(1);
        let line_start = starts.get(line - 1).copied().unwrap_or(0);
        let column = self.text.get(line_start..offset).map_or(0, |s| s.chars().count()) + 1;
        Location {
            file: self.path.clone(),
            line,
            column,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_files_locate_like_location_at() {
        let text = "a = 1\nbé = 2\n\nc";
        let f = SourceFile::new("f", text);
        for offset in 0..=text.len() {
            if text.is_char_boundary(offset) {
                assert_eq!(
                    f.locate(&(offset..offset)),
                    Location::at("f", text, offset),
                    "offset {offset}"
                );
            }
        }
    }

    #[test]
    fn locations_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(Location::at("f", text, 0).to_string(), "f:1:1");
        let offset = text.find('=').unwrap_or(0);
        assert_eq!(Location::at("f", text, offset).to_string(), "f:1:3");
        let second = text.rfind('=').unwrap_or(0);
        assert_eq!(Location::at("f", text, second).to_string(), "f:2:4");
    }
}
