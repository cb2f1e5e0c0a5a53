//! Incidents: `GET /v1/incidents`, `GET /v1/incidents/{id}`, `POST /v1/incidents/{id}/close`.
//!
//! Reading needs the admin token or a human who is an admin, an auditor or a holder of stop
//! authority. Closing needs a human (personal token) with stop authority or the `admin` role,
//! and a reason; it commits with its `incident_closed` ledger entry, and it changes nothing the incident did
//! (INVARIANT(incident-no-undo)): its stops and legal holds stay until two humans lift them.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use tribune_store::{IncidentRecord, IncidentState, Writes};

use super::{ApiJson, ApiPath as Path, ApiQuery as Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::incidents::incident_json;
use crate::state::{AppState, now_ms};
use crate::stops::{Event, Recorded, record_change};

/// `GET /v1/incidents` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only incidents in this state.
    #[serde(default)]
    state: Option<StateFilter>,
    /// At most this many, newest first (default 100, at most 1000).
    #[serde(default)]
    limit: Option<u32>,
}

/// `open` or `closed`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateFilter {
    /// Open incidents.
    Open,
    /// Closed incidents.
    Closed,
}

/// The body of a close.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    /// Why it is closed: what was found, what was done.
    reason: String,
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(format!("the incident record is unavailable: {e}"))
}

fn holds_stop_authority(caller: &Caller, state: &AppState) -> bool {
    match caller {
        Caller::Human(id) => state
            .snapshot()
            .bundle()
            .humans
            .get(id.as_str())
            .is_some_and(|h| h.stop_authority),
        _ => false,
    }
}

fn require_reader(caller: &Caller, state: &AppState) -> Result<(), ApiError> {
    if caller.is_auditor(state) || holds_stop_authority(caller, state) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "reading incidents needs the admin token or a human who is an admin, an auditor or a holder of stop authority"
                .to_owned(),
        ))
    }
}

/// Incidents, newest first.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    require_reader(&caller, &state)?;
    let filter = query.state.map(|s| match s {
        StateFilter::Open => IncidentState::Open,
        StateFilter::Closed => IncidentState::Closed,
    });
    let limit = query.limit.unwrap_or(100).min(1000);
    let list = state.store.incidents(filter, limit).await.map_err(unavailable)?;
    Ok(Json(
        json!({ "incidents": list.iter().map(incident_json).collect::<Vec<_>>() }),
    ))
}

/// One incident.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_reader(&caller, &state)?;
    let record = state
        .store
        .incident(&id)
        .await
        .map_err(unavailable)?
        .ok_or(ApiError::NotFound { what: "incident", id })?;
    Ok(Json(incident_json(&record)))
}

/// Closes an open incident, with a reason, leaving its stops and holds as they are.
pub async fn close(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CloseBody>,
) -> Result<Json<Value>, ApiError> {
    let may = matches!(caller, Caller::Human(_))
        && (caller.is_admin(&state) || holds_stop_authority(&caller, &state));
    if !may {
        return Err(ApiError::Forbidden(
            "closing an incident needs a human with stop authority or the `admin` role, with a personal token"
                .to_owned(),
        ));
    }
    let reason = body.reason.trim();
    if reason.is_empty() || reason.chars().any(char::is_control) || reason.chars().count() > 2000 {
        return Err(ApiError::InvalidBody(
            "`reason` must be 1 to 2000 characters without control characters".to_owned(),
        ));
    }
    let by = caller.actor();
    let record = state
        .store
        .incident(&id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::NotFound {
            what: "incident",
            id: id.clone(),
        })?;
    let already = |r: &IncidentRecord| {
        ApiError::Conflict(format!(
            "incident `{id}` was already closed by `{}`",
            r.closed_by.as_deref().unwrap_or("?")
        ))
    };
    if record.state == IncidentState::Closed {
        return Err(already(&record));
    }
    let event = Event {
        class: "incident",
        event: "incident_closed",
        id: &record.id,
        actor: &by,
        correlation: Some(&record.id),
        details: json!({
            "incident": record.id,
            "trigger": record.trigger_id,
            "subject": record.subject,
            "by": by,
            "reason": reason,
        }),
    };
    // The close commits with its entry, and only if the incident is still open.
    let guard = IncidentRecord::close_write(&id, &by, reason, now_ms());
    let index = match record_change(&state, event, Writes::guarded(guard, 1, Vec::new())).await {
        Ok(Recorded::At(index)) => index,
        Ok(Recorded::Stale) => {
            let now = state.store.incident(&id).await.map_err(unavailable)?;
            return Err(now.map_or_else(
                || ApiError::NotFound {
                    what: "incident",
                    id: id.clone(),
                },
                |r| already(&r),
            ));
        }
        Err(e) => return Err(crate::stops::unrecorded("the close", e)),
    };
    state.incidents.rearm(&record.trigger_id, &record.subject);
    if let Err(e) = state.store.set_incident_closed_index(&id, index).await {
        tracing::warn!(error = %e, incident = %id, "the closing entry's index could not be noted on the incident");
    }
    let record = state
        .store
        .incident(&id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::NotFound {
            what: "incident",
            id: id.clone(),
        })?;
    tracing::info!(incident = %record.id, by = %by, "incident closed");
    let mut answer = incident_json(&record);
    answer["closed_ledger_index"] = json!(index);
    Ok(Json(answer))
}
