//! Scanning and redacting JSON: tool arguments and tool results. Findings are located by a
//! JSON pointer (RFC 6901, `/to/0`) plus a span in the string (or number) at that pointer;
//! object keys are scanned too, because data leaks through keys as well as values.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fmt::Write as _;
use std::ops::Range;

use serde_json::{Map, Value};

use crate::scan::{Finding, Scanner};

/// Whether a finding is in an object key or in a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// In the string or number at the pointer.
    Value,
    /// In the key of the member at the pointer.
    Key,
}

/// One step from a value to a child. Holds raw keys, so it is never printed.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Step {
    Key(String),
    Index(usize),
}

/// A finding inside a JSON document.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct JsonFinding {
    /// Where: a JSON pointer in which every key that itself holds a finding is shown as its
    /// redaction marker, so the pointer is safe to log.
    pub pointer: String,
    /// In the key of the member at `pointer`, or in its value.
    pub target: Target,
    /// What, and where inside that string.
    #[serde(flatten)]
    pub finding: Finding,
    /// The path with raw keys, to find the value again for redaction.
    #[serde(skip)]
    steps: Vec<Step>,
}

impl fmt::Debug for JsonFinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonFinding")
            .field("pointer", &self.pointer)
            .field("target", &self.target)
            .field("finding", &self.finding)
            .finish()
    }
}

/// The marker that replaces a redacted span: `[REDACTED:ssn]`.
pub fn marker(finding: &Finding) -> String {
    format!("[REDACTED:{}]", finding.detector)
}

/// Appends `key` to a JSON pointer, escaped (`~` → `~0`, `/` → `~1`).
fn push_escaped(pointer: &mut String, key: &str) {
    if !key.contains(['~', '/']) {
        pointer.push_str(key);
        return;
    }
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// A step of the path being walked, borrowed from the value.
#[derive(Clone, Copy)]
enum StepRef<'v> {
    Key(&'v str),
    Index(usize),
}

/// The state of one [`Scanner::scan_value`]. Nothing is allocated per node unless it holds a
/// finding: paths are borrowed, and keys seen once without findings are not scanned again (an
/// array of records repeats the same keys).
struct Walk<'s, 'v> {
    scanner: &'s Scanner,
    /// The path to the current node, each key with its redacted form if it holds a finding.
    path: Vec<(StepRef<'v>, Option<String>)>,
    scratch: Vec<Finding>,
    number: String,
    clean_keys: HashSet<&'v str>,
    out: Vec<JsonFinding>,
}

impl Scanner {
    /// Every finding in the strings, numbers and object keys of `value`.
    pub fn scan_value(&self, value: &Value) -> Vec<JsonFinding> {
        let mut walk = Walk {
            scanner: self,
            path: Vec::new(),
            scratch: Vec::new(),
            number: String::new(),
            clean_keys: HashSet::new(),
            out: Vec::new(),
        };
        walk.value(value);
        walk.out
    }
}

impl<'v> Walk<'_, 'v> {
    fn value(&mut self, value: &'v Value) {
        match value {
            Value::String(s) => self.leaf(s),
            Value::Number(n) => {
                let mut number = std::mem::take(&mut self.number);
                number.clear();
                // Writing to a String cannot fail.
                let _ = write!(number, "{n}");
                self.leaf(&number);
                self.number = number;
            }
            Value::Null | Value::Bool(_) => {}
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.path.push((StepRef::Index(i), None));
                    self.value(item);
                    self.path.pop();
                }
            }
            Value::Object(members) => {
                for (key, item) in members {
                    self.path.push((StepRef::Key(key), None));
                    if !self.clean_keys.contains(key.as_str()) {
                        self.scratch.clear();
                        self.scanner.scan_into(key, &mut self.scratch);
                        if self.scratch.is_empty() {
                            self.clean_keys.insert(key);
                        } else {
                            let shown = redact_str(key, &self.scratch);
                            if let Some(last) = self.path.last_mut() {
                                last.1 = Some(shown);
                            }
                            let found = std::mem::take(&mut self.scratch);
                            for f in found {
                                self.emit(Target::Key, f);
                            }
                        }
                    }
                    self.value(item);
                    self.path.pop();
                }
            }
        }
    }

    fn leaf(&mut self, text: &str) {
        self.scratch.clear();
        self.scanner.scan_into(text, &mut self.scratch);
        if self.scratch.is_empty() {
            return;
        }
        let found = std::mem::take(&mut self.scratch);
        for f in found {
            self.emit(Target::Value, f);
        }
    }

    fn emit(&mut self, target: Target, finding: Finding) {
        let mut pointer = String::new();
        let mut steps = Vec::with_capacity(self.path.len());
        for (step, shown) in &self.path {
            pointer.push('/');
            match step {
                StepRef::Key(k) => {
                    push_escaped(&mut pointer, shown.as_deref().unwrap_or(k));
                    steps.push(Step::Key((*k).to_owned()));
                }
                StepRef::Index(i) => {
                    let _ = write!(pointer, "{i}");
                    steps.push(Step::Index(*i));
                }
            }
        }
        self.out.push(JsonFinding {
            pointer,
            target,
            finding,
            steps,
        });
    }
}

/// `text` with each finding's span replaced by its marker. Overlapping spans are merged (the
/// first finding names the marker). A span that does not fit `text` (out of range or not on a
/// `char` boundary: the findings were not made from this text) replaces the whole text, since
/// redacting too much is safer than leaking.
pub fn redact_str(text: &str, findings: &[Finding]) -> String {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| (f.span.start, f.span.end));
    if let Some(bad) = sorted.iter().find(|f| !fits(text, &f.span)) {
        return marker(bad);
    }
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for f in sorted {
        if f.span.start >= done {
            out.push_str(text.get(done..f.span.start).unwrap_or(""));
            out.push_str(&marker(f));
            done = f.span.end;
        } else {
            // Overlaps the previous finding: merged into its marker.
            done = done.max(f.span.end);
        }
    }
    out.push_str(text.get(done..).unwrap_or(""));
    out
}

fn fits(text: &str, span: &Range<usize>) -> bool {
    span.start < span.end && text.get(span.clone()).is_some()
}

/// `value` with every finding in `findings` replaced by its marker: spans in strings, a
/// number with a finding becomes a string, a key with a finding is renamed (with `#2`, `#3`,
/// ... if the redacted name is taken). Findings whose pointer leads nowhere in `value` are
/// ignored: there is nothing there to leak.
pub fn redact(mut value: Value, findings: &[JsonFinding]) -> Value {
    let mut by_place: BTreeMap<(&[Step], Target), Vec<Finding>> = BTreeMap::new();
    for f in findings {
        by_place
            .entry((f.steps.as_slice(), f.target))
            .or_default()
            .push(f.finding.clone());
    }
    // Deepest first: renaming a key moves everything below it, which is done by then.
    let mut places: Vec<_> = by_place.into_iter().collect();
    places.sort_by_key(|((steps, _), _)| std::cmp::Reverse(steps.len()));
    for ((steps, target), found) in places {
        match target {
            Target::Value => {
                if let Some(v) = node_mut(&mut value, steps) {
                    let redacted = match v {
                        Value::String(s) => redact_str(s, &found),
                        Value::Number(n) => redact_str(&n.to_string(), &found),
                        _ => continue,
                    };
                    *v = Value::String(redacted);
                }
            }
            Target::Key => {
                let Some((Step::Key(key), parent)) = steps.split_last() else {
                    continue;
                };
                if let Some(Value::Object(members)) = node_mut(&mut value, parent) {
                    rename(members, key, &redact_str(key, &found));
                }
            }
        }
    }
    value
}

fn rename(members: &mut Map<String, Value>, key: &str, to: &str) {
    let Some(item) = members.remove(key) else {
        return;
    };
    let mut name = to.to_owned();
    let mut n = 1;
    while members.contains_key(&name) {
        n += 1;
        name = format!("{to}#{n}");
    }
    members.insert(name, item);
}

fn node_mut<'v>(value: &'v mut Value, steps: &[Step]) -> Option<&'v mut Value> {
    steps.iter().try_fold(value, |v, step| match (v, step) {
        (Value::Object(m), Step::Key(k)) => m.get_mut(k),
        (Value::Array(a), Step::Index(i)) => a.get_mut(*i),
        _ => None,
    })
}
