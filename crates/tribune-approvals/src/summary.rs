//! One-line summaries of a request for the people who review it: what (tool, tier, data
//! class), who (principal, owner, the human who triggered it), why it was held, and what its
//! arguments touch.
//!
//! Argument values come from the agent, so they are untrusted text headed for terminals and
//! chat: control and bidirectional-override characters are escaped (no terminal escape
//! sequences, no Trojan-Source reordering), and every value and the argument list are
//! truncated. [`summary_redacted`] lists argument names only, for channels outside Tribune's
//! access control such as webhooks, where values (possibly PHI) must not go.

use std::fmt::Write as _;

use serde_json::Value;

use crate::request::ApprovalRequest;

/// The longest rendering of one argument value, in characters.
pub const MAX_VALUE_CHARS: usize = 32;
/// The most arguments listed; the rest are counted.
pub const MAX_ARGUMENTS: usize = 6;

/// `tool [tier, class] by principal (owner O[, triggered by H]); held: why; touches: k=v, ...`
pub fn summary(req: &ApprovalRequest) -> String {
    render(req, true)
}

/// Like [`summary`], with argument names but no values.
pub fn summary_redacted(req: &ApprovalRequest) -> String {
    render(req, false)
}

fn render(req: &ApprovalRequest, values: bool) -> String {
    let mut out = String::new();
    let _ = write!(out, "{} [{}", req.tool(), req.tier());
    if let Some(c) = req.classification() {
        let _ = write!(out, ", {}", c.name);
    }
    let _ = write!(out, "] by {} (owner {}", req.principal(), req.owner());
    if let Some(h) = req.requested_by() {
        let _ = write!(out, ", triggered by {h}");
    }
    out.push(')');

    let why: Vec<&str> = req
        .reasons()
        .iter()
        .filter(|r| r.code != "permitted")
        .map(|r| r.message.as_str())
        .collect();
    if !why.is_empty() {
        let _ = write!(out, "; held: {}", sanitize(&why.join("; "), 200));
    }
    let _ = write!(out, "; touches: {}", touches(req.arguments(), values));
    out
}

fn touches(arguments: &Value, values: bool) -> String {
    let Value::Object(map) = arguments else {
        return if values {
            format!("(arguments) {}", short(arguments))
        } else {
            "(arguments are not an object)".to_owned()
        };
    };
    if map.is_empty() {
        return "nothing".to_owned();
    }
    // Sorted by name whatever serde_json's `preserve_order` feature says, so a summary does
    // not change with the workspace's feature set.
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut parts: Vec<String> = entries
        .into_iter()
        .take(MAX_ARGUMENTS)
        .map(|(k, v)| {
            let k = sanitize(k, MAX_VALUE_CHARS);
            if values { format!("{k}={}", short(v)) } else { k }
        })
        .collect();
    if map.len() > MAX_ARGUMENTS {
        parts.push(format!("(+{} more)", map.len() - MAX_ARGUMENTS));
    }
    parts.join(", ")
}

fn short(v: &Value) -> String {
    match v {
        Value::Object(m) => format!("{{{} keys}}", m.len()),
        Value::Array(a) => format!("[{} items]", a.len()),
        Value::String(s) => format!("\"{}\"", sanitize(s, MAX_VALUE_CHARS)),
        other => sanitize(&other.to_string(), MAX_VALUE_CHARS),
    }
}

/// Escapes what a terminal would interpret or reorder, then truncates to `max` characters
/// (counting escapes as written) with a trailing `…`.
fn sanitize(s: &str, max: usize) -> String {
    let mut out = String::new();
    let mut len = 0;
    for c in s.chars() {
        let piece = if c.is_control() || is_bidi_control(c) || c == '"' || c == '\\' {
            match c {
                '"' => "\\\"".to_owned(),
                '\\' => "\\\\".to_owned(),
                '\n' => "\\n".to_owned(),
                '\t' => "\\t".to_owned(),
                _ => format!("\\u{{{:04x}}}", u32::from(c)),
            }
        } else {
            c.to_string()
        };
        let n = piece.chars().count();
        if len + n > max {
            out.push('…');
            return out;
        }
        out.push_str(&piece);
        len += n;
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_escapes_and_truncates() {
        assert_eq!(sanitize("a\u{1b}[31mb", 40), "a\\u{001b}[31mb");
        assert_eq!(sanitize("abc\u{202e}cba", 40), "abc\\u{202e}cba");
        assert_eq!(sanitize("say \"hi\"", 40), "say \\\"hi\\\"");
        assert_eq!(sanitize("abcdef", 3), "abc…");
        assert_eq!(sanitize("abc", 3), "abc");
    }

    #[test]
    fn short_values_describe_containers() {
        assert_eq!(short(&serde_json::json!({"a": 1, "b": 2})), "{2 keys}");
        assert_eq!(short(&serde_json::json!([1, 2, 3])), "[3 items]");
        assert_eq!(short(&serde_json::json!(12.5)), "12.5");
        assert_eq!(short(&serde_json::json!(null)), "null");
    }
}
