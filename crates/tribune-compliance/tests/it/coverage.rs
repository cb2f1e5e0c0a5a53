//! MAESTRO / OWASP agentic-threat coverage of a bundle.

use tribune_compliance::{Coverage, assess};

use crate::{catalog, edit, fixture, load};

/// (threat, status) for every threat of `text`'s bundle.
fn statuses(text: &str) -> Vec<(&'static str, Coverage)> {
    assess(catalog(), &load(text))
        .coverage
        .iter()
        .map(|t| (t.id, t.status))
        .collect()
}

fn status_of(text: &str, threat: &str) -> (Coverage, Vec<String>) {
    let a = assess(catalog(), &load(text));
    let t = a.coverage.into_iter().find(|t| t.id == threat).unwrap();
    (t.status, t.reasons)
}

#[test]
fn the_quickstart_coverage() {
    let text = fixture("quickstart");
    let table: String = assess(catalog(), &load(&text))
        .coverage
        .iter()
        .map(|t| {
            format!(
                "{:<4} {:<8} {:<9} {}\n  {}\n",
                t.id,
                t.status.as_str(),
                t.layers.join(","),
                t.name,
                t.reasons.join("\n  ")
            )
        })
        .collect();
    insta::assert_snapshot!(table);
}

/// Out-of-scope threats are open with the reason, whatever the bundle declares.
#[test]
fn threats_tribune_does_not_see_are_open() {
    for example in ["quickstart", "clinical-hipaa", "fedramp-moderate"] {
        let s = statuses(&fixture(example));
        assert!(
            s.contains(&("T1", Coverage::Open)) && s.contains(&("T15", Coverage::Open)),
            "{example}"
        );
    }
    let (_, reasons) = status_of(&fixture("quickstart"), "T1");
    assert!(reasons[0].starts_with("out of scope: Tribune never sees an agent's memory"));
}

#[test]
fn t10_needs_declared_reviewer_capacity_and_reviewable_tools() {
    let base = fixture("quickstart");
    let (status, reasons) = status_of(&base, "T10");
    assert_eq!(status, Coverage::Partly);
    assert_eq!(
        reasons,
        [
            "reviewer capacity is declared: `[hitl] reviewer_capacity` is not declared: held calls are capped by the default (25 pending per reviewer), not by what this deployment's reviewers can carry"
        ]
    );
    let declared = format!("{base}\n[hitl]\nreviewer_capacity = 5\n");
    assert_eq!(status_of(&declared, "T10").0, Coverage::Covered);
    let no_pool = edit(&base, &[("default_reviewer_pool = \"support-leads\"\n", "")]);
    let (status, reasons) = status_of(&no_pool, "T10");
    assert_eq!(status, Coverage::Open);
    assert_eq!(reasons.len(), 2);
    assert!(reasons[1].contains("(and 1 more)"), "{reasons:?}");
}

#[test]
fn t8_is_partly_covered_when_decisions_are_deleted_early() {
    let base = fixture("quickstart");
    // No retention rule: everything is kept, and everyone who acts is named.
    assert_eq!(status_of(&base, "T8").0, Coverage::Covered);
    let short = format!("{base}\n[[retention.rules]]\nevent = \"decision\"\nkeep_days = 30\n");
    let (status, reasons) = status_of(&short, "T8");
    assert_eq!(status, Coverage::Partly);
    assert_eq!(
        reasons,
        [
            "decisions, outcomes and approvals are kept at least 90 days: `decision` events are kept only 30 days; at least 90 days are required"
        ]
    );
}

/// A threat Tribune reaches only partly is never reported covered, and says why.
#[test]
fn partial_reach_is_never_covered() {
    let text = fixture("fedramp-moderate");
    let a = assess(catalog(), &load(&text));
    let t4 = a.coverage.iter().find(|t| t.id == "T4").unwrap();
    assert!(t4.controls.iter().all(|c| c.in_place));
    assert_eq!(t4.status, Coverage::Partly);
    assert_eq!(
        t4.reasons,
        [
            "beyond Tribune: quotas bound calls per minute per agent; Tribune does not meter tokens, compute or spend"
        ]
    );
}
