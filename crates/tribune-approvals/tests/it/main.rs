//! Integration tests of the approvals core: the transition rules (data-driven), admission and
//! workload, summaries, TOTP against RFC 6238, webhook signatures against independently
//! computed vectors, and property tests of the invariants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod properties;
mod summary;
mod totp;
mod transitions;
mod webhook;
mod workload;

use serde_json::json;
use tribune_approvals::totp::{TotpParams, TotpSecret, verify_for};
use tribune_approvals::{
    Admission, ApprovalRequest, ArgumentsHash, DataClass, HeldReason, HitlConfig, HumanId, MfaEvidence,
    NewRequest, admit,
};
use tribune_bundle::Tier;

/// 2026-11-26T10:00:00Z, on a 30-second TOTP step boundary.
pub const T0: i64 = 1_795_687_200_000;

/// The agent's owner.
pub const OWNER: &str = "olga";
/// The admin whose dry run triggers some requests.
pub const REQUESTER: &str = "rita";
/// Pool members.
pub const POOL: [&str; 5] = ["alice", "bob", "carol", OWNER, REQUESTER];

pub fn human(s: &str) -> HumanId {
    HumanId::parse(s).unwrap()
}

pub fn hash(byte: u8) -> ArgumentsHash {
    ArgumentsHash::from_bytes([byte; 32])
}

/// A held call of `tool` (`tier`) by `agent:support-bot`, reviewed by [`POOL`].
pub fn new_request(tier: Tier, approvals: u32, mfa: bool, requested_by: Option<&str>) -> NewRequest {
    NewRequest {
        decision_id: "dec-1".parse().unwrap(),
        principal: "agent:support-bot".parse().unwrap(),
        owner: human(OWNER),
        requested_by: requested_by.map(human),
        tool: match tier {
            Tier::Irreversible => "issue_refund",
            _ => "update_ticket",
        }
        .parse()
        .unwrap(),
        tier,
        classification: Some(DataClass {
            name: "confidential".parse().unwrap(),
            rank: 2,
        }),
        trust: None,
        arguments: json!({"order_id": "O-9", "amount": 120.5}),
        arguments_hash: hash(7),
        reasons: vec![
            HeldReason {
                stage: "policy".into(),
                code: "permitted".into(),
                rule: Some("policy0".into()),
                message: "a permit policy matched".into(),
            },
            HeldReason {
                stage: "autonomy".into(),
                code: "approval_required".into(),
                rule: Some("autonomy.irreversible".into()),
                message: format!("{tier} calls need {approvals} approval(s)"),
            },
        ],
        approvals_required: approvals,
        mfa_required: mfa,
        pool: "support-reviewers".parse().unwrap(),
        pool_members: POOL.iter().map(|h| human(h)).collect(),
    }
}

/// Admits `new` against an empty queue and opens it at `T0`.
pub fn open(new: NewRequest) -> ApprovalRequest {
    open_in(new, &[], "req-1", T0)
}

/// Admits `new` against `queue` and opens it as `id` at `now`; panics unless admitted.
pub fn open_in(new: NewRequest, queue: &[ApprovalRequest], id: &str, now: i64) -> ApprovalRequest {
    let config = HitlConfig::default();
    match admit(&config, &new, queue, now).unwrap() {
        Admission::Admit(a) => ApprovalRequest::open(id.parse().unwrap(), new, a, &config, now).unwrap(),
        other => panic!("not admitted: {other:?}"),
    }
}

pub fn secret() -> TotpSecret {
    TotpSecret::from_bytes(b"12345678901234567890").unwrap()
}

/// A valid MFA proof of `who` verified at `at_ms`.
pub fn proof(who: &str, at_ms: i64) -> MfaEvidence {
    let secs = u64::try_from(at_ms / 1000).unwrap();
    let code = tribune_approvals::totp::code_at(&secret(), TotpParams::default(), secs).unwrap();
    MfaEvidence::Verified(
        verify_for(&human(who), &secret(), TotpParams::default(), &code, at_ms, None).unwrap(),
    )
}
