//! The data-governance stage: DLP over a call's arguments (deny, hold, allow by data class),
//! classification flows to external providers, and what the reasons say — the detector, the
//! class and the pointer, never the data.

use serde_json::{Value, json};
use tribune_bundle::{BundleSources, MANIFEST, SourceFile};
use tribune_policy::{Code, Facts, PrincipalKind, Request, Snapshot, Stage};

const CARD: &str = "4111 1111 1111 1111";
const SSN: &str = "536-22-1947";
const IBAN: &str = "GB82 WEST 1234 5698 7654 32";
const AWS: &str = "AKIAIOSFODNN7EXAMPLE";
const MRN: &str = "MRN: 00482913";

/// Every secret the cases use, and the digits of each, none of which may appear in a decision.
const SECRETS: &[&str] = &[
    CARD,
    "4111111111111111",
    SSN,
    "536221947",
    IBAN,
    "GB82WEST12345698765432",
    AWS,
    "00482913",
];

const MANIFEST_TEXT: &str = r#"
[deployment]
name = "example.com/data-governance"

[autonomy]
default_reviewer_pool = "leads"

[data]
classifications = ["public", "internal", "confidential", "phi", "restricted"]
default = "internal"

[humans.alice]
roles = ["reviewer"]

[humans.bob]
roles = ["reviewer"]

[reviewer_pools.leads]
members = ["alice", "bob"]

[classes.clerk]
ceiling = "irreversible"

[agents.clerk-1]
class = "clerk"
owner = "alice"

[providers.records]
kind = "mcp_server"
destination = "internal"
[providers.records.vetting]
status = "approved"
reviewer = "human:alice"
reviewed = "2026-11-20"
expires = "2027-11-30"

[providers.mailer]
kind = "external_api"
destination = "external"
[providers.mailer.vetting]
status = "approved"
reviewer = "human:alice"
reviewed = "2026-11-20"
expires = "2027-11-30"

[tools.note]
provider = "records"
tier = "read"

[tools.send]
provider = "mailer"
tier = "read"

[tools.file]
provider = "records"
tier = "write"

[dlp]
detectors = ["aws-access-key", "ssn", "payment-card", "iban", "email"]

[dlp.classifications]
aws-access-key = "restricted"
ssn = "phi"
payment-card = "restricted"
iban = "confidential"
email = "internal"

[dlp.actions]
restricted = "deny"
phi = "redact"
confidential = "hold"
internal = "allow"

[dlp.flows]
phi = "internal"

[[dlp.patterns]]
id = "mrn"
regex = '(?-u:\b)MRN[:# ]*[0-9]{7,10}(?-u:\b)'
classification = "phi"
"#;

const POLICY: &str = r#"
@id("clerk-tools")
permit (principal in AgentClass::"clerk", action, resource);
"#;

fn snapshot(manifest: &str) -> Snapshot {
    let bundle = tribune_bundle::parse(BundleSources {
        manifest: SourceFile::new(MANIFEST, manifest),
        policy_files: vec![SourceFile::new("policies/clerk.cedar", POLICY)],
    })
    .unwrap_or_else(|d| panic!("{d:#?}"));
    Snapshot::build(bundle).unwrap_or_else(|d| panic!("{d:#?}"))
}

/// Decides a call by `clerk-1` both ways (planned and reference: the stage runs on both) and
/// returns the decision.
fn decide(s: &Snapshot, tool: &str, args: &Value) -> tribune_policy::Decision {
    let req = Request {
        kind: PrincipalKind::Agent,
        principal: "clerk-1",
        tool,
        arguments: args,
        session: None,
        context: None,
    };
    let d = s.decide(&req, &Facts::default(), 0);
    assert_eq!(
        d,
        s.decide_reference(&req, &Facts::default(), 0),
        "the reference path disagrees"
    );
    d
}

/// `decision approvals stage/code rule` of the settling reason (`-` when none), after checking
/// that no secret leaks into the decision.
fn check(s: &Snapshot, tool: &str, args: Value, expected: &str) {
    let d = decide(s, tool, &args);
    let text = serde_json::to_string(&d).unwrap();
    for secret in SECRETS {
        assert!(!text.contains(secret), "`{secret}` leaked: {text}");
    }
    let last = d.reasons.last().unwrap();
    let name = |v: Value| v.as_str().unwrap().to_owned();
    let got = format!(
        "{} {} {}/{} {}",
        name(serde_json::to_value(d.decision).unwrap()),
        d.approvals_required,
        name(serde_json::to_value(last.stage).unwrap()),
        name(serde_json::to_value(last.code).unwrap()),
        last.rule.as_deref().unwrap_or("-"),
    );
    assert_eq!(got, expected, "{tool} {args}: {d:#?}");
}

#[test]
fn arguments_are_denied_held_or_allowed_by_their_data_class() {
    let s = snapshot(MANIFEST_TEXT);
    // Clean arguments: the stage finds nothing.
    check(
        &s,
        "note",
        json!({ "text": "call me tomorrow" }),
        "allow 0 policy/permitted clerk-tools",
    );
    // `restricted` is denied, wherever it is: a string, a number, deep, or in a key.
    check(
        &s,
        "note",
        json!({ "text": format!("card {CARD}") }),
        "deny 0 data_governance/dlp_blocked dlp:payment-card",
    );
    check(
        &s,
        "note",
        json!({ "pay": { "cards": [4_111_111_111_111_111_u64] } }),
        "deny 0 data_governance/dlp_blocked dlp:payment-card",
    );
    check(
        &s,
        "note",
        json!({ "keys": { AWS: true } }),
        "deny 0 data_governance/dlp_blocked dlp:aws-access-key",
    );
    // `confidential` is held for one approval, though reads run alone.
    check(
        &s,
        "note",
        json!({ "text": format!("iban {IBAN}") }),
        "hold 1 data_governance/dlp_hold dlp:iban",
    );
    // `phi` is redacted in results; arguments are never rewritten, so it holds the call.
    check(
        &s,
        "note",
        json!({ "text": format!("ssn {SSN}") }),
        "hold 1 data_governance/dlp_hold dlp:ssn",
    );
    check(
        &s,
        "note",
        json!({ "text": MRN }),
        "hold 1 data_governance/dlp_hold dlp:mrn",
    );
    // `internal` is allowed, even to an external provider.
    check(
        &s,
        "send",
        json!({ "to": "ada@example.org" }),
        "allow 0 policy/permitted clerk-tools",
    );
    // Deny wins over hold.
    check(
        &s,
        "note",
        json!({ "a": IBAN, "b": SSN, "c": CARD }),
        "deny 0 data_governance/dlp_blocked dlp:payment-card",
    );
}

#[test]
fn phi_may_not_flow_to_an_external_provider() {
    let s = snapshot(MANIFEST_TEXT);
    check(
        &s,
        "send",
        json!({ "body": format!("patient {SSN}") }),
        "deny 0 data_governance/flow_forbidden flow:phi",
    );
    check(
        &s,
        "send",
        json!({ "body": format!("chart {MRN}") }),
        "deny 0 data_governance/flow_forbidden flow:phi",
    );
    // The same data to an internal provider is only held (its action).
    check(
        &s,
        "note",
        json!({ "body": format!("patient {SSN}") }),
        "hold 1 data_governance/dlp_hold dlp:ssn",
    );
    // A flow denies whatever the class's action: with no actions at all, phi still stays in.
    let no_actions = MANIFEST_TEXT.replace(
        "[dlp.actions]\nrestricted = \"deny\"\nphi = \"redact\"\nconfidential = \"hold\"\ninternal = \"allow\"\n",
        "",
    );
    assert_ne!(no_actions, MANIFEST_TEXT);
    let s = snapshot(&no_actions);
    check(
        &s,
        "send",
        json!({ "body": format!("patient {SSN}") }),
        "deny 0 data_governance/flow_forbidden flow:phi",
    );
    check(
        &s,
        "note",
        json!({ "body": format!("patient {SSN} {CARD}") }),
        "allow 0 policy/permitted clerk-tools",
    );
}

/// A hold for data joins the autonomy boundary's: the approvals are the larger of the two,
/// and both reasons are given; the hold's primary reason is the first of them.
#[test]
fn a_data_hold_adds_to_the_autonomy_boundary() {
    let s = snapshot(MANIFEST_TEXT);
    let d = decide(&s, "file", &json!({ "text": IBAN }));
    assert_eq!(d.approvals_required, 1);
    let codes: Vec<Code> = d.reasons.iter().map(|r| r.code).collect();
    assert_eq!(codes, [Code::Permitted, Code::ApprovalRequired, Code::DlpHold]);
    assert_eq!(d.primary_reason().unwrap().code, Code::ApprovalRequired);

    let d = decide(&s, "note", &json!({ "text": IBAN }));
    assert_eq!(d.primary_reason().unwrap().code, Code::DlpHold);
    assert_eq!(d.primary_reason().unwrap().stage, Stage::DataGovernance);
    assert_eq!(d.reviewer_pool.as_ref().map(|p| p.as_str()), Some("leads"));

    let stricter = MANIFEST_TEXT.replace(
        "[classes.clerk]\nceiling = \"irreversible\"\n",
        "[classes.clerk]\nceiling = \"irreversible\"\nautonomy.write = { approvals = 2, mfa = true }\n",
    );
    let d = decide(&snapshot(&stricter), "file", &json!({ "text": IBAN }));
    assert_eq!((d.approvals_required, d.mfa_required), (2, true));
}

/// The reasons name the detector, the class and where, and say how many more there are.
#[test]
fn reasons_name_detector_class_and_pointer_never_the_data() {
    let s = snapshot(MANIFEST_TEXT);
    let message = |tool: &str, args: Value| decide(&s, tool, &args).reasons.last().unwrap().message.clone();
    insta::assert_snapshot!(
        message("note", json!({ "pay": { "cards": [CARD, "x", CARD] } })),
        @"the arguments carry data classified `restricted` (found by `payment-card` at `/pay/cards/0` and 1 more finding(s)), which `[dlp.actions]` denies"
    );
    insta::assert_snapshot!(
        message("note", json!({ "keys": { AWS: true } })),
        @"the arguments carry data classified `restricted` (found by `aws-access-key` at `/keys/[REDACTED:aws-access-key]`), which `[dlp.actions]` denies"
    );
    insta::assert_snapshot!(
        message("note", json!({ "memo": IBAN })),
        @"the arguments carry data classified `confidential` (found by `iban` at `/memo`), which `[dlp.actions]` holds for a human's approval"
    );
    insta::assert_snapshot!(
        message("note", json!({ "memo": SSN })),
        @"the arguments carry data classified `phi` (found by `ssn` at `/memo`), which `[dlp.actions]` redacts; arguments are never rewritten, so a human approves the call"
    );
    insta::assert_snapshot!(
        message("send", json!({ "memo": MRN })),
        @"the arguments carry data classified `phi` (found by `mrn` at `/memo`), which `[dlp.flows]` keeps internal; tool `send` sends to provider `mailer`, whose destination is external"
    );
}

/// A bundle without actions or flows runs no scan: DLP in report-only mode changes no decision.
#[test]
fn without_actions_or_flows_nothing_changes() {
    let plain = MANIFEST_TEXT[..MANIFEST_TEXT.find("[dlp]").unwrap()].to_owned();
    let s = snapshot(&plain);
    check(
        &s,
        "send",
        json!({ "text": format!("{CARD} {SSN} {IBAN} {AWS} {MRN}") }),
        "allow 0 policy/permitted clerk-tools",
    );
}
