//! The policy step: findings to the strongest action by class, and what a result redacts.

use serde_json::json;
use tribune_dlp::{Action, DataClass, Detector, Direction, Finding, Policy, Release, Scanner, redact};

fn finding(detector: &str, class: &str) -> Finding {
    let d = Detector::pattern(detector, "x+", DataClass::new(class)).unwrap();
    Finding {
        detector: d.id().clone(),
        class: d.class().clone(),
        span: 0..1,
    }
}

fn policy() -> Policy {
    Policy::new([
        (DataClass::new("public"), Action::Allow),
        (DataClass::new("confidential"), Action::Redact),
        (DataClass::new("phi"), Action::Hold),
        (DataClass::new("restricted"), Action::Deny),
    ])
}

#[test]
fn the_strongest_action_wins() {
    let p = policy();
    let check = |classes: &[&str], direction, expected| {
        let findings: Vec<Finding> = classes.iter().map(|c| finding("d", c)).collect();
        assert_eq!(p.verdict(direction, &findings).action, expected, "{classes:?}");
    };
    check(&[], Direction::Result, Action::Allow);
    check(&["public"], Direction::Result, Action::Allow);
    check(&["public", "confidential"], Direction::Result, Action::Redact);
    check(
        &["confidential", "phi", "public"],
        Direction::Result,
        Action::Hold,
    );
    check(
        &["phi", "restricted", "confidential"],
        Direction::Result,
        Action::Deny,
    );
    // Classes without a declared action are allowed (reported only).
    check(&["internal"], Direction::Result, Action::Allow);
    // Arguments are never rewritten: redact becomes hold.
    check(&["confidential"], Direction::Arguments, Action::Hold);
    check(&["public", "confidential"], Direction::Arguments, Action::Hold);
}

#[test]
fn verdicts_explain_themselves_by_class() {
    let findings = [
        finding("ssn", "phi"),
        finding("mrn", "phi"),
        finding("ssn", "phi"),
        finding("email", "confidential"),
    ];
    insta::assert_json_snapshot!(policy().verdict(Direction::Result, &findings), @r#"
    {
      "action": "hold",
      "classes": [
        {
          "class": "confidential",
          "action": "redact",
          "detectors": [
            "email"
          ],
          "findings": 1
        },
        {
          "class": "phi",
          "action": "hold",
          "detectors": [
            "mrn",
            "ssn"
          ],
          "findings": 3
        }
      ]
    }
    "#);
}

/// A result with redact-class and allow-class findings: only the redact class is replaced.
#[test]
fn results_redact_only_the_redact_classes() {
    let detectors = [
        Detector::builtin(tribune_dlp::Builtin::Email, DataClass::new("public")),
        Detector::builtin(tribune_dlp::Builtin::Ssn, DataClass::new("confidential")),
    ];
    let scanner = Scanner::new(&detectors).unwrap();
    let result = json!({ "text": "ada@example.org has SSN 536-22-1947" });
    let findings = scanner.scan_value(&result);
    let p = policy();
    let verdict = p.verdict(Direction::Result, findings.iter().map(|f| &f.finding));
    assert_eq!(verdict.action, Action::Redact);
    assert_eq!(
        redact(result, &p.redactions(&findings)),
        json!({ "text": "ada@example.org has SSN [REDACTED:ssn]" })
    );
}

#[test]
fn actions_parse_from_their_bundle_names() {
    for a in [Action::Allow, Action::Redact, Action::Hold, Action::Deny] {
        let parsed: Action = serde_json::from_value(json!(a.as_str())).unwrap();
        assert_eq!(parsed, a);
    }
    assert!(serde_json::from_value::<Action>(json!("block")).is_err());
    assert!(Action::Allow < Action::Redact && Action::Redact < Action::Hold && Action::Hold < Action::Deny);
}

/// Screening a tool result as MCP returns it: each verdict's release, what the agent is given,
/// and findings that name detector, class and pointer but never the data.
#[test]
fn screening_a_result_releases_passes_redacts_or_withholds() {
    let detectors = [
        Detector::builtin(tribune_dlp::Builtin::Email, DataClass::new("public")),
        Detector::builtin(tribune_dlp::Builtin::Ssn, DataClass::new("confidential")),
        Detector::builtin(tribune_dlp::Builtin::AwsAccessKey, DataClass::new("restricted")),
        Detector::builtin(tribune_dlp::Builtin::Iban, DataClass::new("phi")),
    ];
    let scanner = Scanner::new(&detectors).unwrap();
    let p = policy();
    let mcp = |text: &str| json!({ "content": [{ "type": "text", "text": text }], "isError": false });
    let check = |text: &str, release: Release, given: Option<serde_json::Value>| {
        let s = p.screen(&scanner, mcp(text));
        assert_eq!((s.release, s.result), (release, given), "{text}");
    };
    check("nothing here", Release::Pass, Some(mcp("nothing here")));
    // An allowed class is reported, and passes.
    check(
        "write to ada@example.org",
        Release::Pass,
        Some(mcp("write to ada@example.org")),
    );
    check(
        "ada@example.org has SSN 536-22-1947",
        Release::Redacted,
        Some(mcp("ada@example.org has SSN [REDACTED:ssn]")),
    );
    // Deny, and hold: a result is never held for later, so it is withheld.
    check(
        "key AKIAIOSFODNN7EXAMPLE and SSN 536-22-1947",
        Release::Withheld,
        None,
    );
    check("pay GB82 WEST 1234 5698 7654 32", Release::Withheld, None);

    let s = p.screen(&scanner, mcp("ada@example.org, SSN 536-22-1947"));
    let located = serde_json::to_value(s.located(10)).unwrap();
    assert_eq!(
        located,
        json!([
            { "detector": "email", "class": "public", "pointer": "/content/0/text" },
            { "detector": "ssn", "class": "confidential", "pointer": "/content/0/text" },
        ])
    );
    assert_eq!(s.located(1).len(), 1);
    assert!(!located.to_string().contains("536-22"));

    assert!(Policy::default().releases_unscreened());
    assert!(!p.releases_unscreened());
    assert!(Policy::new([(DataClass::new("public"), Action::Allow)]).releases_unscreened());
    assert_eq!(
        [Release::Pass, Release::Redacted, Release::Withheld].map(Release::as_str),
        ["pass", "redacted", "withheld"]
    );
}
