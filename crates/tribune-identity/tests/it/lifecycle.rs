//! Lifecycle audits, table-driven, with the boundaries exact to the millisecond: one before
//! the deadline, at it, one after, inside grace, at the end of grace.

use tribune_identity::{DAY_MS, Finding, FindingKind, IdentityFacts, Lifecycle, audit, rotation_expired};

use FindingKind::*;

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000;

fn facts(rotated: i64, used: Option<i64>, reviewed: Option<i64>) -> IdentityFacts {
    IdentityFacts {
        id: "agent:summariser".into(),
        created_at_ms: T0,
        secret_rotated_at_ms: rotated,
        last_used_at_ms: used,
        last_reviewed_at_ms: reviewed,
    }
}

fn days(n: i64) -> i64 {
    n * DAY_MS
}

/// A finding as (kind, due, since).
type Expected = (FindingKind, i64, i64);

/// `audit` at `now` gives `expected`.
fn check(name: &str, facts: &IdentityFacts, policy: &Lifecycle, now: i64, expected: &[Expected]) {
    let got = audit(facts, policy, now);
    let expected: Vec<Finding> = expected
        .iter()
        .map(|&(kind, due_at_ms, since_ms)| Finding {
            kind,
            due_at_ms,
            since_ms,
        })
        .collect();
    assert_eq!(got, expected, "{name}");
}

#[test]
fn rotation() {
    let policy = Lifecycle {
        rotation_days: Some(90),
        rotation_grace_days: 7,
        ..Lifecycle::default()
    };
    let f = facts(T0 + 5, None, None);
    let due = T0 + 5 + days(90);
    let grace_end = due + days(7);
    let table: &[(&str, i64, &[Expected], bool)] = &[
        ("freshly rotated", T0 + 5, &[], false),
        ("one ms before due", due - 1, &[], false),
        ("exactly due", due, &[(RotationOverdue, due, due)], false),
        ("one ms after due", due + 1, &[(RotationOverdue, due, due)], false),
        (
            "inside grace",
            due + days(3),
            &[(RotationOverdue, due, due)],
            false,
        ),
        (
            "last ms of grace",
            grace_end - 1,
            &[(RotationOverdue, due, due)],
            false,
        ),
        (
            "grace ends",
            grace_end,
            &[(RotationExpired, due, grace_end)],
            true,
        ),
        (
            "long past grace",
            grace_end + days(365),
            &[(RotationExpired, due, grace_end)],
            true,
        ),
    ];
    for &(name, now, expected, expired) in table {
        check(name, &f, &policy, now, expected);
        assert_eq!(rotation_expired(&f, &policy, now), expired, "{name}");
    }
}

#[test]
fn rotation_without_grace_expires_at_the_due_instant() {
    let policy = Lifecycle {
        rotation_days: Some(30),
        ..Lifecycle::default()
    };
    let f = facts(T0, None, None);
    let due = T0 + days(30);
    check("before", &f, &policy, due - 1, &[]);
    check("at", &f, &policy, due, &[(RotationExpired, due, due)]);
    assert!(!rotation_expired(&f, &policy, due - 1));
    assert!(rotation_expired(&f, &policy, due));
}

#[test]
fn review_counts_from_the_last_review_or_creation() {
    let policy = Lifecycle {
        review_days: Some(180),
        review_grace_days: 14,
        ..Lifecycle::default()
    };
    let never = facts(T0, None, None);
    let due = T0 + days(180);
    check("never reviewed, before", &never, &policy, due - 1, &[]);
    check(
        "never reviewed, at",
        &never,
        &policy,
        due,
        &[(ReviewOverdue, due, due)],
    );
    check(
        "never reviewed, in grace",
        &never,
        &policy,
        due + days(14) - 1,
        &[(ReviewOverdue, due, due)],
    );
    check(
        "never reviewed, past grace",
        &never,
        &policy,
        due + days(14),
        &[(ReviewExpired, due, due + days(14))],
    );
    let reviewed = facts(T0, None, Some(T0 + days(100)));
    let due = T0 + days(280);
    check("reviewed, before", &reviewed, &policy, due - 1, &[]);
    check(
        "reviewed, one ms after",
        &reviewed,
        &policy,
        due + 1,
        &[(ReviewOverdue, due, due)],
    );
    // Review findings do not affect the secret.
    assert!(!rotation_expired(&reviewed, &policy, due + days(400)));
}

#[test]
fn stale_counts_from_the_last_use_or_creation() {
    let policy = Lifecycle {
        stale_days: Some(60),
        ..Lifecycle::default()
    };
    let never = facts(T0, None, None);
    let due = T0 + days(60);
    check("never used, before", &never, &policy, due - 1, &[]);
    check("never used, at", &never, &policy, due, &[(Stale, due, due)]);
    let used = facts(T0, Some(T0 + days(50)), None);
    let due = T0 + days(110);
    check("used, before", &used, &policy, due - 1, &[]);
    check("used, after", &used, &policy, due + 1, &[(Stale, due, due)]);
}

#[test]
fn all_findings_in_order_and_none_without_policy() {
    let policy = Lifecycle {
        rotation_days: Some(90),
        rotation_grace_days: 7,
        review_days: Some(90),
        review_grace_days: 30,
        stale_days: Some(30),
    };
    let f = facts(T0, Some(T0), None);
    let now = T0 + days(100);
    check(
        "everything",
        &f,
        &policy,
        now,
        &[
            (RotationExpired, T0 + days(90), T0 + days(97)),
            (ReviewOverdue, T0 + days(90), T0 + days(90)),
            (Stale, T0 + days(30), T0 + days(30)),
        ],
    );
    check("no policy", &f, &Lifecycle::default(), T0 + days(10_000), &[]);
    assert!(!rotation_expired(&f, &Lifecycle::default(), i64::MAX));
    // Saturating arithmetic at the far end of time.
    let far = Lifecycle {
        rotation_days: Some(u32::MAX),
        rotation_grace_days: u32::MAX,
        ..policy
    };
    assert!(!rotation_expired(
        &facts(i64::MAX - 1, None, None),
        &far,
        i64::MAX - 1
    ));
}

#[test]
fn findings_serialise_in_snake_case() {
    let finding = Finding {
        kind: RotationOverdue,
        due_at_ms: 1,
        since_ms: 2,
    };
    assert_eq!(
        serde_json::to_value(finding).unwrap(),
        serde_json::json!({"kind": "rotation_overdue", "due_at_ms": 1, "since_ms": 2})
    );
    let kinds: Vec<String> = [
        RotationOverdue,
        RotationExpired,
        ReviewOverdue,
        ReviewExpired,
        Stale,
    ]
    .iter()
    .map(|k| serde_json::to_value(k).unwrap().as_str().unwrap().to_owned())
    .collect();
    assert_eq!(
        kinds,
        [
            "rotation_overdue",
            "rotation_expired",
            "review_overdue",
            "review_expired",
            "stale"
        ]
    );
}
