//! `/v1/approvals` (the review queue, long-polling, approve and deny) and `POST /v1/mfa/enroll`.
//!
//! Humans (personal tokens) and the admin see every request; agents and services see only
//! their own. Only a human's personal token votes, and only for themselves; only a human
//! enrols in MFA, for themselves.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tribune_approvals::{ApprovalRequest, sort_by_priority};
use tribune_store::ApprovalFilter;

use super::{ApiJson, ApiPath as Path, ApiQuery as Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::hitl::{self, Verdict};
use crate::state::{AppState, now_ms};

/// The most requests one list returns.
pub const MAX_LIST: u32 = 1000;

/// Filters of the queue.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `pending`, `approved`, `denied`, `expired` or `cancelled`.
    #[serde(default)]
    pub state: Option<String>,
    /// A reviewer pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// An agent id.
    #[serde(default)]
    pub agent: Option<String>,
    /// A service id.
    #[serde(default)]
    pub service: Option<String>,
    /// How many at most (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<u32>,
}

const STATES: [&str; 5] = ["pending", "approved", "denied", "expired", "cancelled"];

/// Lists requests in review order: risk (tier, data class, trust), then age.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(s) = &q.state
        && !STATES.contains(&s.as_str())
    {
        return Err(ApiError::InvalidQuery(format!(
            "`state` must be one of {}, not `{s}`",
            STATES.join(", ")
        )));
    }
    let named = match (&q.agent, &q.service) {
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidQuery(
                "filter by `agent` or by `service`, not both".to_owned(),
            ));
        }
        (Some(a), None) => Some(format!("agent:{a}")),
        (None, Some(s)) => Some(format!("service:{s}")),
        (None, None) => None,
    };
    let principal = match (&caller, caller.principal()) {
        (Caller::Admin | Caller::Human(_), _) => named,
        (_, Some(own)) => {
            if named.as_ref().is_some_and(|n| *n != own) {
                return Err(ApiError::Forbidden(
                    "an agent or service sees only its own approval requests".to_owned(),
                ));
            }
            Some(own)
        }
        (_, None) => return Err(ApiError::Forbidden("no principal".to_owned())),
    };
    let limit = q.limit.unwrap_or(100);
    if limit > MAX_LIST {
        return Err(ApiError::InvalidQuery(format!("`limit` is at most {MAX_LIST}")));
    }
    // Due requests are expired first, so the list never shows a stale "pending".
    hitl::expire_due(&state, now_ms()).await?;
    let records = state
        .store
        .approvals(&ApprovalFilter {
            state: q.state,
            pool: q.pool,
            principal,
            limit,
        })
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let mut requests = records
        .iter()
        .map(hitl::from_record)
        .collect::<Result<Vec<ApprovalRequest>, ApiError>>()?;
    // The store orders by the same key; the pure order is the definition.
    sort_by_priority(&mut requests);
    Ok(Json(json!({
        "approvals": requests.iter().map(hitl::view).collect::<Vec<_>>(),
    })))
}

/// Long-polling of one request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetQuery {
    /// Wait up to this long for the request to be resolved: `30s`, `1500ms`, `2m`, or seconds.
    #[serde(default)]
    pub wait: Option<String>,
}

/// Parses `30s`, `1500ms`, `2m` or a bare number of seconds.
pub fn parse_wait(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (number, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => n.checked_mul(60).map(Duration::from_secs),
        _ => None,
    }
}

/// One request with its summary; `?wait=30s` long-polls until it is resolved.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<GetQuery>,
) -> Result<Json<Value>, ApiError> {
    let wait = match &q.wait {
        None => Duration::ZERO,
        Some(w) => parse_wait(w).ok_or_else(|| {
            ApiError::InvalidQuery(format!("`wait` must be like `30s`, `1500ms` or `2m`, not `{w}`"))
        })?,
    };
    let req = hitl::read(&state, &id).await?;
    may_see(&caller, &req)?;
    let req = if wait.is_zero() {
        req
    } else {
        hitl::wait(&state, &id, wait.min(hitl::max_wait(&state.snapshot()))).await?
    };
    Ok(Json(hitl::view(&req)))
}

fn may_see(caller: &Caller, req: &ApprovalRequest) -> Result<(), ApiError> {
    match caller {
        Caller::Admin | Caller::Human(_) => Ok(()),
        _ if caller.principal().as_deref() == Some(req.principal().to_string().as_str()) => Ok(()),
        // Do not reveal that another principal's request exists.
        _ => Err(ApiError::NotFound {
            what: "approval request",
            id: req.id().to_string(),
        }),
    }
}

/// A reviewer's vote.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    /// Why (required to deny; at most 2000 characters).
    #[serde(default)]
    pub rationale: Option<String>,
    /// A current TOTP code (required when the request needs MFA).
    #[serde(default)]
    pub mfa_code: Option<String>,
}

fn voter(caller: &Caller) -> Result<&str, ApiError> {
    match caller {
        Caller::Human(h) => Ok(h),
        _ => Err(ApiError::Forbidden(
            "only a human's personal token may approve or deny".to_owned(),
        )),
    }
}

/// Approves a request (with a TOTP code when it needs MFA).
pub async fn approve(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VoteBody>,
) -> Result<Json<Value>, ApiError> {
    let human = voter(&caller)?;
    hitl::vote(
        &state,
        human,
        &id,
        Verdict::Approve,
        body.rationale,
        body.mfa_code,
    )
    .await
    .map(Json)
}

/// Denies a request, which ends it.
pub async fn deny(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VoteBody>,
) -> Result<Json<Value>, ApiError> {
    let human = voter(&caller)?;
    hitl::vote(&state, human, &id, Verdict::Deny, body.rationale, body.mfa_code)
        .await
        .map(Json)
}

/// The enrolment request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollBody {
    /// A current code of the existing enrolment, to replace it.
    #[serde(default)]
    pub mfa_code: Option<String>,
}

/// Enrols the calling human in TOTP; the secret is in this answer only.
pub async fn enroll(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<EnrollBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Caller::Human(human) = &caller else {
        return Err(ApiError::Forbidden(
            "only a human's personal token enrols in mfa, for that human".to_owned(),
        ));
    };
    let answer = hitl::enroll(&state, human, body.mfa_code).await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_parse_with_units() {
        assert_eq!(parse_wait("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_wait("30"), Some(Duration::from_secs(30)));
        assert_eq!(parse_wait("1500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_wait("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_wait("2h"), None);
        assert_eq!(parse_wait("s"), None);
        assert_eq!(parse_wait("-1s"), None);
    }
}
