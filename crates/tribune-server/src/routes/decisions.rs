//! `POST /v1/decisions`, `GET /v1/decisions/{id}`, `POST /v1/decisions/{id}/outcome`.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tribune_policy::{Code, Credential, Decision, Facts, Outcome, PrincipalKind, Request};
use tribune_store::{Appended, DecisionRecord, EntryMeta, OutcomeRecord, SideRecord};

use super::ApiJson;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::identities::Presented;
use crate::metrics::DecisionLabels;
use crate::state::{AppState, now_ms};

/// The decide request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideBody {
    /// The tool to call.
    pub tool: String,
    /// Its arguments (an object; defaults to `{}`).
    #[serde(default = "empty_object")]
    pub arguments: Value,
    /// The agent's session id.
    #[serde(default)]
    pub session: Option<String>,
    /// Request context attributes the bundle declares.
    #[serde(default)]
    pub context: Option<Map<String, Value>>,
    /// For a dry run with an admin token: the agent to decide for.
    #[serde(default)]
    pub agent: Option<String>,
    /// For a dry run with an admin token: the service to decide for.
    #[serde(default)]
    pub service: Option<String>,
    /// If the call is held, wait up to this many milliseconds (at most the bundle's
    /// `[hitl] max_wait_secs`) for the approval request to be resolved.
    #[serde(default)]
    pub wait_ms: Option<u64>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Decides one tool call and records the decision durably before answering.
///
/// With `wait_ms`, a held call waits (at most the bundle's `[hitl] max_wait_secs`) for its
/// approval request to be resolved. Once it is approved, the call is decided again — that
/// decision uses the approval — and the allow is the answer; otherwise the answer is the hold,
/// with `approval_state` saying where the request stands.
pub async fn decide(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    presented: Option<axum::Extension<Presented>>,
    ApiJson(body): ApiJson<DecideBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let presented = presented.map(|axum::Extension(p)| p);
    let caller = (&caller, presented.as_ref());
    let mut answer = decide_once(&state, caller, &body).await?;
    let wait = Duration::from_millis(body.wait_ms.unwrap_or(0)).min(crate::hitl::max_wait(&state.snapshot()));
    let Some(approval) = answer["approval_id"].as_str().map(str::to_owned) else {
        return Ok((StatusCode::OK, Json(answer)));
    };
    if wait.is_zero() || answer["decision"] != "hold" {
        return Ok((StatusCode::OK, Json(answer)));
    }
    match crate::hitl::wait(&state, &approval, wait).await {
        Ok(request) if request.is_usable_at(now_ms()) => {
            return decide_once(&state, caller, &body)
                .await
                .map(|a| (StatusCode::OK, Json(a)));
        }
        Ok(request) => answer["approval_state"] = serde_json::json!(request.state().kind()),
        // The hold is recorded and stands; the caller can poll the request instead.
        Err(e) => tracing::warn!(approval = %approval, error = %e, "waiting for an approval failed"),
    }
    Ok((StatusCode::OK, Json(answer)))
}

/// One decision: the pure decision point, then the HITL program (`crate::hitl::settle`), then
/// the durable record.
async fn decide_once(
    state: &AppState,
    (caller, presented): (&Caller, Option<&Presented>),
    body: &DecideBody,
) -> Result<Value, ApiError> {
    let started = Instant::now();
    let (kind, principal, dry_run) = principal_for(caller, body, state)?;
    if body.session.as_ref().is_some_and(|s| s.chars().count() > 256) {
        return Err(ApiError::InvalidBody(
            "`session` is longer than 256 characters".to_owned(),
        ));
    }
    let snapshot = state.snapshot();
    let now = now_ms();
    let stops = state.stops.current();
    // INVARIANT(revoke-before-answer): the registry is consulted on every decision, after the
    // credential cache, so a revocation or suspension is never outlived by a cached credential.
    let refusal = state
        .identities
        .refusal(kind, &principal, presented, snapshot.bundle(), now);
    let claims = match presented {
        Some(Presented::Credential(claims)) => Some(claims),
        _ => None,
    };
    let scopes = claims.map(|c| c.scope.as_set());
    if refusal.is_none() && !dry_run {
        state
            .identities
            .touch(&crate::identities::registry_id(kind, &principal), now);
    }
    // Taint: the arguments that carry values seen in untrusted tools' results in this session.
    let session = body.session.as_deref().unwrap_or_default();
    let tainted = state.taint.facts(
        snapshot.bundle(),
        &format!("{}:{principal}", kind.as_str()),
        session,
        &body.arguments,
        now,
    );
    let facts = Facts {
        taint: &tainted,
        credential: Credential {
            scopes,
            refusal: refusal.as_ref().map(|(code, message)| (*code, message.as_str())),
        },
        stops: &stops,
        trust: state.trust.scores(&snapshot, kind, &principal, &body.tool, now),
        vetting: state.providers.facts(snapshot.bundle(), &body.tool, now),
        // A dry run sees the quota but does not spend it.
        calls_last_minute: snapshot.quota_limit(kind, &principal).map_or(0, |limit| {
            let key = format!("{}:{principal}", kind.as_str());
            if dry_run {
                state.quotas.count(&key, now)
            } else {
                state.quotas.count_and_record(&key, limit, now)
            }
        }),
    };
    let request = Request {
        kind,
        principal: &principal,
        tool: &body.tool,
        arguments: &body.arguments,
        session: body.session.as_deref(),
        context: body.context.as_ref(),
    };
    // INVARIANT(fail-closed): a panic inside the decision point is a deny, never a 500 or an allow.
    let pure = std::panic::catch_unwind(AssertUnwindSafe(|| snapshot.decide(&request, &facts, now)))
        .unwrap_or_else(|_| {
            Decision::internal_failure(
                format!("{}:{principal}", kind.as_str()),
                body.tool.clone(),
                snapshot.bundle().hash.clone(),
                now,
                "the decision point failed; the call is denied".to_owned(),
            )
        });
    // A hold opens (or joins) an approval request, uses an approval given earlier, or is
    // refused at the reviewers' capacity. An approval is written used together with the
    // decision that uses it; if another call used it first, settle again.
    let mut attempts = 0;
    let (decision, answer, settled) = loop {
        attempts += 1;
        let mut decision = pure.clone();
        let id = uuid::Uuid::now_v7().to_string();
        let settled = crate::hitl::settle(
            state,
            &snapshot,
            &mut decision,
            &id,
            &body.arguments,
            dry_run,
            now,
        )
        .await?;
        let mut answer = serde_json::to_value(&decision).map_err(|e| ApiError::Internal(e.to_string()))?;
        if let Value::Object(map) = &mut answer {
            map.insert("id".to_owned(), Value::String(id.clone()));
            if dry_run {
                map.insert("dry_run".to_owned(), Value::Bool(true));
            }
            if let Some(claims) = claims {
                map.insert(
                    "credential".to_owned(),
                    json!({ "jti": claims.jti, "chain": claims.chain() }),
                );
            }
            settled.annotate(map);
        }
        let mut record_body = answer.clone();
        if let Value::Object(map) = &mut record_body {
            map.insert("arguments".to_owned(), body.arguments.clone());
            map.insert(
                "session".to_owned(),
                body.session.clone().map_or(Value::Null, Value::String),
            );
            map.insert(
                "context".to_owned(),
                body.context.clone().map_or(Value::Null, Value::Object),
            );
        }
        let record = DecisionRecord {
            id,
            created_at_ms: now,
            principal: decision.principal.clone(),
            tool: decision.tool.clone(),
            outcome: outcome_str(decision.decision).to_owned(),
            arguments_hash: decision.arguments_hash.clone(),
            bundle_hash: decision.bundle.clone(),
            body: record_body,
        };
        // INVARIANT(recorded-before-answered): no decision leaves without its durable ledger entry.
        let entry = crate::ocsf::entry(crate::ocsf::decision(&record.id, &record.body, now))
            .map_err(|e| ApiError::Unrecorded(e.to_string()))?;
        let meta = EntryMeta {
            event_class: "decision".to_owned(),
            classification: decision.classification.as_ref().map(ToString::to_string),
            correlation_uid: Some(record.id.clone()),
            created_at_ms: now,
        };
        let side = settled.side_record(record)?;
        match state.ledger.append(entry, meta, side).await {
            Ok(Appended::Entry { index }) => {
                if let Value::Object(map) = &mut answer {
                    map.insert("ledger_index".to_owned(), Value::from(index));
                }
                break (decision, answer, settled);
            }
            Ok(Appended::Stale) if attempts < 3 => continue,
            Ok(_) => {
                return Err(ApiError::Unrecorded(
                    "the approval this call would use kept changing; the call is not decided".to_owned(),
                ));
            }
            Err(e) => {
                settled.rollback(state).await;
                return Err(ApiError::Unrecorded(e.to_string()));
            }
        }
    };
    settled.announce(state, snapshot.bundle(), now);
    if !dry_run
        && decision.decision != Outcome::Deny
        && let Some(id) = answer["id"].as_str()
    {
        state.recent.remember(
            id,
            crate::recent::Recent {
                principal: decision.principal.clone(),
                tool: decision.tool.clone(),
                outcome: outcome_str(decision.decision).to_owned(),
                session: body.session.clone(),
                classification: decision.classification.as_ref().map(ToString::to_string),
            },
        );
    }
    // An allowed call to an untrusted tool: its result is expected, and until it is reported
    // the session cannot vouch for any value (INVARIANT(taint-fail-closed)).
    if !dry_run
        && decision.decision == Outcome::Allow
        && let Some(id) = answer["id"].as_str()
    {
        state.taint.expect(
            snapshot.bundle(),
            &decision.tool,
            &decision.principal,
            session,
            id,
            now,
        );
    }
    // Trust events of the recorded decision; a hold that joined a request or a call that used
    // an approval repeats an earlier one and is not counted again.
    if !dry_run && let Some(id) = answer["id"].as_str() {
        let repeat = matches!(
            settled,
            crate::hitl::Settled::Held { opened: None, .. } | crate::hitl::Settled::Used { .. }
        );
        let index = answer["ledger_index"].as_u64();
        crate::trust::observe(state, &snapshot, &decision, id, index, repeat, now).await;
    }
    // Incident triggers see the decision only now that it is durable, and never change it.
    if !dry_run && let (Some(id), Some(index)) = (answer["id"].as_str(), answer["ledger_index"].as_u64()) {
        crate::incidents::observe(state, &snapshot, &decision, id, index);
    }
    state
        .metrics
        .decisions
        .get_or_create(&DecisionLabels {
            decision: outcome_str(decision.decision),
        })
        .inc();
    state
        .metrics
        .decision_seconds
        .observe(started.elapsed().as_secs_f64());
    tracing::debug!(principal = %decision.principal, tool = %decision.tool, decision = outcome_str(decision.decision), "decided");

    let refusal = decision.reasons.iter().find(|r| {
        matches!(
            r.code,
            Code::UnknownPrincipal | Code::UnknownTool | Code::InvalidArguments | Code::InvalidContext
        )
    });
    if let Some(reason) = refusal {
        return Err(ApiError::Refused {
            code: reason.code,
            message: reason.message.clone(),
            decision: answer,
        });
    }
    Ok(answer)
}

fn principal_for(
    caller: &Caller,
    body: &DecideBody,
    state: &AppState,
) -> Result<(PrincipalKind, String, bool), ApiError> {
    let named = match (&body.agent, &body.service) {
        (Some(_), Some(_)) => {
            return Err(ApiError::InvalidBody(
                "name either `agent` or `service`, not both".to_owned(),
            ));
        }
        (Some(a), None) => Some((PrincipalKind::Agent, a.clone())),
        (None, Some(s)) => Some((PrincipalKind::Service, s.clone())),
        (None, None) => None,
    };
    let own = match caller {
        Caller::Agent(id) => Some((PrincipalKind::Agent, id.clone())),
        Caller::Service(id) => Some((PrincipalKind::Service, id.clone())),
        Caller::Human(_) | Caller::Admin => None,
    };
    match (own, named) {
        (Some(own), None) => Ok((own.0, own.1, false)),
        (Some(own), Some(named)) if own == named => Ok((own.0, own.1, false)),
        (Some(_), Some(_)) => Err(ApiError::Forbidden(
            "an agent may only ask for decisions about itself".to_owned(),
        )),
        (None, Some(named)) if caller.is_admin(state) => Ok((named.0, named.1, true)),
        (None, Some(_)) => Err(ApiError::Forbidden(
            "only an admin may ask for decisions on another's behalf".to_owned(),
        )),
        (None, None) => Err(ApiError::InvalidBody(
            "an admin dry run must name the `agent` (or `service`) to decide for".to_owned(),
        )),
    }
}

fn outcome_str(o: Outcome) -> &'static str {
    match o {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
        Outcome::Hold => "hold",
    }
}

/// Returns a recorded decision, with its outcome report if there is one.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let record = stored_decision(&state, &id).await?;
    may_read(&caller, &record)?;
    let outcome = state
        .store
        .outcome(&id)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let mut body = record.body;
    if let Value::Object(map) = &mut body {
        map.insert("outcome".to_owned(), outcome.map_or(Value::Null, |o| o.body));
    }
    Ok(Json(body))
}

/// The recorded decision `id`, or `404` if there is none.
async fn stored_decision(state: &AppState, id: &str) -> Result<DecisionRecord, ApiError> {
    state
        .store
        .decision(id)
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?
        .ok_or_else(|| ApiError::NotFound {
            what: "decision",
            id: id.to_owned(),
        })
}

fn may_read(caller: &Caller, record: &DecisionRecord) -> Result<(), ApiError> {
    match caller {
        Caller::Admin | Caller::Human(_) => Ok(()),
        _ if caller.principal().as_deref() == Some(record.principal.as_str()) => Ok(()),
        // Do not reveal that another principal's decision exists.
        _ => Err(ApiError::NotFound {
            what: "decision",
            id: record.id.clone(),
        }),
    }
}

/// How an allowed call ended.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    /// The tool returned a result.
    Succeeded,
    /// The tool failed.
    Failed,
}

/// The post-call report.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeBody {
    /// How the call ended.
    pub status: CallStatus,
    /// A short summary of the result, for the record (at most 4096 characters).
    #[serde(default)]
    pub summary: Option<String>,
    /// How long the call took.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// The tool's result (an MCP `CallToolResult` as on the wire, or any JSON), to be screened
    /// by the active bundle's DLP detectors. It is never recorded: only what was found is.
    #[serde(default)]
    pub result: Option<Value>,
}

/// The most findings an outcome record lists; `findings_total` counts them all.
const RECORDED_FINDINGS: usize = 50;

/// Records how an allowed (or held, then approved) call ended, and says what of its result the
/// caller may release to the agent.
///
/// With a `result`, the active bundle's DLP screens it once (result direction): `release` is
/// `pass` (as it is), `redacted` (the answer's `result`, with `[REDACTED:<detector>]` markers)
/// or `withheld` (a class whose action is `deny` or `hold`). The record keeps the verdict by
/// class and where each finding is, never the result or the data. Without a `result`,
/// `release` says whether one may go out unscreened: `pass` when no class has a result action
/// other than `allow`, else `withheld`.
///
/// The result of a tool the bundle marks `untrusted` also feeds the session's taint memory
/// (`crate::taint`) before the answer: the record's `taint` counts what was remembered by
/// kind. If the memory cannot take it, or the call succeeded and no `result` was sent, the
/// result is `withheld` and `taint.withheld` says why.
pub async fn outcome(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<OutcomeBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if body.summary.as_ref().is_some_and(|s| s.chars().count() > 4096) {
        return Err(ApiError::InvalidBody(
            "`summary` is longer than 4096 characters".to_owned(),
        ));
    }
    let record = match state.recent.get(&id) {
        Some(recent) => recent,
        None => crate::recent::Recent::of(stored_decision(&state, &id).await?),
    };
    match &caller {
        _ if caller.is_admin(&state) => {}
        _ if caller.principal().as_deref() == Some(record.principal.as_str()) => {}
        Caller::Human(_) => {
            return Err(ApiError::Forbidden(
                "only the principal that asked (or an admin) reports an outcome".to_owned(),
            ));
        }
        _ => return Err(ApiError::NotFound { what: "decision", id }),
    }
    if record.outcome == "deny" {
        return Err(ApiError::Conflict(format!(
            "decision `{id}` was a deny; a denied call has no outcome"
        )));
    }
    let status = match body.status {
        CallStatus::Succeeded => "succeeded",
        CallStatus::Failed => "failed",
    };
    let snapshot = state.snapshot();
    let now = now_ms();
    // Taint before anything is answered: the values of an untrusted tool's result are in the
    // session's memory before the agent can see them; a result the memory cannot take is
    // withheld (INVARIANT(taint-fail-closed)).
    let taint = state.taint.remember(
        snapshot.bundle(),
        &record.tool,
        &record.principal,
        record.session.as_deref().unwrap_or_default(),
        &id,
        body.result.as_ref(),
        matches!(body.status, CallStatus::Succeeded),
        now,
    );
    let dlp = &snapshot.bundle().dlp;
    let screened = body.result.map(|result| dlp.policy.screen(&dlp.scanner, result));
    let release = match &screened {
        _ if taint.is_err() => "withheld",
        Some(s) => s.release.as_str(),
        None if dlp.policy.releases_unscreened() => "pass",
        None => "withheld",
    };
    let mut stored = json!({
        "decision_id": id,
        "status": status,
        "summary": body.summary,
        "duration_ms": body.duration_ms,
        "recorded_at_ms": now,
        "release": release,
    });
    match &taint {
        Ok(Some(remembered)) => stored["taint"] = remembered.to_json(),
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(decision = %id, error = %e, "an untrusted result is withheld");
            stored["taint"] = json!({ "withheld": e.to_string() });
        }
    }
    if let Some(s) = &screened {
        stored["dlp"] = json!({
            "classes": s.verdict.classes,
            "findings": s.located(RECORDED_FINDINGS),
            "findings_total": s.findings.len(),
        });
        tracing::debug!(decision = %id, release, findings = s.findings.len(), "result screened");
    }
    let entry = crate::ocsf::entry(crate::ocsf::outcome(&id, &record.principal, &stored, now))
        .map_err(|e| ApiError::Unrecorded(e.to_string()))?;
    let meta = EntryMeta {
        event_class: "outcome".to_owned(),
        classification: record.classification.clone(),
        correlation_uid: Some(id.clone()),
        created_at_ms: now,
    };
    let side = SideRecord::Outcome(OutcomeRecord {
        decision_id: id.clone(),
        recorded_at_ms: now,
        status: status.to_owned(),
        body: stored.clone(),
    });
    let appended = state.ledger.append(entry, meta, side).await;
    if matches!(
        appended,
        Ok(Appended::Entry { .. } | Appended::Duplicate | Appended::Stale)
    ) {
        // Its outcome is on record: no later report needs it from memory.
        state.recent.forget(&id);
    }
    match appended {
        Ok(Appended::Entry { index }) => {
            // A result data governance redacted or withheld weighs on trust and is shown to
            // the `dlp` incident triggers, as a hit in the arguments is.
            if let Some(s) = &screened {
                let (principal, tool) = (&record.principal, &record.tool);
                crate::incidents::result_screened(&state, &snapshot, principal, tool, &id, s, index).await;
            }
            let mut body = stored;
            body["ledger_index"] = Value::from(index);
            if let Some(result) = screened.and_then(|s| s.result)
                && release == "redacted"
            {
                body["result"] = result;
            }
            Ok((StatusCode::CREATED, Json(body)))
        }
        Ok(Appended::Duplicate | Appended::Stale) => Err(ApiError::Conflict(format!(
            "the outcome of decision `{id}` is already recorded"
        ))),
        Err(e) => Err(ApiError::Unrecorded(e.to_string())),
    }
}
