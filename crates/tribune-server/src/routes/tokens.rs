//! `POST /v1/tokens`: the admin issues bearer tokens.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tribune_policy::Snapshot;
use tribune_store::{EntryMeta, IdentityState, LedgerAppend, SideRecord, Store, TokenKind, TokenRecord};

use super::ApiJson;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::{AppState, now_ms};

/// The token request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// `agent`, `service`, `human` or `admin`.
    pub kind: String,
    /// The agent, service or human it speaks for (none for `admin`).
    #[serde(default)]
    pub subject: Option<String>,
    /// A note for people.
    #[serde(default)]
    pub label: Option<String>,
}

/// Issues a token; the secret is shown in this response only.
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin(&state)?;
    let kind: TokenKind = body.kind.parse().map_err(|_| {
        ApiError::InvalidBody(format!(
            "`kind` must be `agent`, `service`, `human` or `admin`, not `{}`",
            body.kind
        ))
    })?;
    let issued = issue(
        &state.snapshot(),
        &state.store,
        kind,
        body.subject,
        body.label.unwrap_or_default(),
        &caller.actor(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Checks the subject against the active bundle, stores the hash, and returns the secret once.
pub async fn issue(
    snapshot: &Snapshot,
    store: &Store,
    kind: TokenKind,
    subject: Option<String>,
    label: String,
    issued_by: &str,
) -> Result<Value, ApiError> {
    let bundle = snapshot.bundle();
    let declared = |s: &str| match kind {
        TokenKind::Agent => bundle.agents.contains_key(s),
        TokenKind::Service => bundle.services.contains_key(s),
        TokenKind::Human => bundle.humans.contains_key(s),
        TokenKind::Admin => false,
    };
    match (&kind, &subject) {
        (TokenKind::Admin, Some(_)) => {
            return Err(ApiError::InvalidBody(
                "an admin token has no `subject`".to_owned(),
            ));
        }
        (TokenKind::Admin, None) => {}
        (_, None) => return Err(ApiError::InvalidBody(format!("a {kind} token needs a `subject`"))),
        (_, Some(s)) if !declared(s) => {
            return Err(ApiError::InvalidBody(format!(
                "{kind} `{s}` is not declared in the active bundle"
            )));
        }
        _ => {}
    }
    // A runtime identity awaiting approval gets its first secret from the approval, and a
    // decommissioned one gets none ever again.
    if let (TokenKind::Agent | TokenKind::Service, Some(s)) = (&kind, &subject) {
        let id = format!("{kind}:{s}");
        let registered = store
            .identity(&id)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        match registered.map(|r| r.state) {
            Some(IdentityState::Pending) => {
                return Err(ApiError::Conflict(format!(
                    "`{id}` awaits approval: its registration secret is issued when it is approved"
                )));
            }
            Some(IdentityState::Decommissioned) => {
                return Err(ApiError::Conflict(format!("`{id}` is decommissioned")));
            }
            _ => {}
        }
    }
    let secret = crate::tokens::mint();
    let record = TokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        hash: crate::tokens::hash(&secret),
        kind,
        subject: subject.clone(),
        label: label.clone(),
        created_at_ms: now_ms(),
        revoked_at_ms: None,
    };
    // The issuance is an identity change: it enters the ledger in the same transaction as the
    // token's hash (never the secret).
    let details = json!({ "token_id": record.id, "kind": kind.as_str(), "subject": subject, "label": label });
    let at = record.created_at_ms;
    let value = crate::ocsf::event(
        "token_issued",
        1,
        &format!("token/{}", record.id),
        issued_by,
        None,
        details,
        at,
    );
    let entry = crate::ocsf::entry(value).map_err(|e| ApiError::Internal(e.to_string()))?;
    let meta = EntryMeta {
        event_class: "identity".to_owned(),
        classification: None,
        correlation_uid: None,
        created_at_ms: at,
    };
    let id = record.id.clone();
    store
        .append_ledger(&[LedgerAppend {
            entry,
            meta,
            side: SideRecord::Token(record),
        }])
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(json!({ "id": id, "token": secret, "kind": kind.as_str(), "subject": subject, "label": label }))
}
