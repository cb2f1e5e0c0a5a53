//! `GET /v1/bundle` and `POST /v1/bundle/reload`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::ApiJson;
use crate::state::{ActivationError, Activator, AppState, now_ms};

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

/// The body of a reload.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadBody {
    /// A fresh TOTP code of the human asking.
    mfa_code: Option<String>,
}

/// Reloads the bundle from disk: a human with the `admin` role and a fresh TOTP code. An
/// invalid bundle is refused with its diagnostics and the active bundle keeps serving.
pub async fn reload(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<ReloadBody>,
) -> Result<Json<Value>, ApiError> {
    if !matches!(caller, Caller::Human(_)) {
        return Err(ApiError::Forbidden(
            "activating a bundle needs a human with the `admin` role, a personal token and a fresh MFA code"
                .to_owned(),
        ));
    }
    caller.require_admin(&state)?;
    crate::hitl::step_up(
        &state,
        &caller,
        body.mfa_code.as_deref(),
        "activating a bundle",
        now_ms(),
    )
    .await?;
    let by = Activator {
        source: "api",
        actor: caller.actor(),
        mfa: true,
    };
    match state.reload(&by).await {
        Ok((_, changed)) => {
            let mut body = describe(&state);
            body["changed"] = Value::Bool(changed);
            Ok(Json(body))
        }
        Err(ActivationError::Invalid(diagnostics)) => Err(ApiError::InvalidBundle(diagnostics)),
        Err(e) => Err(ApiError::Unavailable(e.to_string())),
    }
}
