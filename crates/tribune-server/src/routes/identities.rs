//! Non-human identities and their credentials: `/v1/identities/...` and `/v1/credentials/...`.
//!
//! Admins (and, for their own identities, owners) manage the registry; agents and services
//! exchange their registration secret for a short-lived credential and may delegate a
//! narrower one. Every change is a ledger entry, and takes effect in this node's registry view
//! before it is answered (INVARIANT(revoke-before-answer)).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tribune_bundle::Id;
use tribune_identity::{Claims, Delegation, Scopes};
use tribune_policy::PrincipalKind;
use tribune_store::{
    CredentialRecord, IdentityKind, IdentityOrigin, IdentityRecord, IdentityState, TokenKind,
};

use super::{ApiJson, ApiPath as Path, log_event};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::identities::{Presented, facts, lifecycle_of, reach, registry_id, to_policy};
use crate::state::{AppState, ISSUER, now_ms};

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(format!("the identity registry is unavailable: {e}"))
}

/// An identity as the API shows it, with its lifecycle findings.
fn identity_json(r: &IdentityRecord, state: &AppState, now: i64) -> Value {
    let bundle = state.snapshot().bundle().clone();
    let findings = if r.state == IdentityState::Decommissioned {
        Vec::new()
    } else {
        tribune_identity::audit(&facts(r), &to_policy(&lifecycle_of(r, &bundle)), now)
    };
    json!({
        "id": r.id,
        "kind": r.kind.as_str(),
        "class": r.class,
        "owner": r.owner,
        "scopes": r.scopes,
        "origin": r.origin.as_str(),
        "state": r.state.as_str(),
        "state_reason": r.state_reason,
        "state_changed_at_ms": r.state_changed_at_ms,
        "state_changed_by": r.state_changed_by,
        "generation": r.generation,
        "created_at_ms": r.created_at_ms,
        "created_by": r.created_by,
        "approved_at_ms": r.approved_at_ms,
        "approved_by": r.approved_by,
        "last_used_at_ms": r.last_used_at_ms,
        "last_reviewed_at_ms": r.last_reviewed_at_ms,
        "reviewed_by": r.reviewed_by,
        "secret_rotated_at_ms": r.secret_rotated_at_ms,
        "findings": findings,
    })
}

fn credential_json(c: &CredentialRecord) -> Value {
    json!({
        "jti": c.jti,
        "identity": c.identity,
        "parent_jti": c.parent_jti,
        "actor": c.actor,
        "scopes": c.scopes,
        "audience": c.audience,
        "generation": c.generation,
        "issued_at_ms": c.issued_at_ms,
        "expires_at_ms": c.expires_at_ms,
        "revoked_at_ms": c.revoked_at_ms,
        "revoked_reason": c.revoked_reason,
    })
}

async fn record(state: &AppState, id: &str) -> Result<IdentityRecord, ApiError> {
    state
        .store
        .identity(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::NotFound {
            what: "identity",
            id: id.to_owned(),
        })
}

/// Admins may manage every identity; a human may manage the identities they own.
fn require_manager(caller: &Caller, state: &AppState, r: &IdentityRecord) -> Result<(), ApiError> {
    let owner = matches!(caller, Caller::Human(h) if *h == r.owner);
    if owner || caller.is_admin(state) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "managing `{}` needs an admin or its owner `{}`",
            r.id, r.owner
        )))
    }
}

/// Makes a registry change visible to this node's decisions before it is answered.
async fn publish(state: &AppState) -> Result<(), ApiError> {
    let runtime_changed = state
        .identities
        .refresh(&state.store)
        .await
        .map_err(unavailable)?;
    if runtime_changed {
        state.rebuild_for_registry().await.map_err(|e| {
            ApiError::Internal(format!("rebuilding the snapshot for the registry failed: {e}"))
        })?;
    }
    Ok(())
}

/// Revokes every registration secret of `r` but `keep`, returning how many.
async fn revoke_secrets(
    state: &AppState,
    r: &IdentityRecord,
    keep: Option<&str>,
    at: i64,
) -> Result<usize, ApiError> {
    let Some((kind, name)) = r.id.split_once(':') else {
        return Ok(0);
    };
    let kind: TokenKind = kind
        .parse()
        .map_err(|_| ApiError::Internal(format!("bad identity id `{}`", r.id)))?;
    let tokens = state.store.list_tokens().await.map_err(unavailable)?;
    let mut revoked = 0;
    for t in tokens
        .iter()
        .filter(|t| t.kind == kind && t.subject.as_deref() == Some(name) && t.revoked_at_ms.is_none())
        .filter(|t| keep != Some(t.id.as_str()))
    {
        if state.store.revoke_token(&t.id, at).await.map_err(unavailable)? {
            revoked += 1;
        }
    }
    Ok(revoked)
}

/// A new registration secret for `r`.
async fn new_secret(state: &AppState, r: &IdentityRecord, caller: &Caller) -> Result<Value, ApiError> {
    let (kind, name) =
        r.id.split_once(':')
            .ok_or_else(|| ApiError::Internal(format!("bad identity id `{}`", r.id)))?;
    let kind: TokenKind = kind
        .parse()
        .map_err(|_| ApiError::Internal(format!("bad identity id `{}`", r.id)))?;
    crate::routes::tokens::issue(
        &state.snapshot(),
        &state.store,
        kind,
        Some(name.to_owned()),
        format!("registration secret, generation {}", r.generation),
        &caller.actor(),
    )
    .await
}

/// `GET /v1/identities`: every identity, with its findings.
pub async fn list(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_auditor(&state)?;
    let now = now_ms();
    let records = state.store.identities().await.map_err(unavailable)?;
    let identities: Vec<Value> = records.iter().map(|r| identity_json(r, &state, now)).collect();
    Ok(Json(json!({ "identities": identities })))
}

/// `GET /v1/identities/audit`: every overdue rotation, overdue review and stale identity.
pub async fn audit(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require_auditor(&state)?;
    let now = now_ms();
    let bundle = state.snapshot().bundle().clone();
    let records = state.store.identities().await.map_err(unavailable)?;
    let mut findings = Vec::new();
    for r in records
        .iter()
        .filter(|r| r.state != IdentityState::Decommissioned)
    {
        for f in tribune_identity::audit(&facts(r), &to_policy(&lifecycle_of(r, &bundle)), now) {
            findings.push(json!({
                "identity": r.id,
                "owner": r.owner,
                "state": r.state.as_str(),
                "kind": f.kind,
                "due_at_ms": f.due_at_ms,
                "since_ms": f.since_ms,
            }));
        }
    }
    Ok(Json(json!({ "at_ms": now, "findings": findings })))
}

/// `GET /v1/identities/{id}`: one identity with its live credentials.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = record(&state, &id).await?;
    if !caller.is_auditor(&state) {
        require_manager(&caller, &state, &r)?;
    }
    let now = now_ms();
    let credentials = state
        .store
        .credentials_of(&r.id, false, now)
        .await
        .map_err(unavailable)?;
    let mut body = identity_json(&r, &state, now);
    body["credentials"] = json!(credentials.iter().map(credential_json).collect::<Vec<_>>());
    Ok(Json(body))
}

/// The body of `POST /v1/identities`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewIdentity {
    id: String,
    owner: String,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
}

/// `POST /v1/identities`: registers an agent or service at run time, under the same rules as
/// a declared one; answers its registration secret once.
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<NewIdentity>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    caller.require_admin(&state)?;
    let snapshot = state.snapshot();
    let bundle = snapshot.bundle();
    let (kind, name) = match body.id.split_once(':') {
        Some(("agent", n)) => (IdentityKind::Agent, n),
        Some(("service", n)) => (IdentityKind::Service, n),
        _ => {
            return Err(ApiError::InvalidBody(format!(
                "`id` must be `agent:NAME` or `service:NAME`, not `{}`",
                body.id
            )));
        }
    };
    Id::parse(name).map_err(|e| ApiError::InvalidBody(format!("`id`: {e}")))?;
    if bundle.agents.contains_key(name) || bundle.services.contains_key(name) {
        return Err(ApiError::Conflict(format!(
            "`{name}` is already declared in the bundle"
        )));
    }
    if !bundle.humans.contains_key(body.owner.as_str()) {
        return Err(ApiError::InvalidBody(format!(
            "owner `{}` is not a human declared in the bundle",
            body.owner
        )));
    }
    let class = match (kind, &body.class) {
        (IdentityKind::Agent, Some(c)) if bundle.classes.contains_key(c.as_str()) => Some(c.clone()),
        (IdentityKind::Agent, Some(c)) => {
            return Err(ApiError::InvalidBody(format!(
                "class `{c}` is not declared in the bundle"
            )));
        }
        (IdentityKind::Agent, None) => {
            return Err(ApiError::InvalidBody("an agent needs a `class`".to_owned()));
        }
        (IdentityKind::Service, Some(_)) => {
            return Err(ApiError::InvalidBody("a service has no `class`".to_owned()));
        }
        (IdentityKind::Service, None) => None,
    };
    if kind == IdentityKind::Service && body.scopes.is_empty() {
        return Err(ApiError::InvalidBody(
            "a service needs `scopes`: the tools it may call (a service without scopes may call none)"
                .to_owned(),
        ));
    }
    if let Some(t) = body
        .scopes
        .iter()
        .find(|t| !bundle.tools.contains_key(t.as_str()))
    {
        return Err(ApiError::InvalidBody(format!(
            "scope `{t}` is not a tool declared in the bundle"
        )));
    }
    let now = now_ms();
    let pending = bundle.identities.require_approval;
    let r = IdentityRecord {
        id: body.id.clone(),
        kind,
        class,
        owner: body.owner.clone(),
        scopes: body.scopes.clone(),
        origin: IdentityOrigin::Runtime,
        state: if pending {
            IdentityState::Pending
        } else {
            IdentityState::Active
        },
        state_reason: None,
        state_changed_at_ms: now,
        state_changed_by: Some(caller.actor()),
        generation: 1,
        created_at_ms: now,
        created_by: caller.actor(),
        approved_at_ms: None,
        approved_by: None,
        last_used_at_ms: None,
        last_reviewed_at_ms: None,
        reviewed_by: None,
        secret_rotated_at_ms: now,
    };
    state.store.insert_identity(&r).await.map_err(|e| match e {
        tribune_store::StoreError::Conflict { .. } => {
            ApiError::Conflict(format!("identity `{}` already exists", r.id))
        }
        e => unavailable(e),
    })?;
    log_event(
        &state,
        &caller,
        "identity",
        "identity_created",
        &r.id,
        json!({ "identity": r.id, "origin": "runtime", "owner": r.owner, "class": r.class, "scopes": r.scopes, "state": r.state.as_str() }),
    )
    .await?;
    publish(&state).await?;
    let secret = new_secret(&state, &r, &caller).await?;
    let mut answer = identity_json(&r, &state, now);
    answer["secret"] = secret["token"].clone();
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The body of a state change that takes a reason.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[serde(default)]
    reason: Option<String>,
}

fn reason_of(body: &ReasonBody) -> Result<Option<&str>, ApiError> {
    match body.reason.as_deref() {
        Some(r) if r.trim().is_empty() || r.chars().count() > 1000 => Err(ApiError::InvalidBody(
            "`reason` must be 1 to 1000 characters".to_owned(),
        )),
        r => Ok(r),
    }
}

/// Runs one conditional state change and records it.
async fn transition(
    state: &AppState,
    caller: &Caller,
    r: &IdentityRecord,
    from: &[IdentityState],
    to: IdentityState,
    reason: Option<&str>,
    event: &str,
) -> Result<IdentityRecord, ApiError> {
    let now = now_ms();
    let changed = state
        .store
        .set_identity_state(&r.id, from, to, reason, &caller.actor(), now)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::Conflict(format!("`{}` is {}, so it cannot become {to}", r.id, r.state)))?;
    log_event(
        state,
        caller,
        "identity",
        event,
        &r.id,
        json!({ "identity": r.id, "from": r.state.as_str(), "state": to.as_str(), "reason": reason }),
    )
    .await?;
    Ok(changed)
}

/// `POST /v1/identities/{id}/approve`: a human admin other than its creator lets a pending
/// identity act.
pub async fn approve(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = record(&state, &id).await?;
    if !matches!(caller, Caller::Human(_)) || !caller.is_admin(&state) {
        return Err(ApiError::Forbidden(
            "approving an identity needs a human with the `admin` role".to_owned(),
        ));
    }
    if r.created_by == caller.actor() {
        return Err(ApiError::Forbidden(format!(
            "`{}` created `{}`, so someone else must approve it",
            caller.actor(),
            r.id
        )));
    }
    let now = now_ms();
    let approved = state
        .store
        .approve_identity(&r.id, &caller.actor(), now)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::Conflict(format!("`{}` is {}, not pending", r.id, r.state)))?;
    log_event(
        &state,
        &caller,
        "identity",
        "identity_approved",
        &r.id,
        json!({ "identity": r.id }),
    )
    .await?;
    publish(&state).await?;
    Ok(Json(identity_json(&approved, &state, now)))
}

/// `POST /v1/identities/{id}/suspend`.
pub async fn suspend(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    let r = record(&state, &id).await?;
    require_manager(&caller, &state, &r)?;
    let reason = reason_of(&body)?;
    let from = [IdentityState::Active, IdentityState::Pending];
    let changed = transition(
        &state,
        &caller,
        &r,
        &from,
        IdentityState::Suspended,
        reason,
        "identity_suspended",
    )
    .await?;
    publish(&state).await?;
    Ok(Json(identity_json(&changed, &state, now_ms())))
}

/// `POST /v1/identities/{id}/reinstate`: an admin lets a suspended identity act again.
pub async fn reinstate(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin(&state)?;
    let r = record(&state, &id).await?;
    let changed = transition(
        &state,
        &caller,
        &r,
        &[IdentityState::Suspended],
        IdentityState::Active,
        None,
        "identity_reinstated",
    )
    .await?;
    publish(&state).await?;
    Ok(Json(identity_json(&changed, &state, now_ms())))
}

/// `POST /v1/identities/{id}/decommission`: retires it for good and revokes every credential
/// and registration secret at once.
pub async fn decommission(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    let r = record(&state, &id).await?;
    require_manager(&caller, &state, &r)?;
    let reason = reason_of(&body)?;
    let from = [
        IdentityState::Pending,
        IdentityState::Active,
        IdentityState::Suspended,
    ];
    let changed = transition(
        &state,
        &caller,
        &r,
        &from,
        IdentityState::Decommissioned,
        reason,
        "identity_decommissioned",
    )
    .await?;
    let now = now_ms();
    let credentials = state
        .store
        .revoke_identity_credentials(&r.id, "decommissioned", now)
        .await
        .map_err(unavailable)?;
    let secrets = revoke_secrets(&state, &r, None, now).await?;
    publish(&state).await?;
    let mut answer = identity_json(&changed, &state, now);
    answer["revoked_credentials"] = json!(credentials);
    answer["revoked_secrets"] = json!(secrets);
    Ok(Json(answer))
}

/// `POST /v1/identities/{id}/rotate`: a new registration secret; the old ones and every
/// credential issued under them stop working at once.
pub async fn rotate(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = record(&state, &id).await?;
    require_manager(&caller, &state, &r)?;
    let now = now_ms();
    let rotated = state
        .store
        .rotate_identity(&r.id, now)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::Conflict(format!("`{}` is decommissioned", r.id)))?;
    // The new secret exists before the old ones go, so the identity is never left without one.
    let secret = new_secret(&state, &rotated, &caller).await?;
    let secrets = revoke_secrets(&state, &r, secret["id"].as_str(), now).await?;
    log_event(
        &state,
        &caller,
        "identity",
        "identity_rotated",
        &r.id,
        json!({ "identity": r.id, "generation": rotated.generation, "revoked_secrets": secrets }),
    )
    .await?;
    publish(&state).await?;
    let mut answer = identity_json(&rotated, &state, now);
    answer["secret"] = secret["token"].clone();
    Ok(Json(answer))
}

/// `POST /v1/identities/{id}/review`: its owner or an admin confirms it is still needed with
/// its scopes. An identity suspended because its review lapsed acts again.
pub async fn review(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let r = record(&state, &id).await?;
    require_manager(&caller, &state, &r)?;
    let now = now_ms();
    let mut reviewed = state
        .store
        .review_identity(&r.id, &caller.actor(), now)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::Conflict(format!("`{}` is decommissioned", r.id)))?;
    log_event(
        &state,
        &caller,
        "identity",
        "identity_reviewed",
        &r.id,
        json!({ "identity": r.id }),
    )
    .await?;
    if reviewed.state == IdentityState::Suspended
        && reviewed.state_reason.as_deref() == Some(crate::identities::REVIEW_LAPSED)
    {
        reviewed = transition(
            &state,
            &caller,
            &reviewed,
            &[IdentityState::Suspended],
            IdentityState::Active,
            Some("reviewed"),
            "identity_reinstated",
        )
        .await?;
    }
    publish(&state).await?;
    Ok(Json(identity_json(&reviewed, &state, now)))
}

/// The body of `POST /v1/credentials`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRequest {
    /// Tools to cover (default: all the identity may reach).
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// Lifetime in seconds (default and maximum from `[identities]`).
    #[serde(default)]
    ttl_secs: Option<u64>,
}

/// The caller as an agent or service, with what it presented.
fn principal_of(caller: &Caller) -> Result<(PrincipalKind, &str), ApiError> {
    match caller {
        Caller::Agent(id) => Ok((PrincipalKind::Agent, id)),
        Caller::Service(id) => Ok((PrincipalKind::Service, id)),
        _ => Err(ApiError::Forbidden(
            "only an agent or a service holds credentials".to_owned(),
        )),
    }
}

fn ttl_of(state: &AppState, asked: Option<u64>) -> Result<i64, ApiError> {
    let snapshot = state.snapshot();
    let identities = &snapshot.bundle().identities;
    let ttl = asked.unwrap_or(u64::from(identities.credential_ttl_secs));
    if ttl == 0 || ttl > u64::from(identities.max_credential_ttl_secs) {
        return Err(ApiError::InvalidBody(format!(
            "`ttl_secs` must be between 1 and {} (`[identities] max_credential_ttl_secs`)",
            identities.max_credential_ttl_secs
        )));
    }
    Ok(i64::try_from(ttl).unwrap_or(i64::MAX))
}

/// Refuses the call when the registry refuses the identity or what it presented.
fn admit(
    state: &AppState,
    kind: PrincipalKind,
    name: &str,
    presented: &Presented,
    now: i64,
) -> Result<(), ApiError> {
    let snapshot = state.snapshot();
    match state
        .identities
        .refusal(kind, name, Some(presented), snapshot.bundle(), now)
    {
        // Asking for a credential is how a secret is used when only credentials are accepted.
        Some((tribune_policy::Code::CredentialRequired, _)) | None => Ok(()),
        Some((code, message)) => Err(ApiError::Forbidden(format!(
            "{message} ({})",
            serde_json::to_value(code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ))),
    }
}

/// Signs `claims` and records the credential.
async fn mint(state: &AppState, claims: &Claims, parent: Option<&Claims>) -> Result<Value, ApiError> {
    let token = state
        .identities
        .issuer()
        .issue(claims)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let record = CredentialRecord {
        jti: claims.jti.clone(),
        identity: claims.sub.clone(),
        parent_jti: parent.map(|p| p.jti.clone()),
        actor: parent.map(|_| claims.current_actor().to_owned()),
        scopes: claims.scope.iter().map(str::to_owned).collect(),
        audience: claims.aud.clone(),
        generation: claims.generation,
        issued_at_ms: claims.iat * 1000,
        expires_at_ms: claims.exp * 1000,
        revoked_at_ms: None,
        revoked_reason: None,
    };
    state
        .store
        .insert_credential(&record)
        .await
        .map_err(unavailable)?;
    Ok(json!({
        "credential": token,
        "jti": claims.jti,
        "subject": claims.sub,
        "scopes": record.scopes,
        "audience": claims.aud,
        "expires_at_ms": record.expires_at_ms,
        "chain": claims.chain(),
    }))
}

/// `POST /v1/credentials`: an agent or service exchanges its registration secret for a
/// short-lived credential.
pub async fn issue(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    presented: Option<axum::Extension<Presented>>,
    ApiJson(body): ApiJson<CredentialRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (kind, name) = principal_of(&caller)?;
    let Some(axum::Extension(presented @ Presented::Secret)) = presented else {
        return Err(ApiError::Forbidden(
            "a credential is issued for a registration secret; to pass a narrower one on, use `POST /v1/credentials/delegate`".to_owned(),
        ));
    };
    let now = now_ms();
    admit(&state, kind, name, &presented, now)?;
    let snapshot = state.snapshot();
    let reachable = reach(&snapshot, kind, name);
    let scopes: Scopes = match &body.scopes {
        Some(asked) => {
            if let Some(t) = asked.iter().find(|t| !reachable.contains(t.as_str())) {
                return Err(ApiError::Forbidden(format!(
                    "`{}` may not hold a credential for tool `{t}`: it is outside its scopes",
                    registry_id(kind, name)
                )));
            }
            asked.iter().map(String::as_str).collect()
        }
        None => reachable.iter().map(String::as_str).collect(),
    };
    let id = registry_id(kind, name);
    let view = state.identities.view();
    let r = view
        .get(&id)
        .ok_or_else(|| ApiError::Forbidden(format!("`{id}` is not in the identity registry")))?;
    let now_secs = now / 1000;
    let claims = Claims {
        iss: ISSUER.to_owned(),
        sub: id.clone(),
        aud: snapshot.bundle().identities.audience().to_owned(),
        iat: now_secs,
        nbf: now_secs,
        exp: now_secs + ttl_of(&state, body.ttl_secs)?,
        jti: uuid::Uuid::now_v7().to_string(),
        scope: scopes,
        generation: r.generation,
        cls: r.class.clone(),
        act: None,
        anc: Vec::new(),
    };
    let answer = mint(&state, &claims, None).await?;
    log_event(
        &state,
        &caller,
        "identity",
        "credential_issued",
        &claims.jti,
        json!({ "identity": id, "jti": claims.jti, "scopes": answer["scopes"], "expires_at_ms": answer["expires_at_ms"] }),
    )
    .await?;
    state.identities.touch(&id, now);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// The body of `POST /v1/credentials/delegate`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegateRequest {
    /// Who receives it: the sub-agent's name.
    actor: String,
    /// Tools to cover: at most the parent's (default: all of them).
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// Lifetime in seconds; never past the parent's expiry.
    #[serde(default)]
    ttl_secs: Option<u64>,
}

/// `POST /v1/credentials/delegate`: the holder of a credential mints a narrower one for a
/// sub-agent: within its scopes and expiry, never wider.
pub async fn delegate(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    presented: Option<axum::Extension<Presented>>,
    ApiJson(body): ApiJson<DelegateRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (kind, name) = principal_of(&caller)?;
    let Some(axum::Extension(Presented::Credential(parent))) = presented else {
        return Err(ApiError::Forbidden(
            "delegation needs a short-lived credential (`POST /v1/credentials`), not a registration secret"
                .to_owned(),
        ));
    };
    let now = now_ms();
    admit(
        &state,
        kind,
        name,
        &Presented::Credential(Arc::clone(&parent)),
        now,
    )?;
    let scopes = body
        .scopes
        .as_ref()
        .map(|s| s.iter().map(String::as_str).collect::<Scopes>());
    let request = Delegation {
        actor: body.actor.clone(),
        scopes,
        ttl_secs: u64::try_from(ttl_of(&state, body.ttl_secs)?).unwrap_or(0),
    };
    let child = tribune_identity::delegate(&parent, &request, now / 1000, uuid::Uuid::now_v7().to_string())
        .map_err(|e| ApiError::Forbidden(e.to_string()))?;
    let answer = mint(&state, &child, Some(&parent)).await?;
    log_event(
        &state,
        &caller,
        "identity",
        "credential_delegated",
        &child.jti,
        json!({ "identity": child.sub, "parent_jti": parent.jti, "jti": child.jti, "chain": child.chain(), "scopes": answer["scopes"], "expires_at_ms": answer["expires_at_ms"] }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `POST /v1/credentials/{jti}/revoke`: revokes a credential and every one delegated from it.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(jti): Path<String>,
    ApiJson(body): ApiJson<ReasonBody>,
) -> Result<Json<Value>, ApiError> {
    let credential = state
        .store
        .credential(&jti)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::NotFound {
            what: "credential",
            id: jti.clone(),
        })?;
    let r = record(&state, &credential.identity).await?;
    require_manager(&caller, &state, &r)?;
    let reason = reason_of(&body)?.unwrap_or("revoked");
    let revoked = state
        .store
        .revoke_credential(&jti, reason, now_ms())
        .await
        .map_err(unavailable)?;
    log_event(
        &state,
        &caller,
        "identity",
        "credential_revoked",
        &jti,
        json!({ "identity": r.id, "jti": jti, "reason": reason, "revoked": revoked }),
    )
    .await?;
    publish(&state).await?;
    Ok(Json(json!({ "jti": jti, "revoked": revoked })))
}

/// `GET /v1/credentials/jwks`: the public key credentials are signed with (RFC 7517).
pub async fn jwks(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.identities.issuer().jwks())
}
