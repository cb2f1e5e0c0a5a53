//! The evidence checks assessed from runtime evidence: the ledger verified against its signed
//! checkpoints (`ledger_verifies`) and identities within their review terms
//! (`identities_reviewed`). Missing or failing evidence is never met.
#![allow(clippy::needless_update)]

use tribune_compliance::{
    CheckpointEvidence, Evidence, IdentityEvidence, IdentityReview, LedgerEvidence, LedgerVerification,
    RequirementResult, Status, VerifiedLedger,
};

use crate::{catalog, edit, fixture, load};

const DAY_MS: i64 = 86_400_000;
const NOW: i64 = 1_768_478_400_000; // 2026-01-15T12:00:00Z
const SERVER: &str = "http://127.0.0.1:7070";

fn requirement(text: &str, evidence: &Evidence, id: &str) -> RequirementResult {
    let bundle = load(text);
    let a = tribune_compliance::assess_with(catalog(), &bundle, evidence);
    a.mandates
        .iter()
        .flat_map(|m| &m.requirements)
        .find(|r| r.requirement.id == id)
        .unwrap_or_else(|| panic!("no `{id}`"))
        .clone()
}

fn ledger(verification: LedgerVerification) -> Evidence {
    ledger_with(verification, true)
}

fn ledger_with(verification: LedgerVerification, key_pinned: bool) -> Evidence {
    Evidence {
        ledger: Some(LedgerEvidence {
            source: SERVER.to_owned(),
            key: "case-log+0badc0de+AQ==".to_owned(),
            key_pinned,
            verification,
        }),
        ..Evidence::NONE
    }
}

fn verified() -> LedgerVerification {
    LedgerVerification::Verified(VerifiedLedger {
        entries: 10,
        pruned: 2,
        checkpoints: 3,
        checkpoint: CheckpointEvidence {
            origin: "case-log".to_owned(),
            size: 10,
            root: "ROOT=".to_owned(),
            signed_at: Some((NOW - 1000, "2026-01-15T11:59:59Z".to_owned())),
        },
    })
}

#[test]
fn ledger_verifies_is_met_only_by_a_verified_ledger() {
    let text = fixture("fedramp-moderate");
    let r = requirement(&text, &Evidence::NONE, "AU-9(3)");
    assert_eq!(r.status, Status::NotAssessed);

    let r = requirement(&text, &ledger(verified()), "AU-9(3)");
    assert_eq!(r.status, Status::Met, "{r:?}");
    assert_eq!(
        r.observed,
        [format!(
            "the ledger verified: 10 entries (2 pruned), 3 signed checkpoint(s); entries 0..10 rest on checkpoint `case-log` size 10 root ROOT=, signed at 2026-01-15T11:59:59Z, checked with the pinned verifier key `case-log` (read from `{SERVER}`)"
        )]
    );
    // Under the key the server publishes, a verified ledger proves nothing a server that
    // re-signed a rewritten log could not also show: not assessed, never met.
    let r = requirement(&text, &ledger_with(verified(), false), "AU-9(3)");
    assert_eq!(r.status, Status::NotAssessed, "{r:?}");
    assert!(
        r.needs_evidence[0].contains("under a pinned verifier key"),
        "{r:?}"
    );
    // A ledger that fails to verify is a gap under any key.
    let r = requirement(
        &text,
        &ledger_with(LedgerVerification::Unsigned { entries: 4 }, false),
        "AU-9(3)",
    );
    assert_eq!(r.status, Status::Gap, "{r:?}");

    let r = requirement(
        &text,
        &ledger(LedgerVerification::Unsigned { entries: 4 }),
        "AU-9(3)",
    );
    assert_eq!(r.status, Status::Gap);
    assert_eq!(
        r.gaps[0].message,
        format!("the ledger on `{SERVER}` has 4 entries and no signed checkpoint, so none of them is proven")
    );

    let r = requirement(
        &text,
        &ledger(LedgerVerification::Failed {
            reason: "FAILED at entry 3: bad hash".to_owned(),
        }),
        "AU-9(3)",
    );
    assert_eq!(r.status, Status::Gap);
    assert!(r.observed.is_empty());
    assert!(
        r.gaps[0]
            .message
            .ends_with("does not verify against its signed checkpoints: FAILED at entry 3: bad hash")
    );
}

fn identities(list: Vec<IdentityReview>) -> Evidence {
    Evidence {
        identities: Some(IdentityEvidence {
            source: SERVER.to_owned(),
            identities: list,
            now_ms: NOW,
        }),
        ..Evidence::NONE
    }
}

fn identity(id: &str, created_days_ago: i64, reviewed_days_ago: Option<i64>) -> IdentityReview {
    IdentityReview {
        id: id.to_owned(),
        class: Some("case-assistant".to_owned()),
        created_at_ms: NOW - created_days_ago * DAY_MS,
        last_reviewed: reviewed_days_ago.map(|d| (NOW - d * DAY_MS, format!("{d} days ago"))),
    }
}

/// The AC-2 gaps that come from the identities evidence.
fn review_gaps(r: &RequirementResult) -> Vec<&str> {
    r.gaps
        .iter()
        .map(|g| g.message.as_str())
        .filter(|m| m.starts_with("identity `"))
        .collect()
}

#[test]
fn identities_reviewed_judges_each_identity_by_its_terms() {
    // The fixture reviews every 90 days with 14 days' grace.
    let text = fixture("fedramp-moderate");
    assert_eq!(
        requirement(&text, &Evidence::NONE, "AC-2").status,
        Status::NotAssessed
    );

    // Reviewed 30 days ago, and created 60 days ago never reviewed: both within 90 days.
    let ok = identities(vec![
        identity("agent:a", 400, Some(30)),
        identity("agent:b", 60, None),
    ]);
    let r = requirement(&text, &ok, "AC-2");
    assert_eq!(r.status, Status::Met, "{r:?}");
    assert_eq!(
        r.observed,
        [format!(
            "2 agent or service identities are within their review terms; 1 reviewed at least once; latest review at 30 days ago (read from `{SERVER}`)"
        )]
    );

    // Due 5 days ago, within grace: still met, and named as due now.
    let r = requirement(
        &text,
        &identities(vec![identity("agent:a", 400, Some(95))]),
        "AC-2",
    );
    assert_eq!(r.status, Status::Met, "{r:?}");
    assert!(r.observed[0].contains("in their grace period, to be reviewed now: `agent:a`"));

    // Past the grace too: a gap naming the identity.
    let r = requirement(
        &text,
        &identities(vec![identity("agent:a", 400, Some(120))]),
        "AC-2",
    );
    assert_eq!(r.status, Status::Gap);
    assert_eq!(
        review_gaps(&r),
        [format!(
            "identity `agent:a` is past its review and its grace: due 30 day(s) ago (last reviewed at 120 days ago; review every 90 days, 14 days' grace; read from `{SERVER}`)"
        )]
    );

    // An identity with no review term is never taken as reviewed.
    let no_term = edit(&text, &[("review_days = 90\nreview_grace_days = 14\n", "")]);
    let r = requirement(
        &no_term,
        &identities(vec![identity("agent:a", 1, Some(0))]),
        "AC-2",
    );
    assert_eq!(r.status, Status::Gap);
    assert_eq!(
        review_gaps(&r),
        [format!(
            "identity `agent:a` (read from `{SERVER}`) has no review term (`review_days`), so nothing shows it was ever reviewed"
        )]
    );
}
