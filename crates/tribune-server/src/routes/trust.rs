//! Trust scores: `GET /v1/trust` (every subject's score and the bundle's thresholds) and
//! `GET /v1/trust/{subject}` (one score and the events that moved it).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiPath as Path, ApiQuery as Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::{AppState, now_ms};

/// The most history rows one answer carries.
const MAX_LIMIT: u32 = 1000;

/// `GET /v1/trust/{subject}` options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// The most recent events to show (1–1000, default 100).
    #[serde(default)]
    limit: Option<u32>,
}

fn settings(trust: &tribune_bundle::Trust) -> Value {
    let e = &trust.events;
    json!({
        "enforced": trust.enforced,
        "baseline": trust.baseline,
        "half_life_ms": trust.half_life_ms,
        "review_below": trust.review_below,
        "block_below": trust.block_below,
        "events": {
            "allowed": e.allowed,
            "forbidden": e.forbidden,
            "provider_forbidden": e.provider_forbidden,
            "dlp": e.dlp,
            "approval_refused": e.approval_refused,
            "redteam_failure": e.redteam_failure,
            "incident": e.incident,
        },
    })
}

/// Every subject's current score: each agent, service and provider the bundle declares, and
/// any other with events. For the admin token and humans with the `auditor` or `admin` role.
pub async fn list(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    if !caller.is_auditor(&state) {
        return Err(ApiError::Forbidden(
            "reading trust scores needs the admin token or a human with the `auditor` or `admin` role"
                .to_owned(),
        ));
    }
    let snapshot = state.snapshot();
    let trust = &snapshot.bundle().trust;
    let now = now_ms();
    let mut subjects = crate::trust::declared(snapshot.bundle());
    subjects.extend(state.trust.subjects());
    subjects.sort();
    subjects.dedup();
    let rows: Vec<Value> = subjects
        .iter()
        .map(|subject| {
            let (score, band, pending, last) = state.trust.current(trust, subject, now);
            json!({
                "subject": subject,
                "score": score,
                "band": band,
                "pending_allowed": pending,
                "last_event_at_ms": last,
            })
        })
        .collect();
    let mut body = settings(trust);
    body["subjects"] = Value::Array(rows);
    Ok(Json(body))
}

/// One subject's score and history: the events still weighing on it (oldest first, the most
/// recent `limit`), each with the score just after it. For auditors, admins, and the agent or
/// service itself.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(subject): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiError> {
    if !crate::trust::is_subject(&subject) {
        return Err(ApiError::InvalidQuery(format!(
            "`{subject}` is not a trust subject: use `agent:ID`, `service:ID` or `provider:ID`"
        )));
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidQuery(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, not {limit}"
        )));
    }
    let own = caller.principal().as_deref() == Some(subject.as_str());
    if !own && !caller.is_auditor(&state) {
        return Err(ApiError::Forbidden(
            "reading a trust score needs the admin token, a human with the `auditor` or `admin` role, or the subject itself"
                .to_owned(),
        ));
    }
    let snapshot = state.snapshot();
    let trust = &snapshot.bundle().trust;
    let now = now_ms();
    let half_life_ms = state.trust.half_life_ms();
    let rows = state
        .store
        .trust_events_of(&subject, crate::trust::since(now, half_life_ms))
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let (score, band, pending, _) = state.trust.current(trust, &subject, now);
    if rows.is_empty() && pending == 0 && !crate::trust::is_declared(snapshot.bundle(), &subject) {
        return Err(ApiError::NotFound {
            what: "trust subject",
            id: subject,
        });
    }
    let mut history = crate::trust::history_json(trust, half_life_ms, &rows);
    let total = history.len();
    let shown = history.split_off(total.saturating_sub(limit as usize));
    let mut body = settings(trust);
    body["subject"] = json!(subject);
    body["score"] = json!(score);
    body["band"] = json!(band);
    body["pending_allowed"] = json!(pending);
    body["history"] = Value::Array(shown);
    body["history_total"] = json!(total);
    Ok(Json(body))
}
