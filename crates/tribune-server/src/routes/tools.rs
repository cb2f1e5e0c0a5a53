//! `GET /v1/tools`: the tools a principal may ever call, and whether they run alone or only
//! with approval. The MCP gateway filters `tools/list` by it, so an agent never sees a tool
//! every call of which would be denied.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use tribune_policy::PrincipalKind;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::ApiQuery;
use crate::state::AppState;

/// For an admin or auditor: whose tools to list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolsQuery {
    agent: Option<String>,
    service: Option<String>,
}

/// Lists the caller's reachable tools (an agent or service token), or those of the `agent` or
/// `service` an admin or auditor names.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ToolsQuery>,
) -> Result<Json<Value>, ApiError> {
    let named = match (query.agent, query.service) {
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidQuery(
                "name either `agent` or `service`, not both".to_owned(),
            ));
        }
        (Some(a), None) => Some((PrincipalKind::Agent, a)),
        (None, Some(s)) => Some((PrincipalKind::Service, s)),
        (None, None) => None,
    };
    let (kind, id) = match (&caller, named) {
        (Caller::Agent(id), None) => (PrincipalKind::Agent, id.clone()),
        (Caller::Service(id), None) => (PrincipalKind::Service, id.clone()),
        (Caller::Agent(_) | Caller::Service(_), Some(_)) => {
            return Err(ApiError::Forbidden(
                "an agent or service may only list its own tools".to_owned(),
            ));
        }
        (_, Some(named)) if caller.is_auditor(&state) => named,
        (_, Some(_)) => {
            return Err(ApiError::Forbidden(
                "listing another principal's tools needs the admin token or a human with the `admin` or `auditor` role"
                    .to_owned(),
            ));
        }
        (_, None) => {
            return Err(ApiError::InvalidQuery(
                "name the `agent` (or `service`) whose tools to list".to_owned(),
            ));
        }
    };
    let snapshot = state.snapshot();
    let reachable = snapshot
        .reachable_tools(kind, &id)
        .map_err(|e| ApiError::Unavailable(format!("cannot analyse the active bundle: {e}")))?;
    let bundle = snapshot.bundle();
    let tools: Vec<Value> = reachable
        .into_iter()
        .map(|r| {
            let tool = bundle.tools.get(r.tool.as_str());
            json!({
                "name": r.tool,
                "provider": tool.map(|t| t.provider.to_string()),
                "tier": r.tier.as_str(),
                "classification": tool.map(|t| t.classification.name.clone()),
                "access": if r.approvals == 0 { "alone" } else { "approval" },
                "approvals": r.approvals,
                "mfa": r.mfa,
                "reviewer_pool": tool.and_then(|t| t.reviewer_pool.as_ref()).map(ToString::to_string),
            })
        })
        .collect();
    Ok(Json(json!({
        "principal": format!("{}:{id}", kind.as_str()),
        "bundle": bundle.hash,
        "tools": tools,
    })))
}
