//! Webhook notifications so a chat bridge can page reviewers: the JSON bodies for "request
//! created", "request resolved" and "pool saturated", and their HMAC-SHA256 signature.
//!
//! The signature header (`Tribune-Signature: t=<unix seconds>,v1=<hex>`) is an HMAC-SHA256,
//! under the webhook's shared key, of `<t>.` followed by the exact body bytes. The timestamp
//! is signed so a captured delivery cannot be replayed later: [`verify`] refuses a timestamp
//! outside a tolerance. Several `v1=` entries may appear (key rotation); one match suffices.
//!
//! Bodies carry the redacted summary (argument names, not values): the receiver sits outside
//! Tribune's access control, and values may be sensitive data.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tribune_bundle::Tier;

use crate::Error;
use crate::ids::{DecisionId, EventId, HumanId, PoolId, Principal, RequestId, ToolId};
use crate::request::{ApprovalRequest, StateKind};
use crate::summary::summary_redacted;
use crate::workload::HitlCapacity;

/// The HTTP header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Tribune-Signature";
/// How far a signature's timestamp may be from the receiver's clock, by default.
pub const DEFAULT_TOLERANCE_SECS: u32 = 300;

type HmacSha256 = Hmac<Sha256>;

/// A notification: an id for de-duplication, when, and what happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique per notification (the caller supplies it); receivers drop repeats.
    pub id: EventId,
    /// When it happened.
    pub occurred_at_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    /// A request was opened; its assignees should look.
    #[serde(rename = "approval.created")]
    Created(RequestNotice),
    /// A request was approved, denied, expired or cancelled.
    #[serde(rename = "approval.resolved")]
    Resolved(RequestNotice),
    /// A pool refused a hold because it is at its rate or out of reviewer capacity.
    #[serde(rename = "approval.pool_saturated")]
    PoolSaturated(Saturation),
}

/// The request as a notification shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestNotice {
    /// The request.
    pub request_id: RequestId,
    /// The decision that held the call.
    pub decision_id: DecisionId,
    /// State now.
    pub state: StateKind,
    /// Who made the call.
    pub principal: Principal,
    /// Its owner.
    pub owner: HumanId,
    /// The tool.
    pub tool: ToolId,
    /// Its tier.
    pub tier: Tier,
    /// The reviewer pool.
    pub pool: PoolId,
    /// Who it is assigned to.
    pub assignees: Vec<HumanId>,
    /// Distinct approvals so far.
    pub approvals: u32,
    /// Distinct approvals required.
    pub approvals_required: u32,
    /// Whether approvals need MFA.
    pub mfa_required: bool,
    /// When it was opened.
    pub created_at_ms: i64,
    /// When it expires if still pending.
    pub expires_at_ms: i64,
    /// One line for people, without argument values.
    pub summary: String,
}

/// A pool at one of its limits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saturation {
    /// The pool.
    pub pool: PoolId,
    /// The limit it hit, with the numbers.
    pub limit: HitlCapacity,
}

fn notice(req: &ApprovalRequest) -> RequestNotice {
    RequestNotice {
        request_id: req.id().clone(),
        decision_id: req.decision_id().clone(),
        state: req.state().kind(),
        principal: req.principal().clone(),
        owner: req.owner().clone(),
        tool: req.tool().clone(),
        tier: req.tier(),
        pool: req.pool().clone(),
        assignees: req.assignees().to_vec(),
        approvals: u32::try_from(req.approvers().count()).unwrap_or(u32::MAX),
        approvals_required: req.approvals_required(),
        mfa_required: req.mfa_required(),
        created_at_ms: req.created_at_ms(),
        expires_at_ms: req.expires_at_ms(),
        summary: summary_redacted(req),
    }
}

impl Notification {
    /// "A request was opened."
    pub fn created(req: &ApprovalRequest, id: EventId, now_ms: i64) -> Notification {
        Notification {
            id,
            occurred_at_ms: now_ms,
            event: Event::Created(notice(req)),
        }
    }

    /// "A request was resolved"; errors if it is still pending.
    pub fn resolved(req: &ApprovalRequest, id: EventId) -> Result<Notification, Error> {
        let at = req
            .state()
            .resolved_at_ms()
            .ok_or_else(|| Error::StillPending { id: req.id().clone() })?;
        Ok(Notification {
            id,
            occurred_at_ms: at,
            event: Event::Resolved(notice(req)),
        })
    }

    /// "A pool hit a limit"; `None` for a limit that is not the pool's (an agent's own cap).
    pub fn saturated(limit: &HitlCapacity, id: EventId, now_ms: i64) -> Option<Notification> {
        let pool = limit.saturates_pool()?.clone();
        Some(Notification {
            id,
            occurred_at_ms: now_ms,
            event: Event::PoolSaturated(Saturation {
                pool,
                limit: limit.clone(),
            }),
        })
    }

    /// The JSON body to send. Sign exactly these bytes.
    pub fn body(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(self).map_err(|e| Error::Serialize {
            what: "notification",
            message: e.to_string(),
        })
    }
}

/// A webhook's shared HMAC key, at least [`WebhookKey::MIN_BYTES`] bytes, held as the keyed
/// HMAC state. Its `Debug` does not print it.
#[derive(Clone)]
pub struct WebhookKey {
    keyed: HmacSha256,
    bytes: usize,
}

impl WebhookKey {
    /// The shortest key accepted (128 bits).
    pub const MIN_BYTES: usize = 16;

    /// Keys an HMAC-SHA256 with `bytes`.
    pub fn new(bytes: &[u8]) -> Result<WebhookKey, Error> {
        let too_short = Error::WebhookKeyTooShort { bytes: bytes.len() };
        if bytes.len() < Self::MIN_BYTES {
            return Err(too_short);
        }
        // HMAC takes keys of any length (long ones are hashed), so this does not fail.
        let keyed = HmacSha256::new_from_slice(bytes).map_err(|_| too_short)?;
        Ok(WebhookKey {
            keyed,
            bytes: bytes.len(),
        })
    }

    fn mac(&self, timestamp: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = self.keyed.clone();
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebhookKey({} bytes)", self.bytes)
    }
}

/// The signature header value for `body` sent at `unix_secs`: `t=<unix_secs>,v1=<hex>`.
pub fn sign(key: &WebhookKey, unix_secs: i64, body: &[u8]) -> String {
    let tag = key.mac(unix_secs, body).finalize().into_bytes();
    format!("t={unix_secs},v1={}", hex::encode(tag))
}

/// Checks a signature header against `body` at `now_secs` and returns its timestamp. Refuses a
/// malformed header, a timestamp more than `tolerance_secs` away from `now_secs` either way,
/// and a body no `v1` signature matches (compared in constant time).
pub fn verify(
    key: &WebhookKey,
    header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: u32,
) -> Result<i64, Error> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (k, v) = part.trim().split_once('=').ok_or(Error::SignatureMalformed)?;
        match k {
            "t" if timestamp.is_none() && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
                timestamp = Some(v.parse::<i64>().map_err(|_| Error::SignatureMalformed)?);
            }
            "v1" => {
                let mut tag = [0u8; 32];
                hex::decode_to_slice(v, &mut tag).map_err(|_| Error::SignatureMalformed)?;
                signatures.push(tag);
            }
            // Unknown schemes are skipped, so a sender can add a newer one alongside.
            "t" => return Err(Error::SignatureMalformed),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(Error::SignatureMalformed)?;
    if signatures.is_empty() {
        return Err(Error::SignatureMalformed);
    }
    if now_secs.abs_diff(timestamp) > u64::from(tolerance_secs) {
        return Err(Error::SignatureStale {
            timestamp,
            now_secs,
            tolerance_secs,
        });
    }
    let expected = key.mac(timestamp, body);
    if signatures
        .iter()
        .any(|tag| expected.clone().verify_slice(tag).is_ok())
    {
        Ok(timestamp)
    } else {
        Err(Error::SignatureMismatch)
    }
}
