//! Escaping untrusted text (names, descriptions and messages from a bundle) for each format.
//!
//! HTML gets every markup-significant character as an entity, in text and in attribute values
//! alike. Markdown keeps `code spans` (Tribune's messages put bundle names in backticks) and
//! escapes everything else that Markdown or the HTML a Markdown renderer passes through could
//! act on, so no bundle text becomes link or image syntax, a table cell border or a tag.
//! (Renderers that autolink bare URLs, as GitHub's does, still show a URL in bundle text as a
//! link; the HTML report has no such renderer.)

/// `s` for HTML text or a double- or single-quoted attribute value.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than whitespace are not allowed in HTML text.
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `s` for HTML, with its `code spans` as `<code>` elements (their content escaped too).
pub fn html_with_code(s: &str) -> String {
    let mut out = String::new();
    for part in spans(s) {
        match part {
            Span::Text(t) => out.push_str(&html(t)),
            Span::Code(c) => {
                out.push_str("<code>");
                out.push_str(&html(c));
                out.push_str("</code>");
            }
        }
    }
    out
}

/// `s` as Markdown inline text that renders as exactly `s` (code spans kept as code): safe in
/// a paragraph, a list item and a table cell.
pub fn markdown(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in spans(s).into_iter().enumerate() {
        match part {
            Span::Text(text) => {
                let mut t = text;
                // What would open a block at the start of a line: a heading, a list item or a
                // rule, a numbered item (`>` is escaped below anyway).
                if i == 0 {
                    let lead = t.len() - t.trim_start().len();
                    out.push_str(&t[..lead].replace(['\n', '\r', '\t'], " "));
                    t = &t[lead..];
                    let digits = t.chars().take_while(char::is_ascii_digit).count();
                    if let Some(c @ ('#' | '-' | '+')) = t.chars().next() {
                        out.push('\\');
                        out.push(c);
                        t = &t[1..];
                    } else if digits > 0
                        && matches!(t[digits..].chars().next(), Some('.' | ')'))
                        && t[digits + 1..].chars().next().is_none_or(char::is_whitespace)
                    {
                        out.push_str(&t[..digits]);
                        out.push('\\');
                        out.push_str(&t[digits..=digits]);
                        t = &t[digits + 1..];
                    }
                }
                for c in t.chars() {
                    match c {
                        '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                            out.push('\\');
                            out.push(c);
                        }
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        '&' => out.push_str("&amp;"),
                        '\n' | '\r' | '\t' => out.push(' '),
                        c if c.is_control() => out.push('\u{FFFD}'),
                        c => out.push(c),
                    }
                }
            }
            Span::Code(c) => {
                // A code span's content is literal, except a pipe inside a table row; a
                // newline would end the row.
                let body: String = c
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect::<String>()
                    .replace('|', "\\|");
                // A span content starting or ending with a backtick or space needs padding.
                if body.starts_with(' ') || body.ends_with(' ') {
                    out.push_str("` ");
                    out.push_str(&body);
                    out.push_str(" `");
                } else {
                    out.push('`');
                    out.push_str(&body);
                    out.push('`');
                }
            }
        }
    }
    out
}

/// `s` with whitespace runs collapsed and trimmed: one line, as OSCAL's string types want.
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

enum Span<'a> {
    Text(&'a str),
    Code(&'a str),
}

/// Splits `s` into text and `code` spans. A backtick without a partner is text. Code spans
/// never contain a backtick.
fn spans(s: &str) -> Vec<Span<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find('`') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('`') else { break };
        if open > 0 {
            out.push(Span::Text(&rest[..open]));
        }
        let code = &after[..close];
        if code.is_empty() {
            // "``": no span; keep both backticks as text.
            out.push(Span::Text(&rest[open..open + 2]));
        } else {
            out.push(Span::Code(code));
        }
        rest = &after[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Span::Text(rest));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(
            html(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(html("a\u{0}b"), "a\u{FFFD}b");
    }

    #[test]
    fn html_code_spans_are_escaped_inside() {
        assert_eq!(
            html_with_code("human `<b>` has no `name`"),
            "human <code>&lt;b&gt;</code> has no <code>name</code>"
        );
        assert_eq!(html_with_code("odd ` tick"), "odd ` tick");
    }

    #[test]
    fn markdown_neutralises_links_tags_and_cells() {
        assert_eq!(
            markdown("[x](javascript:alert(1)) <img src=x> | a*b_"),
            r"\[x\](javascript:alert(1)) &lt;img src=x&gt; \| a\*b\_"
        );
        assert_eq!(markdown("st-marys.example (HIPAA)."), "st-marys.example (HIPAA).");
        assert_eq!(markdown("# title"), r"\# title");
        assert_eq!(markdown("- item"), r"\- item");
        assert_eq!(markdown("12. item"), r"12\. item");
        assert_eq!(markdown("0.1.0"), "0.1.0");
        assert_eq!(markdown("`code` first"), "`code` first");
        assert_eq!(
            markdown("class `a|b` sets no `quota.calls_per_minute`"),
            r"class `a\|b` sets no `quota.calls_per_minute`"
        );
        assert_eq!(markdown("two\nlines"), "two lines");
        assert_eq!(markdown("lone ` tick"), r"lone \` tick");
    }

    #[test]
    fn one_line_collapses_whitespace() {
        assert_eq!(one_line("  a \n\t b  "), "a b");
    }
}
