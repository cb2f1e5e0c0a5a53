//! Admission (coalesce, admit with assignees, refuse with `hitl_capacity`) and queue order.

use std::num::NonZeroU32;

use tribune_approvals::workload::reviewer_load;
use tribune_approvals::{
    Admission, ApprovalRequest, CancelReason, Error, HitlCapacity, HitlConfig, MfaEvidence, NewRequest,
    Rationale, Trust, admit, sort_by_priority,
};
use tribune_bundle::Tier;

use crate::{OWNER, REQUESTER, T0, hash, human, new_request, open, open_in};

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn config(capacity: u32, agent_cap: u32, rate: u32) -> HitlConfig {
    HitlConfig {
        reviewer_capacity: nz(capacity),
        agent_pending_cap: nz(agent_cap),
        pool_rate_per_minute: nz(rate),
        ..HitlConfig::default()
    }
}

fn write_call(agent: &str, args: u8) -> NewRequest {
    let mut n = new_request(Tier::Write, 1, false, None);
    n.principal = format!("agent:{agent}").parse().unwrap();
    n.arguments_hash = hash(args);
    n
}

/// What admission says, in short: `coalesce ID`, `admit a,b` or the refusing limit with numbers.
fn show(a: &Result<Admission, Error>) -> String {
    match a {
        Ok(Admission::Coalesce(id)) => format!("coalesce {id}"),
        Ok(Admission::Admit(ad)) => format!(
            "admit {}",
            ad.assignees()
                .iter()
                .map(|h| h.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Ok(Admission::Refuse(c)) => match c {
            HitlCapacity::AgentPending { pending, cap, .. } => {
                format!("refuse agent_pending {pending}/{cap}")
            }
            HitlCapacity::PoolRate {
                created_last_minute,
                per_minute,
                ..
            } => {
                format!("refuse pool_rate {created_last_minute}/{per_minute}")
            }
            HitlCapacity::ReviewerCapacity {
                available, needed, ..
            } => {
                format!("refuse reviewer_capacity {available}/{needed}")
            }
        },
        Err(e) => e.code().to_owned(),
    }
}

/// Feeds `holds` (offset from `T0`, request) through admission under `cfg`, opening what is
/// admitted, and compares the answers with `expected` (`; `-separated).
fn check(cfg: &HitlConfig, holds: Vec<(i64, NewRequest)>, expected: &str) {
    let mut queue: Vec<ApprovalRequest> = Vec::new();
    let mut out = Vec::new();
    for (i, (offset, new)) in holds.into_iter().enumerate() {
        let now = T0 + offset;
        let a = admit(cfg, &new, &queue, now);
        out.push(show(&a));
        if let Ok(Admission::Admit(ad)) = a {
            let id = format!("r{i}").parse().unwrap();
            queue.push(ApprovalRequest::open(id, new, ad, cfg, now).unwrap());
        }
    }
    assert_eq!(out.join("; "), expected);
}

#[test]
fn identical_pending_requests_coalesce() {
    let cfg = config(10, 10, 10);
    check(
        &cfg,
        vec![
            (0, write_call("a", 1)),
            (1, write_call("a", 1)),
            (2, write_call("a", 2)),
            (3, write_call("b", 1)),
        ],
        "admit alice; coalesce r0; admit bob; admit carol",
    );
    // Not once the first is no longer pending.
    check(
        &cfg,
        vec![(0, write_call("a", 1)), (15 * 60_000, write_call("a", 1))],
        "admit alice; admit alice",
    );
}

#[test]
fn coalescing_ignores_resolved_requests() {
    let cfg = config(10, 10, 10);
    let mut req = open(write_call("a", 1));
    assert!(matches!(
        admit(&cfg, &write_call("a", 1), &[req.clone()][..], T0 + 1),
        Ok(Admission::Coalesce(_))
    ));
    req.deny(
        &human("bob"),
        Rationale::parse("no").unwrap(),
        MfaEvidence::None,
        T0 + 2,
    )
    .unwrap();
    assert!(matches!(
        admit(&cfg, &write_call("a", 1), &[req][..], T0 + 3),
        Ok(Admission::Admit(_))
    ));
}

#[test]
fn each_agent_has_a_pending_cap() {
    let cfg = config(10, 2, 100);
    check(
        &cfg,
        vec![
            (0, write_call("a", 1)),
            (1, write_call("a", 2)),
            (2, write_call("a", 3)),
            (3, write_call("b", 3)),
            // The first two expire at 15 minutes; then `a` may ask again.
            (15 * 60_000 + 1, write_call("a", 3)),
        ],
        "admit alice; admit bob; refuse agent_pending 2/2; admit carol; admit alice",
    );
}

#[test]
fn each_pool_has_a_rate() {
    let cfg = config(10, 10, 3);
    check(
        &cfg,
        vec![
            (0, write_call("a", 1)),
            (10_000, write_call("b", 1)),
            (20_000, write_call("c", 1)),
            (59_999, write_call("d", 1)),
            (60_000, write_call("d", 1)),
        ],
        "admit alice; admit bob; admit carol; refuse pool_rate 3/3; admit olga",
    );
}

#[test]
fn assignment_spreads_load_and_respects_capacity() {
    let cfg = config(1, 10, 100);
    check(
        &cfg,
        (1..=6)
            .map(|i| (i64::from(i), write_call(&format!("a{i}"), i)))
            .collect(),
        "admit alice; admit bob; admit carol; admit olga; admit rita; refuse reviewer_capacity 0/1",
    );
    let cfg = config(2, 10, 100);
    let mut two = new_request(Tier::Irreversible, 2, true, None);
    two.principal = "agent:x".parse().unwrap();
    check(
        &cfg,
        vec![
            (0, two.clone()),
            (1, write_call("y", 1)),
            (2, {
                two.arguments_hash = hash(9);
                two
            }),
        ],
        "admit alice,bob; admit carol; admit olga,rita",
    );
}

#[test]
fn the_requester_is_never_assigned() {
    let cfg = config(1, 10, 100);
    let by_rita = |i: u8| {
        let mut n = write_call(&format!("a{i}"), i);
        n.requested_by = Some(human(REQUESTER));
        n
    };
    check(
        &cfg,
        (1..=5).map(|i| (i64::from(i), by_rita(i))).collect(),
        "admit alice; admit bob; admit carol; admit olga; refuse reviewer_capacity 0/1",
    );
}

#[test]
fn an_irreversible_call_is_never_assigned_to_its_owner_alone() {
    let cfg = config(5, 10, 100);
    let mut queue = Vec::new();
    // Load everyone but the owner, so the owner is the least loaded.
    for (i, who) in ["alice", "bob", "carol", REQUESTER].into_iter().enumerate() {
        let mut n = write_call(&format!("w{i}"), 1);
        n.pool_members = vec![human(who)];
        queue.push(open_in(n, &queue, &format!("w{i}"), T0));
    }
    let irr = new_request(Tier::Irreversible, 1, false, None);
    let Ok(Admission::Admit(a)) = admit(&cfg, &irr, &queue, T0 + 1) else {
        panic!()
    };
    assert_eq!(a.assignees(), [human("alice")]);
    // A write by the same agent may go to the owner.
    let Ok(Admission::Admit(a)) = admit(&cfg, &write_call("support-bot", 3), &queue, T0 + 1) else {
        panic!()
    };
    assert_eq!(a.assignees(), [human(OWNER)]);
    // With every non-owner at capacity, the irreversible call is refused.
    let cfg = config(1, 10, 100);
    assert_eq!(
        show(&admit(&cfg, &irr, &queue, T0 + 1)),
        "refuse reviewer_capacity 0/1"
    );
}

#[test]
fn holds_no_one_could_approve_are_errors() {
    let cfg = HitlConfig::default();
    let mut only_owner = new_request(Tier::Irreversible, 1, true, None);
    only_owner.pool_members = vec![human(OWNER)];
    assert_eq!(show(&admit(&cfg, &only_owner, &[][..], T0)), "unsatisfiable");
    let mut too_many = new_request(Tier::Write, 5, false, Some(REQUESTER));
    assert_eq!(show(&admit(&cfg, &too_many, &[][..], T0)), "unsatisfiable");
    too_many.approvals_required = 4;
    assert_eq!(
        show(&admit(&cfg, &too_many, &[][..], T0)),
        "admit alice,bob,carol,olga"
    );
    let zero = new_request(Tier::Write, 0, false, None);
    assert_eq!(show(&admit(&cfg, &zero, &[][..], T0)), "no_approvals_required");
}

#[test]
fn opening_needs_the_admission_of_the_same_call() {
    let cfg = HitlConfig::default();
    let Ok(Admission::Admit(a)) = admit(&cfg, &write_call("a", 1), &[][..], T0) else {
        panic!()
    };
    let err = ApprovalRequest::open("r".parse().unwrap(), write_call("a", 2), a, &cfg, T0).unwrap_err();
    assert_eq!(err, Error::AdmissionMismatch);
}

#[test]
fn the_queue_is_ordered_by_risk_then_age() {
    let mk = |id: &str, tier: Tier, rank: i64, trust: Option<u16>, at: i64| {
        let mut n = new_request(tier, 1, false, None);
        n.arguments_hash = hash(at as u8);
        n.classification.as_mut().unwrap().rank = rank;
        n.trust = trust.map(|t| Trust::new(t).unwrap());
        open_in(n, &[], id, T0 + at)
    };
    let mut q = vec![
        mk("old-write", Tier::Write, 1, None, 1),
        mk("new-write", Tier::Write, 1, None, 2),
        mk("phi-write", Tier::Write, 3, None, 3),
        mk("low-trust-write", Tier::Write, 1, Some(100), 4),
        mk("irreversible", Tier::Irreversible, 0, Some(900), 5),
        mk("read", Tier::Read, 3, Some(0), 6),
    ];
    sort_by_priority(&mut q);
    let order: Vec<&str> = q.iter().map(|r| r.id().as_str()).collect();
    assert_eq!(
        order,
        [
            "irreversible",
            "phi-write",
            "low-trust-write",
            "old-write",
            "new-write",
            "read"
        ]
    );
    let mut refs: Vec<&ApprovalRequest> = q.iter().rev().collect();
    sort_by_priority(&mut refs);
    assert_eq!(refs[0].id().as_str(), "irreversible");
}

#[test]
fn reviewer_load_counts_pending_assignments() {
    let mut a = open_in(write_call("a", 1), &[], "a", T0);
    let b = open_in(write_call("b", 1), &[a.clone()], "b", T0);
    assert_eq!(
        reviewer_load([&a, &b], T0 + 1),
        vec![(human("alice"), 1), (human("bob"), 1)]
    );
    a.cancel(CancelReason::BundleChanged, T0 + 2).unwrap();
    assert_eq!(reviewer_load([&a, &b], T0 + 3), vec![(human("bob"), 1)]);
}

#[test]
fn refusals_explain_themselves() {
    let c = HitlCapacity::AgentPending {
        principal: "agent:x".parse().unwrap(),
        pending: 10,
        cap: 10,
    };
    assert_eq!(
        c.to_string(),
        "`agent:x` has 10 pending approval requests, the cap is 10"
    );
    assert_eq!(HitlCapacity::CODE, "hitl_capacity");
    assert_eq!(c.limit(), "agent_pending");
    assert!(c.saturates_pool().is_none());
    insta::assert_json_snapshot!(c, @r#"
    {
      "limit": "agent_pending",
      "principal": "agent:x",
      "pending": 10,
      "cap": 10
    }
    "#);
}
