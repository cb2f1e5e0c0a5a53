//! The `[drills]` section: a cadence and the scopes that may be drilled, each checked like a
//! stop scope against what the bundle declares, every error located where it is written.

use tribune_bundle::{Bundle, Diagnostic};

/// A valid manifest the cases start from: one of each kind a scope can name.
const BASE: &str = r#"[deployment]
name = "example.com/drills"

[humans.alice]
stop_authority = true

[classes.support]
ceiling = "write"

[agents.canary]
class = "support"
owner = "alice"

[services.ingest]
owner = "alice"

[providers.helpdesk]
kind = "mcp_server"

[tools.search_docs]
provider = "helpdesk"
tier = "read"
"#;

fn parse(drills: &str) -> Result<Bundle, Vec<Diagnostic>> {
    crate::parse_manifest(&format!("{BASE}\n{drills}"))
}

/// Every diagnostic of an invalid `[drills]`, as `tribune check` prints it.
fn errors(drills: &str) -> Vec<String> {
    parse(drills)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn without_the_table_there_is_no_cadence_and_nothing_to_drill() {
    let b = parse("").unwrap();
    assert_eq!(b.drills, tribune_bundle::Drills::default());
    assert!(!b.drills.allows("agent:canary"));
}

#[test]
fn every_kind_of_scope_may_be_declared() {
    let b = parse(
        r#"[drills]
cadence_days = 30
scopes = ["agent:canary", "class:support", "service:ingest", "tool:search_docs", "provider:helpdesk", "all"]
"#,
    )
    .unwrap();
    let cadence = b.drills.cadence_days.as_ref().unwrap();
    assert_eq!(
        (cadence.value, cadence.location.to_string()),
        (30, "tribune.toml:25:16".to_owned())
    );
    let scopes: Vec<&str> = b.drills.scopes.iter().map(|s| s.value.as_str()).collect();
    assert_eq!(
        scopes,
        [
            "agent:canary",
            "class:support",
            "service:ingest",
            "tool:search_docs",
            "provider:helpdesk",
            "all"
        ]
    );
    assert!(b.drills.allows("agent:canary") && !b.drills.allows("agent:other"));
    assert!(b.findings.is_empty(), "{:?}", b.findings);
}

#[test]
fn bad_declarations_are_located() {
    assert_eq!(
        errors(
            r#"[drills]
cadence_days = 0
scopes = ["agent:ghost", "class:canary", "pool:x", "agent", "agent:", "agent:canary", "agent:canary"]
"#
        ),
        [
            "tribune.toml:25:16: error[bad-value]: `[drills] cadence_days` must be between 1 and 366, not 0",
            "tribune.toml:26:11: error[dangling-reference]: `[drills] scopes` names agent `ghost`, which is not declared",
            "tribune.toml:26:26: error[dangling-reference]: `[drills] scopes` names agent class `canary`, which is not declared",
            "tribune.toml:26:42: error[bad-value]: `[drills] scopes` lists `pool:x`, which is not a stop scope: use `all`, `class:ID`, `agent:ID`, `service:ID`, `tool:ID` or `provider:ID`",
            "tribune.toml:26:52: error[bad-value]: `[drills] scopes` lists `agent`, which is not a stop scope: use `all`, `class:ID`, `agent:ID`, `service:ID`, `tool:ID` or `provider:ID`",
            "tribune.toml:26:61: error[bad-id]: `[drills] scopes` lists `agent:`: an id cannot be empty",
            "tribune.toml:26:87: error[duplicate-id]: `[drills] scopes` lists `agent:canary` twice",
        ]
    );
    assert_eq!(
        errors("[drills]\nevery = 30\n"),
        [
            "tribune.toml:25:1: error[unknown-key]: unknown field `every`, expected one of `cadence_days`, `target_ms`, `scopes`"
        ]
    );
}

#[test]
fn a_cadence_with_nothing_to_drill_is_a_finding() {
    let b = parse("[drills]\ncadence_days = 7\n").unwrap();
    let findings: Vec<String> = b.findings.iter().map(ToString::to_string).collect();
    assert_eq!(
        findings,
        [
            "tribune.toml:25:16: warning[no-drill-scope]: `[drills] cadence_days` is declared but `scopes` names nothing to drill, so no drill can ever pass"
        ]
    );
}
