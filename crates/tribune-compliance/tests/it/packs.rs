//! Every mandate pack against its fixture: the fixture passes, and each case below breaks it
//! with a small edit and must fail exactly the listed requirements. Every static check of every
//! pack must be broken by some case, and every gap message is snapshotted.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use tribune_compliance::{Kind, Outcome, Status, assess};

use crate::{catalog, edit, fixture, invalid, load};

type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

/// Checks `pack`'s fixture and `cases`; returns every case's gaps as printed.
fn check(pack: &str, cases: &[Case<'_>]) -> String {
    let c = catalog();
    let spec = c.pack(pack).unwrap();
    let base = fixture(pack);

    let bundle = load(&base);
    assert!(bundle.findings.is_empty(), "{:?}", bundle.findings);
    let a = assess(c, &bundle);
    assert_eq!(a.mandates.len(), 1);
    for r in &a.mandates[0].requirements {
        let want = if r.requirement.needs_evidence() {
            Status::NotAssessed
        } else {
            Status::Met
        };
        assert_eq!(r.status, want, "{}: {:?}", r.requirement.id, r.gaps);
    }

    let mut broken: BTreeSet<(String, usize)> = BTreeSet::new();
    let mut out = String::new();
    for (edits, expected) in cases {
        let bundle = load(&edit(&base, edits));
        let a = assess(c, &bundle);
        let mandate = &a.mandates[0];
        let failed: Vec<&str> = mandate
            .requirements
            .iter()
            .filter(|r| r.status == Status::Gap)
            .map(|r| r.requirement.id.as_str())
            .collect();
        assert_eq!(failed, *expected, "edits: {edits:?}");
        for r in &mandate.requirements {
            for (i, check) in r.requirement.checks.iter().enumerate() {
                if matches!(check.assess(&bundle, &mandate.declared_at), Outcome::Gaps(_)) {
                    broken.insert((r.requirement.id.clone(), i));
                }
            }
        }
        writeln!(out, "# {edits:?}").unwrap();
        for d in a.gaps() {
            writeln!(out, "{d}").unwrap();
        }
    }
    for r in &spec.requirements {
        for (i, check) in r.checks.iter().enumerate() {
            if check.kind() == Kind::Static {
                assert!(
                    broken.contains(&(r.id.clone(), i)),
                    "no case breaks {} check {i}: {check:?}",
                    r.id
                );
            }
        }
    }
    out
}

const NO_MFA_FLOOR: (&str, &str) = (
    "[autonomy]\n",
    "[autonomy.floor]\nirreversible = { approvals = 2, mfa = false }\n\n[autonomy]\n",
);

#[test]
fn hipaa() {
    let out = check(
        "hipaa",
        &[
            // The motivating case: PHI access decisions rotated after seven days.
            (
                &[(
                    "classification = \"phi\"\nkeep_days = 2190",
                    "classification = \"phi\"\nkeep_days = 7",
                )],
                &["HIPAA-164.316(b)(2)(i)"],
            ),
            (
                &[(
                    "event = \"activation\"\nkeep_days = 2190",
                    "event = \"activation\"\nkeep_days = 30",
                )],
                &["HIPAA-164.316(b)(2)(i)"],
            ),
            // No level marks ePHI.
            (
                &[("\"phi\"", "\"restricted\"")],
                &["HIPAA-164.312(b)", "HIPAA-164.316(b)(2)(i)"],
            ),
            (
                &[("roles = [\"auditor\"]", "roles = [\"privacy-officer\"]")],
                &["HIPAA-164.312(b)", "HIPAA-164.308(a)(1)(ii)(D)"],
            ),
            (
                &[(
                    "credential_ttl_secs = 900",
                    "credential_ttl_secs = 900\nmax_credential_ttl_secs = 7200",
                )],
                &["HIPAA-164.312(d)"],
            ),
            (&[NO_MFA_FLOOR], &["HIPAA-164.312(d)"]),
            (
                &[("activity_review_days = 7", "activity_review_days = 60")],
                &["HIPAA-164.308(a)(1)(ii)(D)"],
            ),
            (
                &[("activity_review_days = 7\n", "")],
                &["HIPAA-164.308(a)(1)(ii)(D)"],
            ),
            (
                &[(
                    "[[retention.rules]]\nevent = \"approval\"",
                    "[[retention.rules]]\nevent = \"audit_read\"\nkeep_days = 3\n\n[[retention.rules]]\nevent = \"approval\"",
                )],
                &["HIPAA-164.308(a)(1)(ii)(D)"],
            ),
        ],
    );
    insta::assert_snapshot!(out);
}

#[test]
fn eu_ai_act() {
    let out = check(
        "eu-ai-act",
        &[
            (&[("name = \"Dana Reyes\"\n", "")], &["EU-AIA-Art.12"]),
            // The agent's owner is no approver, but the records of ownership must name a person too.
            (&[("name = \"Mira Novak\"\n", "")], &["EU-AIA-Art.12"]),
            (
                &[(
                    "[autonomy]\n",
                    "[autonomy.floor]\nirreversible = { approvals = 0, mfa = false }\n\n[autonomy]\n",
                )],
                &["EU-AIA-Art.14(4)(d)", "EU-AIA-Art.14(5)"],
            ),
            (
                &[("default_reviewer_pool = \"recruiters\"\n", "")],
                &["EU-AIA-Art.14(4)(d)"],
            ),
            (
                &[(
                    "email = \"lukas@example.eu\"\nroles = [\"recruiter\"]\nstop_authority = true",
                    "email = \"lukas@example.eu\"\nroles = [\"recruiter\"]",
                )],
                &["EU-AIA-Art.14(4)(e)"],
            ),
            (
                &[(
                    "two_person_tiers = [\"irreversible\"]",
                    "two_person_tiers = [\"irreversible\", \"write\"]",
                )],
                &["EU-AIA-Art.14(5)"],
            ),
            (
                &[("members = [\"dana\", \"mira\"]", "members = [\"mira\"]")],
                &["EU-AIA-Art.14(4)(d)", "EU-AIA-Art.14(5)"],
            ),
            (&[("[hitl]\nreviewer_capacity = 10\n", "")], &["EU-AIA-Art.14(1)"]),
            (
                &[("keep_days = 365", "keep_days = 100")],
                &["EU-AIA-Art.19(1)", "EU-AIA-Art.26(6)"],
            ),
            (&[("keep_days = 184", "keep_days = 30")], &["EU-AIA-Art.26(6)"]),
        ],
    );
    insta::assert_snapshot!(out);
}

#[test]
fn fedramp_moderate() {
    let out = check(
        "fedramp-moderate",
        &[
            (
                &[(
                    "event = \"audit_read\"\nkeep_days = 365",
                    "event = \"audit_read\"\nkeep_days = 30",
                )],
                &["AU-9", "AU-11"],
            ),
            (
                &[("roles = [\"auditor\"]", "roles = [\"auditor\", \"admin\"]")],
                &["AU-9"],
            ),
            (&[NO_MFA_FLOOR], &["AU-10"]),
            (&[("name = \"June Liu\"\n", "")], &["AU-10"]),
            (
                &[(
                    "event = \"decision\"\nkeep_days = 365",
                    "event = \"decision\"\nkeep_days = 30",
                )],
                &["AU-11"],
            ),
            (&[("review_days = 90\n", "")], &["AC-2"]),
            (
                &[(
                    "quota = { calls_per_minute = 60 }",
                    "quota = { calls_per_minute = 60 }\nlifecycle = { review_days = 400 }",
                )],
                &["AC-2"],
            ),
            (&[("stale_days = 30", "stale_days = 365")], &["AC-2"]),
            (&[("require_credentials = true\n", "")], &["IA-5"]),
            (
                &[(
                    "credential_ttl_secs = 900",
                    "credential_ttl_secs = 900\nmax_credential_ttl_secs = 14400",
                )],
                &["IA-5"],
            ),
            (&[("rotation_days = 90", "rotation_days = 360")], &["IA-5"]),
        ],
    );
    insta::assert_snapshot!(out);
}

#[test]
fn soc2() {
    let out = check(
        "soc2",
        &[
            (&[("require_credentials = true\n", "")], &["SOC2-CC6.1"]),
            (&[NO_MFA_FLOOR], &["SOC2-CC6.1"]),
            (&[("require_approval = true\n", "")], &["SOC2-CC6.2"]),
            (&[("email = \"carol@saas.example.com\"\n", "")], &["SOC2-CC6.2"]),
            (
                &[("[identities]\n", "[dlp]\ndetectors = []\n\n[identities]\n")],
                &["SOC2-CC7.2"],
            ),
            (
                &[("activity_review_days = 30", "activity_review_days = 90")],
                &["SOC2-CC7.2"],
            ),
            (
                &[("roles = [\"admin\"]", "roles = [\"reviewer\"]")],
                &["SOC2-CC8.1"],
            ),
            (&[("keep_days = 400", "keep_days = 90")], &["SOC2-CC8.1"]),
        ],
    );
    insta::assert_snapshot!(out);
}

#[test]
fn nist_ai_rmf() {
    let out = check(
        "nist-ai-rmf",
        &[
            (
                &[("activity_review_days = 90", "activity_review_days = 120")],
                &["AI-RMF-GOVERN-1.5"],
            ),
            (
                &[("roles = [\"auditor\"]", "roles = [\"researcher\"]")],
                &["AI-RMF-GOVERN-1.5"],
            ),
            (
                &[("description = \"Nightly re-indexing job.\"\n", "")],
                &["AI-RMF-GOVERN-1.6"],
            ),
            (
                &[("description = \"Search the catalogue.\"\n", "")],
                &["AI-RMF-GOVERN-1.6"],
            ),
            (&[("[redteam]\ncadence_days = 30\n", "")], &["AI-RMF-MEASURE-2.7"]),
            (
                &[("cadence_days = 30", "cadence_days = 120")],
                &["AI-RMF-MEASURE-2.7"],
            ),
        ],
    );
    insta::assert_snapshot!(out);
}

/// A requirement that only runtime evidence can show is reported as not assessed, never met.
#[test]
fn evidence_only_requirements_are_not_assessed_by_a_static_run() {
    let bundle = load(&fixture("fedramp-moderate"));
    let a = assess(catalog(), &bundle);
    let r = a.mandates[0]
        .requirements
        .iter()
        .find(|r| r.requirement.id == "AU-9(3)")
        .unwrap();
    assert_eq!(r.status, Status::NotAssessed);
    assert_eq!(
        r.needs_evidence,
        ["the ledger verifies against its signed checkpoints (`tribune audit verify`)"]
    );
}

/// Mandate ids are only parsed by the bundle crate; the compliance crate resolves them, and
/// an unknown one is a located error.
#[test]
fn unknown_mandates_are_located_errors() {
    let text = edit(
        &fixture("hipaa"),
        &[("mandates = [\"hipaa\"]", "mandates = [\"hipaa\", \"hipa\"]")],
    );
    let a = assess(catalog(), &load(&text));
    let d: Vec<String> = a.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        d,
        [
            "tribune.toml:62:22: error[unknown-value]: `[compliance] mandates` names `hipa`, which is not a mandate pack Tribune ships (one of hipaa, eu-ai-act, fedramp-moderate, soc2, nist-ai-rmf)"
        ]
    );
    assert_eq!(a.mandates.len(), 1);
}

#[test]
fn the_compliance_table_is_checked_where_it_is_written() {
    let base = "[deployment]\nname = \"t\"\n\n[compliance]\n";
    assert_eq!(
        invalid(&format!(
            "{base}mandates = [\"hipaa\", \"hipaa\"]\nactivity_review_days = 0\n"
        )),
        [
            "tribune.toml:5:22: error[duplicate-id]: `[compliance] mandates` lists `hipaa` twice",
            "tribune.toml:6:24: error[bad-value]: `[compliance] activity_review_days` must be between 1 and 366, not 0",
        ]
    );
    assert_eq!(
        invalid(&format!("{base}two_person_tiers = [\"delete\"]\n")),
        [
            "tribune.toml:5:21: error[unknown-value]: unknown variant `delete`, expected one of `read`, `write`, `irreversible`"
        ]
    );
    assert_eq!(
        invalid(&format!("{base}mandate = [\"hipaa\"]\n")),
        [
            "tribune.toml:5:1: error[unknown-key]: unknown field `mandate`, expected one of `mandates`, `activity_review_days`, `two_person_tiers`"
        ]
    );
    assert_eq!(
        invalid(&format!("{base}mandates = [\"hip aa\"]\n")),
        [
            "tribune.toml:5:13: error[bad-id]: id `hip aa` may only contain letters, digits, `_`, `.` and `-`, and must start with a letter or digit"
        ]
    );
}
