//! Property tests of the invariants:
//!
//! (a) no sequence of approve / deny / expire / cancel / consume ever yields an approved request
//!     with fewer than N distinct eligible approvers, with the owner as the only approver of an
//!     irreversible call, or without MFA where it is required; an approval is consumed at most
//!     once and only for its exact call within its validity; a resolved request stays resolved;
//!     a refused transition changes nothing (but a discovered expiry);
//! (b) admission never lets any declared cap be exceeded, and its refusals report true numbers.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use proptest::prelude::*;
use proptest::sample::subsequence;
use tribune_approvals::{
    Admission, ApprovalRequest, CallKey, CancelReason, Error, HitlCapacity, HitlConfig, HumanId, MfaEvidence,
    NewRequest, QueueView, Rationale, State, StateKind, Verdict, admit,
};
use tribune_bundle::Tier;

use crate::{T0, hash, human, proof};

const HUMANS: [&str; 6] = ["h0", "h1", "h2", "h3", "h4", "h5"];
const OUTSIDER: &str = "zed";

fn who(i: usize) -> HumanId {
    human(HUMANS.get(i).copied().unwrap_or(OUTSIDER))
}

fn tier(i: u8) -> Tier {
    Tier::ALL[usize::from(i % 3)]
}

#[derive(Clone, Debug)]
enum Mfa {
    None,
    Own,
    Other,
    Stale,
}

#[derive(Clone, Debug)]
enum Op {
    Approve(usize, Mfa),
    Deny(usize),
    Expire,
    Cancel,
    Consume { principal: bool, tool: bool, args: bool },
    Advance(i64),
}

fn mfa() -> impl Strategy<Value = Mfa> {
    prop_oneof![
        1 => Just(Mfa::None),
        4 => Just(Mfa::Own),
        1 => Just(Mfa::Other),
        1 => Just(Mfa::Stale),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..7usize, mfa()).prop_map(|(h, m)| Op::Approve(h, m)),
        1 => (0..7usize).prop_map(Op::Deny),
        1 => Just(Op::Expire),
        1 => Just(Op::Cancel),
        3 => (any::<bool>(), any::<bool>(), any::<bool>(), 0..4u8).prop_map(|(p, t, a, all)| {
            // Mostly the right call, sometimes one part off.
            if all == 0 { Op::Consume { principal: p, tool: t, args: a } }
            else { Op::Consume { principal: true, tool: true, args: true } }
        }),
        3 => (0..400_000i64).prop_map(Op::Advance),
    ]
}

#[derive(Clone, Debug)]
struct Setup {
    members: Vec<usize>,
    owner: usize,
    requested_by: Option<usize>,
    tier: u8,
    required: u32,
    mfa: bool,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        subsequence((0..6usize).collect::<Vec<_>>(), 1..=6),
        0..6usize,
        proptest::option::of(0..6usize),
        0..3u8,
        1..=4u32,
        any::<bool>(),
    )
        .prop_map(|(members, owner, requested_by, tier, required, mfa)| Setup {
            members,
            owner,
            requested_by,
            tier,
            required,
            mfa,
        })
}

fn new_request(s: &Setup) -> NewRequest {
    let mut n = crate::new_request(tier(s.tier), s.required, s.mfa, None);
    n.owner = who(s.owner);
    n.requested_by = s.requested_by.map(who);
    n.pool_members = s.members.iter().map(|i| who(*i)).collect();
    n
}

/// Checks every invariant an approved request must satisfy.
fn check_approved(req: &ApprovalRequest) -> Result<(), TestCaseError> {
    let approvers: Vec<&HumanId> = req.approvers().collect();
    let distinct: BTreeSet<&HumanId> = approvers.iter().copied().collect();
    prop_assert_eq!(distinct.len(), approvers.len(), "approvers are distinct");
    prop_assert!(approvers.len() >= req.approvals_required() as usize, "quorum");
    for a in &approvers {
        prop_assert!(req.pool_members().contains(*a), "approver in pool");
        prop_assert!(req.requested_by() != Some(*a), "requester never approves");
    }
    if req.tier() == Tier::Irreversible {
        prop_assert!(
            approvers.iter().any(|a| *a != req.owner()),
            "a non-owner approved"
        );
    }
    for v in req.votes() {
        prop_assert!(v.at_ms < req.expires_at_ms(), "votes before expiry");
        if req.mfa_required() && v.verdict == Verdict::Approve {
            prop_assert!(v.mfa.is_some(), "mfa on every approval");
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn transitions_keep_the_approval_invariants(s in setup(), ops in prop::collection::vec(op(), 0..40)) {
        let new = new_request(&s);
        let config = HitlConfig::default();
        let admission = admit(&config, &new, &[][..], T0);
        let eligible: BTreeSet<usize> =
            s.members.iter().copied().filter(|m| Some(*m) != s.requested_by).collect();
        let satisfiable = eligible.len() >= s.required as usize
            && (tier(s.tier) != Tier::Irreversible || eligible.iter().any(|m| *m != s.owner));
        let admitted = match admission {
            Err(Error::Unsatisfiable { .. }) => {
                prop_assert!(!satisfiable);
                return Ok(());
            }
            Ok(Admission::Admit(a)) => a,
            other => return Err(TestCaseError::fail(format!("{other:?}"))),
        };
        prop_assert!(satisfiable);
        let mut req = ApprovalRequest::open("r".parse().unwrap(), new, admitted, &config, T0).unwrap();
        let own_call = req.call();
        let mut now = T0;
        let mut consumed = 0;
        let mut resolved: Option<StateKind> = None;
        for op in ops {
            let before = req.clone();
            let result: Result<(), Error> = match op {
                Op::Advance(ms) => { now += ms; Ok(()) }
                Op::Approve(h, m) => {
                    let evidence = match m {
                        Mfa::None => MfaEvidence::None,
                        Mfa::Own => proof(who(h).as_str(), now),
                        Mfa::Other => proof(who((h + 1) % 7).as_str(), now),
                        Mfa::Stale => proof(who(h).as_str(), now - 61_000),
                    };
                    req.approve(&who(h), None, evidence, now).map(|_| ())
                }
                Op::Deny(h) => {
                    let r = req.deny(&who(h), Rationale::parse("no").unwrap(), MfaEvidence::None, now);
                    if r.is_ok() {
                        prop_assert!(s.members.contains(&h), "only pool members deny");
                    }
                    r
                }
                Op::Expire => req.expire(now),
                Op::Cancel => req.cancel(CancelReason::Stopped, now),
                Op::Consume { principal, tool, args } => {
                    let call = CallKey {
                        principal: if principal { own_call.principal.clone() } else { "agent:intruder".parse().unwrap() },
                        tool: if tool { own_call.tool.clone() } else { "other_tool".parse().unwrap() },
                        arguments_hash: if args { own_call.arguments_hash } else { hash(99) },
                    };
                    let usable = before.is_usable_at(now);
                    let r = req.consume(&call, now);
                    if r.is_ok() {
                        consumed += 1;
                        prop_assert!(principal && tool && args, "only the exact call");
                        prop_assert!(usable, "only while valid and unused");
                    }
                    r.map(|_| ())
                }
            };
            match &result {
                Err(Error::Expired { .. }) => {
                    prop_assert_eq!(before.state(), &State::Pending);
                    prop_assert_eq!(req.state().kind(), StateKind::Expired);
                }
                Err(_) => prop_assert_eq!(&req, &before, "a refusal changes nothing"),
                Ok(()) => prop_assert!(req.revision() >= before.revision()),
            }
            prop_assert!(consumed <= 1, "consumed at most once");
            if let Some(kind) = resolved {
                prop_assert_eq!(req.state().kind(), kind, "a resolved request stays resolved");
            } else if req.state().kind() != StateKind::Pending {
                resolved = Some(req.state().kind());
            }
            if req.state().kind() == StateKind::Approved {
                check_approved(&req)?;
            }
        }
        let json = serde_json::to_string(&req).unwrap();
        prop_assert_eq!(serde_json::from_str::<ApprovalRequest>(&json).unwrap(), req);
    }
}

#[derive(Clone, Debug)]
enum Ev {
    Hold {
        agent: usize,
        args: u8,
        tier: u8,
        required: u32,
        requester: Option<usize>,
    },
    Advance(i64),
    Resolve(usize, bool),
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        6 => (0..3usize, 0..3u8, 0..3u8, 1..=2u32, proptest::option::of(0..5usize)).prop_map(
            |(agent, args, tier, required, requester)| Ev::Hold { agent, args, tier, required, requester }
        ),
        2 => (0..40_000i64).prop_map(Ev::Advance),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, d)| Ev::Resolve(i, d)),
    ]
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn admission_never_exceeds_a_cap(
        capacity in 1..=3u32,
        agent_cap in 1..=3u32,
        rate in 1..=5u32,
        events in prop::collection::vec(ev(), 0..60),
    ) {
        let cfg = HitlConfig {
            reviewer_capacity: nz(capacity),
            agent_pending_cap: nz(agent_cap),
            pool_rate_per_minute: nz(rate),
            ..HitlConfig::default()
        };
        let members: Vec<HumanId> = (0..5).map(who).collect();
        let mut queue: Vec<ApprovalRequest> = Vec::new();
        let mut now = T0;
        for (i, e) in events.into_iter().enumerate() {
            match e {
                Ev::Advance(ms) => now += ms,
                Ev::Resolve(pick, deny) => {
                    let pending: Vec<usize> =
                        (0..queue.len()).filter(|j| queue[*j].is_pending_at(now)).collect();
                    if let Some(j) = pending.get(pick % pending.len().max(1)) {
                        let r = &mut queue[*j];
                        if deny {
                            let by = r.pool_members().iter().next().unwrap().clone();
                            r.deny(&by, Rationale::parse("no").unwrap(), MfaEvidence::None, now).unwrap();
                        } else {
                            r.cancel(CancelReason::BundleChanged, now).unwrap();
                        }
                    }
                }
                Ev::Hold { agent, args, tier: t, required, requester } => {
                    let mut new = crate::new_request(tier(t), required, false, None);
                    new.principal = format!("agent:a{agent}").parse().unwrap();
                    new.owner = who(agent);
                    new.requested_by = requester.map(who);
                    new.arguments_hash = hash(args);
                    new.pool_members = members.clone();
                    let pool = new.pool.clone();
                    match admit(&cfg, &new, &queue, now).unwrap() {
                        Admission::Coalesce(id) => {
                            let r = queue.iter().find(|r| r.id() == &id).unwrap();
                            prop_assert!(r.is_pending_at(now));
                            prop_assert_eq!(r.call(), new.call());
                        }
                        Admission::Refuse(c) => match c {
                            HitlCapacity::AgentPending { pending, cap, .. } => {
                                prop_assert_eq!(pending, queue.pending_for_principal(&new.principal, now));
                                prop_assert!(pending >= cap);
                            }
                            HitlCapacity::PoolRate { created_last_minute, per_minute, .. } => {
                                prop_assert_eq!(created_last_minute, queue.created_after(&pool, now - 60_000));
                                prop_assert!(created_last_minute >= per_minute);
                            }
                            HitlCapacity::ReviewerCapacity { available, needed, .. } => {
                                prop_assert!(available < needed || tier(t) == Tier::Irreversible);
                            }
                        },
                        Admission::Admit(a) => {
                            let assignees: Vec<HumanId> = a.assignees().to_vec();
                            let distinct: BTreeSet<&HumanId> = assignees.iter().collect();
                            prop_assert_eq!(distinct.len(), assignees.len());
                            prop_assert_eq!(assignees.len(), required as usize);
                            prop_assert!(!assignees.iter().any(|h| Some(h) == new.requested_by.as_ref()));
                            if tier(t) == Tier::Irreversible {
                                prop_assert!(assignees.iter().any(|h| *h != new.owner));
                            }
                            let principal = new.principal.clone();
                            let id = format!("r{i}").parse().unwrap();
                            queue.push(ApprovalRequest::open(id, new, a, &cfg, now).unwrap());
                            prop_assert!(queue.pending_for_principal(&principal, now) <= agent_cap);
                            prop_assert!(queue.created_after(&pool, now - 60_000) <= rate);
                            for h in &members {
                                prop_assert!(queue.open_assignments(h, now) <= capacity);
                            }
                        }
                    }
                }
            }
        }
        // The rate holds in every 60-second window, not only at admission times.
        for r in &queue {
            let t = r.created_at_ms();
            let in_window = queue
                .iter()
                .filter(|q| q.created_at_ms() > t - 60_000 && q.created_at_ms() <= t)
                .count();
            prop_assert!(in_window <= rate as usize);
        }
    }
}
