//! Taint declarations: `untrusted` on providers and tools (a tool's own value wins over its
//! provider's), and the `[taint]` memory bounds, every error located where it is written.

use tribune_bundle::{Bundle, Diagnostic, Taint};

const BASE: &str = r#"[deployment]
name = "example.com/taint"

[humans.alice]
stop_authority = true

[providers.web]
kind = "mcp_server"
untrusted = true

[providers.bank]
kind = "external_api"

[tools.fetch_page]
provider = "web"
tier = "read"

[tools.web_config]
provider = "web"
tier = "read"
untrusted = false

[tools.read_mail]
provider = "bank"
tier = "read"
untrusted = true

[tools.pay]
provider = "bank"
tier = "irreversible"
"#;

fn parse(extra: &str) -> Result<Bundle, Vec<Diagnostic>> {
    crate::parse_manifest(&format!("{BASE}\n{extra}"))
}

fn errors(extra: &str) -> Vec<String> {
    parse(extra)
        .unwrap_err()
        .iter()
        .filter(|d| d.severity == tribune_bundle::Severity::Error)
        .map(ToString::to_string)
        .collect()
}

#[test]
fn a_tool_is_untrusted_by_its_own_key_else_by_its_provider() {
    let b = parse("").unwrap();
    let untrusted = |t: &str| b.tools.get(t).unwrap().untrusted;
    assert!(untrusted("fetch_page"));
    assert!(!untrusted("web_config"));
    assert!(untrusted("read_mail"));
    assert!(!untrusted("pay"));
    assert!(b.tracks_taint());
    assert_eq!(b.taint, Taint::DEFAULT);
}

#[test]
fn bounds_are_read_and_checked_where_written() {
    let b = parse("[taint]\nmax_values = 16\nmax_sessions = 100\nttl_secs = 600\n").unwrap();
    assert_eq!(
        (
            b.taint.max_values.get(),
            b.taint.max_sessions.get(),
            b.taint.ttl_secs.get()
        ),
        (16, 100, 600)
    );
    assert_eq!(
        errors("[taint]\nmax_values = 0\nmax_sessions = 1000001\nttl_secs = 2592001\n"),
        [
            "tribune.toml:33:14: error[bad-value]: `[taint] max_values` must be between 1 and 65536, not 0",
            "tribune.toml:34:16: error[bad-value]: `[taint] max_sessions` must be between 1 and 1000000, not 1000001",
            "tribune.toml:35:12: error[bad-value]: `[taint] ttl_secs` must be between 1 and 2592000, not 2592001",
        ]
    );
    let unknown = errors("[taint]\nmax_value = 3\n");
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(
        unknown[0].starts_with("tribune.toml:33:1: error[unknown-key]: unknown field `max_value`"),
        "{unknown:?}"
    );
    let wrong = errors("[taint]\nttl_secs = \"1h\"\n");
    assert_eq!(wrong.len(), 1, "{wrong:?}");
    assert!(
        wrong[0].starts_with("tribune.toml:33:12: error[wrong-type]"),
        "{wrong:?}"
    );
}

#[test]
fn untrusted_must_be_a_boolean() {
    let wrong = crate::parse_manifest(&BASE.replace("untrusted = false", "untrusted = \"no\"")).unwrap_err();
    let text: Vec<String> = wrong.iter().map(ToString::to_string).collect();
    assert!(
        text.iter()
            .any(|t| t.starts_with("tribune.toml:21:13: error[wrong-type]")),
        "{text:?}"
    );
}

#[test]
fn a_taint_table_without_untrusted_tools_is_reported_unused() {
    let manifest = BASE.replace("untrusted = true", "untrusted = false");
    let b = crate::parse_manifest(&format!("{manifest}\n[taint]\nttl_secs = 60\n")).unwrap();
    assert!(!b.tracks_taint());
    let findings: Vec<String> = b.findings.iter().map(ToString::to_string).collect();
    assert!(
        findings
            .iter()
            .any(|f| f.contains("warning[unused]") && f.contains("`[taint]`")),
        "{findings:?}"
    );
}
