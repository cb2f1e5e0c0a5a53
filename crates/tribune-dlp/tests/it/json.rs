//! Findings in JSON documents, located by pointer, and their redaction, as snapshots.

use serde_json::json;
use tribune_dlp::{Target, redact};

use crate::scanner;

/// A tool result the way an EHR or CRM tool might return it.
fn document() -> serde_json::Value {
    json!({
        "patient": {
            "name": "Ada Example",
            "mrn": "MRN: 00482913",
            "ssn": "536-22-1947",
            "contacts": ["ada@example.org", "+44 20 7946 0958", "no phone"],
        },
        "billing": { "card": 4111111111111111u64, "iban": "GB82 WEST 1234 5698 7654 32" },
        "notes/today": "Visit on 2024-03-15; key AKIAIOSFODNN7EXAMPLE was pasted by mistake ~ see 536-22-1947",
        "536-22-1947": "an SSN used as a key",
    })
}

#[test]
fn findings_are_located_by_pointer() {
    let mut findings = scanner().scan_value(&document());
    // Objects are walked in map order, which serde_json's `preserve_order` feature (enabled
    // by other crates in a workspace build) changes; the snapshot must not depend on it.
    findings.sort_by(|a, b| (&a.pointer, a.finding.span.start).cmp(&(&b.pointer, b.finding.span.start)));
    insta::assert_json_snapshot!(findings);
}

#[test]
fn redaction_replaces_every_finding() {
    let doc = document();
    let findings = scanner().scan_value(&doc);
    let redacted = redact(doc, &findings);
    insta::with_settings!({ sort_maps => true }, {
        insta::assert_json_snapshot!(redacted);
    });
    assert!(scanner().scan_value(&redacted).is_empty());
}

#[test]
fn keys_are_scanned_and_pointers_never_show_them() {
    let findings = scanner().scan_value(&json!({ "536-22-1947": { "note": "536-22-1947" } }));
    let shown: Vec<(&str, Target)> = findings.iter().map(|f| (f.pointer.as_str(), f.target)).collect();
    assert_eq!(
        shown,
        [
            ("/[REDACTED:ssn]", Target::Key),
            ("/[REDACTED:ssn]/note", Target::Value)
        ]
    );
    let debug = format!("{findings:?}");
    assert!(!debug.contains("536-22-1947"), "{debug}");
}

/// Two keys that redact to the same marker keep both members.
#[test]
fn redacted_keys_do_not_collide() {
    let doc = json!({ "536-22-1947": 1, "772-10-0042": 2 });
    let findings = scanner().scan_value(&doc);
    let redacted = redact(doc, &findings);
    assert_eq!(redacted, json!({ "[REDACTED:ssn]": 1, "[REDACTED:ssn]#2": 2 }));
}

/// Findings made from another document redact nothing they do not fit, and a span that does
/// not fit the string at its pointer redacts the whole string.
#[test]
fn stale_findings_fail_closed() {
    let findings = scanner().scan_value(&json!({ "a": "x 536-22-1947", "b": "536-22-1947" }));
    let other = json!({ "a": "short", "c": "536-22-1947" });
    assert_eq!(
        redact(other, &findings),
        json!({ "a": "[REDACTED:ssn]", "c": "536-22-1947" })
    );
}

#[test]
fn text_redaction() {
    let text = "SSN 536-22-1947, card 4111-1111-1111-1111, mail ada@example.org.";
    let findings = scanner().scan(text);
    insta::assert_snapshot!(
        tribune_dlp::redact_str(text, &findings),
        @"SSN [REDACTED:ssn], card [REDACTED:payment-card], mail [REDACTED:email]."
    );
}
