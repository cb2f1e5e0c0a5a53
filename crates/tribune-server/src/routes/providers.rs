//! Provider vetting and tool description pins: `GET /v1/providers`, `GET /v1/providers/{id}`,
//! `POST /v1/providers/{id}/vet`, `POST /v1/providers/{id}/pin` and
//! `POST /v1/providers/{id}/tools` (the gateway's report of what the MCP server lists).
//!
//! Vetting and pinning are for a human with the `admin` role (personal token); every vetting,
//! pin, quarantine and re-approval is a ledger entry, and the in-memory view is refreshed
//! before the answer, so the next decision sees the change.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tribune_bundle::{Bundle, DeclaredVetting, Tool};
use tribune_policy::PrincipalKind;
use tribune_policy::vetting::{Current, description, description_hash};
use tribune_store::{ToolPinRecord, VettingRecord, Writes};

use super::{ApiJson, ApiPath as Path};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::providers::View;
use crate::state::{AppState, now_ms};
use crate::stops::{Event, Recorded, record_change};

/// An unguarded change's answer: recorded, or `503 unavailable` with neither the change nor its
/// entry written.
fn recorded(result: Result<Recorded, String>) -> Result<u64, ApiError> {
    match result {
        Ok(Recorded::At(index)) => Ok(index),
        Ok(Recorded::Stale) => Err(crate::stops::unrecorded(
            "the change",
            "the ledger refused the change as stale".to_owned(),
        )),
        Err(e) => Err(crate::stops::unrecorded("the change", e)),
    }
}

const DAY_MS: i64 = 86_400_000;
/// The longest a vetting may run: about five years.
const MAX_VALID_DAYS: i64 = 5 * 366;

/// The body of a vetting.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VetBody {
    status: String,
    expires_at_ms: Option<i64>,
    valid_days: Option<i64>,
    #[serde(default)]
    notes: String,
}

/// The body of a re-pin: the tools to pin (default: every tool of the provider).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinBody {
    tools: Option<Vec<String>>,
}

/// One tool as an MCP server lists it.
#[derive(Debug, Deserialize)]
pub struct ListedTool {
    name: String,
    description: Option<String>,
    #[serde(rename = "inputSchema")]
    input_schema: Value,
}

/// The gateway's report of what the MCP server lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    tools: Vec<ListedTool>,
}

fn unavailable(e: impl ToString) -> ApiError {
    ApiError::Unavailable(e.to_string())
}

fn provider_exists(bundle: &Bundle, id: &str) -> Result<(), ApiError> {
    if bundle.providers.contains_key(id) {
        Ok(())
    } else {
        Err(ApiError::NotFound {
            what: "provider",
            id: id.to_owned(),
        })
    }
}

fn tools_of<'a>(bundle: &'a Bundle, provider: &'a str) -> impl Iterator<Item = &'a Tool> + 'a {
    bundle
        .tools
        .values()
        .filter(move |t| t.provider.as_str() == provider)
}

fn vetting_json(v: &VettingRecord) -> Value {
    json!({
        "source": "recorded",
        "status": v.status,
        "reviewer": v.reviewer,
        "vetted_at_ms": v.vetted_at_ms,
        "expires_at_ms": v.expires_at_ms,
        "notes": v.notes,
    })
}

fn pin_json(tool: &str, pin: Option<&ToolPinRecord>) -> Value {
    match pin {
        None => json!({ "tool": tool, "state": "unpinned" }),
        Some(p) => json!({
            "tool": tool,
            "state": p.state,
            "hash": p.hash,
            "pinned_at_ms": p.pinned_at_ms,
            "pinned_by": p.pinned_by,
            "observed_hash": p.observed_hash,
        }),
    }
}

/// The vetting the bundle declares (`[providers.ID.vetting]`), dated by its `reviewed` day.
fn declared_json(d: &DeclaredVetting) -> Value {
    json!({
        "source": "bundle",
        "status": d.status.as_str(),
        "reviewer": d.reviewer_actor(),
        "reviewed": d.reviewed.to_string(),
        "expires": d.expires.to_string(),
        "vetted_at_ms": d.reviewed_at_ms(),
        "expires_at_ms": d.expires_at_ms(),
        "notes": d.notes.clone().unwrap_or_default(),
    })
}

/// A provider: its status and current vetting (the later of the bundle's declaration and the
/// latest run-time vetting), the declaration itself, and its tools' pins.
fn provider_json(bundle: &Bundle, view: &View, id: &str, now: i64) -> Value {
    let tools: Vec<Value> = tools_of(bundle, id)
        .map(|t| pin_json(t.id.as_str(), view.pins.get(t.id.as_str())))
        .collect();
    let current = view.effective(bundle, id, now);
    let vetting = match current {
        Current::None => None,
        Current::Declared(d) => Some(declared_json(d)),
        Current::Recorded { .. } => view.current(id).map(vetting_json),
    };
    let declared = bundle
        .providers
        .get(id)
        .and_then(|p| p.vetting.as_ref())
        .map(declared_json);
    json!({
        "id": id,
        "status": current.status(now).as_str(),
        "vetting": vetting,
        "declared": declared,
        "tools": tools,
    })
}

fn admin_human(state: &AppState, caller: &Caller, what: &str) -> Result<(), ApiError> {
    match caller {
        Caller::Human(_) if caller.is_admin(state) => Ok(()),
        _ => Err(ApiError::Forbidden(format!(
            "{what} needs a human with the `admin` role, with a personal token"
        ))),
    }
}

fn reader(caller: &Caller) -> Result<(), ApiError> {
    if matches!(caller, Caller::Human(_) | Caller::Admin) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "reading provider vettings needs a human's personal token or the admin token".to_owned(),
        ))
    }
}

/// The pin a vetting or re-pin gives `tool`: the description the gateway reported (observed,
/// or seen while quarantined) or, when none was reported, the bundle's own declaration.
fn new_pin(
    tool: &Tool,
    current: Option<&ToolPinRecord>,
    by: &str,
    at: i64,
) -> Result<ToolPinRecord, ApiError> {
    let (hash, text) = match current {
        Some(p) if p.state == "quarantined" => match (&p.observed_hash, &p.observed_description) {
            (Some(h), Some(d)) => (h.clone(), d.clone()),
            _ => (p.hash.clone(), p.description.clone()),
        },
        Some(p) => (p.hash.clone(), p.description.clone()),
        None => {
            let value = description(tool.id.as_str(), tool.description.as_deref(), &tool.input_schema);
            let hash = description_hash(&value).map_err(ApiError::InvalidBody)?;
            (hash, value.to_string())
        }
    };
    Ok(ToolPinRecord {
        tool: tool.id.to_string(),
        provider: tool.provider.to_string(),
        hash,
        description: text,
        pinned_at_ms: at,
        pinned_by: by.to_owned(),
        state: "pinned".to_owned(),
        observed_hash: None,
        observed_description: None,
    })
}

/// Every provider of the bundle with its vetting status and pins.
pub async fn list(State(state): State<Arc<AppState>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    reader(&caller)?;
    let snapshot = state.snapshot();
    let bundle = snapshot.bundle();
    let view = state.providers.view();
    let now = now_ms();
    let providers: Vec<Value> = bundle
        .providers
        .keys()
        .map(|id| provider_json(bundle, &view, id.as_str(), now))
        .collect();
    Ok(Json(
        json!({ "required": bundle.vetting.required, "providers": providers }),
    ))
}

/// One provider: its current vetting, the history and its tools' pins.
pub async fn show(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    reader(&caller)?;
    let snapshot = state.snapshot();
    let bundle = snapshot.bundle();
    provider_exists(bundle, &id)?;
    let view = state.providers.view();
    let mut body = provider_json(bundle, &view, &id, now_ms());
    let history: Vec<Value> = view
        .vettings
        .get(&id)
        .map(|h| h.iter().rev().map(vetting_json).collect())
        .unwrap_or_default();
    body["history"] = json!(history);
    Ok(Json(body))
}

/// Vets a provider and pins the descriptions of its tools that are not pinned yet.
pub async fn vet(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VetBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let snapshot = state.snapshot();
    let bundle = snapshot.bundle();
    provider_exists(bundle, &id)?;
    admin_human(&state, &caller, "vetting a provider")?;
    if !matches!(body.status.as_str(), "approved" | "probation" | "rejected") {
        return Err(ApiError::InvalidBody(
            "`status` must be `approved`, `probation` or `rejected`".to_owned(),
        ));
    }
    if body.notes.chars().count() > 4000 || body.notes.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::InvalidBody(
            "`notes` must be at most 4000 characters without control characters".to_owned(),
        ));
    }
    let now = now_ms();
    let expires_at_ms = match (body.expires_at_ms, body.valid_days) {
        (Some(at), None) => at,
        (None, Some(days)) if (1..=MAX_VALID_DAYS).contains(&days) => now + days * DAY_MS,
        (None, Some(_)) => {
            return Err(ApiError::InvalidBody(format!(
                "`valid_days` must be between 1 and {MAX_VALID_DAYS}"
            )));
        }
        _ => {
            return Err(ApiError::InvalidBody(
                "give exactly one of `expires_at_ms` and `valid_days`".to_owned(),
            ));
        }
    };
    let by = caller.actor();
    let view = state.providers.view();
    let mut pins = Vec::new();
    for tool in tools_of(bundle, &id) {
        let current = view.pins.get(tool.id.as_str());
        // A pinned or quarantined tool keeps its state: a quarantine is lifted only by a pin.
        if current.is_none_or(|p| p.state == "observed") {
            pins.push(new_pin(tool, current, &by, now)?);
        }
    }
    let record = VettingRecord {
        seq: 0,
        provider: id.clone(),
        status: body.status,
        reviewer: by.clone(),
        vetted_at_ms: now,
        expires_at_ms,
        notes: body.notes,
    };
    let pinned: Vec<Value> = pins
        .iter()
        .map(|p| json!({ "tool": p.tool, "hash": p.hash }))
        .collect();
    let mut writes = vec![record.insert_write()];
    writes.extend(pins.iter().map(ToolPinRecord::upsert_write));
    let event = Event {
        class: "provider",
        event: "provider_vetted",
        id: &id,
        actor: &by,
        correlation: None,
        details: json!({
            "provider": id,
            "status": record.status,
            "expires_at_ms": record.expires_at_ms,
            "notes": record.notes,
            "pinned": pinned,
        }),
    };
    recorded(record_change(&state, event, Writes::of(writes)).await)?;
    state.providers.refresh(&state.store).await.map_err(unavailable)?;
    let view = state.providers.view();
    Ok((
        StatusCode::CREATED,
        Json(provider_json(bundle, &view, &id, now_ms())),
    ))
}

/// Pins the current description of some (or all) of a provider's tools again, lifting a
/// quarantine.
pub async fn pin(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PinBody>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot();
    let bundle = snapshot.bundle();
    provider_exists(bundle, &id)?;
    admin_human(&state, &caller, "pinning tool descriptions")?;
    let chosen: Vec<&Tool> = match &body.tools {
        None => tools_of(bundle, &id).collect(),
        Some(names) => {
            let mut chosen = Vec::new();
            for name in names {
                match bundle.tools.get(name.as_str()) {
                    Some(t) if t.provider.as_str() == id => chosen.push(t),
                    _ => {
                        return Err(ApiError::InvalidBody(format!(
                            "`{name}` is not a tool of provider `{id}`"
                        )));
                    }
                }
            }
            chosen
        }
    };
    let by = caller.actor();
    let now = now_ms();
    let view = state.providers.view();
    let mut pins = Vec::new();
    let mut approved = Vec::new();
    for tool in chosen {
        let current = view.pins.get(tool.id.as_str());
        if current.is_some_and(|p| p.state == "quarantined") {
            approved.push(tool.id.to_string());
        }
        pins.push(new_pin(tool, current, &by, now)?);
    }
    let pinned: Vec<Value> = pins
        .iter()
        .map(|p| json!({ "tool": p.tool, "hash": p.hash }))
        .collect();
    let event = Event {
        class: "provider",
        event: "tool_pinned",
        id: &id,
        actor: &by,
        correlation: None,
        details: json!({ "provider": id, "pinned": pinned, "released_from_quarantine": approved }),
    };
    let writes = pins.iter().map(ToolPinRecord::upsert_write).collect();
    recorded(record_change(&state, event, Writes::of(writes)).await)?;
    state.providers.refresh(&state.store).await.map_err(unavailable)?;
    let view = state.providers.view();
    Ok(Json(provider_json(bundle, &view, &id, now_ms())))
}

/// The gateway reports the tools the provider's MCP server lists; each is compared with its
/// pin, and a changed one is quarantined. The answer names the tools to hide.
pub async fn report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReportBody>,
) -> Result<Json<Value>, ApiError> {
    if !matches!(caller, Caller::Agent(_) | Caller::Service(_) | Caller::Admin) {
        return Err(ApiError::Forbidden(
            "reporting a provider's tools needs an agent's or service's token (the gateway's)".to_owned(),
        ));
    }
    let snapshot = state.snapshot();
    let bundle = snapshot.bundle();
    provider_exists(bundle, &id)?;
    // A report can quarantine tools, which stops every agent calling them: only a principal
    // that may call one of the provider's tools (the gateway in front of it) reports.
    let principal = match &caller {
        Caller::Agent(a) => Some((PrincipalKind::Agent, a)),
        Caller::Service(s) => Some((PrincipalKind::Service, s)),
        _ => None,
    };
    if let Some((kind, who)) = principal {
        let reachable = snapshot
            .reachable_tools(kind, who)
            .map_err(|e| ApiError::Unavailable(format!("cannot analyse the active bundle: {e}")))?;
        let reaches = reachable.iter().any(|r| {
            bundle
                .tools
                .get(r.tool.as_str())
                .is_some_and(|t| t.provider.as_str() == id)
        });
        if !reaches {
            return Err(ApiError::Forbidden(format!(
                "`{}` may call none of provider `{id}`'s tools, so it may not report them",
                caller.actor()
            )));
        }
    }
    let now = now_ms();
    let by = caller.actor();
    let view = state.providers.view();
    let mut changed = false;
    for listed in &body.tools {
        let Some(tool) = bundle
            .tools
            .get(listed.name.as_str())
            .filter(|t| t.provider.as_str() == id)
        else {
            continue;
        };
        let value = description(&listed.name, listed.description.as_deref(), &listed.input_schema);
        let hash = description_hash(&value).map_err(ApiError::InvalidBody)?;
        let text = value.to_string();
        match view.pins.get(tool.id.as_str()) {
            None => {
                let observed = ToolPinRecord {
                    tool: tool.id.to_string(),
                    provider: id.clone(),
                    hash,
                    description: text,
                    pinned_at_ms: now,
                    pinned_by: by.clone(),
                    state: "observed".to_owned(),
                    observed_hash: None,
                    observed_description: None,
                };
                state.store.observe_tool(&observed).await.map_err(unavailable)?;
                changed = true;
            }
            Some(p) if p.state == "observed" => {
                if p.hash != hash {
                    let observed = ToolPinRecord {
                        hash,
                        description: text,
                        pinned_at_ms: now,
                        pinned_by: by.clone(),
                        ..p.clone()
                    };
                    state.store.observe_tool(&observed).await.map_err(unavailable)?;
                    changed = true;
                }
            }
            Some(p) if p.state == "pinned" && p.hash == hash => {}
            Some(p) => {
                let event = Event {
                    class: "provider",
                    event: "tool_quarantined",
                    id: tool.id.as_str(),
                    actor: &by,
                    correlation: None,
                    details: json!({ "provider": id, "tool": tool.id.as_str(), "pinned_hash": p.hash, "observed_hash": hash }),
                };
                // The guard changes the pin only if it is not quarantined for this description
                // already; then the entry records it, else nothing is written.
                let guard = ToolPinRecord::quarantine_write(tool.id.as_str(), &hash, &text);
                match record_change(&state, event, Writes::guarded(guard, 1, Vec::new())).await {
                    Ok(Recorded::At(_)) => {
                        changed = true;
                        tracing::warn!(tool = %tool.id, provider = %id, pinned = %p.hash, observed = %hash, "tool description changed; quarantined");
                    }
                    Ok(Recorded::Stale) => {}
                    Err(e) => return Err(crate::stops::unrecorded("the quarantine", e)),
                }
            }
        }
    }
    if changed {
        state.providers.refresh(&state.store).await.map_err(unavailable)?;
    }
    // A quarantined tool stays hidden even if this report no longer lists it differently.
    let view = state.providers.view();
    let mut hidden: Vec<String> = tools_of(bundle, &id)
        .filter(|t| view.quarantined(t.id.as_str()))
        .map(|t| t.id.to_string())
        .collect();
    hidden.sort();
    Ok(Json(json!({ "provider": id, "hidden": hidden })))
}
