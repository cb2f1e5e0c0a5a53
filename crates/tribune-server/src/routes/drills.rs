//! Emergency-stop drills: `POST /v1/drills`, `GET /v1/drills`.
//!
//! A drill rehearses an emergency stop on a scope the bundle declares in `[drills] scopes` (a
//! canary agent, say). It stops the scope for real, exactly as `POST /v1/stops` does (the same
//! table, the same in-memory set, the same ledger event, reason `drill`); proves the stop is
//! enforced by deciding, in process, a representative call in the scope that would otherwise
//! be allowed to run, and takes the time from the command's start until that decision comes
//! back `stopped`; then resumes the stop at once. A drill passes when it was enforced in less
//! than the bundle's `[drills] target_ms` (the product's target, 50 ms, unless it says
//! otherwise).
//!
//! Two deliberate differences from a stop: the system resumes a drill's stop, not two holders
//! (the stop is marked as a drill's in the store, and only declared drill scopes can be
//! drilled); and a drill does not cancel the pending approval requests in its scope, because it
//! is a rehearsal. Every step is a ledger entry (`emergency_stop`, `stop_resumed`, then
//! `stop_drill` with the result), and the drill is recorded in the `drills` table. A failed
//! drill fires the bundle's `drill_failed` incident triggers.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tribune_bundle::{Bundle, Drills};
use tribune_policy::{CallScope, Code, Facts, Outcome, PrincipalKind, Request, Snapshot, Stop, StopScope};
use tribune_store::{DRILL_RESUMER, DrillRecord, StopRecord, Writes};

use super::{ApiJson, ApiQuery as Query};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::{AppState, now_ms};
use crate::stops::{Event, Recorded, record_change};

const DAY_MS: i64 = 86_400_000;

/// The body of a drill.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDrill {
    scope: String,
    mfa_code: Option<String>,
}

/// `GET /v1/drills` filters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrillsQuery {
    /// At most this many drills, newest first (default 100, capped at 1000).
    limit: Option<u32>,
}

/// The call a drill decides under its stop.
struct Probe {
    kind: PrincipalKind,
    principal: String,
    tool: String,
}

impl Probe {
    fn principal(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.principal)
    }
}

/// Where the drilled scope stands against the bundle's cadence.
pub struct Cadence {
    /// `[drills] cadence_days`, if declared.
    pub cadence_days: Option<u32>,
    /// When the latest passed drill started.
    pub last_passed_at_ms: Option<i64>,
    /// When the next drill is due (`None`: no cadence, or none ever passed, so it is due now).
    pub due_at_ms: Option<i64>,
    /// A cadence is declared and no drill passed within it.
    pub overdue: bool,
}

impl Cadence {
    /// The standing at `now_ms` of a deployment whose latest passed drill started at `last`.
    pub fn at(drills: &Drills, last: Option<i64>, now_ms: i64) -> Cadence {
        let cadence_days = drills.cadence_days.as_ref().map(|c| c.value);
        let due_at_ms = cadence_days
            .zip(last)
            .map(|(days, at)| at.saturating_add(i64::from(days) * DAY_MS));
        Cadence {
            cadence_days,
            last_passed_at_ms: last,
            due_at_ms,
            overdue: cadence_days.is_some() && due_at_ms.is_none_or(|due| now_ms > due),
        }
    }
}

fn drill_json(d: &DrillRecord) -> Value {
    let call = match (&d.principal, &d.tool) {
        (Some(principal), Some(tool)) => json!({ "principal": principal, "tool": tool }),
        _ => Value::Null,
    };
    json!({
        "id": d.id,
        "scope": d.scope,
        "drilled_by": d.drilled_by,
        "stop_id": d.stop_id,
        "call": call,
        "started_at_ms": d.started_at_ms,
        "enforced_ms": d.enforced_us.map(|us| us as f64 / 1000.0),
        "target_ms": d.target_us / 1000,
        "passed": d.passed,
        "failure": d.failure,
        "resumed_at_ms": d.resumed_at_ms,
    })
}

/// The principals `scope` covers, agents before services, each in id order.
fn principals_in<'b>(
    scope: &StopScope,
    bundle: &'b Bundle,
) -> Vec<(PrincipalKind, &'b str, Option<&'b str>)> {
    let agents = bundle
        .agents
        .values()
        .map(|a| (PrincipalKind::Agent, a.id.as_str(), Some(a.class.as_str())));
    let services = bundle
        .services
        .values()
        .map(|s| (PrincipalKind::Service, s.id.as_str(), None));
    match scope {
        StopScope::Agent(id) => agents.filter(|(_, a, _)| a == id).collect(),
        StopScope::Class(c) => agents
            .filter(|(_, _, class)| *class == Some(c.as_str()))
            .collect(),
        StopScope::Service(id) => services.filter(|(_, s, _)| s == id).collect(),
        StopScope::All | StopScope::Tool(_) | StopScope::Provider(_) => agents.chain(services).collect(),
    }
}

/// A call in `stop`'s scope that its principal may otherwise make, chosen deterministically:
/// the first principal (agents, then services, by id) and tool (by id) that `stop` covers and
/// the principal can reach, preferring a tool it may call alone over one that needs approval.
fn probe(snapshot: &Snapshot, stop: &Stop) -> Result<Option<Probe>, String> {
    let bundle = snapshot.bundle();
    let mut needs_approval: Option<Probe> = None;
    for (kind, principal, class) in principals_in(&stop.scope, bundle) {
        for reach in snapshot.reachable_tools(kind, principal)? {
            let provider = bundle
                .tools
                .get(reach.tool.as_str())
                .map_or("", |t| t.provider.as_str());
            let call = CallScope {
                kind,
                principal,
                class,
                tool: &reach.tool,
                provider,
            };
            if !stop.covers(&call) {
                continue;
            }
            let found = Probe {
                kind,
                principal: principal.to_owned(),
                tool: reach.tool.clone(),
            };
            if reach.approvals == 0 {
                return Ok(Some(found));
            }
            needs_approval.get_or_insert(found);
        }
    }
    Ok(needs_approval)
}

/// Brings the drill's stop into this node's set and decides `probe` under the set in force, as
/// the next decision on this node would be decided. Returns the microseconds from `started`
/// until the decision came back `stopped`.
async fn enforce(
    state: &AppState,
    stop: &Stop,
    probe: Option<&Probe>,
    started: Instant,
) -> Result<i64, String> {
    state
        .stops
        .refresh(&state.store)
        .await
        .map_err(|e| format!("loading the stop into this node's set failed: {e}"))?;
    let stops = state.stops.current();
    if !stops.iter().any(|s| s.id == stop.id) {
        return Err(format!(
            "stop `{}` is not in this node's set of stops in force",
            stop.id
        ));
    }
    let Some(probe) = probe else {
        return Err(format!(
            "no principal in `{}` may call any tool, so there is no call whose stop could be shown",
            stop.scope
        ));
    };
    let snapshot = state.snapshot();
    let arguments = json!({});
    let request = Request {
        kind: probe.kind,
        principal: &probe.principal,
        tool: &probe.tool,
        arguments: &arguments,
        session: None,
        context: None,
    };
    let facts = Facts {
        stops: &stops,
        ..Facts::default()
    };
    let now = now_ms();
    let decision = std::panic::catch_unwind(AssertUnwindSafe(|| snapshot.decide(&request, &facts, now)))
        .map_err(|_| "the decision point panicked deciding the drill's call".to_owned())?;
    let elapsed = i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX);
    match decision.reasons.first() {
        Some(r) if decision.decision == Outcome::Deny && r.code == Code::Stopped => Ok(elapsed),
        first => Err(format!(
            "`{}` calling `{}` under the stop was decided `{}` ({}), not `stopped`",
            probe.principal(),
            probe.tool,
            wire_name(&decision.decision),
            first.map_or_else(|| "no reason".to_owned(), |r| wire_name(&r.code)),
        )),
    }
}

/// A decision's verdict or reason code as the API writes it.
fn wire_name(v: &impl serde::Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => s,
        _ => "?".to_owned(),
    }
}

/// Records `stop`-class event `event` about `id` by `actor` with its change `writes`, in one
/// transaction; `Ok(None)` when a guarded change found its row moved on (nothing written).
async fn append(
    state: &AppState,
    actor: &str,
    event: &str,
    id: &str,
    details: Value,
    writes: Writes,
) -> Result<Option<u64>, String> {
    let event = Event {
        class: "stop",
        event,
        id,
        actor,
        correlation: None,
        details,
    };
    match record_change(state, event, writes).await? {
        Recorded::At(index) => Ok(Some(index)),
        Recorded::Stale => Ok(None),
    }
}

/// Drills an emergency stop on a declared drill scope, and records the measured time.
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    ApiJson(body): ApiJson<NewDrill>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let started = Instant::now();
    let started_at_ms = now_ms();
    let scope = StopScope::parse(body.scope.trim()).map_err(ApiError::InvalidBody)?;
    let snapshot = state.snapshot();
    crate::stops::check_scope(&scope, snapshot.bundle()).map_err(ApiError::InvalidBody)?;
    if !snapshot.bundle().drills.allows(&scope.to_string()) {
        let declared: Vec<String> = snapshot
            .bundle()
            .drills
            .scopes
            .iter()
            .map(|s| format!("`{}`", s.value))
            .collect();
        return Err(ApiError::InvalidBody(format!(
            "`{scope}` is not a drill scope: the active bundle's `[drills] scopes` {}",
            if declared.is_empty() {
                "declares none".to_owned()
            } else {
                format!("are {}", declared.join(", "))
            }
        )));
    }
    super::stops::stop_authority(&state, &caller, body.mfa_code.as_deref(), "drilling a stop").await?;
    // Once its stop is stored, a drill must run to its resume: in a task of its own, so a client
    // that hangs up does not leave the scope stopped.
    let drill = tokio::spawn(run(
        Arc::clone(&state),
        snapshot,
        caller.actor(),
        scope,
        started,
        started_at_ms,
    ));
    let body = drill
        .await
        .map_err(|e| ApiError::Internal(format!("the drill's task failed: {e}")))??;
    Ok((StatusCode::CREATED, Json(body)))
}

/// Stops `scope`, proves it enforced, resumes it, and records the drill by `actor`.
async fn run(
    state: Arc<AppState>,
    snapshot: Arc<Snapshot>,
    actor: String,
    scope: StopScope,
    started: Instant,
    started_at_ms: i64,
) -> Result<Value, ApiError> {
    let drill_id = format!("drill-{}", uuid::Uuid::now_v7());
    let record = StopRecord {
        id: format!("stop-{}", uuid::Uuid::now_v7()),
        scope: scope.to_string(),
        reason: "drill".to_owned(),
        stopped_by: actor.clone(),
        stopped_at_ms: now_ms(),
        resume_requested_by: None,
        resumed_by: None,
        resumed_at_ms: None,
    };
    let stop = Stop {
        id: record.id.clone(),
        scope,
        reason: record.reason.clone(),
        by: record.stopped_by.clone(),
    };
    let probe = probe(&snapshot, &stop);
    // The stop exists exactly when its entry does: if it cannot be recorded, nothing was
    // stopped and there is nothing to drill.
    let stop_entry = append(
        &state,
        &actor,
        "emergency_stop",
        &record.id,
        json!({ "stop": record.id, "scope": record.scope, "reason": record.reason, "mfa": true, "drill": drill_id }),
        Writes::of(vec![DrillRecord::stop_write(&record, &drill_id)]),
    )
    .await
    .map_err(|e| crate::stops::unrecorded("the drill's stop", e))?
    .ok_or_else(|| crate::stops::unrecorded("the drill's stop", "its insert was refused"))?;

    // From here on the stop is recorded: whatever the check finds, it is resumed below.
    let enforced = match &probe {
        Ok(p) => enforce(&state, &stop, p.as_ref(), started).await,
        Err(e) => Err(format!(
            "cannot analyse the active bundle for a call in scope: {e}"
        )),
    };
    tracing::warn!(stop = %record.id, drill = %drill_id, scope = %record.scope, by = %record.stopped_by, "emergency stop (drill)");

    // The resume commits with its `stop_resumed` entry, and only for a drill's stop still in
    // force. One that fails leaves the stop in force (two holders resume it) and fails the drill.
    let resumed_at_ms = now_ms();
    let resumed = append(
        &state,
        DRILL_RESUMER,
        "stop_resumed",
        &record.id,
        json!({ "stop": record.id, "by": DRILL_RESUMER, "drill": drill_id }),
        Writes::guarded(
            DrillRecord::resume_stop_write(&record.id, resumed_at_ms),
            1,
            Vec::new(),
        ),
    )
    .await;
    let not_resumed = match resumed {
        Ok(Some(_)) => {
            if let Err(e) = state.stops.refresh(&state.store).await {
                // The stop is lifted in the store; the poller drops it from this node's set on its next read.
                tracing::warn!(error = %e, stop = %record.id, "re-reading the stops after a drill failed");
            }
            None
        }
        Ok(None) => Some(format!(
            "the drill's stop `{}` was no longer in force to resume",
            record.id
        )),
        Err(e) => {
            tracing::error!(error = %e, stop = %record.id, "a drill's stop could not be resumed; it stays in force");
            Some(format!(
                "the drill's stop `{}` could not be resumed and stays in force until two holders of stop authority resume it: {e}",
                record.id
            ))
        }
    };

    let target_us = i64::from(state.snapshot().bundle().drills.target_ms()) * 1000;
    let (enforced_us, failure) = match enforced {
        Ok(us) if us < target_us => (Some(us), None),
        Ok(us) => (
            Some(us),
            Some(format!(
                "enforced after {:.3} ms, not within the {} ms target",
                us as f64 / 1000.0,
                target_us / 1000
            )),
        ),
        Err(why) => (None, Some(why)),
    };
    let failure = match (failure, not_resumed) {
        (Some(f), Some(r)) => Some(format!("{f}; {r}")),
        (f, r) => f.or(r),
    };
    let (principal, tool) = match probe.ok().flatten() {
        Some(p) => (Some(p.principal()), Some(p.tool)),
        None => (None, None),
    };
    let drill = DrillRecord {
        id: drill_id,
        scope: record.scope.clone(),
        drilled_by: actor.clone(),
        stop_id: record.id.clone(),
        principal,
        tool,
        started_at_ms,
        enforced_us,
        target_us,
        passed: failure.is_none(),
        failure,
        resumed_at_ms,
    };
    tracing::info!(drill = %drill.id, scope = %drill.scope, passed = drill.passed, enforced_us = ?drill.enforced_us, "stop drill");
    let body = drill_json(&drill);
    let last_entry = append(
        &state,
        &actor,
        "stop_drill",
        &drill.id,
        body.clone(),
        Writes::of(vec![drill.insert_write()]),
    )
    .await;
    if let Some(why) = &drill.failure {
        // The ledger range from the drill's stop to its result is the incident's evidence; a
        // drill whose result could not be recorded still fires, with its stop as evidence.
        let last = match &last_entry {
            Ok(Some(index)) => *index,
            _ => stop_entry,
        };
        crate::incidents::drill_failed(
            &state,
            &drill.id,
            Some((stop_entry, last)),
            json!({ "scope": drill.scope, "failure": why }),
        );
    }
    match last_entry {
        Ok(Some(_)) => Ok(body),
        Ok(None) => Err(crate::stops::unrecorded(
            "the drill's record",
            "its insert was refused",
        )),
        Err(e) => Err(crate::stops::unrecorded("the drill's record", e)),
    }
}

/// The drills, newest first, and where the deployment stands against its cadence: admins,
/// auditors and holders of stop authority.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(query): Query<DrillsQuery>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state.snapshot();
    let bundle = snapshot.bundle();
    let holder = match &caller {
        Caller::Human(id) => bundle.humans.get(id.as_str()).is_some_and(|h| h.stop_authority),
        _ => false,
    };
    if !holder && !caller.is_auditor(&state) {
        return Err(ApiError::Forbidden(
            "listing drills needs the admin token, a human with the `admin` or `auditor` role, or a holder of stop authority"
                .to_owned(),
        ));
    }
    let limit = query.limit.unwrap_or(100).min(1000);
    let unavailable = |e: tribune_store::StoreError| ApiError::Unavailable(e.to_string());
    let drills = state.store.drills(limit).await.map_err(unavailable)?;
    let last = state.store.last_passed_drill().await.map_err(unavailable)?;
    let cadence = Cadence::at(&bundle.drills, last.map(|d| d.started_at_ms), now_ms());
    Ok(Json(json!({
        "drills": drills.iter().map(drill_json).collect::<Vec<_>>(),
        "scopes": bundle.drills.scopes.iter().map(|s| s.value.as_str()).collect::<Vec<_>>(),
        "cadence_days": cadence.cadence_days,
        "last_passed_at_ms": cadence.last_passed_at_ms,
        "due_at_ms": cadence.due_at_ms,
        "overdue": cadence.overdue,
    })))
}
