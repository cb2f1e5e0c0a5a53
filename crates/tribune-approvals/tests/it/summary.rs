//! The one-line summaries reviewers see, and the error messages people read.

use serde_json::json;
use tribune_approvals::{Error, MfaEvidence, summary, summary_redacted};
use tribune_bundle::Tier;

use crate::{REQUESTER, T0, human, new_request, open};

#[test]
fn a_summary_says_what_who_why_and_what_it_touches() {
    let req = open(new_request(Tier::Irreversible, 2, true, Some(REQUESTER)));
    assert_eq!(
        summary(&req),
        "issue_refund [irreversible, confidential] by agent:support-bot (owner olga, triggered by rita); \
         held: irreversible calls need 2 approval(s); touches: amount=120.5, order_id=\"O-9\""
    );
    assert_eq!(
        summary_redacted(&req),
        "issue_refund [irreversible, confidential] by agent:support-bot (owner olga, triggered by rita); \
         held: irreversible calls need 2 approval(s); touches: amount, order_id"
    );
}

#[test]
fn untrusted_arguments_are_escaped_and_truncated() {
    let mut new = new_request(Tier::Write, 1, false, None);
    new.classification = None;
    new.arguments = json!({
        "to": "ops@example.com\u{1b}]8;;http://evil\u{7}click\u{1b}]8;;\u{7}",
        "body": "x".repeat(100),
        "name": "invoice\u{202e}fdp.exe",
        "items": [1, 2, 3],
        "meta": {"a": 1},
        "dry_run": false,
        "count": 3,
        "z_extra": null,
    });
    let line = summary(&open(new));
    assert_eq!(
        line,
        "update_ticket [write] by agent:support-bot (owner olga); held: write calls need 1 approval(s); \
         touches: body=\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…\", count=3, dry_run=false, items=[3 items], \
         meta={1 keys}, name=\"invoice\\u{202e}fdp.exe\", (+2 more)"
    );
    assert!(!line.chars().any(|c| c.is_control()));
}

#[test]
fn arguments_that_are_not_an_object_still_summarise() {
    let mut new = new_request(Tier::Write, 1, false, None);
    new.arguments = json!("just a string");
    assert!(summary(&open(new.clone())).ends_with("touches: (arguments) \"just a string\""));
    new.arguments = json!({});
    assert!(summary(&open(new)).ends_with("touches: nothing"));
}

#[test]
fn error_messages_are_lowercase_with_input_in_backticks() {
    let mut req = open(new_request(Tier::Irreversible, 2, true, None));
    let errors = [
        req.approve(&human("mallory"), None, MfaEvidence::None, T0 + 1)
            .unwrap_err(),
        req.approve(&human("alice"), None, MfaEvidence::None, T0 + 1)
            .unwrap_err(),
        req.approve(&human("alice"), None, MfaEvidence::None, T0 + 900_000)
            .unwrap_err(),
        req.approve(&human("alice"), None, MfaEvidence::None, T0 + 900_001)
            .unwrap_err(),
        Error::Unsatisfiable {
            pool: "p".parse().unwrap(),
            required: 1,
            eligible: 1,
            needs_non_owner: true,
        },
        tribune_approvals::HumanId::parse("a b").unwrap_err(),
    ];
    let text: Vec<String> = errors.iter().map(|e| format!("{}: {e}", e.code())).collect();
    insta::assert_snapshot!(text.join("\n"), @r"
    not_in_pool: `mallory` is not a member of reviewer pool `support-reviewers`
    mfa_required: approval request `req-1` needs a fresh mfa code from `alice`
    expired: approval request `req-1` expired at 1795688100000
    not_pending: approval request `req-1` is expired, not pending
    unsatisfiable: reviewer pool `p` can never approve this call: it needs 1 distinct approver(s) including one who is not the agent's owner but has 1 eligible member(s)
    invalid_id: invalid human id `a b`: id `a b` may only contain letters, digits, `_`, `.` and `-`, and must start with a letter or digit
    ");
}
