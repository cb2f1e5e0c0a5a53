//! Webhook bodies and signatures. The signature vectors were computed independently with
//! Python's standard library:
//!
//! ```text
//! hmac.new(key, str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
//! ```

use tribune_approvals::webhook::{DEFAULT_TOLERANCE_SECS, Event, Notification, WebhookKey, sign, verify};
use tribune_approvals::{Error, HitlCapacity, MfaEvidence, Rationale};
use tribune_bundle::Tier;

use crate::{T0, human, new_request, open};

const KEY: &[u8] = b"tribune-webhook-test-key-0001";
const T: i64 = 1_795_687_200;

const SATURATED_BODY: &[u8] = br#"{"id":"evt-1","occurred_at_ms":1795687200000,"type":"approval.pool_saturated","data":{"pool":"support-reviewers","limit":{"limit":"pool_rate","pool":"support-reviewers","created_last_minute":60,"per_minute":60}}}"#;

/// (key, t, body, expected hex), from Python's `hmac`.
const VECTORS: &[(&[u8], i64, &[u8], &str)] = &[
    (
        KEY,
        T,
        SATURATED_BODY,
        "5de1ba6d44e5f2be94983df289de9060787698422f4c61ebf267a33a98fc8c01",
    ),
    (
        KEY,
        T,
        b"{}",
        "3fea51e2f61867693a8420628967f46c083119eb5594a06441d0f825a078a867",
    ),
    (
        KEY,
        T,
        b"",
        "547e41516dfe214af66dd773c1c05b080e9c6bc75aa94dfcd9020e4d5baee159",
    ),
    (
        b"another-key-of-32-bytes-length!!",
        1_700_000_000,
        br#"{"a":1}"#,
        "2a7db1af98e0f2bde206f41efd2078a0a5cedb42ad752e9622a7900a5a7bfd7d",
    ),
];

fn key() -> WebhookKey {
    WebhookKey::new(KEY).unwrap()
}

#[test]
fn signatures_match_independent_vectors() {
    for (k, t, body, hex) in VECTORS {
        let key = WebhookKey::new(k).unwrap();
        let header = sign(&key, *t, body);
        assert_eq!(header, format!("t={t},v1={hex}"));
        assert_eq!(verify(&key, &header, body, *t, DEFAULT_TOLERANCE_SECS), Ok(*t));
    }
}

#[test]
fn the_saturation_body_is_the_vector_body() {
    let limit = HitlCapacity::PoolRate {
        pool: "support-reviewers".parse().unwrap(),
        created_last_minute: 60,
        per_minute: 60,
    };
    let n = Notification::saturated(&limit, "evt-1".parse().unwrap(), T0).unwrap();
    assert_eq!(n.body().unwrap(), SATURATED_BODY);
    let back: Notification = serde_json::from_slice(SATURATED_BODY).unwrap();
    assert_eq!(back, n);
    // An agent over its own cap is not a pool saturation.
    let agent = HitlCapacity::AgentPending {
        principal: "agent:x".parse().unwrap(),
        pending: 1,
        cap: 1,
    };
    assert!(Notification::saturated(&agent, "evt-2".parse().unwrap(), T0).is_none());
}

#[test]
fn verification_refuses_tampering_staleness_and_garbage() {
    let body = SATURATED_BODY;
    let header = sign(&key(), T, body);
    let tampered = [body, b" "].concat();
    let check = |h: &str, b: &[u8], now: i64| verify(&key(), h, b, now, 300).map_err(|e| e.code());
    assert_eq!(check(&header, body, T + 300), Ok(T));
    assert_eq!(check(&header, body, T - 300), Ok(T));
    assert_eq!(check(&header, &tampered, T), Err("signature_mismatch"));
    assert_eq!(check(&header, body, T + 301), Err("signature_stale"));
    assert_eq!(check(&header, body, T - 301), Err("signature_stale"));
    // Re-timestamping a captured signature breaks it.
    let moved = header.replace(&format!("t={T}"), &format!("t={}", T + 100));
    assert_eq!(check(&moved, body, T + 100), Err("signature_mismatch"));
    // Another key's signature does not verify.
    let other = WebhookKey::new(b"another-key-of-32-bytes-length!!").unwrap();
    assert_eq!(check(&sign(&other, T, body), body, T), Err("signature_mismatch"));
    for bad in [
        "",
        "t=1795687200",
        "v1=00",
        &format!("t=-5,{}", &header[13..]),
        &format!("t=abc,{}", &header[13..]),
        &format!("{header},t=1"),
        &header[..header.len() - 2],
        "garbage",
    ] {
        assert_eq!(check(bad, body, T), Err("signature_malformed"), "{bad}");
    }
    // Key rotation: any one of several v1 signatures, and unknown schemes are skipped.
    let rotated = format!("{},v0=zz,{}", sign(&other, T, body), &header[13..]);
    assert_eq!(check(&rotated, body, T), Ok(T));
}

#[test]
fn keys_must_be_long_enough() {
    assert_eq!(
        WebhookKey::new(b"short").unwrap_err(),
        Error::WebhookKeyTooShort { bytes: 5 }
    );
    assert_eq!(format!("{:?}", key()), "WebhookKey(29 bytes)");
}

#[test]
fn created_and_resolved_bodies_carry_no_argument_values() {
    let mut req = open(new_request(Tier::Write, 1, false, None));
    let created = Notification::created(&req, "evt-c".parse().unwrap(), T0);
    assert_eq!(
        Notification::resolved(&req, "evt-x".parse().unwrap())
            .unwrap_err()
            .code(),
        "still_pending"
    );
    req.deny(
        &human("bob"),
        Rationale::parse("no").unwrap(),
        MfaEvidence::None,
        T0 + 5,
    )
    .unwrap();
    let resolved = Notification::resolved(&req, "evt-r".parse().unwrap()).unwrap();
    assert_eq!(resolved.occurred_at_ms, T0 + 5);
    let Event::Resolved(notice) = &resolved.event else {
        panic!()
    };
    assert_eq!(notice.state.as_str(), "denied");

    let body = String::from_utf8(created.body().unwrap()).unwrap();
    assert!(!body.contains("O-9") && !body.contains("120.5"), "{body}");
    insta::assert_snapshot!(body, @r#"{"id":"evt-c","occurred_at_ms":1795687200000,"type":"approval.created","data":{"request_id":"req-1","decision_id":"dec-1","state":"pending","principal":"agent:support-bot","owner":"olga","tool":"update_ticket","tier":"write","pool":"support-reviewers","assignees":["alice"],"approvals":0,"approvals_required":1,"mfa_required":false,"created_at_ms":1795687200000,"expires_at_ms":1795688100000,"summary":"update_ticket [write, confidential] by agent:support-bot (owner olga); held: write calls need 1 approval(s); touches: amount, order_id"}}"#);
    let header = sign(&key(), T, body.as_bytes());
    assert_eq!(verify(&key(), &header, body.as_bytes(), T, 300), Ok(T));
}
