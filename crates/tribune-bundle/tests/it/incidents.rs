//! The `[incidents]` section: a full declaration, and bad declarations as snapshots of their
//! located diagnostics (each rendered with the line it points at and a caret under its column).

use tribune_bundle::{Bundle, Diagnostic, IncidentAction, TriggerOn};

/// A valid manifest the cases start from. Line numbers in the snapshots count from here.
const BASE: &str = r#"[deployment]
name = "example.com/incidents"

[data]
classifications = ["public", "internal", "confidential", "phi"]
default = "internal"

[providers.ehr]
kind = "mcp_server"

[tools.read_chart]
provider = "ehr"
tier = "read"
classification = "phi"

[tools.export_all]
provider = "ehr"
tier = "read"
"#;

fn parse(manifest: &str) -> Result<Bundle, Vec<Diagnostic>> {
    crate::parse_manifest(manifest)
}

/// Parses `BASE` followed by `incidents` and renders the triggers of a valid bundle (with its
/// findings), or what was reported.
fn check(incidents: &str) -> String {
    let manifest = format!("{BASE}\n{incidents}");
    match parse(&manifest) {
        Ok(bundle) => {
            let mut out = "ok:\n".to_owned();
            for t in &bundle.incidents.triggers {
                let actions: Vec<&str> = t.actions.iter().map(|a| a.as_str()).collect();
                out.push_str(&format!("  {} on {:?} -> {}\n", t.id, t.on, actions.join(", ")));
            }
            if let Some(hook) = bundle.incidents.webhook(&bundle.hitl) {
                out.push_str(&format!("  webhook {} ({})\n", hook.url, hook.secret_env));
            }
            for d in &bundle.findings {
                out.push_str(&crate::render(d, &manifest));
            }
            out
        }
        Err(diagnostics) => crate::render_errors(&diagnostics, &manifest),
    }
}

/// Without `[incidents]`: no triggers.
#[test]
fn none_by_default() {
    let bundle = parse(BASE).unwrap();
    assert!(bundle.incidents.triggers.is_empty());
    assert_eq!(bundle.incidents.webhook(&bundle.hitl), None);
}

/// Every kind of trigger; actions run in a fixed order whatever order they are written in.
#[test]
fn a_full_declaration() {
    insta::assert_snapshot!(check(
        r#"[incidents]
webhook_url = "http://127.0.0.1:9000/incidents"
webhook_secret_env = "TRIBUNE_INCIDENT_KEY"

[[incidents.triggers]]
id = "denial-burst"
on = "denials"
count = 5
window_secs = 60
actions = ["notify", "legal_hold", "revoke_credentials", "stop_agent"]

[[incidents.triggers]]
id = "phi-forbidden"
on = "forbid"
classification = "confidential"
actions = ["legal_hold"]

[[incidents.triggers]]
id = "phi-leak"
on = "dlp"
classification = "phi"
actions = ["stop_class", "notify"]

[[incidents.triggers]]
id = "honeytoken"
on = "canary"
tool = "export_all"
description = "no legitimate agent exports the whole record"
actions = ["stop_agent", "revoke_credentials", "legal_hold", "notify"]

[[incidents.triggers]]
id = "trust-collapse"
on = "trust_below"
threshold = 200
actions = ["stop_agent"]

[[incidents.triggers]]
id = "drill"
on = "drill_failed"
actions = ["notify"]
"#
    ));
}

/// The model a caller reads.
#[test]
fn the_model() {
    let manifest = format!(
        "{BASE}\n[[incidents.triggers]]\nid = \"t\"\non = \"forbid\"\nclassification = \"confidential\"\nactions = [\"notify\", \"stop_agent\"]\n"
    );
    let bundle = parse(&manifest).unwrap();
    let t = &bundle.incidents.triggers[0];
    assert_eq!(t.id.as_str(), "t");
    assert!(matches!(&t.on, TriggerOn::Forbid { classification } if classification.rank == 2));
    assert_eq!(t.on.kind(), "forbid");
    assert_eq!(t.actions, [IncidentAction::StopAgent, IncidentAction::Notify]);
    assert_eq!(t.location.line, 20);
    // `notify` without any webhook is a finding, not an error.
    assert_eq!(bundle.findings[0].code, "no-webhook");
}

/// Every error a trigger can hold past the TOML types, reported together.
#[test]
fn bad_triggers() {
    insta::assert_snapshot!(check(
        r#"[[incidents.triggers]]
id = "a"
on = "anomaly"
actions = ["notify"]

[[incidents.triggers]]
id = "b"
on = "denials"
count = 0
window_secs = 100000
actions = ["page_someone", "legal_hold", "legal_hold"]

[[incidents.triggers]]
id = "c"
on = "canary"
tool = "export_everything"
classification = "phi"
actions = []

[[incidents.triggers]]
id = "d"
on = "dlp"
actions = ["legal_hold"]

[[incidents.triggers]]
id = "e"
on = "forbid"
classification = "secret"
actions = ["legal_hold"]

[[incidents.triggers]]
id = "a"
on = "trust_below"
threshold = 1001
actions = ["stop_agent"]

[[incidents.triggers]]
id = "-g"
on = "drill_failed"
actions = ["stop_class", "revoke_credentials", "legal_hold"]
"#
    ));
}

#[test]
fn webhook_without_its_key() {
    insta::assert_snapshot!(check(
        "[incidents]\nwebhook_url = \"https://hooks.example.com/x\"\n"
    ));
}

#[test]
fn trigger_without_actions_key() {
    insta::assert_snapshot!(check(
        "[[incidents.triggers]]\nid = \"a\"\non = \"drill_failed\"\n"
    ));
}

#[test]
fn unknown_key() {
    insta::assert_snapshot!(check("[incidents]\nenabled = true\n"));
}
