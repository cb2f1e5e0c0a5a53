//! The transition rules of issue 4, data-driven: each case is a request, a script of timed
//! steps, and the expected outcome of every step followed by the final state. Every rule has a
//! case where it lets the request through and one where it stops it.

use tribune_approvals::{
    ApprovalRequest, ApproveOutcome, CallKey, CancelReason, Error, MfaEvidence, NewRequest, Rationale, State,
};
use tribune_bundle::Tier;

use crate::{OWNER, REQUESTER, T0, hash, human, new_request, open, proof};

#[derive(Clone, Copy)]
enum Mfa {
    No,
    Valid,
    /// A valid proof, but of `carol`.
    Carol,
    /// Verified two minutes before use.
    Stale,
}

#[derive(Clone, Copy)]
enum Call {
    Same,
    OtherArgs,
    OtherTool,
    OtherAgent,
}

enum Step {
    Approve(&'static str, Mfa),
    Deny(&'static str),
    Expire,
    Cancel,
    Consume(Call),
}

use Call::*;
use Mfa::*;
use Step::*;

const MIN: i64 = 60_000;

fn evidence(who: &str, mfa: Mfa, now: i64) -> MfaEvidence {
    match mfa {
        No => MfaEvidence::None,
        Valid => proof(who, now),
        Carol => proof("carol", now),
        Stale => proof(who, now - 2 * MIN),
    }
}

/// The request's own call, or one that differs in one part.
fn call(req: &ApprovalRequest, c: Call) -> CallKey {
    let mut k = req.call();
    match c {
        Same => {}
        OtherArgs => k.arguments_hash = hash(8),
        OtherTool => k.tool = "close_ticket".parse().unwrap(),
        OtherAgent => k.principal = "agent:other-bot".parse().unwrap(),
    }
    k
}

fn show(r: Result<String, Error>) -> String {
    match r {
        Ok(s) => s,
        Err(Error::CallMismatch { field, .. }) => format!("call_mismatch({field})"),
        Err(e) => e.code().to_owned(),
    }
}

fn approve_outcome(o: ApproveOutcome) -> String {
    match o {
        ApproveOutcome::Pending {
            approvals,
            required,
            needs_non_owner,
        } => format!(
            "pending {approvals}/{required}{}",
            if needs_non_owner { " +non-owner" } else { "" }
        ),
        ApproveOutcome::Duplicate { approvals, required } => format!("duplicate {approvals}/{required}"),
        ApproveOutcome::Approved { .. } => "approved".to_owned(),
    }
}

/// Opens `new` at `T0`, runs `steps` (offsets from `T0` in ms) and compares
/// `outcome; outcome; ... => final state` with `expected`.
fn check(new: NewRequest, steps: &[(i64, Step)], expected: &str) {
    let mut req = open(new);
    let mut out = Vec::new();
    for (offset, step) in steps {
        let now = T0 + offset;
        let before = req.revision();
        let r = match step {
            Approve(who, mfa) => req
                .approve(&human(who), None, evidence(who, *mfa, now), now)
                .map(approve_outcome),
            Deny(who) => req
                .deny(
                    &human(who),
                    Rationale::parse("not this one").unwrap(),
                    MfaEvidence::None,
                    now,
                )
                .map(|()| "denied".to_owned()),
            Expire => req.expire(now).map(|()| "expired".to_owned()),
            Cancel => req
                .cancel(CancelReason::Stopped, now)
                .map(|()| "cancelled".to_owned()),
            Consume(c) => {
                let k = call(&req, *c);
                req.consume(&k, now)
                    .map(|a| format!("consumed by {}", a.approvers.len()))
            }
        };
        // Errors change nothing, except an expiry they discover.
        if let Err(e) = &r
            && !matches!(e, Error::Expired { .. })
        {
            assert_eq!(req.revision(), before, "an error changed the request");
        }
        out.push(show(r));
    }
    out.push(format!("=> {}", req.state().kind()));
    assert_eq!(out.join("; "), expected);

    let json = serde_json::to_string(&req).unwrap();
    let back: ApprovalRequest = serde_json::from_str(&json).unwrap();
    assert_eq!(back, req, "serde round trip");
}

fn write1() -> NewRequest {
    new_request(Tier::Write, 1, false, None)
}
fn irr2() -> NewRequest {
    new_request(Tier::Irreversible, 2, true, None)
}
fn irr1() -> NewRequest {
    new_request(Tier::Irreversible, 1, false, None)
}
fn by_requester(mut n: NewRequest) -> NewRequest {
    n.requested_by = Some(human(REQUESTER));
    n
}

#[test]
fn only_pool_members_vote() {
    check(write1(), &[(1, Approve("alice", No))], "approved; => approved");
    check(
        write1(),
        &[(1, Approve("mallory", No)), (2, Deny("mallory"))],
        "not_in_pool; not_in_pool; => pending",
    );
}

#[test]
fn the_same_human_twice_counts_once() {
    check(
        irr2(),
        &[(1, Approve("alice", Valid)), (2, Approve("bob", Valid))],
        "pending 1/2; approved; => approved",
    );
    check(
        irr2(),
        &[(1, Approve("alice", Valid)), (2, Approve("alice", Valid))],
        "pending 1/2; duplicate 1/2; => pending",
    );
}

#[test]
fn the_requester_never_approves() {
    check(
        by_requester(write1()),
        &[(1, Approve("alice", No))],
        "approved; => approved",
    );
    check(
        by_requester(write1()),
        &[(1, Approve(REQUESTER, No)), (2, Deny(REQUESTER))],
        "requester_cannot_approve; denied; => denied",
    );
}

#[test]
fn the_owner_is_never_the_only_approver_of_an_irreversible_call() {
    // Owner plus one other: fine.
    check(
        irr2(),
        &[(1, Approve(OWNER, Valid)), (2, Approve("alice", Valid))],
        "pending 1/2 +non-owner; approved; => approved",
    );
    // N = 1: the owner's approval is recorded but cannot complete it.
    check(
        irr1(),
        &[(1, Approve(OWNER, No))],
        "pending 1/1 +non-owner; => pending",
    );
    check(
        irr1(),
        &[(1, Approve(OWNER, No)), (2, Approve("bob", No))],
        "pending 1/1 +non-owner; approved; => approved",
    );
    // Not irreversible: the owner alone may approve a write.
    check(write1(), &[(1, Approve(OWNER, No))], "approved; => approved");
}

#[test]
fn mfa_required_requests_need_a_fresh_proof_of_the_same_human() {
    check(
        irr2(),
        &[(1, Approve("alice", Valid)), (2, Approve("bob", Valid))],
        "pending 1/2; approved; => approved",
    );
    check(
        irr2(),
        &[
            (1, Approve("alice", No)),
            (2, Approve("alice", Carol)),
            (3, Approve("alice", Stale)),
        ],
        "mfa_required; mfa_wrong_human; mfa_stale; => pending",
    );
    // MFA given where not required is recorded, and still checked.
    check(
        write1(),
        &[(1, Approve("alice", Carol)), (2, Approve("alice", Valid))],
        "mfa_wrong_human; approved; => approved",
    );
}

#[test]
fn one_deny_ends_the_request() {
    check(
        irr2(),
        &[(1, Approve("alice", Valid)), (2, Approve("bob", Valid))],
        "pending 1/2; approved; => approved",
    );
    check(
        irr2(),
        &[
            (1, Approve("alice", Valid)),
            (2, Deny("bob")),
            (3, Approve("carol", Valid)),
            (4, Consume(Same)),
        ],
        "pending 1/2; denied; not_pending; not_approved; => denied",
    );
}

#[test]
fn nothing_happens_after_a_terminal_state() {
    check(write1(), &[(1, Cancel)], "cancelled; => cancelled");
    check(
        write1(),
        &[
            (1, Approve("alice", No)),
            (2, Deny("bob")),
            (3, Cancel),
            (4, Expire),
            (5, Approve("bob", No)),
        ],
        "approved; not_pending; not_pending; not_pending; not_pending; => approved",
    );
    check(
        write1(),
        &[(1, Cancel), (2, Approve("alice", No)), (3, Deny("bob"))],
        "cancelled; not_pending; not_pending; => cancelled",
    );
}

#[test]
fn requests_expire_at_their_expiry() {
    let expiry = 15 * MIN;
    check(
        write1(),
        &[(expiry - 1, Expire), (expiry - 1, Approve("alice", No))],
        "not_due; approved; => approved",
    );
    check(write1(), &[(expiry, Expire)], "expired; => expired");
    check(
        write1(),
        &[(expiry, Approve("alice", No)), (expiry + 1, Deny("bob"))],
        "expired; not_pending; => expired",
    );
    check(write1(), &[(expiry + MIN, Cancel)], "expired; => expired");
    check(write1(), &[(expiry + MIN, Deny("bob"))], "expired; => expired");
}

#[test]
fn an_approval_is_consumed_once() {
    check(
        write1(),
        &[(1, Approve("alice", No)), (2, Consume(Same))],
        "approved; consumed by 1; => approved",
    );
    check(
        write1(),
        &[(1, Approve("alice", No)), (2, Consume(Same)), (3, Consume(Same))],
        "approved; consumed by 1; already_consumed; => approved",
    );
}

#[test]
fn an_approval_covers_only_the_exact_call() {
    check(
        write1(),
        &[
            (1, Approve("alice", No)),
            (2, Consume(OtherArgs)),
            (3, Consume(OtherTool)),
            (4, Consume(OtherAgent)),
            (5, Consume(Same)),
        ],
        "approved; call_mismatch(arguments); call_mismatch(tool); call_mismatch(principal); consumed by 1; => approved",
    );
    check(
        irr2(),
        &[
            (1, Approve("alice", Valid)),
            (2, Approve("bob", Valid)),
            (3, Consume(Same)),
        ],
        "pending 1/2; approved; consumed by 2; => approved",
    );
}

#[test]
fn an_approval_is_consumed_only_while_valid() {
    let valid_for = 5 * MIN;
    check(
        write1(),
        &[
            (1, Consume(Same)),
            (2, Approve("alice", No)),
            (2 + valid_for - 1, Consume(Same)),
        ],
        "not_approved; approved; consumed by 1; => approved",
    );
    check(
        write1(),
        &[(2, Approve("alice", No)), (2 + valid_for, Consume(Same))],
        "approved; approval_lapsed; => approved",
    );
}

#[test]
fn approved_records_who_when_and_mfa() {
    let mut req = open(irr2());
    req.approve(
        &human("alice"),
        Some(Rationale::parse("refund ok").unwrap()),
        proof("alice", T0 + 5),
        T0 + 5,
    )
    .unwrap();
    req.approve(&human("bob"), None, proof("bob", T0 + 9), T0 + 9)
        .unwrap();
    let State::Approved {
        at_ms,
        valid_until_ms,
        consumed_at_ms,
    } = req.state().clone()
    else {
        panic!("{:?}", req.state());
    };
    assert_eq!(
        (at_ms, valid_until_ms, consumed_at_ms),
        (T0 + 9, T0 + 9 + 300_000, None)
    );
    assert_eq!(req.votes().len(), 2);
    assert_eq!(req.votes()[0].rationale.as_ref().unwrap().as_str(), "refund ok");
    assert!(req.votes().iter().all(|v| v.mfa.is_some()));
    assert!(req.is_usable_at(T0 + 10));
    let mut k = req.call();
    let used = req.consume(&k, T0 + 10).unwrap();
    assert_eq!(used.approvers, vec![human("alice"), human("bob")]);
    assert!(used.mfa);
    assert_eq!(used.held_decision_id.as_str(), "dec-1");
    assert_eq!(req.consumed_at_ms(), Some(T0 + 10));
    assert!(!req.is_usable_at(T0 + 11));
    k.arguments_hash = hash(7);
    assert!(matches!(
        req.consume(&k, T0 + 11),
        Err(Error::AlreadyConsumed { .. })
    ));
}
