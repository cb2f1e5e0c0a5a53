//! `Snapshot::reachable_tools`: what a gateway lists, checked against what `decide` does.

use serde_json::{Value, json};
use tribune_policy::{Facts, Outcome, PrincipalKind, Reachable, Request, Snapshot};

const MANIFEST: &str = r#"
[deployment]
name = "reach"

[data]
classifications = ["public", "internal"]
default = "internal"

[humans.ann]
roles = ["reviewer"]
stop_authority = true
[humans.ben]
roles = ["reviewer"]

[reviewer_pools.leads]
members = ["ann", "ben"]

[autonomy]
default_reviewer_pool = "leads"

[classes.helper]
ceiling = "write"
[classes.trusted]
ceiling = "irreversible"

[agents.h1]
class = "helper"
owner = "ann"
[agents.t1]
class = "trusted"
owner = "ben"

[providers.desk]
kind = "mcp_server"
[providers.desk.vetting]
status = "approved"
reviewer = "human:ann"
reviewed = "2026-11-20"
expires = "2027-11-30"

[tools.read_doc]
provider = "desk"
tier = "read"
input_schema = { type = "object", properties = { path = { type = "string" } } }
[tools.edit_doc]
provider = "desk"
tier = "write"
input_schema = { type = "object", properties = { path = { type = "string" } } }
[tools.wipe]
provider = "desk"
tier = "irreversible"
input_schema = { type = "object" }
[tools.export]
provider = "desk"
tier = "read"
input_schema = { type = "object", properties = { path = { type = "string" } } }
[tools.unused]
provider = "desk"
tier = "read"
input_schema = { type = "object" }
[tools.gated]
provider = "desk"
tier = "read"
input_schema = { type = "object" }
"#;

const POLICIES: &str = r#"
@id("all-desk")
permit (principal, action in Action::"provider:desk", resource)
unless { action == Action::"unused" };

@id("no-export-for-helpers")
forbid (principal in AgentClass::"helper", action == Action::"export", resource);

@id("no-secret-edits")
forbid (principal, action == Action::"edit_doc", resource)
when { context.input has path && context.input.path like "/secret/*" };

@id("gated-needs-review")
@approvals("1")
permit (principal, action == Action::"gated", resource);
"#;

fn snapshot() -> Snapshot {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tribune.toml"), MANIFEST).unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(dir.path().join("policies/main.cedar"), POLICIES).unwrap();
    let bundle = tribune_bundle::load_dir(dir.path()).unwrap_or_else(|d| panic!("{d:?}"));
    Snapshot::build(bundle).unwrap_or_else(|d| panic!("{d:?}"))
}

fn listed(s: &Snapshot, agent: &str) -> Vec<(String, u32, bool)> {
    s.reachable_tools(PrincipalKind::Agent, agent)
        .unwrap()
        .into_iter()
        .map(|r: Reachable| (r.tool, r.approvals, r.mfa))
        .collect()
}

#[test]
fn lists_only_tools_some_call_may_pass() {
    let s = snapshot();
    // `unused`: a permit's condition excludes it, but its scope matches, so it stays listed
    // (the analysis is over scopes; conditions are judged per call).
    // `wipe` is above the helper class's ceiling; `export` is forbidden to helpers outright;
    // `edit_doc` is forbidden only for some paths, so it stays listed, held for one approval.
    assert_eq!(
        listed(&s, "h1"),
        vec![
            ("edit_doc".to_owned(), 1, false),
            ("gated".to_owned(), 1, false),
            ("read_doc".to_owned(), 0, false),
            ("unused".to_owned(), 0, false),
        ]
    );
    assert_eq!(
        listed(&s, "t1"),
        vec![
            ("edit_doc".to_owned(), 1, false),
            ("export".to_owned(), 0, false),
            ("gated".to_owned(), 1, false),
            ("read_doc".to_owned(), 0, false),
            ("unused".to_owned(), 0, false),
            ("wipe".to_owned(), 2, true),
        ]
    );
    assert!(listed(&s, "nobody").is_empty());
}

/// Soundness: whenever `decide` allows or holds a call, its tool is listed, and the listed
/// approvals never exceed what the decision asks for.
#[test]
fn every_call_decide_lets_through_is_listed() {
    let s = snapshot();
    let args: [Value; 4] = [
        json!({}),
        json!({"path": "/docs/a"}),
        json!({"path": "/secret/b"}),
        json!({"path": ""}),
    ];
    let mut checked = 0;
    for agent in ["h1", "t1"] {
        let reach = s.reachable_tools(PrincipalKind::Agent, agent).unwrap();
        for tool in ["read_doc", "edit_doc", "wipe", "export", "unused", "gated"] {
            for a in &args {
                let d = s.decide(
                    &Request {
                        kind: PrincipalKind::Agent,
                        principal: agent,
                        tool,
                        arguments: a,
                        session: None,
                        context: None,
                    },
                    &Facts::default(),
                    0,
                );
                if d.decision == Outcome::Deny {
                    continue;
                }
                checked += 1;
                let r = reach
                    .iter()
                    .find(|r| r.tool == tool)
                    .unwrap_or_else(|| panic!("{agent} may call {tool} but it is not listed"));
                assert!(r.approvals <= d.approvals_required, "{agent} {tool}");
                assert!(!r.mfa || d.mfa_required, "{agent} {tool}");
            }
        }
    }
    assert!(checked >= 10, "too few calls got through to check: {checked}");
}
