//! The `[dlp]` section: defaults, a full declaration, the example bundle, and bad declarations
//! as snapshots of their located diagnostics. Every diagnostic is rendered with the line it
//! points at and a caret under its column, so a wrong location shows in the snapshot.

use std::path::Path;

use tribune_bundle::{Bundle, Destination, Diagnostic};
use tribune_dlp::{Action, DataClass, Direction};

/// A valid manifest the cases start from. Line numbers in the snapshots count from here.
const BASE: &str = r#"[deployment]
name = "example.com/dlp"

[data]
classifications = ["public", "internal", "confidential", "phi"]
default = "internal"
"#;

fn parse(manifest: &str) -> Result<Bundle, Vec<Diagnostic>> {
    crate::parse_manifest(manifest)
}

/// Parses `BASE` followed by `dlp` and renders what was reported (or the detectors and
/// actions of a valid bundle).
fn check(dlp: &str) -> String {
    let manifest = format!("{BASE}\n{dlp}");
    match parse(&manifest) {
        Ok(bundle) => {
            let mut out = "ok:\n".to_owned();
            for d in &bundle.dlp.detectors {
                out.push_str(&format!("  detector {} -> {}\n", d.id(), d.class()));
            }
            for (class, action) in bundle.dlp.policy.actions() {
                out.push_str(&format!("  action {class} = {}\n", action.as_str()));
            }
            for (class, destination) in &bundle.dlp.flows {
                out.push_str(&format!("  flow {class} -> {}\n", destination.as_str()));
            }
            for d in &bundle.findings {
                out.push_str(&crate::render(d, &manifest));
            }
            out
        }
        Err(diagnostics) => crate::render_errors(&diagnostics, &manifest),
    }
}

/// Without `[dlp]`: every built-in, reporting the top of the scale; no actions (allow).
#[test]
fn defaults() {
    insta::assert_snapshot!(check(""));
}

#[test]
fn a_full_declaration() {
    insta::assert_snapshot!(check(
        r#"[dlp]
detectors = ["phone", "ssn", "email", "private-key"]
classifications = { email = "confidential", phone = "confidential" }
actions = { phi = "redact", confidential = "hold", public = "allow" }

[[dlp.patterns]]
id = "mrn"
regex = '(?-u:\b)MRN[:# ]*[0-9]{7,10}(?-u:\b)'
classification = "phi"
description = "medical record numbers"
"#
    ));
}

/// Every error a `[dlp]` table can hold past the TOML types, reported together.
#[test]
fn bad_references_and_patterns() {
    insta::assert_snapshot!(check(
        r#"[dlp]
detectors = ["ssn", "passport", "ssn"]
classifications = { email = "secret", mrn = "phi" }
actions = { restricted = "deny" }

[[dlp.patterns]]
id = "mrn"
regex = 'MRN[0-9'
classification = "phi"

[[dlp.patterns]]
id = "chart"
regex = 'CH-[0-9]+'
classification = "medical"

[[dlp.patterns]]
id = "ssn"
regex = 'SSN [0-9]+'
classification = "phi"

[[dlp.patterns]]
id = "any"
regex = '[0-9]*'
classification = "phi"

[[dlp.patterns]]
id = "ward"
regex = '\bWARD-[0-9]+'
classification = "phi"

[[dlp.patterns]]
id = "ward"
regex = 'WARD [0-9]+'
classification = "phi"

[[dlp.patterns]]
id = "-bad"
regex = 'X[0-9]+'
classification = "phi"
"#
    ));
}

#[test]
fn unknown_action() {
    insta::assert_snapshot!(check("[dlp]\nactions = { phi = \"block\" }\n"));
}

#[test]
fn unknown_key() {
    insta::assert_snapshot!(check("[dlp]\nenabled = true\n"));
}

#[test]
fn pattern_without_regex() {
    insta::assert_snapshot!(check(
        "[[dlp.patterns]]\nid = \"mrn\"\nclassification = \"phi\"\n"
    ));
}

#[test]
fn pattern_with_unknown_key() {
    insta::assert_snapshot!(check(
        "[[dlp.patterns]]\nid = \"mrn\"\nregex = 'MRN[0-9]+'\nclassification = \"phi\"\nclass = \"phi\"\n"
    ));
}

/// `detectors = []` turns every built-in off; declared patterns still run.
#[test]
fn no_builtins() {
    let out = check(
        "[dlp]\ndetectors = []\n\n[[dlp.patterns]]\nid = \"mrn\"\nregex = 'MRN[0-9]+'\nclassification = \"phi\"\n",
    );
    assert_eq!(out, "ok:\n  detector mrn -> phi\n");
}

/// The clinical example declares medical record numbers as PHI: results have them redacted,
/// arguments carrying them are held, and credentials are denied either way.
#[test]
fn the_clinical_example_redacts_medical_record_numbers() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/clinical-hipaa");
    let bundle = tribune_bundle::load_dir(&dir).unwrap();
    let dlp = &bundle.dlp;
    let result = serde_json::json!({ "chart": "MRN: 00482913, seen 2024-03-15, call 415-555-2671" });
    let findings = dlp.scanner.scan_value(&result);
    let found: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f.finding.detector.as_str(), f.finding.class.as_str()))
        .collect();
    assert_eq!(found, [("mrn", "phi"), ("phone", "phi")]);
    let on = |direction| {
        dlp.policy
            .verdict(direction, findings.iter().map(|f| &f.finding))
            .action
    };
    assert_eq!(on(Direction::Result), Action::Redact);
    assert_eq!(on(Direction::Arguments), Action::Hold);
    assert_eq!(
        tribune_dlp::redact(result, &dlp.policy.redactions(&findings)),
        serde_json::json!({ "chart": "[REDACTED:mrn], seen 2024-03-15, call [REDACTED:phone]" })
    );
    let key = dlp.scanner.scan("AKIAIOSFODNN7EXAMPLE");
    assert_eq!(key[0].class, DataClass::new("confidential"));
    assert_eq!(dlp.policy.verdict(Direction::Result, &key).action, Action::Deny);
    assert_eq!(bundle.dlp.patterns[0].location.to_string(), "tribune.toml:131:1");
}

/// `[dlp.flows]`: the farthest each class may go. A class kept internal may not reach an
/// external provider; one mapped to `external` (or not listed) may go anywhere.
#[test]
fn flows() {
    let out = check(
        "[dlp]\ndetectors = [\"ssn\", \"email\"]\nclassifications = { email = \"confidential\" }\n\n[dlp.flows]\nphi = \"internal\"\nconfidential = \"external\"\n",
    );
    assert_eq!(
        out,
        "ok:\n  detector ssn -> phi\n  detector email -> confidential\n  flow confidential -> external\n  flow phi -> internal\n"
    );
    let bundle = parse(&format!("{BASE}\n[dlp.flows]\nphi = \"internal\"\n")).unwrap();
    let (phi, public) = (DataClass::new("phi"), DataClass::new("public"));
    assert!(!bundle.dlp.may_flow(&phi, Destination::External));
    assert!(bundle.dlp.may_flow(&phi, Destination::Internal));
    assert!(bundle.dlp.may_flow(&public, Destination::External));
    assert!(bundle.dlp.restricts_flows_to(Destination::External));
    assert!(!bundle.dlp.restricts_flows_to(Destination::Internal));
    let open = parse(BASE).unwrap();
    assert!(!open.dlp.restricts_flows_to(Destination::External));
}

/// A flow on a level that is not on the scale is an error; one on a class no detector reports
/// is reported, since it never applies.
#[test]
fn flows_on_unknown_or_unreported_classes() {
    insta::assert_snapshot!(check(
        "[dlp]\ndetectors = [\"ssn\"]\n\n[dlp.flows]\nsecret = \"internal\"\n"
    ));
    insta::assert_snapshot!(check(
        "[dlp]\ndetectors = [\"ssn\"]\nclassifications = { ssn = \"confidential\" }\n\n[dlp.flows]\nphi = \"internal\"\n"
    ));
}

#[test]
fn flows_to_an_unknown_destination() {
    insta::assert_snapshot!(check("[dlp.flows]\nphi = \"offsite\"\n"));
}
