//! API errors: every failure is JSON `{"error": {"code", "message"}}` with a stable code.
//! Status codes and codes are assigned in exactly one place, [`ApiError::parts`].

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tribune_bundle::Diagnostic;

/// Everything the API can answer with besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization: Bearer` header.
    #[error("this endpoint needs a bearer token")]
    MissingToken,
    /// The token is unknown.
    #[error("the bearer token is not valid")]
    InvalidToken,
    /// The token was revoked.
    #[error("the bearer token was revoked")]
    RevokedToken,
    /// The short-lived credential does not verify: each cause has its own code.
    #[error("{0}")]
    Credential(tribune_identity::CredentialError),
    /// The human's OIDC ID token does not verify or names no declared human.
    #[error("{0}")]
    Oidc(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The body is not JSON.
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The body is JSON of the wrong shape.
    #[error("the request body does not fit this endpoint: {0}")]
    InvalidBody(String),
    /// The body is not `application/json`.
    #[error("the request body must be `application/json`")]
    UnsupportedMediaType,
    /// The body is larger than the limit.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// A query parameter is wrong.
    #[error("{0}")]
    InvalidQuery(String),
    /// No such route.
    #[error("no such endpoint: {0}")]
    NoRoute(String),
    /// No such method on this route.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// No such record.
    #[error("{what} `{id}` does not exist")]
    NotFound {
        /// What kind of record.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The request conflicts with what is recorded.
    #[error("{0}")]
    Conflict(String),
    /// The decision point denied the call because the request itself was wrong. The decision
    /// was made and recorded; it travels with the error.
    #[error("{message}")]
    Refused {
        /// The decision's reason code.
        code: tribune_policy::Code,
        /// Its message.
        message: String,
        /// The recorded decision, as the API returns decisions.
        decision: Value,
    },
    /// The approval request is no longer pending (approved, denied, expired or cancelled).
    #[error("{0}")]
    NotPending(String),
    /// The human may not vote on this request: not in its pool, or they triggered it.
    #[error("{0}")]
    NotEligible(String),
    /// The approval needs a fresh TOTP code and none was given.
    #[error("{0}")]
    MfaRequired(String),
    /// The human has no TOTP enrolment.
    #[error("{0}")]
    MfaNotEnrolled(String),
    /// The TOTP code is malformed or wrong.
    #[error("{0}")]
    MfaInvalid(String),
    /// The TOTP code (or a later one) was already used.
    #[error("{0}")]
    MfaReplay(String),
    /// A bundle did not load; the active one keeps serving.
    #[error("the bundle is invalid; the active bundle keeps serving")]
    InvalidBundle(Vec<Diagnostic>),
    /// The record could not be written, so the decision is not given.
    #[error("the decision could not be recorded, so it is denied: {0}")]
    Unrecorded(String),
    /// A dependency is down.
    #[error("{0}")]
    Unavailable(String),
    /// `/mcp/{provider}` names a provider that is not an MCP server reached over Streamable
    /// HTTP, so nothing is fronted there.
    #[error(
        "provider `{0}` is not an MCP server reached over Streamable HTTP (`transport = \"streamable_http\"` with a `url`), so `/mcp/{0}` fronts nothing"
    )]
    NotMcpFront(String),
    /// The remote MCP server behind `/mcp/{provider}` could not be reached.
    #[error("the MCP server of provider `{provider}` cannot be reached: {message}")]
    Upstream {
        /// The provider.
        provider: String,
        /// Why.
        message: String,
    },
    /// The caller already holds as many MCP sessions at `/mcp/{provider}` as one caller may.
    #[error("{0}")]
    TooManySessions(String),
    /// A bug or an unexpected failure outside the decision path.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The one mapping of errors to HTTP status and stable code.
    fn parts(&self) -> (StatusCode, &'static str) {
        use tribune_identity::CredentialError as E;
        use tribune_policy::Code;
        match self {
            ApiError::MissingToken => (StatusCode::UNAUTHORIZED, "missing_token"),
            ApiError::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
            ApiError::RevokedToken => (StatusCode::UNAUTHORIZED, "revoked_token"),
            ApiError::Credential(E::Malformed(_) | E::Signing(_)) => {
                (StatusCode::UNAUTHORIZED, "credential_malformed")
            }
            ApiError::Credential(E::BadSignature) => (StatusCode::UNAUTHORIZED, "credential_bad_signature"),
            ApiError::Credential(E::UnsupportedAlgorithm { .. }) => {
                (StatusCode::UNAUTHORIZED, "credential_unsupported_algorithm")
            }
            ApiError::Credential(E::Expired { .. }) => (StatusCode::UNAUTHORIZED, "credential_expired"),
            ApiError::Credential(E::NotYetValid { .. }) => {
                (StatusCode::UNAUTHORIZED, "credential_not_yet_valid")
            }
            ApiError::Credential(E::WrongAudience { .. }) => {
                (StatusCode::UNAUTHORIZED, "credential_wrong_audience")
            }
            ApiError::Credential(E::WrongIssuer { .. }) => {
                (StatusCode::UNAUTHORIZED, "credential_wrong_issuer")
            }
            ApiError::Oidc(_) => (StatusCode::UNAUTHORIZED, "oidc_invalid"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::MalformedJson(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
            ApiError::InvalidBody(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
            ApiError::UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::InvalidQuery(_) => (StatusCode::BAD_REQUEST, "invalid_query"),
            ApiError::NoRoute(_) => (StatusCode::NOT_FOUND, "no_route"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Refused { code, .. } => match code {
                Code::UnknownPrincipal => (StatusCode::NOT_FOUND, "unknown_principal"),
                Code::UnknownTool => (StatusCode::NOT_FOUND, "unknown_tool"),
                Code::InvalidArguments => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_arguments"),
                Code::InvalidContext => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_context"),
                _ => (StatusCode::UNPROCESSABLE_ENTITY, "refused"),
            },
            ApiError::NotPending(_) => (StatusCode::CONFLICT, "not_pending"),
            ApiError::NotEligible(_) => (StatusCode::FORBIDDEN, "not_eligible"),
            ApiError::MfaRequired(_) => (StatusCode::FORBIDDEN, "mfa_required"),
            ApiError::MfaNotEnrolled(_) => (StatusCode::FORBIDDEN, "mfa_not_enrolled"),
            ApiError::MfaInvalid(_) => (StatusCode::FORBIDDEN, "mfa_invalid"),
            ApiError::MfaReplay(_) => (StatusCode::FORBIDDEN, "mfa_replay"),
            ApiError::InvalidBundle(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_bundle"),
            ApiError::Unrecorded(_) => (StatusCode::SERVICE_UNAVAILABLE, "unrecorded"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::NotMcpFront(_) => (StatusCode::NOT_FOUND, "not_mcp_front"),
            ApiError::Upstream { .. } => (StatusCode::BAD_GATEWAY, "upstream_unavailable"),
            ApiError::TooManySessions(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_sessions"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The stable code, for logs and metrics.
    pub fn code(&self) -> &'static str {
        self.parts().1
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let mut error = json!({ "code": code, "message": self.to_string() });
        if let ApiError::InvalidBundle(diagnostics) = &self {
            error["diagnostics"] = json!(
                diagnostics
                    .iter()
                    .map(|d| json!({
                        "location": d.location.to_string(),
                        "severity": d.severity,
                        "code": d.code,
                        "message": d.message,
                    }))
                    .collect::<Vec<_>>()
            );
        }
        let mut body = json!({ "error": error });
        if let ApiError::Refused { decision, .. } = self {
            body["decision"] = decision;
        }
        if status.is_server_error() {
            tracing::error!(code, status = status.as_u16(), message = %body["error"]["message"], "request failed");
        }
        let mut response = (status, Json(body)).into_response();
        response.extensions_mut().insert(ErrorCode(code));
        response
    }
}

/// The stable code of an error response, left in its extensions for the metrics layer.
#[derive(Clone, Copy, Debug)]
pub struct ErrorCode(pub &'static str);
