//! Emergency stops: `POST /v1/stops`, `GET /v1/stops`, `POST /v1/stops/{id}/resume`.
//!
//! One human with stop authority and a fresh TOTP code stops a scope; resuming needs two
//! distinct holders, each with a fresh code. Every step is a ledger entry, written in one
//! transaction with the change it records, so no stop or resume step exists without its entry.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tribune_policy::{Stop, StopScope};
use tribune_store::{StopRecord, Writes};

use super::{ApiJson, ApiPath as Path, ApiQuery as Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::{AppState, now_ms};
use crate::stops::{Event, Recorded, record_change, unrecorded};

/// How often a resume step reads the stop again after a racing step moved it on.
const RESUME_ATTEMPTS: usize = 3;

/// The body of a stop.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewStop {
    scope: String,
    reason: String,
    mfa_code: Option<String>,
}

/// The body of a resume step.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResumeBody {
    mfa_code: Option<String>,
}

/// `GET /v1/stops` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopsQuery {
    /// Resumed stops too, newest first.
    #[serde(default)]
    all: bool,
}

fn stop_json(r: &StopRecord) -> Value {
    json!({
        "id": r.id,
        "scope": r.scope,
        "reason": r.reason,
        "stopped_by": r.stopped_by,
        "stopped_at_ms": r.stopped_at_ms,
        "active": r.resumed_at_ms.is_none(),
        "resume_requested_by": r.resume_requested_by,
        "resumed_by": r.resumed_by,
        "resumed_at_ms": r.resumed_at_ms,
    })
}

/// The caller as a human with stop authority, with a fresh TOTP code checked off (drills too).
pub(crate) async fn stop_authority(
    state: &AppState,
    caller: &Caller,
    code: Option<&str>,
    what: &str,
) -> Result<(), ApiError> {
    let holds = match caller {
        Caller::Human(id) => state
            .snapshot()
            .bundle()
            .humans
            .get(id.as_str())
            .is_some_and(|h| h.stop_authority),
        _ => false,
    };
    if !holds {
        return Err(ApiError::Forbidden(format!(
            "{what} needs a human with stop authority in the bundle, with a personal token"
        )));
    }
    crate::hitl::step_up(state, caller, code, what, now_ms()).await?;
    Ok(())
}

/// Stops a scope: from the answer on, every matching decision on this node is a deny.
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<NewStop>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let scope = StopScope::parse(body.scope.trim()).map_err(ApiError::InvalidBody)?;
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().any(char::is_control) || reason.chars().count() > 2000 {
        return Err(ApiError::InvalidBody(
            "`reason` must be 1 to 2000 characters without control characters".to_owned(),
        ));
    }
    crate::stops::check_scope(&scope, state.snapshot().bundle()).map_err(ApiError::InvalidBody)?;
    stop_authority(&state, &caller, body.mfa_code.as_deref(), "stopping").await?;
    let record = StopRecord {
        id: format!("stop-{}", uuid::Uuid::now_v7()),
        scope: scope.to_string(),
        reason: reason.to_owned(),
        stopped_by: caller.actor(),
        stopped_at_ms: now_ms(),
        resume_requested_by: None,
        resumed_by: None,
        resumed_at_ms: None,
    };
    let actor = caller.actor();
    let event = Event {
        class: "stop",
        event: "emergency_stop",
        id: &record.id,
        actor: &actor,
        correlation: None,
        details: json!({ "stop": record.id, "scope": record.scope, "reason": record.reason, "mfa": true }),
    };
    match record_change(&state, event, Writes::of(vec![record.insert_write()])).await {
        Ok(Recorded::At(_)) => {}
        Ok(Recorded::Stale) => {
            return Err(unrecorded("the stop", "its insert was refused"));
        }
        Err(e) => return Err(unrecorded("the stop", e)),
    }
    tracing::warn!(stop = %record.id, scope = %record.scope, by = %record.stopped_by, reason = %record.reason, "emergency stop");
    // INVARIANT(stop-before-answer): in this node's set before anyone is told it is in force.
    // The stop is recorded whatever happens next, so the approvals it covers are cancelled
    // even if this node's set cannot be read now (the poller retries every 250 ms).
    let refreshed = state.stops.refresh(&state.store).await;
    let stop = Stop {
        id: record.id.clone(),
        scope,
        reason: record.reason.clone(),
        by: record.stopped_by.clone(),
    };
    let cancelled = crate::stops::cancel_covered(&state, &stop).await?;
    refreshed.map_err(|e| {
        ApiError::Unavailable(format!(
            "stop `{}` is recorded and in force, but this node could not read it yet: {e}",
            record.id
        ))
    })?;
    let mut body = stop_json(&record);
    body["cancelled_approvals"] = json!(cancelled);
    Ok((StatusCode::CREATED, Json(body)))
}

/// The stops in force (or, with `all=true`, every stop): humans and the admin token.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<StopsQuery>,
) -> Result<Json<Value>, ApiError> {
    if !matches!(caller, Caller::Human(_) | Caller::Admin) {
        return Err(ApiError::Forbidden(
            "listing stops needs a human's personal token or the admin token".to_owned(),
        ));
    }
    let list = if query.all {
        state.store.stops(1000).await
    } else {
        state.store.active_stops().await
    }
    .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(Json(
        json!({ "stops": list.iter().map(stop_json).collect::<Vec<_>>() }),
    ))
}

/// One holder's step towards resuming a stop; a second, different holder completes it.
pub async fn resume(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ResumeBody>,
) -> Result<Json<Value>, ApiError> {
    stop_authority(&state, &caller, body.mfa_code.as_deref(), "resuming").await?;
    let by = caller.actor();
    for _ in 0..RESUME_ATTEMPTS {
        let stop = state
            .store
            .stop(&id)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?
            .ok_or_else(|| ApiError::NotFound {
                what: "stop",
                id: id.clone(),
            })?;
        if stop.resumed_at_ms.is_some() {
            return Err(ApiError::Conflict(format!("stop `{id}` is already resumed")));
        }
        let at = now_ms();
        let (status, event, first, guard) = match &stop.resume_requested_by {
            None => (
                "resume_requested",
                "stop_resume_requested",
                None,
                StopRecord::request_resume_write(&id, &by, at),
            ),
            Some(first) if *first == by => {
                return Err(ApiError::Conflict(format!(
                    "`{by}` already asked to resume `{id}`; a second, different holder of stop authority must confirm"
                )));
            }
            Some(first) => (
                "resumed",
                "stop_resumed",
                Some(first.clone()),
                StopRecord::complete_resume_write(&id, first, &by, at),
            ),
        };
        let event = Event {
            class: "stop",
            event,
            id: &id,
            actor: &by,
            correlation: None,
            details: json!({ "stop": id, "by": by, "first": first, "mfa": true }),
        };
        match record_change(&state, event, Writes::guarded(guard, 1, Vec::new())).await {
            Ok(Recorded::At(_)) => {}
            // Another holder's step landed between the read and this one: read again.
            Ok(Recorded::Stale) => continue,
            Err(e) => return Err(unrecorded("the resume step", e)),
        }
        if first.is_some() {
            state
                .stops
                .refresh(&state.store)
                .await
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        }
        return Ok(Json(json!({ "id": id, "status": status })));
    }
    Err(ApiError::Conflict(format!(
        "stop `{id}` kept changing while this step was recorded; try again"
    )))
}
