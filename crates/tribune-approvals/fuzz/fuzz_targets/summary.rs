//! Agent-supplied arguments rendered for reviewers: summaries never panic and never carry a
//! control character to a terminal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tribune_approvals::{
    Admission, ApprovalRequest, ArgumentsHash, HitlConfig, NewRequest, admit, summary, summary_redacted,
};
use tribune_bundle::Tier;

fuzz_target!(|data: &[u8]| {
    let Ok(arguments) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let (Ok(decision_id), Ok(principal), Ok(owner), Ok(tool), Ok(pool), Ok(alice), Ok(id)) = (
        "d".parse(),
        "agent:a".parse(),
        "olga".parse(),
        "t".parse(),
        "p".parse(),
        "alice".parse(),
        "r".parse(),
    ) else {
        return;
    };
    let new = NewRequest {
        decision_id,
        principal,
        owner,
        requested_by: None,
        tool,
        tier: Tier::Write,
        classification: None,
        trust: None,
        arguments,
        arguments_hash: ArgumentsHash::from_bytes([0; 32]),
        reasons: Vec::new(),
        approvals_required: 1,
        mfa_required: false,
        pool,
        pool_members: vec![alice],
    };
    let config = HitlConfig::default();
    let Ok(Admission::Admit(a)) = admit(&config, &new, &[][..], 0) else {
        return;
    };
    let Ok(req) = ApprovalRequest::open(id, new, a, &config, 0) else {
        return;
    };
    for line in [summary(&req), summary_redacted(&req)] {
        assert!(!line.chars().any(char::is_control), "{line:?}");
    }
});
