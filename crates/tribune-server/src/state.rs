//! The server's shared state and the one path by which a bundle becomes active.

use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tribune_bundle::Diagnostic;
use tribune_ledger::SigningKey;
use tribune_policy::Snapshot;
use tribune_store::{ActivationRecord, SideRecord, Store};

use crate::ledger::{Ledger, LedgerError};
use crate::metrics::Metrics;
use crate::quota::QuotaWindows;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Everything a request handler can reach.
pub struct AppState {
    snapshot: ArcSwap<Snapshot>,
    activated_at_ms: std::sync::atomic::AtomicI64,
    bundle_dir: PathBuf,
    /// The database.
    pub store: Store,
    /// The tamper-evident ledger every decision and governance event goes into.
    pub ledger: Arc<Ledger>,
    checkpointer: tokio::task::AbortHandle,
    retention: std::sync::OnceLock<tokio::task::AbortHandle>,
    sweeper: std::sync::OnceLock<tokio::task::AbortHandle>,
    /// The human-in-the-loop program: waiters, per-request serialization, webhooks.
    pub hitl: crate::hitl::Hitl,
    /// Per-principal call windows for quotas.
    pub quotas: QuotaWindows,
    /// The emergency stops in force.
    pub stops: crate::stops::Stops,
    /// Agents' and services' identities and credentials.
    pub identities: crate::identities::Identities,
    /// Trust scores of agents, services and providers.
    pub trust: crate::trust::Trust,
    trust_poller: std::sync::OnceLock<tokio::task::AbortHandle>,
    /// Incident response: the detector of the bundle's triggers and its containment worker.
    pub incidents: crate::incidents::Incidents,
    /// Provider vettings and tool description pins.
    pub providers: crate::providers::Providers,
    /// Values seen in untrusted tools' results, per session (in this process only).
    pub taint: crate::taint::TaintMemory,
    /// Decisions recorded lately whose outcome is not reported yet (in this process only).
    pub recent: crate::recent::RecentDecisions,
    /// Bearer tokens verified recently (`auth.rs`).
    pub(crate) tokens: crate::auth::TokenCache,
    /// The active bundle as loaded, before runtime identities are added to it.
    base: ArcSwap<tribune_bundle::Bundle>,
    stop_poller: std::sync::OnceLock<tokio::task::AbortHandle>,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// The MCP gateway's agent sessions at `/mcp/{provider}`.
    pub mcp: crate::mcp::Fronts,
    reload_lock: tokio::sync::Mutex<()>,
}

/// Why a bundle could not be activated.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// The bundle is invalid.
    #[error("the bundle is invalid")]
    Invalid(Vec<Diagnostic>),
    /// The activation could not be recorded.
    #[error("the activation could not be recorded: {0}")]
    Store(#[from] tribune_store::StoreError),
    /// The ledger could not be opened.
    #[error("the ledger could not be opened: {0}")]
    Ledger(#[from] LedgerError),
    /// The `[oidc]` identity provider's keys could not be loaded.
    #[error("{0}")]
    Oidc(String),
    /// Loading was interrupted.
    #[error("loading the bundle failed: {0}")]
    Join(String),
}

/// Loads and compiles the bundle in `dir`, off the async runtime's worker threads.
pub async fn load_snapshot(dir: PathBuf) -> Result<Snapshot, ActivationError> {
    tokio::task::spawn_blocking(move || tribune_bundle::load_dir(&dir).and_then(Snapshot::build))
        .await
        .map_err(|e| ActivationError::Join(e.to_string()))?
        .map_err(ActivationError::Invalid)
}

/// The `iss` of every credential this deployment issues.
pub const ISSUER: &str = "tribune";

/// Builds the snapshot of `bundle` with the runtime identities of `view`, off the async
/// runtime's worker threads.
async fn build_with_runtime(
    bundle: tribune_bundle::Bundle,
    view: &crate::identities::View,
) -> Result<Snapshot, ActivationError> {
    let bundle = crate::identities::with_runtime(bundle, view);
    tokio::task::spawn_blocking(move || Snapshot::build(bundle))
        .await
        .map_err(|e| ActivationError::Join(e.to_string()))?
        .map_err(ActivationError::Invalid)
}

/// The identity provider `bundle` configures, with its keys loaded.
async fn oidc_of(
    bundle: &tribune_bundle::Bundle,
    dir: &std::path::Path,
) -> Result<Option<crate::identities::OidcHumans>, ActivationError> {
    match &bundle.oidc {
        Some(oidc) => crate::identities::load_oidc(oidc, dir)
            .await
            .map(Some)
            .map_err(ActivationError::Oidc),
        None => Ok(None),
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl AppState {
    /// State serving `snapshot`, already loaded from `bundle_dir`, with the ledger signed by
    /// `key`; records the activation in the ledger.
    pub async fn new(
        snapshot: Snapshot,
        bundle_dir: PathBuf,
        store: Store,
        key: SigningKey,
    ) -> Result<Arc<AppState>, ActivationError> {
        let at = now_ms();
        let seed = key.derive_seed("credentials");
        let ledger = Ledger::open(store.clone(), key).await?;
        // As in `reload`: everything that can fail runs before the activation is recorded.
        let base = snapshot.bundle().clone();
        let oidc = oidc_of(&base, &bundle_dir).await?;
        let synced = crate::identities::sync(&store, &base, at).await?;
        crate::identities::record_sync(&ledger, &base, &synced, at).await?;
        let identities =
            crate::identities::Identities::load(&store, seed, ISSUER, base.identities.audience()).await?;
        identities.set_oidc(oidc);
        let snapshot = if identities.view().runtime().next().is_some() {
            build_with_runtime((*base).clone(), &identities.view()).await?
        } else {
            snapshot
        };
        record_activation(&ledger, &snapshot, &Activator::process("startup"), at).await?;
        let checkpointer = ledger.spawn_checkpointer();
        let metrics = Metrics::new();
        let hitl = crate::hitl::Hitl::new(&metrics.hitl);
        let stops = crate::stops::Stops::load(&store).await?;
        let providers = crate::providers::Providers::load(&store).await?;
        let trust = crate::trust::Trust::load(&store, &snapshot.bundle().trust, at).await?;
        let incidents = crate::incidents::Incidents::new(metrics.hitl.webhook_deliveries.clone());
        Ok(Arc::new(AppState {
            snapshot: ArcSwap::from_pointee(snapshot),
            activated_at_ms: std::sync::atomic::AtomicI64::new(at),
            bundle_dir,
            store,
            ledger,
            checkpointer,
            retention: std::sync::OnceLock::new(),
            sweeper: std::sync::OnceLock::new(),
            hitl,
            quotas: QuotaWindows::default(),
            stops,
            identities,
            trust,
            trust_poller: std::sync::OnceLock::new(),
            incidents,
            providers,
            taint: crate::taint::TaintMemory::new(),
            recent: crate::recent::RecentDecisions::default(),
            tokens: crate::auth::TokenCache::default(),
            base: ArcSwap::new(base),
            stop_poller: std::sync::OnceLock::new(),
            metrics,
            mcp: crate::mcp::Fronts::default(),
            reload_lock: tokio::sync::Mutex::new(()),
        }))
    }

    /// Rebuilds the snapshot from the active bundle and the registry's runtime identities,
    /// after the set of runtime identities changed.
    pub async fn rebuild_for_registry(&self) -> Result<(), ActivationError> {
        let _serial = self.reload_lock.lock().await;
        let snapshot = build_with_runtime((*self.base.load_full()).clone(), &self.identities.view()).await?;
        self.snapshot.store(Arc::new(snapshot));
        Ok(())
    }

    /// Starts the approval sweeper (once): expiry of due requests, queue gauges.
    pub fn start_hitl(self: &Arc<Self>) {
        let _ = self.sweeper.set(crate::hitl::spawn_sweeper(Arc::downgrade(self)));
    }

    /// Starts reading the stops other replicas make (once).
    pub fn start_stops(self: &Arc<Self>) {
        let _ = self
            .stop_poller
            .set(crate::stops::spawn_poller(Arc::downgrade(self)));
    }

    /// Starts the worker that contains the incidents the bundle's triggers open (once).
    pub fn start_incidents(self: &Arc<Self>) {
        self.incidents.start(Arc::downgrade(self));
    }

    /// Starts reading the trust events other replicas write, and writing this node's counted
    /// allowed calls (once).
    pub fn start_trust(self: &Arc<Self>) {
        let _ = self
            .trust_poller
            .set(crate::trust::spawn_poller(Arc::downgrade(self)));
    }

    /// Starts the hourly retention job (once).
    pub fn start_retention(self: &Arc<Self>) {
        let _ = self.retention.set(crate::retention::spawn(Arc::downgrade(self)));
    }

    /// The active snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// When the active bundle was activated.
    pub fn activated_at_ms(&self) -> i64 {
        self.activated_at_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Reloads the bundle from disk. A bundle that fails to load leaves the active one serving.
    /// Returns the new snapshot and whether its content differs from the previous one.
    pub async fn reload(&self, by: &Activator) -> Result<(Arc<Snapshot>, bool), ActivationError> {
        let _serial = self.reload_lock.lock().await;
        let result = self.reload_locked(by).await;
        let label = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .reloads
            .get_or_create(&crate::metrics::ResultLabels { result: label })
            .inc();
        match &result {
            Ok((s, changed)) => {
                tracing::info!(bundle = %s.bundle().hash, version = %s.bundle().deployment.version, changed, source = by.source, actor = %by.actor, "bundle reloaded")
            }
            Err(e) => {
                tracing::warn!(error = %e, source = by.source, "bundle reload rejected; the active bundle keeps serving")
            }
        }
        result
    }

    async fn reload_locked(&self, by: &Activator) -> Result<(Arc<Snapshot>, bool), ActivationError> {
        let snapshot = load_snapshot(self.bundle_dir.clone()).await?;
        let changed = snapshot.bundle().hash != self.snapshot().bundle().hash;
        let at = now_ms();
        if changed {
            // Everything that can fail runs before the activation is recorded, so a recorded
            // activation is one that took effect. The registry's changes are each committed
            // with their own entry as they are made.
            let base = snapshot.bundle().clone();
            let oidc = oidc_of(&base, &self.bundle_dir).await?;
            let synced = crate::identities::sync(&self.store, &base, at).await?;
            crate::identities::record_sync(&self.ledger, &base, &synced, at).await?;
            self.identities.refresh(&self.store).await?;
            let snapshot = if self.identities.view().runtime().next().is_some() {
                Arc::new(build_with_runtime((*base).clone(), &self.identities.view()).await?)
            } else {
                Arc::new(snapshot)
            };
            record_activation(&self.ledger, &snapshot, by, at).await?;
            self.identities.set_audience(base.identities.audience());
            self.identities.set_oidc(oidc);
            self.base.store(base);
            self.snapshot.store(Arc::clone(&snapshot));
            self.activated_at_ms
                .store(at, std::sync::atomic::Ordering::Relaxed);
            // The activation stands either way: a request this fails to cancel is still
            // decided again under the new bundle when its call is retried.
            if let Err(e) = crate::hitl::cancel_outdated(self, snapshot.bundle(), at).await {
                tracing::warn!(error = %e, "cancelling approval requests the new bundle no longer fits failed");
            }
        }
        Ok((self.snapshot(), changed))
    }
}

/// Who asked for a bundle activation, and how.
#[derive(Clone, Debug)]
pub struct Activator {
    /// How: `startup`, `sighup` or `api`.
    pub source: &'static str,
    /// Who: `human:ID` through the API, `tribune` for the process itself.
    pub actor: String,
    /// Whether the actor proved a fresh TOTP code for it.
    pub mfa: bool,
}

impl Activator {
    /// The server process itself (startup, or a signal from whoever runs it).
    pub fn process(source: &'static str) -> Activator {
        Activator {
            source,
            actor: "tribune".to_owned(),
            mfa: false,
        }
    }
}

/// Records a bundle activation, as a ledger entry with its activation row.
async fn record_activation(
    ledger: &Ledger,
    snapshot: &Snapshot,
    by: &Activator,
    at: i64,
) -> Result<(), ActivationError> {
    let bundle = snapshot.bundle();
    let record = ActivationRecord {
        bundle_hash: bundle.hash.clone(),
        version: bundle.deployment.version.clone(),
        source: by.source.to_owned(),
        activated_at_ms: at,
    };
    let details = serde_json::json!({
        "deployment": bundle.deployment.name,
        "bundle_hash": record.bundle_hash,
        "version": record.version,
        "source": by.source,
        "by": by.actor,
        "mfa": by.mfa,
    });
    let uid = format!("activation/{}/{at}", record.bundle_hash);
    let value = crate::ocsf::event("bundle_activation", 3, &uid, &by.actor, None, details, at);
    ledger
        .record_event("activation", value, at, SideRecord::Activation(record))
        .await?;
    Ok(())
}

impl Drop for AppState {
    fn drop(&mut self) {
        self.checkpointer.abort();
        if let Some(retention) = self.retention.get() {
            retention.abort();
        }
        if let Some(sweeper) = self.sweeper.get() {
            sweeper.abort();
        }
        if let Some(poller) = self.stop_poller.get() {
            poller.abort();
        }
        if let Some(poller) = self.trust_poller.get() {
            poller.abort();
        }
    }
}
