//! `/healthz`, `/readyz`, `/metrics` and `/v1/openapi.json`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// The process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The server can decide: a bundle is active and the database answers.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    state
        .store
        .latest_activation()
        .await
        .map_err(|e| ApiError::Unavailable(format!("the database does not answer: {e}")))?;
    Ok(Json(
        json!({ "status": "ready", "bundle": state.snapshot().bundle().hash, "store": state.store.backend_name() }),
    ))
}

/// Prometheus metrics.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Result<impl IntoResponse, ApiError> {
    let stats = state.ledger.writer_stats();
    state
        .metrics
        .writer_batches
        .set(i64::try_from(stats.batches_committed).unwrap_or(i64::MAX));
    state
        .metrics
        .writer_records
        .set(i64::try_from(stats.records_committed).unwrap_or(i64::MAX));
    let text = state
        .metrics
        .encode()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    ))
}

/// The OpenAPI document of this API.
pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], crate::OPENAPI)
}
