//! Non-human identities and their credentials: `/v1/identities/...` and `/v1/credentials/...`.
//!
//! Admins (and, for their own identities, owners) manage the registry; agents and services
//! exchange their registration secret for a short-lived credential and may delegate a
//! narrower one. Every change is committed in the same transaction as its ledger entry
//! ([`SideRecord::Writes`]: both or neither), and takes effect in this node's registry view
//! before it is answered (INVARIANT(revoke-before-answer)). A state change is compare-and-set:
//! if the identity moved on since it was read, nothing is written and the answer is 409.

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
    Appended, CredentialRecord, IdentityKind, IdentityOrigin, IdentityRecord, IdentityState, SideRecord,
    Store, TokenKind, TokenRecord, Write, Writes,
};

use super::{ApiJson, ApiPath as Path};
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

/// Makes a registry change visible to this node's decisions before it is answered. A change
/// that adds or retires a runtime identity (`runtime`) rebuilds the snapshot whatever the
/// refresh saw: the poller may have installed the new view first, its own rebuild still to
/// come.
async fn publish(state: &AppState, runtime: bool) -> Result<(), ApiError> {
    let runtime_changed = state
        .identities
        .refresh(&state.store)
        .await
        .map_err(unavailable)?;
    if runtime_changed || runtime {
        state.rebuild_for_registry().await.map_err(|e| {
            ApiError::Internal(format!("rebuilding the snapshot for the registry failed: {e}"))
        })?;
    }
    Ok(())
}

/// Commits `writes` in the same transaction as the ledger entry `event` about `subject`, made
/// by `caller` at `at`. `false` if a guarded change found its row moved on: nothing was written.
async fn commit(
    state: &AppState,
    caller: &Caller,
    event: &str,
    subject: &str,
    details: Value,
    at: i64,
    writes: Writes,
) -> Result<bool, ApiError> {
    let value = crate::ocsf::event(
        event,
        3,
        &format!("{event}/{subject}/{at}"),
        &caller.actor(),
        None,
        details,
        at,
    );
    let appended = state
        .ledger
        .record_event("identity", value, at, SideRecord::Writes(writes))
        .await
        .map_err(|e| ApiError::Unrecorded(e.to_string()))?;
    Ok(matches!(appended, Appended::Entry { .. }))
}

/// The token kind and subject of `r`'s registration secrets.
fn secret_subject(r: &IdentityRecord) -> Result<(TokenKind, &str), ApiError> {
    let bad = || ApiError::Internal(format!("bad identity id `{}`", r.id));
    let (kind, name) = r.id.split_once(':').ok_or_else(bad)?;
    Ok((kind.parse().map_err(|_| bad())?, name))
}

/// A new registration secret for `r` at generation `generation`: the token row to commit with
/// the change that issues it, and the secret, shown once.
fn new_secret(r: &IdentityRecord, generation: u32, at: i64) -> Result<(TokenRecord, String), ApiError> {
    let (kind, name) = secret_subject(r)?;
    let secret = crate::tokens::mint();
    let record = TokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        hash: crate::tokens::hash(&secret),
        kind,
        subject: Some(name.to_owned()),
        label: format!("registration secret, generation {generation}"),
        created_at_ms: at,
        revoked_at_ms: None,
    };
    Ok((record, secret))
}

/// Revokes every registration secret of `r` but `keep`.
fn revoke_secrets(r: &IdentityRecord, keep: Option<&str>, at: i64) -> Result<Write, ApiError> {
    let (kind, name) = secret_subject(r)?;
    Ok(Store::revoke_subject_tokens_write(kind, name, keep, at))
}

/// How many of `r`'s registration secrets were revoked at `at`.
async fn secrets_revoked_at(state: &AppState, r: &IdentityRecord, at: i64) -> Result<usize, ApiError> {
    let (kind, name) = secret_subject(r)?;
    let tokens = state.store.list_tokens().await.map_err(unavailable)?;
    Ok(tokens
        .iter()
        .filter(|t| t.kind == kind && t.subject.as_deref() == Some(name) && t.revoked_at_ms == Some(at))
        .count())
}

/// How many of `identity`'s credentials were revoked at `at` for `reason`.
async fn credentials_revoked_at(
    state: &AppState,
    identity: &str,
    reason: &str,
    at: i64,
) -> Result<usize, ApiError> {
    let credentials = state
        .store
        .credentials_of(identity, true, at)
        .await
        .map_err(unavailable)?;
    Ok(credentials
        .iter()
        .filter(|c| c.revoked_at_ms == Some(at) && c.revoked_reason.as_deref() == Some(reason))
        .count())
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
/// a declared one; answers its registration secret once. Under `require_approval` it is
/// pending and has no secret yet: the approval issues it (see [`approve`]).
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
    let secret = if pending {
        None
    } else {
        Some(new_secret(&r, r.generation, now)?)
    };
    let then = secret
        .iter()
        .map(|(token, _)| Store::insert_token_write(token))
        .collect();
    let details = json!({
        "identity": r.id, "origin": "runtime", "owner": r.owner, "class": r.class,
        "scopes": r.scopes, "state": r.state.as_str(),
        "secret_token_id": secret.as_ref().map(|(token, _)| token.id.clone()),
    });
    let inserted = Writes::guarded(Store::insert_identity_write(&r), 1, then);
    if !commit(&state, &caller, "identity_created", &r.id, details, now, inserted).await? {
        return Err(ApiError::Conflict(format!("identity `{}` already exists", r.id)));
    }
    publish(&state, true).await?;
    let mut answer = identity_json(&r, &state, now);
    if let Some((_, secret)) = secret {
        answer["secret"] = json!(secret);
    }
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
    transition_with(state, caller, r, from, to, reason, event, |_| Ok(Vec::new()))
        .await
        .map(|(changed, _)| changed)
}

/// [`transition`], with `then(now)` committed in the same transaction. Returns the identity as
/// it is afterwards and when the change was made.
#[allow(clippy::too_many_arguments)]
async fn transition_with(
    state: &AppState,
    caller: &Caller,
    r: &IdentityRecord,
    from: &[IdentityState],
    to: IdentityState,
    reason: Option<&str>,
    event: &str,
    then: impl FnOnce(i64) -> Result<Vec<Write>, ApiError>,
) -> Result<(IdentityRecord, i64), ApiError> {
    let now = now_ms();
    let conflict = |now: &IdentityRecord| {
        ApiError::Conflict(format!("`{}` is {}, so it cannot become {to}", now.id, now.state))
    };
    if r.state == IdentityState::Decommissioned || !from.contains(&r.state) {
        return Err(conflict(r));
    }
    let change = Store::identity_state_write(&r.id, from, to, reason, &caller.actor(), now);
    let details =
        json!({ "identity": r.id, "from": r.state.as_str(), "state": to.as_str(), "reason": reason });
    let writes = Writes::guarded(change, 1, then(now)?);
    if !commit(state, caller, event, &r.id, details, now, writes).await? {
        return Err(conflict(&record(state, &r.id).await?));
    }
    Ok((record(state, &r.id).await?, now))
}

/// `POST /v1/identities/{id}/approve`: a human admin other than its creator lets a pending
/// identity act. The approval issues its registration secret, answered to the approver once
/// (`secret`), who hands it to the agent's deployment; should it be lost, its owner or an admin
/// rotates it.
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
    let not_pending =
        |r: &IdentityRecord| ApiError::Conflict(format!("`{}` is {}, not pending", r.id, r.state));
    if r.state != IdentityState::Pending {
        return Err(not_pending(&r));
    }
    let (token, secret) = new_secret(&r, r.generation, now)?;
    let writes = Writes::guarded(
        Store::approve_identity_write(&r.id, &caller.actor(), now),
        1,
        vec![Store::insert_token_write(&token)],
    );
    let details = json!({ "identity": r.id, "secret_token_id": token.id });
    if !commit(&state, &caller, "identity_approved", &r.id, details, now, writes).await? {
        return Err(not_pending(&record(&state, &r.id).await?));
    }
    publish(&state, false).await?;
    let approved = record(&state, &r.id).await?;
    let mut answer = identity_json(&approved, &state, now);
    answer["secret"] = json!(secret);
    Ok(Json(answer))
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
    publish(&state, false).await?;
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
    publish(&state, false).await?;
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
    // The new state, the revocation of every credential and every secret, and the entry: one
    // transaction.
    let result = transition_with(
        &state,
        &caller,
        &r,
        &from,
        IdentityState::Decommissioned,
        reason,
        "identity_decommissioned",
        |now| {
            Ok(vec![
                Store::revoke_identity_credentials_write(&r.id, "decommissioned", now),
                revoke_secrets(&r, None, now)?,
            ])
        },
    )
    .await;
    // INVARIANT(token-revocation-epoch): counted whatever the outcome.
    state.store.note_token_revocations();
    let (changed, now) = result?;
    publish(&state, r.origin == IdentityOrigin::Runtime).await?;
    let credentials = credentials_revoked_at(&state, &r.id, "decommissioned", now).await?;
    let secrets = secrets_revoked_at(&state, &r, now).await?;
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
    let cannot = |r: &IdentityRecord| match r.state {
        IdentityState::Pending => ApiError::Conflict(format!(
            "`{}` awaits approval: its registration secret is issued when it is approved",
            r.id
        )),
        _ => ApiError::Conflict(format!(
            "`{}` is {}, so it has no secret to rotate",
            r.id, r.state
        )),
    };
    if !matches!(r.state, IdentityState::Active | IdentityState::Suspended) {
        return Err(cannot(&r));
    }
    let generation = r.generation + 1;
    let (token, secret) = new_secret(&r, generation, now)?;
    // The generation goes up, every older credential and every other secret is revoked, the
    // new secret is stored, and the entry is appended: one transaction. The guard is on the
    // generation read, so two rotations racing cannot both win.
    let writes = Writes::guarded(
        Store::rotate_identity_write(&r.id, r.generation, now),
        1,
        vec![
            Store::revoke_rotated_credentials_write(&r.id, generation, now),
            Store::insert_token_write(&token),
            revoke_secrets(&r, Some(&token.id), now)?,
        ],
    );
    let details = json!({ "identity": r.id, "generation": generation, "secret_token_id": token.id });
    let committed = commit(&state, &caller, "identity_rotated", &r.id, details, now, writes).await;
    // INVARIANT(token-revocation-epoch): counted whatever the outcome.
    state.store.note_token_revocations();
    if !committed? {
        let now_is = record(&state, &r.id).await?;
        return Err(match now_is.state {
            IdentityState::Active | IdentityState::Suspended => ApiError::Conflict(format!(
                "`{}` was rotated meanwhile (generation {}); read it again",
                r.id, now_is.generation
            )),
            _ => cannot(&now_is),
        });
    }
    publish(&state, false).await?;
    let rotated = record(&state, &r.id).await?;
    let mut answer = identity_json(&rotated, &state, now);
    answer["secret"] = json!(secret);
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
    let decommissioned = || ApiError::Conflict(format!("`{}` is decommissioned", r.id));
    if r.state == IdentityState::Decommissioned {
        return Err(decommissioned());
    }
    let writes = Writes::guarded(
        Store::review_identity_write(&r.id, &caller.actor(), now),
        1,
        Vec::new(),
    );
    let details = json!({ "identity": r.id });
    if !commit(&state, &caller, "identity_reviewed", &r.id, details, now, writes).await? {
        return Err(decommissioned());
    }
    let mut reviewed = record(&state, &r.id).await?;
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
    publish(&state, false).await?;
    Ok(Json(identity_json(&reviewed, &state, now)))
}

/// The tool ids `asked` names: each a tool id, or `provider:ID` for every tool of that
/// provider (expanded against the active bundle now, at issue time).
fn expand_scopes(bundle: &tribune_bundle::Bundle, asked: &[String]) -> Result<Vec<String>, ApiError> {
    let mut tools = Vec::new();
    for scope in asked {
        match scope.strip_prefix("provider:") {
            Some(provider) => {
                if !bundle.providers.contains_key(provider) {
                    return Err(ApiError::InvalidBody(format!(
                        "scope `{scope}` names no provider declared in the bundle"
                    )));
                }
                tools.extend(
                    bundle
                        .tools
                        .values()
                        .filter(|t| t.provider.as_str() == provider)
                        .map(|t| t.id.to_string()),
                );
            }
            None => tools.push(scope.clone()),
        }
    }
    tools.sort();
    tools.dedup();
    Ok(tools)
}

/// The body of `POST /v1/credentials`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRequest {
    /// Tools to cover, by tool id or `provider:ID` (default: all the identity may reach).
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

/// Signs `claims`; returns the answer and the write that records the credential, to commit
/// with its ledger entry.
fn mint(state: &AppState, claims: &Claims, parent: Option<&Claims>) -> Result<(Value, Write), ApiError> {
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
    let answer = json!({
        "credential": token,
        "jti": claims.jti,
        "subject": claims.sub,
        "scopes": record.scopes,
        "audience": claims.aud,
        "expires_at_ms": record.expires_at_ms,
        "chain": claims.chain(),
    });
    Ok((answer, Store::insert_credential_write(&record)))
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
    let declared = match kind {
        PrincipalKind::Agent => snapshot.bundle().agents.contains_key(name),
        PrincipalKind::Service => snapshot.bundle().services.contains_key(name),
    };
    if !declared {
        return Err(ApiError::Forbidden(format!(
            "`{}` is not declared in the active bundle",
            registry_id(kind, name)
        )));
    }
    let reachable = reach(&snapshot, kind, name);
    let scopes: Scopes = match &body.scopes {
        Some(asked) => {
            let asked = expand_scopes(snapshot.bundle(), asked)?;
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
    let (answer, write) = mint(&state, &claims, None)?;
    let details = json!({ "identity": id, "jti": claims.jti, "generation": claims.generation, "scopes": answer["scopes"], "expires_at_ms": answer["expires_at_ms"] });
    commit(
        &state,
        &caller,
        "credential_issued",
        &claims.jti,
        details,
        now,
        Writes::of(vec![write]),
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
    /// Tools to cover, by tool id or `provider:ID`: at most the parent's (default: all of
    /// them).
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
    let expanded = match &body.scopes {
        Some(asked) => Some(expand_scopes(state.snapshot().bundle(), asked)?),
        None => None,
    };
    let scopes = expanded
        .as_ref()
        .map(|s| s.iter().map(String::as_str).collect::<Scopes>());
    let request = Delegation {
        actor: body.actor.clone(),
        scopes,
        ttl_secs: u64::try_from(ttl_of(&state, body.ttl_secs)?).unwrap_or(0),
    };
    let child = tribune_identity::delegate(&parent, &request, now / 1000, uuid::Uuid::now_v7().to_string())
        .map_err(|e| ApiError::Forbidden(e.to_string()))?;
    let (answer, write) = mint(&state, &child, Some(&parent))?;
    let details = json!({ "identity": child.sub, "parent_jti": parent.jti, "ancestors": child.anc, "jti": child.jti, "chain": child.chain(), "scopes": answer["scopes"], "expires_at_ms": answer["expires_at_ms"] });
    commit(
        &state,
        &caller,
        "credential_delegated",
        &child.jti,
        details,
        now,
        Writes::of(vec![write]),
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
    let now = now_ms();
    let details = json!({ "identity": r.id, "jti": jti, "reason": reason });
    let writes = Writes::of(vec![Store::revoke_credential_write(&jti, reason, now)]);
    commit(&state, &caller, "credential_revoked", &jti, details, now, writes).await?;
    publish(&state, false).await?;
    let revoked = credentials_revoked_at(&state, &r.id, reason, now).await?;
    Ok(Json(json!({ "jti": jti, "revoked": revoked })))
}

/// `GET /v1/credentials/jwks`: the public key credentials are signed with (RFC 7517).
pub async fn jwks(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.identities.issuer().jwks())
}
