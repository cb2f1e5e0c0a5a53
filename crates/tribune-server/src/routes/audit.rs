//! The ledger over HTTP: checkpoints, entries, proofs, legal holds and retention.
//!
//! Reading entries needs an auditor or admin, and every read of entries is itself a ledger
//! entry. Checkpoints, proofs and the verifier key carry no payloads and are open to any
//! authenticated caller.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use tribune_ledger::{Checkpoint, Hash};
use tribune_store::{ActivityReviewRecord, LedgerEntryRecord, LegalHoldRecord, ReleaseStep, SideRecord};

use super::{ApiJson, ApiPath as Path, ApiQuery as Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::ledger::LedgerError;
use crate::state::{AppState, now_ms};

/// Most entries one request returns.
pub const MAX_PAGE: u32 = 10_000;

fn b64(h: &Hash) -> String {
    base64::engine::general_purpose::STANDARD.encode(h.as_bytes())
}

fn ledger_error(e: LedgerError) -> ApiError {
    match e {
        LedgerError::OutOfRange(m) => ApiError::InvalidQuery(m),
        other => ApiError::Unavailable(other.to_string()),
    }
}

/// The verifier key, in C2SP signed-note verifier format.
pub async fn key(State(state): State<Arc<AppState>>, _caller: Caller) -> Json<Value> {
    Json(json!({ "verifier_key": state.ledger.verifier_key().to_string(), "origin": state.ledger.origin() }))
}

/// The newest signed checkpoint (signing one first if entries arrived since the last).
pub async fn checkpoint(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let latest = state.ledger.checkpoint().await.map_err(ledger_error)?;
    let Some(record) = latest else {
        return Err(ApiError::NotFound {
            what: "checkpoint",
            id: "latest".to_owned(),
        });
    };
    let parsed = Checkpoint::parse_unverified(record.note.as_bytes())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(json!({
        "size": record.size,
        "root": b64(parsed.root()),
        "note": record.note,
        "created_at_ms": record.created_at_ms,
    })))
}

/// Paging parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// First index (or tree size, for checkpoints).
    #[serde(default)]
    pub from: u64,
    /// How many (at most [`MAX_PAGE`]).
    #[serde(default = "default_limit")]
    pub limit: u32,
}

fn default_limit() -> u32 {
    1000
}

/// Signed checkpoints from tree size `from` on.
pub async fn checkpoints(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let list = state
        .store
        .checkpoints(page.from, page.limit.min(MAX_PAGE))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let items: Vec<Value> = list
        .into_iter()
        .map(|c| json!({ "size": c.size, "note": c.note, "created_at_ms": c.created_at_ms }))
        .collect();
    Ok(Json(json!({ "checkpoints": items })))
}

/// An entry as the API shows it: the payload is the exact canonical JSON text that was hashed.
fn entry_json(e: &LedgerEntryRecord) -> Value {
    json!({
        "index": e.index,
        "leaf_hash": e.leaf_hash.to_hex(),
        "payload": e.payload.as_ref().map(|p| String::from_utf8_lossy(p).into_owned()),
        "pruned": e.payload.is_none(),
        "pruned_at_ms": e.pruned_at_ms,
        "event_class": e.meta.event_class,
        "classification": e.meta.classification,
        "correlation_uid": e.meta.correlation_uid,
        "created_at_ms": e.meta.created_at_ms,
    })
}

/// Records that `caller` read entries `[from, from + count)`.
async fn log_read(state: &AppState, caller: &Caller, from: u64, count: usize) -> Result<(), ApiError> {
    let at = now_ms();
    let details = json!({ "reader": caller.actor(), "from": from, "count": count });
    let uid = format!("audit_read/{}", uuid::Uuid::now_v7());
    let value = crate::ocsf::event("audit_read", 2, &uid, &caller.actor(), None, details, at);
    state
        .ledger
        .record_event("audit_read", value, at, SideRecord::None)
        .await
        .map_err(|e| ApiError::Unrecorded(e.to_string()))?;
    Ok(())
}

/// Entries from index `from` on (auditor or admin; the read is logged).
pub async fn entries(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    caller.require_auditor(&state)?;
    let list = state
        .store
        .ledger_entries(page.from, page.limit.min(MAX_PAGE))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    // Reading only earlier read records reveals nothing new; logging it would make a follower
    // (`audit tail --follow`) feed on its own reads forever.
    if list.iter().any(|e| e.meta.event_class != "audit_read") {
        log_read(&state, &caller, page.from, list.len()).await?;
    }
    Ok(Json(
        json!({ "entries": list.iter().map(entry_json).collect::<Vec<_>>() }),
    ))
}

/// One entry (auditor or admin; the read is logged).
pub async fn entry(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(index): Path<u64>,
) -> Result<Json<Value>, ApiError> {
    caller.require_auditor(&state)?;
    let record = state
        .store
        .ledger_entry(index)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or_else(|| ApiError::NotFound {
            what: "ledger entry",
            id: index.to_string(),
        })?;
    log_read(&state, &caller, index, 1).await?;
    Ok(Json(entry_json(&record)))
}

/// `?size=N` for proofs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeQuery {
    /// The tree size to prove against (default: the newest checkpoint's).
    pub size: Option<u64>,
}

async fn default_size(state: &AppState, size: Option<u64>) -> Result<u64, ApiError> {
    if let Some(size) = size {
        return Ok(size);
    }
    let latest = state.ledger.checkpoint().await.map_err(ledger_error)?;
    Ok(latest.map_or(0, |c| c.size))
}

/// An inclusion proof for entry `index` in the tree of `size` entries.
pub async fn inclusion(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Path(index): Path<u64>,
    Query(q): Query<SizeQuery>,
) -> Result<Json<Value>, ApiError> {
    let size = default_size(&state, q.size).await?;
    let proof = state
        .ledger
        .inclusion_proof(index, size)
        .await
        .map_err(ledger_error)?;
    Ok(Json(json!({
        "leaf_index": proof.leaf_index,
        "tree_size": proof.tree_size,
        "hashes": proof.hashes.iter().map(b64).collect::<Vec<_>>(),
    })))
}

/// `?from=M&to=N` for consistency proofs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    /// The older tree size.
    pub from: u64,
    /// The newer tree size (default: the newest checkpoint's).
    pub to: Option<u64>,
}

/// A consistency proof between two tree sizes.
pub async fn consistency(
    State(state): State<Arc<AppState>>,
    _caller: Caller,
    Query(q): Query<Range>,
) -> Result<Json<Value>, ApiError> {
    let to = default_size(&state, q.to).await?;
    let proof = state
        .ledger
        .consistency_proof(q.from, to)
        .await
        .map_err(ledger_error)?;
    Ok(Json(json!({
        "old_size": proof.old_size,
        "new_size": proof.new_size,
        "hashes": proof.hashes.iter().map(b64).collect::<Vec<_>>(),
    })))
}

fn hold_json(h: &LegalHoldRecord) -> Value {
    json!({
        "id": h.id,
        "from": h.from_index,
        "to": h.to_index,
        "reason": h.reason,
        "placed_by": h.placed_by,
        "placed_at_ms": h.placed_at_ms,
        "release_requested_by": h.release_requested_by,
        "released_at_ms": h.released_at_ms,
        "released_by": h.released_by,
        "active": h.released_at_ms.is_none(),
    })
}

/// A new legal hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHold {
    /// First held index.
    pub from: u64,
    /// Last held index (inclusive).
    pub to: u64,
    /// Why (e.g. the matter or complaint number).
    pub reason: String,
}

async fn log_hold(
    state: &AppState,
    caller: &Caller,
    event: &str,
    id: &str,
    details: Value,
) -> Result<(), ApiError> {
    super::log_event(state, caller, "legal_hold", event, id, details).await
}

/// Places a legal hold over `[from, to]` (auditor or admin).
pub async fn add_hold(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<NewHold>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_auditor(&state)?;
    if body.to < body.from {
        return Err(ApiError::InvalidBody(format!(
            "`to` ({}) is before `from` ({})",
            body.to, body.from
        )));
    }
    if body.reason.trim().is_empty() || body.reason.len() > 1024 {
        return Err(ApiError::InvalidBody(
            "`reason` must be 1 to 1024 characters".to_owned(),
        ));
    }
    let hold = LegalHoldRecord {
        id: uuid::Uuid::now_v7().to_string(),
        from_index: body.from,
        to_index: body.to,
        reason: body.reason,
        placed_by: caller.actor(),
        placed_at_ms: now_ms(),
        released_at_ms: None,
        released_by: None,
        release_requested_by: None,
    };
    state
        .store
        .insert_legal_hold(&hold)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    log_hold(&state, &caller, "legal_hold_placed", &hold.id, hold_json(&hold)).await?;
    Ok((StatusCode::CREATED, Json(hold_json(&hold))))
}

/// Every legal hold.
pub async fn holds(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_auditor(&state)?;
    let list = state
        .store
        .legal_holds()
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(
        json!({ "holds": list.iter().map(hold_json).collect::<Vec<_>>() }),
    ))
}

/// One human's step towards releasing a hold; a second, different human completes it.
pub async fn release_hold(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReleaseBody>,
) -> Result<Json<Value>, ApiError> {
    let Caller::Human(human) = &caller else {
        return Err(ApiError::Forbidden(
            "releasing a legal hold needs two humans, each with a personal token".to_owned(),
        ));
    };
    caller.require_auditor(&state)?;
    crate::hitl::step_up(
        &state,
        &caller,
        body.mfa_code.as_deref(),
        "releasing a legal hold",
        now_ms(),
    )
    .await?;
    let step = state
        .store
        .step_hold_release(&id, &caller.actor(), now_ms())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let (status, event) = match &step {
        ReleaseStep::NotFound => {
            return Err(ApiError::NotFound {
                what: "legal hold",
                id,
            });
        }
        ReleaseStep::AlreadyReleased => {
            return Err(ApiError::Conflict(format!(
                "legal hold `{id}` is already released"
            )));
        }
        ReleaseStep::SameHuman => {
            return Err(ApiError::Conflict(format!(
                "`{human}` already asked to release `{id}`; a second, different human must confirm"
            )));
        }
        ReleaseStep::Requested => ("release_requested", "legal_hold_release_requested"),
        ReleaseStep::Released { .. } => ("released", "legal_hold_released"),
    };
    let first = match &step {
        ReleaseStep::Released { first } => Some(first.clone()),
        _ => None,
    };
    log_hold(
        &state,
        &caller,
        event,
        &id,
        json!({ "hold": id, "by": caller.actor(), "first": first, "mfa": true }),
    )
    .await?;
    Ok(Json(json!({ "id": id, "status": status })))
}

/// The body of a release step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseBody {
    /// A fresh TOTP code of the human asking.
    mfa_code: Option<String>,
}

/// Runs the retention schedule now (admin).
pub async fn run_retention(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin(&state)?;
    let report = crate::retention::run(&state, now_ms())
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(report))
}

/// The longest note an activity review carries.
const REVIEW_NOTE_LIMIT: usize = 4096;

/// `POST /v1/audit/reviews`: the checkpoint the reviewer verified the ledger against, and what
/// they noted.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBody {
    /// The size of a signed checkpoint this server holds.
    pub checkpoint_size: u64,
    /// Its root hash, base64, as `GET /v1/audit/checkpoint` shows it.
    pub checkpoint_root: String,
    /// What the review found (1 to 4096 characters).
    pub note: String,
}

/// A review as the API shows it.
fn review_json(r: &ActivityReviewRecord) -> Value {
    json!({
        "id": r.id,
        "reviewed_by": r.reviewed_by,
        "reviewed_at_ms": r.reviewed_at_ms,
        "checkpoint_size": r.checkpoint_size,
        "checkpoint_root": r.checkpoint_root,
        "note": r.note,
    })
}

/// Records that a named human reviewed the ledger's activity up to a signed checkpoint this
/// server holds (`tribune audit review` verifies the whole ledger against it first). Humans
/// with the `auditor` or `admin` role only: the admin token is nobody in particular. The
/// review and its ledger entry are written together or not at all.
pub async fn review(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !matches!(caller, Caller::Human(_)) || !caller.is_auditor(&state) {
        return Err(ApiError::Forbidden(
            "recording an activity review needs a named human with the `auditor` or `admin` role".to_owned(),
        ));
    }
    let note = body.note.trim();
    if note.is_empty() || note.chars().count() > REVIEW_NOTE_LIMIT {
        return Err(ApiError::InvalidBody(format!(
            "`note` must say what the review found, in 1 to {REVIEW_NOTE_LIMIT} characters"
        )));
    }
    let unavailable = |e: tribune_store::StoreError| ApiError::Unavailable(e.to_string());
    let stored = state
        .store
        .checkpoints(body.checkpoint_size, 1)
        .await
        .map_err(unavailable)?
        .into_iter()
        .find(|c| c.size == body.checkpoint_size)
        .ok_or_else(|| ApiError::NotFound {
            what: "checkpoint",
            id: body.checkpoint_size.to_string(),
        })?;
    let root = Checkpoint::parse_unverified(stored.note.as_bytes())
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if b64(root.root()) != body.checkpoint_root {
        return Err(ApiError::Conflict(format!(
            "the checkpoint of size {} has root {}, not {}: the ledger reviewed is not this server's",
            body.checkpoint_size,
            b64(root.root()),
            body.checkpoint_root
        )));
    }
    let at = now_ms();
    let record = ActivityReviewRecord {
        id: uuid::Uuid::now_v7().to_string(),
        reviewed_by: caller.actor(),
        reviewed_at_ms: at,
        checkpoint_size: i64::try_from(body.checkpoint_size)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        checkpoint_root: body.checkpoint_root,
        note: note.to_owned(),
    };
    let details = review_json(&record);
    let uid = format!("activity_reviewed/{}", record.id);
    let value = crate::ocsf::event(
        "activity_reviewed",
        3,
        &uid,
        &caller.actor(),
        None,
        details.clone(),
        at,
    );
    state
        .ledger
        .record_event(REVIEW_CLASS, value, at, SideRecord::ActivityReview(record))
        .await
        .map_err(|e| ApiError::Unrecorded(e.to_string()))?;
    Ok((StatusCode::CREATED, Json(details)))
}

/// The ledger event class of activity reviews (kept whatever the retention rules say, since no
/// rule names it).
pub const REVIEW_CLASS: &str = "audit_review";

/// `?limit=N` for the reviews.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewsQuery {
    /// How many at most (default 100, capped at 1000).
    pub limit: Option<u32>,
}

/// The activity reviews, newest first (auditor or admin).
pub async fn reviews(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<ReviewsQuery>,
) -> Result<Json<Value>, ApiError> {
    caller.require_auditor(&state)?;
    let limit = query.limit.unwrap_or(100).min(1000);
    let list = state
        .store
        .activity_reviews(limit)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(
        json!({ "reviews": list.iter().map(review_json).collect::<Vec<_>>() }),
    ))
}
