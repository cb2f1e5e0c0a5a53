//! Incident response: the bundle's `[[incidents.triggers]]` watched on the decision path, and
//! the containment an incident runs when one fires.
//!
//! Detection is cheap and comes after the fact: [`observe`] sees each decision only once its
//! ledger entry is durable (INVARIANT(recorded-before-answered) is untouched), reads it, and
//! never changes it. Per trigger and principal it keeps a sliding window of denials (at most
//! `count` entries each, and the map itself bounded); a trigger that fires is handed to one
//! background worker over a bounded queue, so containment never runs on a request's path.
//!
//! The worker opens the incident first, with its `incident_opened` ledger entry in the same
//! transaction: at most one incident per trigger and subject is open at a time (the insert is
//! the entry's guard over a partial unique index, so two replicas cannot both open one), and
//! only the one that opened it contains. Containment runs in a fixed order — stops (a real
//! stop, made as `POST /v1/stops` makes one, by `tribune`), the identity's containment (every
//! credential revoked and the identity suspended, in this node's registry view at once), a
//! legal hold over the evidence, then the notification. Each step's change commits with its
//! own entry or not at all, and its result says so: done, skipped, or failed (a step whose
//! entry could not be written did nothing). The signed checkpoint taken then covers the
//! evidence, and an `incident_contained` entry records the results with the incident's record.
//!
//! INVARIANT(incident-no-undo): closing an incident changes nothing it did. Its stops are
//! resumed only by two holders of stop authority and its holds released only by two humans,
//! as any others.

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock, Weak};

use base64::Engine as _;
use dashmap::DashMap;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tribune_bundle::{Bundle, IncidentAction, IncidentTrigger, TriggerOn};
use tribune_dlp::{Action, Release, Screened};
use tribune_policy::{Code, Decision, Outcome, PrincipalKind, Snapshot, Stop, StopScope};
use tribune_store::{
    IdentityRecord, IdentityState, IncidentCheckpoint, IncidentRecord, IncidentState, LegalHoldRecord,
    StopRecord, Writes,
};

use crate::metrics::ResultLabels;
use crate::state::{AppState, now_ms};
use crate::stops::{Event, Recorded, record_change};
use crate::webhooks::Webhooks;

/// Fired triggers waiting for the worker, at most; beyond it a firing is dropped (and logged)
/// and the trigger re-arms at once.
const QUEUE: usize = 256;
/// How long a trigger stays quiet for a subject once it fired there: the incident it opened
/// (or found open) is checked again after this, so an incident closed on another replica
/// re-arms the trigger here within it. Closing on this node re-arms it at once.
const REARM_MS: i64 = 60_000;
/// Denial windows kept at most; beyond it windows idle for a day (the longest `window_secs`)
/// are dropped, then all of them.
const MAX_WINDOWS: usize = 65_536;
/// The actor incidents act as.
pub const ACTOR: &str = "tribune";

/// What a trigger is about: an agent or service, or something else (a drill).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    /// An agent or a service, by name.
    Principal(PrincipalKind, String),
    /// Anything else, written `KIND:ID` (e.g. `drill:ID`).
    Other(String),
}

impl Subject {
    /// As recorded: `agent:ID`, `service:ID`, or the other subject as given.
    pub fn key(&self) -> String {
        match self {
            Subject::Principal(kind, name) => crate::identities::registry_id(*kind, name),
            Subject::Other(s) => s.clone(),
        }
    }

    fn parse_principal(principal: &str) -> Option<Subject> {
        match principal.split_once(':')? {
            ("agent", name) => Some(Subject::Principal(PrincipalKind::Agent, name.to_owned())),
            ("service", name) => Some(Subject::Principal(PrincipalKind::Service, name.to_owned())),
            _ => None,
        }
    }
}

/// A trigger that fired, waiting for its containment.
struct Fired {
    trigger: IncidentTrigger,
    subject: Subject,
    evidence: Option<(u64, u64)>,
    detail: Value,
    at_ms: i64,
}

type Key = (String, String);

/// The detector's state and the worker's queue.
pub struct Incidents {
    /// Per (trigger, subject): the recent denials, `(time, ledger index)`, oldest first.
    windows: DashMap<Key, VecDeque<(i64, u64)>>,
    /// Per (trigger, subject): until when the trigger stays quiet.
    quiet: DashMap<Key, i64>,
    queue: mpsc::Sender<Fired>,
    receiver: Mutex<Option<mpsc::Receiver<Fired>>>,
    worker: OnceLock<tokio::task::AbortHandle>,
    webhooks: Webhooks,
}

impl Incidents {
    /// The detector, with its own webhook delivery task (counted in `deliveries`). The worker
    /// starts with [`Incidents::start`].
    pub fn new(deliveries: Family<ResultLabels, Counter>) -> Incidents {
        let (queue, receiver) = mpsc::channel(QUEUE);
        Incidents {
            windows: DashMap::new(),
            quiet: DashMap::new(),
            queue,
            receiver: Mutex::new(Some(receiver)),
            worker: OnceLock::new(),
            webhooks: Webhooks::spawn(deliveries),
        }
    }

    /// Starts the containment worker (once).
    pub fn start(&self, state: Weak<AppState>) {
        let Some(mut receiver) = self.receiver.lock().ok().and_then(|mut r| r.take()) else {
            return;
        };
        let handle = tokio::spawn(async move {
            while let Some(fired) = receiver.recv().await {
                let Some(state) = state.upgrade() else { return };
                contain(&state, fired).await;
            }
        })
        .abort_handle();
        let _ = self.worker.set(handle);
    }

    /// Whether `trigger` is quiet for `subject` at `now`.
    fn is_quiet(&self, key: &Key, now: i64) -> bool {
        self.quiet.get(key).is_some_and(|until| *until > now)
    }

    /// Hands a fired trigger to the worker, unless it is quiet for its subject.
    fn fire(&self, fired: Fired) {
        let key = (fired.trigger.id.to_string(), fired.subject.key());
        let now = fired.at_ms;
        if self.is_quiet(&key, now) {
            return;
        }
        self.quiet.insert(key.clone(), now.saturating_add(REARM_MS));
        self.windows.remove(&key);
        tracing::warn!(trigger = %key.0, subject = %key.1, "incident trigger fired");
        if self.queue.try_send(fired).is_err() {
            tracing::error!(trigger = %key.0, subject = %key.1, "the incident queue is full; this firing is dropped");
            self.quiet.remove(&key);
        }
    }

    /// Lets `trigger` fire again for `subject` at once (its incident was closed, or could not
    /// be opened).
    pub fn rearm(&self, trigger: &str, subject: &str) {
        self.quiet.remove(&(trigger.to_owned(), subject.to_owned()));
    }

    /// Keeps the trigger quiet for `subject` for another [`REARM_MS`].
    fn quieten(&self, key: Key, now: i64) {
        self.quiet.insert(key, now.saturating_add(REARM_MS));
    }

    /// Records a denial in the trigger's window; the evidence range once `count` denials fall
    /// within `window_secs`.
    fn count_denial(
        &self,
        key: Key,
        count: u32,
        window_secs: u32,
        at: i64,
        index: u64,
    ) -> Option<(u64, u64)> {
        if self.windows.len() >= MAX_WINDOWS && !self.windows.contains_key(&key) {
            self.windows
                .retain(|_, w| w.back().is_some_and(|(t, _)| at.saturating_sub(*t) < 86_400_000));
            if self.windows.len() >= MAX_WINDOWS {
                tracing::warn!("too many denial windows; starting them all afresh");
                self.windows.clear();
            }
        }
        let mut window = self.windows.entry(key).or_default();
        let since = at.saturating_sub(i64::from(window_secs) * 1000);
        while window.front().is_some_and(|(t, _)| *t <= since) {
            window.pop_front();
        }
        window.push_back((at, index));
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        while window.len() > count {
            window.pop_front();
        }
        if window.len() < count {
            return None;
        }
        let from = window.iter().map(|(_, i)| *i).min()?;
        let to = window.iter().map(|(_, i)| *i).max()?;
        window.clear();
        Some((from, to))
    }
}

impl Drop for Incidents {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.get() {
            worker.abort();
        }
    }
}

/// The rank of classification `name` on the bundle's scale.
fn rank(bundle: &Bundle, name: &str) -> Option<usize> {
    bundle.classifications.iter().position(|c| c.as_str() == name)
}

/// The data class a data-governance reason names: `flow:CLASS`, or the class of detector
/// `dlp:DETECTOR`.
fn data_class(bundle: &Bundle, rule: Option<&str>) -> Option<String> {
    let rule = rule?;
    if let Some(class) = rule.strip_prefix("flow:") {
        return Some(class.to_owned());
    }
    let detector = rule.strip_prefix("dlp:")?;
    bundle
        .dlp
        .detectors
        .iter()
        .find(|d| d.id().as_str() == detector)
        .map(|d| d.class().as_str().to_owned())
}

/// Watches one recorded decision (never a dry run) for the active bundle's triggers.
///
/// Called after the decision's ledger entry is durable, at `ledger_index`; it reads the
/// decision and changes nothing about it. Cheap: a bundle without triggers returns at once.
pub fn observe(
    state: &AppState,
    snapshot: &Snapshot,
    decision: &Decision,
    decision_id: &str,
    ledger_index: u64,
) {
    let bundle = snapshot.bundle();
    if bundle.incidents.triggers.is_empty() {
        return;
    }
    let Some(subject) = Subject::parse_principal(&decision.principal) else {
        return;
    };
    let at = decision.decided_at_ms;
    let primary = decision.primary_reason();
    let code = primary.map(|r| r.code);
    let tool_rank = decision
        .classification
        .as_ref()
        .and_then(|c| rank(bundle, c.as_str()));
    let incidents = &state.incidents;
    for trigger in &bundle.incidents.triggers {
        let key = (trigger.id.to_string(), subject.key());
        if incidents.is_quiet(&key, at) {
            continue;
        }
        let evidence_and_detail = match &trigger.on {
            TriggerOn::Denials { count, window_secs } => {
                // Denials the containment itself causes (a stop) or that are Tribune's own
                // failure are not the agent's doing.
                let counts = decision.decision == Outcome::Deny
                    && !matches!(code, Some(Code::Stopped | Code::InternalError));
                if !counts {
                    continue;
                }
                incidents
                    .count_denial(key, *count, *window_secs, at, ledger_index)
                    .map(|range| {
                        let detail = json!({
                            "denials": count,
                            "window_secs": window_secs,
                            "last_decision": decision_id,
                            "last_tool": decision.tool,
                            "last_code": code,
                        });
                        (range, detail)
                    })
            }
            TriggerOn::Forbid { classification } | TriggerOn::Dlp { classification } => {
                if decision.decision != Outcome::Deny {
                    continue;
                }
                let forbid = matches!(trigger.on, TriggerOn::Forbid { .. });
                let hit = decision.reasons.iter().find(|r| {
                    if forbid {
                        r.code == Code::Forbidden
                    } else {
                        matches!(r.code, Code::DlpBlocked | Code::FlowForbidden)
                    }
                });
                let Some(hit) = hit else { continue };
                let data = (!forbid)
                    .then(|| data_class(bundle, hit.rule.as_deref()))
                    .flatten();
                let data_rank = data.as_deref().and_then(|c| rank(bundle, c));
                let least = usize::try_from(classification.rank).unwrap_or(usize::MAX);
                if tool_rank.max(data_rank).is_none_or(|r| r < least) {
                    continue;
                }
                let detail = json!({
                    "decision": decision_id,
                    "tool": decision.tool,
                    "classification": decision.classification,
                    "data_class": data,
                    "code": hit.code,
                    "rule": hit.rule,
                });
                Some(((ledger_index, ledger_index), detail))
            }
            TriggerOn::Canary { tool } => {
                if decision.tool != tool.as_str() {
                    continue;
                }
                let detail = json!({
                    "decision": decision_id,
                    "tool": decision.tool,
                    "outcome": decision.decision,
                    "code": code,
                });
                Some(((ledger_index, ledger_index), detail))
            }
            TriggerOn::TrustBelow { .. } | TriggerOn::DrillFailed => None,
        };
        if let Some((range, detail)) = evidence_and_detail {
            incidents.fire(Fired {
                trigger: trigger.clone(),
                subject: subject.clone(),
                evidence: Some(range),
                detail,
                at_ms: at,
            });
        }
    }
}

/// For the trust module: `subject`'s trust score (`agent:ID`, `service:ID` or `provider:ID`) is
/// now `score` (0–1000). Fires every `trust_below` trigger whose threshold the score is under;
/// `evidence` is the ledger index of the entry the event that moved the score derives from.
pub fn trust_observed(state: &AppState, subject: &str, score: u16, evidence: Option<u64>) {
    let subject = Subject::parse_principal(subject).unwrap_or_else(|| Subject::Other(subject.to_owned()));
    let snapshot = state.snapshot();
    let at = now_ms();
    for trigger in &snapshot.bundle().incidents.triggers {
        let TriggerOn::TrustBelow { threshold } = trigger.on else {
            continue;
        };
        if score >= threshold {
            continue;
        }
        state.incidents.fire(Fired {
            trigger: trigger.clone(),
            subject: subject.clone(),
            evidence: evidence.map(|i| (i, i)),
            detail: json!({ "score": score, "threshold": threshold }),
            at_ms: at,
        });
    }
}

/// For the outcome report: the result of decision `decision_id` (`principal` calling `tool`)
/// was redacted or withheld by data governance, and the report recorded at `ledger_index`.
/// Records the `dlp` trust events (written before the report is answered) and fires every
/// `dlp` trigger whose classification the tool's, or the withheld or redacted data's, reaches.
pub async fn result_screened(
    state: &AppState,
    snapshot: &Snapshot,
    principal: &str,
    tool: &str,
    decision_id: &str,
    screened: &Screened,
    ledger_index: u64,
) {
    if screened.release == Release::Pass {
        return;
    }
    crate::trust::result_screened(state, snapshot, principal, tool, decision_id, ledger_index).await;
    let bundle = snapshot.bundle();
    let Some(subject) = Subject::parse_principal(principal) else {
        return;
    };
    let tool_class = bundle.tools.get(tool).map(|t| &t.classification);
    let tool_rank = tool_class.and_then(|c| usize::try_from(c.rank).ok());
    // The most sensitive class that made the result redacted or withheld.
    let data = screened
        .verdict
        .classes
        .iter()
        .filter(|c| c.action != Action::Allow)
        .filter_map(|c| rank(bundle, c.class.as_str()).map(|r| (r, c.class.as_str())))
        .max_by_key(|(r, _)| *r);
    let at = now_ms();
    for trigger in &bundle.incidents.triggers {
        let TriggerOn::Dlp { classification } = &trigger.on else {
            continue;
        };
        let least = usize::try_from(classification.rank).unwrap_or(usize::MAX);
        if tool_rank.max(data.map(|(r, _)| r)).is_none_or(|r| r < least) {
            continue;
        }
        state.incidents.fire(Fired {
            trigger: trigger.clone(),
            subject: subject.clone(),
            evidence: Some((ledger_index, ledger_index)),
            detail: json!({
                "decision": decision_id,
                "tool": tool,
                "classification": tool_class.map(|c| c.name.as_str()),
                "data_class": data.map(|(_, c)| c),
                "release": screened.release.as_str(),
            }),
            at_ms: at,
        });
    }
}

/// For the drills module: drill `drill_id` failed. Fires every `drill_failed` trigger;
/// `evidence` is the ledger range that records the drill, if known, and `detail` says why it
/// failed (it is recorded as given).
pub fn drill_failed(state: &AppState, drill_id: &str, evidence: Option<(u64, u64)>, detail: Value) {
    fire(
        state,
        "drill_failed",
        Subject::Other(format!("drill:{drill_id}")),
        evidence,
        detail,
    );
}

/// Fires every trigger of kind `on` (a [`TriggerOn::kind`]) of the active bundle for
/// `subject`, with `evidence` and `detail`: the way for a subsystem outside the decision path
/// to open an incident. Returns at once; containment runs in the background.
pub fn fire(state: &AppState, on: &str, subject: Subject, evidence: Option<(u64, u64)>, detail: Value) {
    let snapshot = state.snapshot();
    let at = now_ms();
    for trigger in snapshot
        .bundle()
        .incidents
        .triggers
        .iter()
        .filter(|t| t.on.kind() == on)
    {
        state.incidents.fire(Fired {
            trigger: trigger.clone(),
            subject: subject.clone(),
            evidence,
            detail: detail.clone(),
            at_ms: at,
        });
    }
}

/// An incident as the API shows it.
pub fn incident_json(r: &IncidentRecord) -> Value {
    json!({
        "id": r.id,
        "trigger": r.trigger_id,
        "kind": r.kind,
        "subject": r.subject,
        "detail": r.detail,
        "opened_at_ms": r.opened_at_ms,
        "evidence": r.evidence.map(|(from, to)| json!({ "from": from, "to": to })),
        "checkpoint": r.checkpoint.as_ref().map(|c| json!({ "size": c.size, "root": c.root, "note": c.note })),
        "actions": r.actions,
        "ledger_index": r.ledger_index,
        "state": r.state.as_str(),
        "closed_by": r.closed_by,
        "closed_at_ms": r.closed_at_ms,
        "close_reason": r.close_reason,
        "closed_ledger_index": r.closed_ledger_index,
    })
}

fn done(action: IncidentAction, extra: Value) -> Value {
    let mut v = json!({ "action": action.as_str(), "result": "done" });
    if let (Value::Object(map), Value::Object(extra)) = (&mut v, extra) {
        map.extend(extra);
    }
    v
}

fn skipped(action: IncidentAction, why: &str) -> Value {
    json!({ "action": action.as_str(), "result": "skipped", "detail": why })
}

fn failed(action: IncidentAction, why: &str) -> Value {
    tracing::error!(
        action = action.as_str(),
        error = why,
        "an incident's containment step failed"
    );
    json!({ "action": action.as_str(), "result": "failed", "detail": why })
}

/// Records `event` (by [`ACTOR`], correlated with `incident`) with its change `writes`.
async fn append_step(
    state: &AppState,
    class: &str,
    event: &str,
    id: &str,
    incident: &str,
    details: Value,
    writes: Writes,
) -> Result<Recorded, String> {
    let event = Event {
        class,
        event,
        id,
        actor: ACTOR,
        correlation: Some(incident),
        details,
    };
    record_change(state, event, writes).await
}

/// `record` as the API shows it, without the fields `drop` names.
fn shown_without(record: &IncidentRecord, drop: &[&str]) -> Value {
    let mut details = incident_json(record);
    if let Value::Object(map) = &mut details {
        for volatile in drop {
            map.remove(*volatile);
        }
    }
    details
}

/// Opens the incident for `f` and runs its containment (the worker's job).
async fn contain(state: &AppState, f: Fired) {
    let subject = f.subject.key();
    let key = (f.trigger.id.to_string(), subject.clone());
    let mut record = IncidentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        trigger_id: f.trigger.id.to_string(),
        kind: f.trigger.on.kind().to_owned(),
        subject: subject.clone(),
        detail: f.detail,
        opened_at_ms: f.at_ms,
        evidence: f.evidence,
        checkpoint: None,
        actions: json!([]),
        ledger_index: None,
        state: IncidentState::Open,
        closed_by: None,
        closed_at_ms: None,
        close_reason: None,
        closed_ledger_index: None,
    };
    // The incident exists exactly when its `incident_opened` entry does; the guard lets in no
    // second open incident of the trigger for the subject, from this replica or another.
    let opened = match record.open_write() {
        Ok(open) => {
            let details = shown_without(
                &record,
                &[
                    "checkpoint",
                    "actions",
                    "ledger_index",
                    "state",
                    "closed_by",
                    "closed_at_ms",
                    "close_reason",
                    "closed_ledger_index",
                ],
            );
            append_step(
                state,
                "incident",
                "incident_opened",
                &record.id,
                &record.id,
                details,
                Writes::guarded(open, 1, Vec::new()),
            )
            .await
        }
        Err(e) => Err(e.to_string()),
    };
    let opened_index = match opened {
        Ok(Recorded::At(index)) => index,
        Ok(Recorded::Stale) => {
            tracing::debug!(trigger = %key.0, subject = %key.1, "an incident of this trigger is already open for this subject");
            state.incidents.quieten(key, now_ms());
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, trigger = %key.0, subject = %key.1, "cannot open an incident; its containment does not run");
            state.incidents.rearm(&key.0, &key.1);
            return;
        }
    };
    state.incidents.quieten(key, now_ms());
    let why = format!("incident {}: {}", record.id, record.trigger_id);
    let mut actions = Vec::new();
    for &action in f.trigger.actions.iter().filter(|a| **a != IncidentAction::Notify) {
        let snapshot = state.snapshot();
        actions.push(run(state, snapshot.bundle(), &record, &f.subject, action, &why).await);
    }
    record.checkpoint = match state.ledger.checkpoint().await {
        Ok(Some(c)) => match tribune_ledger::Checkpoint::parse_unverified(c.note.as_bytes()) {
            Ok(parsed) => Some(IncidentCheckpoint {
                size: c.size,
                root: base64::engine::general_purpose::STANDARD.encode(parsed.root().as_bytes()),
                note: c.note,
            }),
            Err(e) => {
                tracing::error!(error = %e, "the checkpoint just signed does not parse");
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, incident = %record.id, "no checkpoint could be signed for an incident");
            None
        }
    };
    record.actions = Value::Array(actions.clone());
    if f.trigger.actions.contains(&IncidentAction::Notify) {
        actions.push(notify(state, &record));
        record.actions = Value::Array(actions);
    }
    let details = json!({
        "incident": record.id,
        "opened_ledger_index": opened_index,
        "checkpoint": shown_without(&record, &[])["checkpoint"],
        "actions": record.actions,
    });
    let contained = IncidentRecord::contained_write(
        &record.id,
        &record.actions,
        record.checkpoint.as_ref(),
        opened_index,
    )
    .map_err(|e| e.to_string());
    let recorded = match contained {
        Ok(write) => {
            append_step(
                state,
                "incident",
                "incident_contained",
                &record.id,
                &record.id,
                details,
                Writes::of(vec![write]),
            )
            .await
        }
        Err(e) => Err(e),
    };
    if let Err(e) = recorded {
        tracing::error!(error = %e, incident = %record.id, "the incident's containment could not be recorded; each step's own entry stands");
    }
    tracing::warn!(incident = %record.id, trigger = %record.trigger_id, subject = %record.subject, "incident opened");
    // An incident costs its subject trust (agents, services and providers have scores).
    if crate::trust::is_subject(&record.subject)
        && let Err(e) = crate::trust::record(
            state,
            &record.subject,
            crate::trust::EventKind::Incident,
            Some(&record.id),
        )
        .await
    {
        tracing::warn!(error = %e, incident = %record.id, "the incident's trust event could not be recorded");
    }
}

/// Runs one containment step other than `notify`.
async fn run(
    state: &AppState,
    bundle: &Bundle,
    record: &IncidentRecord,
    subject: &Subject,
    action: IncidentAction,
    why: &str,
) -> Value {
    match action {
        IncidentAction::StopAgent | IncidentAction::StopClass => {
            let Subject::Principal(kind, name) = subject else {
                return skipped(action, "the incident names no agent or service");
            };
            let scope = match (action, kind) {
                (IncidentAction::StopAgent, PrincipalKind::Agent) => StopScope::Agent(name.clone()),
                (IncidentAction::StopAgent, PrincipalKind::Service) => StopScope::Service(name.clone()),
                (_, PrincipalKind::Service) => return skipped(action, "a service has no class"),
                (_, PrincipalKind::Agent) => match bundle.agents.get(name.as_str()) {
                    Some(agent) => StopScope::Class(agent.class.to_string()),
                    None => {
                        return failed(
                            action,
                            "the agent is not in the active bundle, so its class is unknown",
                        );
                    }
                },
            };
            stop(state, bundle, record, action, scope, why).await
        }
        IncidentAction::RevokeCredentials => {
            let Subject::Principal(..) = subject else {
                return skipped(action, "the incident names no agent or service");
            };
            revoke(state, record, action, why).await
        }
        IncidentAction::LegalHold => hold(state, record, action, why).await,
        IncidentAction::Notify => notify(state, record),
    }
}

/// A real emergency stop of `scope`, in force on this node before this returns.
async fn stop(
    state: &AppState,
    bundle: &Bundle,
    record: &IncidentRecord,
    action: IncidentAction,
    scope: StopScope,
    why: &str,
) -> Value {
    if let Err(e) = crate::stops::check_scope(&scope, bundle) {
        return failed(action, &e);
    }
    let stop = StopRecord {
        id: format!("stop-{}", uuid::Uuid::now_v7()),
        scope: scope.to_string(),
        reason: why.to_owned(),
        stopped_by: ACTOR.to_owned(),
        stopped_at_ms: now_ms(),
        resume_requested_by: None,
        resumed_by: None,
        resumed_at_ms: None,
    };
    let details = json!({ "stop": stop.id, "scope": stop.scope, "reason": stop.reason, "mfa": false, "incident": record.id });
    let recorded = append_step(
        state,
        "stop",
        "emergency_stop",
        &stop.id,
        &record.id,
        details,
        Writes::of(vec![stop.insert_write()]),
    )
    .await;
    if let Err(e) = unguarded(recorded) {
        return failed(action, &format!("the stop could not be recorded: {e}"));
    }
    // INVARIANT(stop-before-answer): in this node's set before the incident says it is done;
    // if the refresh fails the poller picks it up within 250 ms.
    if let Err(e) = state.stops.refresh(&state.store).await {
        tracing::warn!(error = %e, stop = %stop.id, "the incident's stop is recorded but this node's set did not refresh");
    }
    tracing::warn!(stop = %stop.id, scope = %stop.scope, incident = %record.id, "emergency stop by an incident");
    let covered = Stop {
        id: stop.id.clone(),
        scope,
        reason: stop.reason.clone(),
        by: stop.stopped_by.clone(),
    };
    let cancelled = match crate::stops::cancel_covered(state, &covered).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, stop = %stop.id, "cancelling the approvals an incident's stop covers failed");
            0
        }
    };
    done(
        action,
        json!({ "stop": stop.id, "scope": stop.scope, "cancelled_approvals": cancelled }),
    )
}

/// An unguarded change's result: appended, or why not.
fn unguarded(recorded: Result<Recorded, String>) -> Result<u64, String> {
    match recorded {
        Ok(Recorded::At(index)) => Ok(index),
        Ok(Recorded::Stale) => Err("the ledger refused the change as stale".to_owned()),
        Err(e) => Err(e),
    }
}

/// Contains the subject's identity: every credential of it (and everything delegated from
/// them) revoked and, if it is active, the identity suspended, so neither its registration
/// secret nor its token decides or mints a new credential until a human reinstates it. In this
/// node's registry view at once.
async fn revoke(state: &AppState, record: &IncidentRecord, action: IncidentAction, why: &str) -> Value {
    let now = now_ms();
    // What the step will change, for its record; the writes themselves are conditional, so a
    // credential issued or a state changed meanwhile is still caught.
    let live = match state.store.credentials_of(&record.subject, false, now).await {
        Ok(list) => list.iter().filter(|c| c.revoked_at_ms.is_none()).count(),
        Err(e) => {
            return failed(
                action,
                &format!("the identity's credentials could not be read: {e}"),
            );
        }
    };
    let suspends = match state.store.identity(&record.subject).await {
        Ok(Some(identity)) => identity.state == IdentityState::Active,
        Ok(None) => false,
        Err(e) => return failed(action, &format!("the identity could not be read: {e}")),
    };
    let details = json!({
        "identity": record.subject, "revoked": live, "suspended": suspends, "reason": why,
        "incident": record.id,
    });
    let writes = IdentityRecord::containment_writes(&record.subject, why, ACTOR, now);
    let recorded = append_step(
        state,
        "identity",
        "credentials_revoked",
        &record.subject,
        &record.id,
        details,
        Writes::of(writes),
    )
    .await;
    if let Err(e) = unguarded(recorded) {
        return failed(action, &format!("the revocation could not be recorded: {e}"));
    }
    // INVARIANT(revoke-before-answer): in this node's view before the incident says it is done.
    match state.identities.refresh(&state.store).await {
        Ok(true) => {
            if let Err(e) = state.rebuild_for_registry().await {
                tracing::warn!(error = %e, "rebuilding the snapshot after an incident's revocation failed");
            }
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, "the registry view did not refresh after an incident's revocation; the poller retries within 250 ms")
        }
    }
    done(
        action,
        json!({ "identity": record.subject, "revoked": live, "suspended": suspends }),
    )
}

/// A legal hold over the evidence, placed by [`ACTOR`] and released like any other (two humans).
async fn hold(state: &AppState, record: &IncidentRecord, action: IncidentAction, why: &str) -> Value {
    let Some((from, to)) = record.evidence else {
        return skipped(action, "the trigger gave no evidence range");
    };
    let hold = LegalHoldRecord {
        id: uuid::Uuid::now_v7().to_string(),
        from_index: from,
        to_index: to,
        reason: why.to_owned(),
        placed_by: ACTOR.to_owned(),
        placed_at_ms: now_ms(),
        released_at_ms: None,
        released_by: None,
        release_requested_by: None,
    };
    let write = match IncidentRecord::hold_write(&hold) {
        Ok(w) => w,
        Err(e) => return failed(action, &format!("the legal hold could not be placed: {e}")),
    };
    let details = json!({
        "id": hold.id, "from": from, "to": to, "reason": hold.reason, "placed_by": hold.placed_by,
        "placed_at_ms": hold.placed_at_ms, "incident": record.id,
    });
    let recorded = append_step(
        state,
        "legal_hold",
        "legal_hold_placed",
        &hold.id,
        &record.id,
        details,
        Writes::of(vec![write]),
    )
    .await;
    if let Err(e) = unguarded(recorded) {
        return failed(action, &format!("the legal hold could not be recorded: {e}"));
    }
    done(action, json!({ "hold": hold.id, "from": from, "to": to }))
}

/// Queues a signed notification of the incident as recorded so far to the bundle's webhook.
fn notify(state: &AppState, record: &IncidentRecord) -> Value {
    let action = IncidentAction::Notify;
    let snapshot = state.snapshot();
    let bundle = snapshot.bundle();
    let Some(hook) = bundle.incidents.webhook(&bundle.hitl) else {
        return skipped(
            action,
            "no webhook is declared (`[incidents]` or `[hitl] webhook_url`)",
        );
    };
    let mut incident = incident_json(record);
    if let Value::Object(map) = &mut incident {
        for volatile in [
            "ledger_index",
            "closed_by",
            "closed_at_ms",
            "close_reason",
            "closed_ledger_index",
        ] {
            map.remove(volatile);
        }
    }
    let id = uuid::Uuid::now_v7().to_string();
    let body = json!({
        "id": id,
        "occurred_at_ms": record.opened_at_ms,
        "type": "incident.opened",
        "data": incident,
    });
    let body = match serde_json::to_vec(&body) {
        Ok(b) => b,
        Err(e) => return failed(action, &format!("the notification could not be serialized: {e}")),
    };
    if state
        .incidents
        .webhooks
        .send_body(hook, "incident.opened", id, body)
    {
        done(action, json!({ "url": hook.url }))
    } else {
        failed(action, "the webhook queue is full; the notification was dropped")
    }
}
