//! The HTTP routes. Only this crate knows HTTP.

pub mod approvals;
pub mod audit;
pub mod bundle;
pub mod decisions;
pub mod drills;
pub mod health;
pub mod identities;
pub mod incidents;
pub mod providers;
pub mod redteam;
pub mod stops;
pub mod tokens;
pub mod tools;
pub mod trust;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::{AppState, MAX_BODY_BYTES, now_ms};

/// Records governance event `event` about `id` (class `event_class`) by `caller` in the ledger.
pub async fn log_event(
    state: &AppState,
    caller: &Caller,
    event_class: &str,
    event: &str,
    id: &str,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let at = now_ms();
    let value = crate::ocsf::event(
        event,
        3,
        &format!("{event}/{id}/{at}"),
        &caller.actor(),
        None,
        details,
        at,
    );
    state
        .ledger
        .record_event(event_class, value, at, tribune_store::SideRecord::None)
        .await
        .map_err(|e| ApiError::Unrecorded(e.to_string()))?;
    Ok(())
}

/// A JSON body whose every rejection is an [`ApiError`] with a stable code.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            // Serde would also build a struct from a JSON array; bodies are objects only.
            Ok(axum::Json(v @ serde_json::Value::Object(_))) => serde_json::from_value(v)
                .map(ApiJson)
                .map_err(|e| ApiError::InvalidBody(e.to_string())),
            Ok(axum::Json(_)) => Err(ApiError::InvalidBody("the body must be a JSON object".to_owned())),
            Err(JsonRejection::JsonDataError(e)) => Err(ApiError::InvalidBody(source_message(&e))),
            Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::MalformedJson(source_message(&e))),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::UnsupportedMediaType),
            Err(JsonRejection::BytesRejection(e))
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::PayloadTooLarge(MAX_BODY_BYTES))
            }
            Err(e) => Err(ApiError::MalformedJson(e.body_text())),
        }
    }
}

fn source_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// Query parameters whose rejection is an [`ApiError`] (`invalid_query`).
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::InvalidQuery(e.body_text()))
    }
}

/// Path parameters whose rejection is an [`ApiError`] (`invalid_query`).
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|e| ApiError::InvalidQuery(e.body_text()))
    }
}
