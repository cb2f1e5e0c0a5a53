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
use tribune_store::{StopRecord, Store, StoreError};

use crate::state::{AppState, now_ms};

/// How often a node reads the stops other replicas made.
pub const POLL: Duration = Duration::from_millis(250);

/// The stops in force on this node.
pub struct Stops {
    current: ArcSwap<Vec<Stop>>,
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
        })
    }

    /// The stops in force, for one decision.
    pub fn current(&self) -> Arc<Vec<Stop>> {
        self.current.load_full()
    }

    /// Reads the stops in force from `store` again.
    pub async fn refresh(&self, store: &Store) -> Result<(), StoreError> {
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
