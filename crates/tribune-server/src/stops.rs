//! Emergency stops in the server (and the poller that also keeps the identity registry fresh): the set in force, kept in memory for the decision path, and
//! the commands that change it.
//!
//! INVARIANT(stop-before-answer): a stop is in this node's in-memory set before the command
//! that made it is answered, so the next decision on this node is already denied. Other
//! replicas read the store every [`POLL`]; a failed read keeps the set they have (stops never
//! lapse because the database is unreachable).

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tribune_approvals::CancelReason;
use tribune_bundle::Bundle;
use tribune_policy::{CallScope, PrincipalKind, Stop, StopScope};
use tribune_store::{Appended, EntryMeta, SideRecord, StopRecord, Store, StoreError, Writes};

use crate::state::{AppState, now_ms};

/// How often a node reads the stops other replicas made.
pub const POLL: Duration = Duration::from_millis(250);

/// The stops in force on this node.
pub struct Stops {
    current: ArcSwap<Vec<Stop>>,
    refreshing: tokio::sync::Mutex<()>,
}

fn to_stop(r: &StopRecord) -> Stop {
    // A scope that no longer parses (written by a newer version) stops everything: fail closed.
    let scope = StopScope::parse(&r.scope).unwrap_or(StopScope::All);
    Stop {
        id: r.id.clone(),
        scope,
        reason: r.reason.clone(),
        by: r.stopped_by.clone(),
    }
}

impl Stops {
    /// The stops in force in `store`.
    pub async fn load(store: &Store) -> Result<Stops, StoreError> {
        let active = store.active_stops().await?;
        Ok(Stops {
            current: ArcSwap::from_pointee(active.iter().map(to_stop).collect()),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    /// The stops in force, for one decision.
    pub fn current(&self) -> Arc<Vec<Stop>> {
        self.current.load_full()
    }

    /// Reads the stops in force from `store` again. One refresh at a time, from its read to its
    /// swap: a poll that read before a stop committed cannot install its older set after the
    /// stop's own refresh, so a stop stays in force from its answer on.
    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
        let _one = self.refreshing.lock().await;
        let active = store.active_stops().await?;
        self.current.store(Arc::new(active.iter().map(to_stop).collect()));
        Ok(())
    }
}

/// Polls the store for stops made or resumed on other replicas.
pub fn spawn_poller(state: std::sync::Weak<AppState>) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            ticks += 1;
            let Some(state) = state.upgrade() else { return };
            if let Err(e) = state.stops.refresh(&state.store).await {
                tracing::warn!(error = %e, "reading the stops in force failed; keeping the set this node has");
            }
            crate::identities::poll(&state, ticks).await;
            if let Err(e) = state.providers.refresh(&state.store).await {
                tracing::warn!(error = %e, "reading provider vettings failed; keeping the view this node has");
            }
        }
    })
    .abort_handle()
}

/// Whether `scope` names something the bundle declares.
pub fn check_scope(scope: &StopScope, bundle: &Bundle) -> Result<(), String> {
    let (what, known) = match scope {
        StopScope::All => return Ok(()),
        StopScope::Class(id) => ("agent class", bundle.classes.contains_key(id.as_str())),
        StopScope::Agent(id) => ("agent", bundle.agents.contains_key(id.as_str())),
        StopScope::Service(id) => ("service", bundle.services.contains_key(id.as_str())),
        StopScope::Tool(id) => ("tool", bundle.tools.contains_key(id.as_str())),
        StopScope::Provider(id) => ("provider", bundle.providers.contains_key(id.as_str())),
    };
    if known {
        Ok(())
    } else {
        Err(format!("the active bundle declares no {what} named in `{scope}`"))
    }
}

/// Cancels every pending approval request `stop` covers; returns how many.
pub async fn cancel_covered(state: &AppState, stop: &Stop) -> Result<usize, crate::error::ApiError> {
    let snapshot = state.snapshot();
    let bundle = snapshot.bundle();
    crate::hitl::cancel_pending(state, bundle, now_ms(), CancelReason::Stopped, |req| {
        let (kind, principal) = match req.principal() {
            tribune_approvals::Principal::Agent(id) => (PrincipalKind::Agent, id.as_str()),
            tribune_approvals::Principal::Service(id) => (PrincipalKind::Service, id.as_str()),
        };
        let class = match kind {
            PrincipalKind::Agent => bundle.agents.get(principal).map(|a| a.class.as_str()),
            PrincipalKind::Service => None,
        };
        let tool = req.tool().as_str();
        let provider = bundle.tools.get(tool).map_or("", |t| t.provider.as_str());
        let call = CallScope {
            kind,
            principal,
            class,
            tool,
            provider,
        };
        stop.covers(&call)
            .then(|| format!("stop `{}` covers it", stop.id))
    })
    .await
}

/// The answer when a change's ledger entry could not be written: the change was not made
/// either (`503 unavailable`).
pub fn unrecorded(what: &str, why: impl std::fmt::Display) -> crate::error::ApiError {
    crate::error::ApiError::Unavailable(format!(
        "{what} could not be recorded in the ledger, so nothing changed: {why}"
    ))
}

/// What [`record_change`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The entry, and the change with it, is durable at this ledger index.
    At(u64),
    /// A guarded change found its row moved on: nothing was written or appended.
    Stale,
}

/// A governance event about to be recorded with the change it describes.
pub struct Event<'a> {
    /// The entry's event class (`stop`, `incident`, `provider`, ...).
    pub class: &'a str,
    /// The event's name (`emergency_stop`, ...).
    pub event: &'a str,
    /// What it is about (a stop's id, ...), for the entry's uid.
    pub id: &'a str,
    /// Who did it.
    pub actor: &'a str,
    /// The incident (or other record) it belongs to, as the entry's correlation uid.
    pub correlation: Option<&'a str>,
    /// What happened.
    pub details: serde_json::Value,
}

/// Appends `event` together with its change `writes`, in one transaction, and waits until it
/// is durable. An error means neither the entry nor the change exists.
pub async fn record_change(state: &AppState, event: Event<'_>, writes: Writes) -> Result<Recorded, String> {
    let at = now_ms();
    let value = crate::ocsf::event(
        event.event,
        3,
        &format!("{}/{}/{at}", event.event, event.id),
        event.actor,
        event.correlation,
        event.details,
        at,
    );
    let entry = crate::ocsf::entry(value).map_err(|e| e.to_string())?;
    let meta = EntryMeta {
        event_class: event.class.to_owned(),
        classification: None,
        correlation_uid: event.correlation.map(str::to_owned),
        created_at_ms: at,
    };
    match state.ledger.append(entry, meta, SideRecord::Writes(writes)).await {
        Ok(Appended::Entry { index }) => Ok(Recorded::At(index)),
        Ok(Appended::Stale) => Ok(Recorded::Stale),
        Ok(other) => Err(format!("the ledger did not append the entry: {other:?}")),
        Err(e) => Err(e.to_string()),
    }
}
