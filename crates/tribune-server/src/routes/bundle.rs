//! `GET /v1/bundle` and `POST /v1/bundle/reload`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::{ActivationError, AppState};

/// The active bundle: version, hash and what it declares.
pub async fn get(State(state): State<Arc<AppState>>, _caller: Caller) -> Json<Value> {
    Json(describe(&state))
}

fn describe(state: &AppState) -> Value {
    let snapshot = state.snapshot();
    let b = snapshot.bundle();
    json!({
        "deployment": b.deployment.name,
        "version": b.deployment.version,
        "hash": b.hash,
        "activated_at_ms": state.activated_at_ms(),
        "declares": {
            "humans": b.humans.len(),
            "agent_classes": b.classes.len(),
            "agents": b.agents.len(),
            "services": b.services.len(),
            "providers": b.providers.len(),
            "tools": b.tools.len(),
            "policy_files": b.policy_files.len(),
        },
        "findings": snapshot.findings().len(),
    })
}

/// Reloads the bundle from disk (admin only). An invalid bundle is refused with its
/// diagnostics and the active bundle keeps serving.
pub async fn reload(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_admin(&state)?;
    match state.reload("api").await {
        Ok((_, changed)) => {
            let mut body = describe(&state);
            body["changed"] = Value::Bool(changed);
            Ok(Json(body))
        }
        Err(ActivationError::Invalid(diagnostics)) => Err(ApiError::InvalidBundle(diagnostics)),
        Err(e) => Err(ApiError::Unavailable(e.to_string())),
    }
}
