//! Taint extraction: the values in an untrusted tool's result that could later steer a call
//! (an IBAN to pay, an address to write to, a URL to fetch, an account to act on), and the same
//! values found again in a later call's arguments.
//!
//! What counts as a value, and how it is normalised so that the same value written two ways
//! is one value (normalised forms are then case-folded):
//!
//! | kind | found by | normalised as |
//! |---|---|---|
//! | `iban` | the `iban` detector (checksum-validated) | without spaces |
//! | `payment-card` | the `payment-card` detector (Luhn) | its digits |
//! | `email` | the `email` detector | as found |
//! | `phone` | the `phone` detector | its digits; a North American number written without `+` gets the country code `1` |
//! | `url` | `http://` or `https://` up to the first character no URL holds | scheme and host case-folded, default port, empty path and fragment dropped, trailing punctuation cut |
//! | `identifier` | see below | as found, trailing punctuation cut |
//! | `number` | a JSON number of at least 8 digits | its digits |
//!
//! An **identifier** is one token of 6 to 128 characters of `A-Z a-z 0-9 . _ : @ / # + ~ = -`
//! that has a digit and a letter (other than the `T`/`Z` of a timestamp), starts with `@` or
//! `#` (a handle, a channel), or joins words with `.` or `_` (`alice.smith`). In a result only
//! a whole string value is an identifier (prose is full of token-like words; a JSON field is
//! not prose); in arguments every token of every string is looked up, so an argument that
//! contains a remembered identifier carries it.
//!
//! Where values are looked for in a result: every string and every object key of the JSON
//! document (a key that is a field name, only letters and `_`, is not an identifier), and a
//! string that is itself a JSON object or array (MCP tools often answer JSON as text) is read
//! both as JSON and as text. Only at the MCP content level — the result's own `content` items
//! — are the base64 `data` of image and audio items and the `blob` of resources skipped (when
//! they are base64): inside JSON read from text nothing is skipped, so wrapping a value never
//! hides it. Numbers with at least 8 digits, in results and in arguments, are values as their
//! digits (an account or phone number sent as a number).
//!
//! Pure: no IO, no clock. The detectors are the DLP scanner's own, compiled once into one
//! automaton with the URL pattern ([`Extractor::new`]), so a result is read once.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::Value;

use crate::detector::{Builtin, DataClass, Detector};
use crate::error::DlpError;
use crate::scan::Scanner;

/// The longest identifier; longer tokens are not looked at.
const IDENTIFIER_MAX: usize = 128;
/// The shortest identifier.
const IDENTIFIER_MIN: usize = 6;
/// The fewest digits a number needs to be a value (an account, a phone number).
const NUMBER_MIN: usize = 8;
/// How deep JSON inside a string inside JSON is read.
const EMBEDDED_DEPTH: u8 = 2;
/// The URL candidate pattern: a scheme and the characters RFC 3986 allows, bounded.
const URL_PATTERN: &str = r"(?-u:\b)(?i:https?)://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]{1,2048}";
/// Characters cut from either end of an identifier or a URL: sentence punctuation and
/// brackets that wrap a value in text.
const WRAPPING: &[char] = &[
    '.', ',', ':', ';', '!', '?', '\'', '"', '(', ')', '[', ']', '{', '}', '<', '>',
];

/// What kind of value was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueKind {
    /// An IBAN.
    Iban,
    /// A payment card number.
    PaymentCard,
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// An `http(s)` URL.
    Url,
    /// A token that looks like an identifier, an account, a handle or a recipient.
    Identifier,
    /// A JSON number of at least 8 digits.
    Number,
}

impl ValueKind {
    /// The kind as written in reasons and records.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Iban => "iban",
            ValueKind::PaymentCard => "payment-card",
            ValueKind::Email => "email",
            ValueKind::Phone => "phone",
            ValueKind::Url => "url",
            ValueKind::Identifier => "identifier",
            ValueKind::Number => "number",
        }
    }
}

/// One value, normalised. It holds the data itself: hash it before keeping it anywhere.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TaintValue {
    /// What it is.
    pub kind: ValueKind,
    /// Its normalised, case-folded form: two spellings of one value are equal here.
    pub normalized: String,
}

impl std::fmt::Debug for TaintValue {
    /// Never prints the value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaintValue")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A value found in a call's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgumentValue {
    /// The top-level argument it is in (what `context.tainted` names).
    pub argument: String,
    /// Where, as a JSON pointer (`/to/0`).
    pub pointer: String,
    /// The value.
    pub value: TaintValue,
}

/// Finds taint values in results and arguments. Build one per process and share it.
#[derive(Clone, Debug)]
pub struct Extractor {
    scanner: Scanner,
}

impl Extractor {
    /// Compiles the detectors taint uses (IBAN, payment card, e-mail, phone) and the URL
    /// pattern into one automaton.
    pub fn new() -> Result<Extractor, DlpError> {
        let class = DataClass::new("taint");
        let mut detectors: Vec<Detector> = [
            Builtin::PaymentCard,
            Builtin::Iban,
            Builtin::Email,
            Builtin::Phone,
        ]
        .into_iter()
        .map(|b| Detector::builtin(b, class.clone()))
        .collect();
        detectors.push(Detector::pattern("url", URL_PATTERN, class)?);
        Ok(Extractor {
            scanner: Scanner::new(&detectors)?,
        })
    }

    /// The distinct values in a tool's result, in the order they appear.
    pub fn result_values(&self, result: &Value) -> Vec<TaintValue> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut found = |v: TaintValue| {
            if seen.insert(v.normalized.clone()) {
                out.push(v);
            }
        };
        match result {
            // An MCP tool result: only its own content items carry binary data.
            Value::Object(members) => {
                for (key, item) in members {
                    self.result_key(key, &mut found);
                    match (key.as_str(), item) {
                        ("content", Value::Array(items)) => {
                            for i in items {
                                self.content_item(i, &mut found);
                            }
                        }
                        _ => self.result_walk(item, EMBEDDED_DEPTH, &mut found),
                    }
                }
            }
            other => self.result_walk(other, EMBEDDED_DEPTH, &mut found),
        }
        out
    }

    /// One item of an MCP result's `content`: the base64 `data` of an image or audio item and
    /// the `blob` of an embedded resource are skipped (when they are base64), the rest is read.
    fn content_item(&self, item: &Value, out: &mut impl FnMut(TaintValue)) {
        let Value::Object(members) = item else {
            return self.result_walk(item, EMBEDDED_DEPTH, out);
        };
        let kind = members.get("type").and_then(Value::as_str);
        for (key, value) in members {
            self.result_key(key, out);
            match (kind, key.as_str(), value) {
                (Some("image" | "audio"), "data", _) if is_base64(value) => {}
                (Some("resource"), "resource", Value::Object(resource)) => {
                    for (k, v) in resource {
                        self.result_key(k, out);
                        if !(k == "blob" && is_base64(v)) {
                            self.result_walk(v, EMBEDDED_DEPTH, out);
                        }
                    }
                }
                _ => self.result_walk(value, EMBEDDED_DEPTH, out),
            }
        }
    }

    /// Any value of a result below its MCP content level: nothing is skipped, so wrapping a
    /// value in JSON, a `blob` or `data` member or an object key never hides it.
    fn result_walk(&self, value: &Value, depth: u8, out: &mut impl FnMut(TaintValue)) {
        match value {
            Value::String(s) => {
                if let Some(embedded) = embedded_json(s, depth) {
                    self.result_walk(&embedded, depth - 1, out);
                }
                // The raw text too, embedded JSON or not: what the agent reads is the text.
                self.found_in(s, out);
                if let Some(id) = identifier(s.trim()) {
                    out(id);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| self.result_walk(i, depth, out)),
            Value::Object(members) => {
                for (key, item) in members {
                    self.result_key(key, out);
                    self.result_walk(item, depth, out);
                }
            }
            Value::Number(n) => {
                if let Some(v) = number(n) {
                    out(v);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// An object key of a result: what the detectors find in it, and the key as an identifier
    /// unless it is a field name (letters and `_` only, `created_at`).
    fn result_key(&self, key: &str, out: &mut impl FnMut(TaintValue)) {
        self.found_in(key, out);
        let field_name = key.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_');
        if !field_name && let Some(id) = identifier(key.trim()) {
            out(id);
        }
    }

    /// Every value a call's arguments carry, with where it is. A value may be listed more than
    /// once (found by a detector and as a token): each is looked up.
    pub fn argument_values(&self, arguments: &Value) -> Vec<ArgumentValue> {
        let mut out = Vec::new();
        if let Value::Object(members) = arguments {
            for (name, value) in members {
                let mut pointer = String::from("/");
                push_escaped(&mut pointer, name);
                self.argument_walk(name, value, &mut pointer, &mut out);
            }
        }
        out
    }

    fn argument_walk(
        &self,
        argument: &str,
        value: &Value,
        pointer: &mut String,
        out: &mut Vec<ArgumentValue>,
    ) {
        let mut found = |v: TaintValue| {
            out.push(ArgumentValue {
                argument: argument.to_owned(),
                pointer: pointer.clone(),
                value: v,
            });
        };
        match value {
            Value::String(s) => {
                let mut here: Vec<TaintValue> = Vec::new();
                let mut add = |v: TaintValue| {
                    if !here.iter().any(|h| h.normalized == v.normalized) {
                        here.push(v);
                    }
                };
                self.found_in(s, &mut add);
                for token in s.split(|c: char| !is_identifier_char(c)) {
                    if let Some(id) = identifier(token) {
                        add(id);
                    }
                }
                here.into_iter().for_each(found);
            }
            Value::Number(n) => {
                if let Some(v) = number(n) {
                    found(v);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    let _ = write!(pointer, "/{i}");
                    self.argument_walk(argument, item, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Object(members) => {
                for (key, item) in members {
                    let len = pointer.len();
                    pointer.push('/');
                    push_escaped(pointer, key);
                    self.argument_walk(argument, item, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    /// The detectors' values in `text`, normalised.
    fn found_in(&self, text: &str, out: &mut impl FnMut(TaintValue)) {
        for finding in self.scanner.scan(text) {
            let Some(found) = text.get(finding.span.clone()) else {
                continue;
            };
            let kind = match finding.detector.as_str() {
                "iban" => ValueKind::Iban,
                "payment-card" => ValueKind::PaymentCard,
                "email" => ValueKind::Email,
                "phone" => ValueKind::Phone,
                _ => ValueKind::Url,
            };
            if let Some(normalized) = normalize(kind, found) {
                out(TaintValue { kind, normalized });
            }
        }
    }
}

/// `text` as JSON, when it is a JSON object or array and `depth` allows reading one more.
fn embedded_json(text: &str, depth: u8) -> Option<Value> {
    let t = text.trim_start();
    if depth == 0 || !(t.starts_with('{') || t.starts_with('[')) {
        return None;
    }
    serde_json::from_str::<Value>(t)
        .ok()
        .filter(|v| v.is_object() || v.is_array())
}

/// A JSON number of at least [`NUMBER_MIN`] digits (an account or a phone number sent as a
/// number), as its digits: the same in a result and in arguments.
fn number(n: &serde_json::Number) -> Option<TaintValue> {
    let digits = n.to_string();
    (digits.len() >= NUMBER_MIN && digits.bytes().all(|b| b.is_ascii_digit())).then_some(TaintValue {
        kind: ValueKind::Number,
        normalized: digits,
    })
}

/// Whether `value` is a base64 string (what MCP binary content carries), so skipping it hides
/// no text the agent reads.
fn is_base64(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n'))
    })
}

/// Appends `key` escaped as a JSON-pointer reference token (RFC 6901).
fn push_escaped(pointer: &mut String, key: &str) {
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '@' | '/' | '#' | '+' | '~' | '=' | '-')
}

/// `token` as an identifier, if it is one (module docs).
fn identifier(token: &str) -> Option<TaintValue> {
    let t = token.trim_matches(WRAPPING);
    if !(IDENTIFIER_MIN..=IDENTIFIER_MAX).contains(&t.len()) || !t.chars().all(is_identifier_char) {
        return None;
    }
    let bytes = t.as_bytes();
    let digit = bytes.iter().any(u8::is_ascii_digit);
    // A timestamp (`2024-05-01T10:00:00Z`) has letters, but only these.
    let letter = bytes
        .iter()
        .any(|b| b.is_ascii_alphabetic() && !matches!(b.to_ascii_lowercase(), b't' | b'z'));
    let handle = matches!(bytes.first(), Some(b'@' | b'#'));
    let joined = bytes
        .windows(3)
        .any(|w| w[0].is_ascii_alphanumeric() && matches!(w[1], b'.' | b'_') && w[2].is_ascii_alphanumeric())
        && bytes.iter().filter(|b| b.is_ascii_alphabetic()).count() >= 4;
    (digit && letter || handle || joined).then(|| TaintValue {
        kind: ValueKind::Identifier,
        normalized: t.to_ascii_lowercase(),
    })
}

/// The normalised, case-folded form of a detector's value (module docs).
pub fn normalize(kind: ValueKind, found: &str) -> Option<String> {
    let digits = || found.chars().filter(char::is_ascii_digit).collect::<String>();
    let n = match kind {
        ValueKind::Iban => found.chars().filter(|c| !c.is_whitespace()).collect::<String>(),
        ValueKind::PaymentCard | ValueKind::Number => digits(),
        ValueKind::Email => found.to_owned(),
        ValueKind::Phone => {
            let d = digits();
            if !found.trim_start().starts_with('+') && d.len() == 10 {
                format!("1{d}")
            } else {
                d
            }
        }
        ValueKind::Url => normalize_url(found)?,
        ValueKind::Identifier => identifier(found)?.normalized,
    };
    (!n.is_empty()).then(|| n.to_lowercase())
}

/// `scheme://authority/path?query`: scheme and authority case-folded, a default port dropped,
/// an empty path made `/`, the fragment dropped, trailing sentence punctuation cut.
fn normalize_url(found: &str) -> Option<String> {
    let url = found.trim_end_matches(WRAPPING);
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let rest = rest.split('#').next().unwrap_or_default();
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(cut);
    let mut authority = authority.to_ascii_lowercase();
    let default_port = if scheme == "https" { ":443" } else { ":80" };
    if let Some(host) = authority.strip_suffix(default_port) {
        authority = host.to_owned();
    }
    if authority.is_empty() {
        return None;
    }
    let tail = if tail.starts_with('/') {
        tail.to_owned()
    } else {
        format!("/{tail}")
    };
    Some(format!("{scheme}://{authority}{tail}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn extractor() -> Extractor {
        Extractor::new().unwrap()
    }

    fn result(value: Value) -> Vec<(ValueKind, String)> {
        extractor()
            .result_values(&value)
            .into_iter()
            .map(|v| (v.kind, v.normalized))
            .collect()
    }

    /// Sorted by pointer: members come in `serde_json`'s map order, which depends on its
    /// features.
    fn arguments(value: Value) -> Vec<(String, String, ValueKind, String)> {
        let mut out: Vec<_> = extractor()
            .argument_values(&value)
            .into_iter()
            .map(|a| (a.argument, a.pointer, a.value.kind, a.value.normalized))
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    #[test]
    fn every_kind_is_found_and_normalised() {
        let text = "Pay DE89 3704 0044 0532 0130 00 now; card 4111 1111 1111 1111, write to \
                    Mallory@Evil.Example, call (415) 555-2671 or +44 20 7946 0958, see \
                    HTTPS://Evil.Example:443/pay?to=1#top.";
        assert_eq!(
            result(json!({"content": [{"type": "text", "text": text}]})),
            vec![
                (ValueKind::Iban, "de89370400440532013000".to_owned()),
                (ValueKind::PaymentCard, "4111111111111111".to_owned()),
                (ValueKind::Email, "mallory@evil.example".to_owned()),
                (ValueKind::Phone, "14155552671".to_owned()),
                (ValueKind::Phone, "442079460958".to_owned()),
                (ValueKind::Url, "https://evil.example/pay?to=1".to_owned()),
            ]
        );
    }

    #[test]
    fn two_spellings_of_one_value_normalise_alike() {
        let e = extractor();
        let a = e.result_values(&json!(
            "DE89 3704 0044 0532 0130 00 and +1 415 555 2671 and http://x.example"
        ));
        let b = e.result_values(&json!(
            "DE89370400440532013000 / 415-555-2671 / http://X.EXAMPLE:80/"
        ));
        let norm = |v: &[TaintValue]| v.iter().map(|v| v.normalized.clone()).collect::<Vec<_>>();
        assert_eq!(norm(&a), norm(&b));
    }

    #[test]
    fn identifiers_are_whole_values_in_results_and_tokens_in_arguments() {
        // In a result, a whole string value; prose is not cut into tokens.
        assert_eq!(
            result(
                json!({"account": "ACC-99172", "note": "ref ACC-55510 pending", "when": "2024-05-01T10:00:00Z"})
            ),
            vec![(ValueKind::Identifier, "acc-99172".to_owned())]
        );
        assert_eq!(
            result(json!([
                "@mallory",
                "#payments",
                "alice.smith",
                "hello",
                "e.g.",
                "12345678"
            ])),
            vec![
                (ValueKind::Identifier, "@mallory".to_owned()),
                (ValueKind::Identifier, "#payments".to_owned()),
                (ValueKind::Identifier, "alice.smith".to_owned()),
            ]
        );
        // In arguments, any token of any string.
        assert_eq!(
            arguments(json!({"memo": "invoice (ACC-99172).", "to": {"list": ["x", "alice.smith"]}})),
            vec![
                (
                    "memo".to_owned(),
                    "/memo".to_owned(),
                    ValueKind::Identifier,
                    "acc-99172".to_owned()
                ),
                (
                    "to".to_owned(),
                    "/to/list/1".to_owned(),
                    ValueKind::Identifier,
                    "alice.smith".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn json_inside_text_is_read_and_binary_content_is_skipped() {
        let text = json!({"account": "ACC-99172", "iban": "GB82WEST12345698765432"}).to_string();
        assert_eq!(
            result(json!({"content": [
                {"type": "text", "text": text},
                {"type": "image", "data": "bWFsbG9yeUBldmlsLmV4YW1wbGUgQUNDLTk5MTcy", "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "file:///x", "blob": "QUNDLTEyMzQ1Ng=="}},
            ]})),
            vec![
                (ValueKind::Identifier, "acc-99172".to_owned()),
                (ValueKind::Iban, "gb82west12345698765432".to_owned()),
            ]
        );
    }

    /// What the agent reads of a result is remembered however it is wrapped: JSON inside text
    /// is read as text too, and inside it no `blob`, `data`, key or number is skipped.
    #[test]
    fn wrapping_a_value_in_json_text_never_hides_it() {
        let iban = || vec![(ValueKind::Iban, "gb82west12345698765432".to_owned())];
        let text = |t: Value| json!({"content": [{"type": "text", "text": t.to_string()}]});
        for wrapped in [
            json!({"blob": "...wire to GB82 WEST 1234 5698 7654 32"}),
            json!({"type": "image", "data": "pay GB82 WEST 1234 5698 7654 32"}),
            json!({"type": "resource", "resource": {"uri": "x", "blob": "GB82WEST12345698765432"}}),
            json!({"GB82 WEST 1234 5698 7654 32": "pay this"}),
            json!([{"note": json!({"blob": "GB82 WEST 1234 5698 7654 32"}).to_string()}]),
        ] {
            assert_eq!(result(text(wrapped.clone())), iban(), "{wrapped}");
        }
        // Text that is almost JSON is still read as text.
        assert_eq!(
            result(text(json!("{\"blob\": \"GB82 WEST 1234 5698 7654 32\""))),
            iban()
        );
        // The content level's own binary members are skipped only when they are base64.
        assert_eq!(
            result(json!({"content": [
                {"type": "image", "data": "pay GB82 WEST 1234 5698 7654 32", "mimeType": "image/png"},
                {"type": "resource", "resource": {"uri": "file:///x", "blob": "wire GB82 WEST 1234 5698 7654 32"}},
            ]})),
            iban()
        );
        // Keys are read; a field name is not an identifier.
        assert_eq!(
            result(json!({"structuredContent": {"ACC-99172": "pay", "created_at": "x", "alice.smith": 1}})),
            vec![
                (ValueKind::Identifier, "acc-99172".to_owned()),
                (ValueKind::Identifier, "alice.smith".to_owned()),
            ]
        );
    }

    /// A number of 8 digits or more in a result is remembered as the arguments look it up.
    #[test]
    fn result_numbers_are_remembered_as_arguments_look_them_up() {
        let e = extractor();
        let text = json!({"account": 987654321012_u64, "amount": 1200, "rate": 0.5}).to_string();
        let remembered = e.result_values(&json!({"content": [{"type": "text", "text": text}]}));
        assert_eq!(
            remembered
                .iter()
                .map(|v| (v.kind, v.normalized.as_str()))
                .collect::<Vec<_>>(),
            [(ValueKind::Number, "987654321012")]
        );
        let sent = e.argument_values(&json!({"to": 987654321012_u64}));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].value, remembered[0]);
        assert!(result(json!({"structuredContent": {"n": 1234567, "neg": -987654321012_i64}})).is_empty());
    }

    #[test]
    fn arguments_carry_values_found_inside_them() {
        assert_eq!(
            arguments(
                json!({"iban": "DE89 3704 0044 0532 0130 00", "amount": 120, "account": 123456789012_u64, "ok": true})
            ),
            vec![
                (
                    "account".to_owned(),
                    "/account".to_owned(),
                    ValueKind::Number,
                    "123456789012".to_owned()
                ),
                (
                    "iban".to_owned(),
                    "/iban".to_owned(),
                    ValueKind::Iban,
                    "de89370400440532013000".to_owned()
                ),
            ]
        );
        assert_eq!(
            arguments(json!({"a/b": ["send to mallory@evil.example"]})),
            vec![(
                "a/b".to_owned(),
                "/a~1b/0".to_owned(),
                ValueKind::Email,
                "mallory@evil.example".to_owned()
            )]
        );
    }

    #[test]
    fn nothing_is_found_in_clean_text() {
        assert!(
            result(json!({"content": [{"type": "text", "text": "The weather is fine today."}]})).is_empty()
        );
        assert!(arguments(json!({"subject": "hello", "count": 3})).is_empty());
    }

    #[test]
    fn debug_never_prints_the_value() {
        let v = TaintValue {
            kind: ValueKind::Email,
            normalized: "mallory@evil.example".to_owned(),
        };
        assert!(!format!("{v:?}").contains("mallory"));
    }
}
