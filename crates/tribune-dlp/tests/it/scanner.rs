//! Building scanners: what is refused, and what a scanner shows of itself.

use tribune_dlp::{Builtin, DataClass, Detector, DlpError, Scanner};

fn class() -> DataClass {
    DataClass::new("phi")
}

#[test]
fn bad_patterns_are_refused_with_their_id() {
    let err = |id: &str, regex: &str| Detector::pattern(id, regex, class()).unwrap_err();
    assert!(matches!(err("mrn", "MRN[0-9"), DlpError::BadPattern { id, .. } if id == "mrn"));
    assert_eq!(err("any", "[0-9]*"), DlpError::EmptyMatch { id: "any".into() });
    assert_eq!(
        err("word", r"\bMRN[0-9]+"),
        DlpError::UnicodeWordBoundary { id: "word".into() }
    );
    assert_eq!(err("bad id", "x"), DlpError::BadId("bad id".into()));
    assert_eq!(
        err("mrn", "MRN[0-9").to_string().lines().count(),
        1,
        "messages stay on one line"
    );
}

#[test]
fn detector_ids_are_unique() {
    let ssn = Detector::builtin(Builtin::Ssn, class());
    let clash = Detector::pattern("ssn", "SSN[0-9]+", class()).unwrap();
    assert_eq!(
        Scanner::new(&[ssn, clash]).unwrap_err(),
        DlpError::DuplicateId("ssn".into())
    );
}

#[test]
fn builtin_ids_round_trip() {
    for b in Builtin::ALL {
        assert_eq!(Builtin::from_id(b.id()), Some(b));
        // Built-in patterns parse without a Unicode word boundary (the DFA never quits).
        assert!(
            Detector::pattern(b.id(), b.pattern(), class()).is_ok(),
            "{}",
            b.id()
        );
    }
    assert_eq!(Builtin::from_id("nope"), None);
}

#[test]
fn an_empty_scanner_finds_nothing() {
    let s = Scanner::new(&[]).unwrap();
    assert!(s.scan("536-22-1947").is_empty());
    assert!(Scanner::default().scan("536-22-1947").is_empty());
}

/// Earlier detectors win where two match at the same place; a declared pattern listed first
/// takes the text from a built-in.
#[test]
fn order_is_priority() {
    let mrn = Detector::pattern("mrn", "[0-9]{3}-[0-9]{2}-[0-9]{4}", class()).unwrap();
    let ssn = Detector::builtin(Builtin::Ssn, class());
    let first = Scanner::new(&[mrn.clone(), ssn.clone()]).unwrap();
    let second = Scanner::new(&[ssn, mrn]).unwrap();
    assert_eq!(first.scan("536-22-1947")[0].detector.as_str(), "mrn");
    assert_eq!(second.scan("536-22-1947")[0].detector.as_str(), "ssn");
    // A number the SSN rules refuse falls through to the pattern.
    assert_eq!(second.scan("666-22-1947")[0].detector.as_str(), "mrn");
}

/// Neither a finding nor a scanner shows scanned text in its Debug output.
#[test]
fn debug_output_never_holds_the_data() {
    let s = crate::scanner();
    let text = "card 4111 1111 1111 1111";
    let findings = s.scan(text);
    assert_eq!(findings.len(), 1);
    let debug = format!("{findings:?} {s:?}");
    assert!(!debug.contains("4111"), "{debug}");
}

/// Non-ASCII text around findings: spans stay on char boundaries.
#[test]
fn non_ascii_text() {
    let text = "Müller’s SSN — 536-22-1947 — naïve café ☕ ada@example.org";
    assert_eq!(
        crate::render(crate::scanner(), text),
        ["ssn 536-22-1947", "email ada@example.org"]
    );
}
