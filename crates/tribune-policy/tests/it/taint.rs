//! Taint in the decision point: `context.tainted` is in the generated schema, so policies that
//! read it validate strictly, and the tainted arguments the caller found (`Facts::taint`)
//! change what those policies decide — on the planned path and on the reference path alike.
//! The decision lists the tainted arguments and names where their values came from.

use serde_json::{Value, json};
use tribune_bundle::{BundleSources, MANIFEST, SourceFile};
use tribune_policy::{
    Code, Decision, Facts, Outcome, PrincipalKind, Request, Snapshot, Stage, TaintSource, Tainted,
};

const MANIFEST_TEXT: &str = r#"
[deployment]
name = "example.com/taint"

[autonomy]
default_reviewer_pool = "leads"
floor.write = { approvals = 0, mfa = false }
floor.irreversible = { approvals = 0, mfa = false }

[humans.alice]
roles = ["reviewer"]
stop_authority = true

[reviewer_pools.leads]
members = ["alice"]

[classes.clerk]
ceiling = "irreversible"

[agents.clerk-1]
class = "clerk"
owner = "alice"

[providers.web]
kind = "mcp_server"
untrusted = true
[providers.web.vetting]
status = "approved"
reviewer = "human:alice"
reviewed = "2026-11-20"
expires = "2027-11-30"

[providers.bank]
kind = "external_api"
[providers.bank.vetting]
status = "approved"
reviewer = "human:alice"
reviewed = "2026-11-20"
expires = "2027-11-30"

[tools.fetch_page]
provider = "web"
tier = "read"
input_schema = { type = "object", properties = { url = { type = "string" } } }

[tools.pay]
provider = "bank"
tier = "irreversible"
input_schema = { type = "object", required = ["iban", "amount"], properties = { iban = { type = "string" }, amount = { type = "integer" }, memo = { type = "string" } } }

[tools.send_mail]
provider = "bank"
tier = "write"
input_schema = { type = "object", properties = { to = { type = "string" }, body = { type = "string" } } }
"#;

const POLICY: &str = r#"
@id("clerk-tools")
permit (principal in AgentClass::"clerk", action, resource);

@id("tainted-payee")
@approvals("1")
permit (principal in AgentClass::"clerk", action == Action::"pay", resource)
when { context.tainted.contains("iban") };

@id("no-tainted-recipient")
@reason("a recipient taken from untrusted content may not be written to")
forbid (principal, action == Action::"send_mail", resource)
when { context.tainted.contains("to") };
"#;

fn snapshot() -> Snapshot {
    let bundle = tribune_bundle::parse(BundleSources {
        manifest: SourceFile::new(MANIFEST, MANIFEST_TEXT),
        policy_files: vec![SourceFile::new("policies/taint.cedar", POLICY)],
    })
    .unwrap_or_else(|d| panic!("{d:#?}"));
    Snapshot::build(bundle).unwrap_or_else(|d| panic!("{d:#?}"))
}

fn tainted(argument: &str, kind: &str) -> Tainted {
    Tainted {
        argument: argument.to_owned(),
        pointer: format!("/{argument}"),
        kind: kind.to_owned(),
        source: TaintSource::Result {
            tool: "fetch_page".to_owned(),
            decision: "d-1".to_owned(),
        },
    }
}

/// Decides a call by `clerk-1` with `taint`, on both paths, which must agree.
fn decide(s: &Snapshot, tool: &str, args: Value, taint: &[Tainted]) -> Decision {
    let req = Request {
        kind: PrincipalKind::Agent,
        principal: "clerk-1",
        tool,
        arguments: &args,
        session: Some("s-1"),
        context: None,
    };
    let facts = Facts {
        taint,
        ..Facts::default()
    };
    let d = s.decide(&req, &facts, 0);
    assert_eq!(
        d,
        s.decide_reference(&req, &facts, 0),
        "the reference path disagrees"
    );
    d
}

#[test]
fn the_schema_declares_context_tainted_and_the_rules_validate_strictly() {
    let s = snapshot();
    assert!(
        s.schema_text().contains("\"tainted\": Set<String>"),
        "{}",
        s.schema_text()
    );
    assert!(
        s.findings().is_empty(),
        "strict validation reported: {:#?}",
        s.findings()
    );
}

#[test]
fn a_tainted_payee_needs_an_approval_and_a_clean_one_does_not() {
    let s = snapshot();
    let args = json!({ "iban": "GB82WEST12345698765432", "amount": 120 });
    let clean = decide(&s, "pay", args.clone(), &[]);
    assert_eq!(clean.decision, Outcome::Allow, "{clean:#?}");
    assert!(clean.tainted.is_empty());

    let held = decide(&s, "pay", args.clone(), &[tainted("iban", "iban")]);
    assert_eq!(held.decision, Outcome::Hold, "{held:#?}");
    assert_eq!(held.approvals_required, 1);
    assert!(
        held.reasons
            .iter()
            .any(|r| r.rule.as_deref() == Some("tainted-payee"))
    );
    let reason = held
        .reasons
        .iter()
        .find(|r| r.code == Code::TaintedArguments)
        .expect("a taint reason");
    assert_eq!(reason.stage, Stage::DataGovernance);
    assert!(
        reason.message.contains("`iban`")
            && reason.message.contains("`fetch_page`")
            && reason.message.contains("d-1"),
        "{}",
        reason.message
    );
    assert_eq!(held.tainted, vec![tainted("iban", "iban")]);
    // Never the value: the decision names the kind and the source only.
    assert!(!serde_json::to_string(&held).unwrap().contains("GB82"));
    assert_eq!(
        held.primary_reason().map(|r| r.code),
        Some(Code::ApprovalRequired)
    );

    // Another tainted argument does not trip a rule about `iban`.
    let memo = decide(
        &s,
        "pay",
        json!({ "iban": "GB82WEST12345698765432", "amount": 120, "memo": "ACC-99172" }),
        &[tainted("memo", "identifier")],
    );
    assert_eq!(memo.decision, Outcome::Allow, "{memo:#?}");
    assert_eq!(memo.tainted.len(), 1);
}

#[test]
fn a_forbid_on_a_tainted_recipient_denies_and_says_why() {
    let s = snapshot();
    let args = json!({ "to": "mallory@evil.example", "body": "hi" });
    assert_eq!(
        decide(&s, "send_mail", args.clone(), &[]).decision,
        Outcome::Allow
    );
    let denied = decide(
        &s,
        "send_mail",
        args,
        &[Tainted {
            source: TaintSource::Unknown {
                why: "the session forgot values".to_owned(),
            },
            ..tainted("to", "email")
        }],
    );
    assert_eq!(denied.decision, Outcome::Deny, "{denied:#?}");
    let primary = denied.primary_reason().unwrap();
    assert_eq!((primary.stage, primary.code), (Stage::Policy, Code::Forbidden));
    assert_eq!(primary.rule.as_deref(), Some("no-tainted-recipient"));
    assert_eq!(denied.tainted.len(), 1);
}
