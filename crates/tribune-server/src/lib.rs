//! Tribune's HTTP server: the decision API, the record of decisions and outcomes, the
//! human-in-the-loop approvals (queue, votes, MFA enrolment, webhooks), the ledger, bundle
//! reload, health, metrics and the OpenAPI document.
//!
//! [`serve`] takes a bound listener and a shutdown future, so tests bind port 0 and stop
//! cleanly. [`open`] prepares the state (bundle, store, bootstrap token) for it.
//!
//! Invariants:
//! - INVARIANT(recorded-before-answered): a decision is returned only after its record is
//!   durable; if recording fails the caller gets `503 unrecorded`, never the decision.
//! - INVARIANT(fail-closed): a panic in the decision point becomes a recorded deny.
//! - Only this crate knows HTTP; only `tribune-store` knows SQL.

mod auth;
mod error;
mod hitl;
mod identities;
mod incidents;
pub mod ledger;
pub mod mcp;
mod metrics;
mod ocsf;
mod providers;
mod quota;
mod recent;
mod retention;
mod routes;
mod state;
mod stops;
mod taint;
pub mod tokens;
mod trust;
mod webhooks;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tribune_store::{EntryMeta, LedgerAppend, SideRecord, Store, TokenKind, TokenRecord};

pub use auth::Caller;
pub use error::ApiError;
pub use state::{ActivationError, Activator, AppState, MAX_BODY_BYTES, load_snapshot, now_ms};

/// The OpenAPI 3.1 document served at `/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Every route of the API, as (method, OpenAPI path). The OpenAPI test checks the document
/// matches. The MCP gateway at `/mcp/{provider}` speaks MCP, not this API, and is not listed.
pub const ROUTES: &[(&str, &str)] = &[
    ("post", "/v1/decisions"),
    ("get", "/v1/decisions/{id}"),
    ("post", "/v1/decisions/{id}/outcome"),
    ("get", "/v1/bundle"),
    ("post", "/v1/bundle/reload"),
    ("post", "/v1/tokens"),
    ("get", "/v1/tools"),
    ("get", "/v1/openapi.json"),
    ("get", "/v1/audit/key"),
    ("get", "/v1/audit/checkpoint"),
    ("get", "/v1/audit/checkpoints"),
    ("get", "/v1/audit/entries"),
    ("get", "/v1/audit/entries/{index}"),
    ("get", "/v1/audit/entries/{index}/proof"),
    ("get", "/v1/audit/consistency"),
    ("get", "/v1/audit/holds"),
    ("post", "/v1/audit/holds"),
    ("post", "/v1/audit/holds/{id}/release"),
    ("post", "/v1/audit/retention/run"),
    ("get", "/v1/audit/reviews"),
    ("post", "/v1/audit/reviews"),
    ("get", "/v1/approvals"),
    ("get", "/v1/approvals/{id}"),
    ("post", "/v1/approvals/{id}/approve"),
    ("post", "/v1/approvals/{id}/deny"),
    ("post", "/v1/mfa/enroll"),
    ("get", "/v1/stops"),
    ("post", "/v1/stops"),
    ("post", "/v1/stops/{id}/resume"),
    ("get", "/v1/providers"),
    ("get", "/v1/providers/{id}"),
    ("post", "/v1/providers/{id}/vet"),
    ("post", "/v1/providers/{id}/pin"),
    ("post", "/v1/providers/{id}/tools"),
    ("get", "/v1/incidents"),
    ("get", "/v1/incidents/{id}"),
    ("post", "/v1/incidents/{id}/close"),
    ("get", "/v1/trust"),
    ("get", "/v1/trust/{subject}"),
    ("get", "/v1/drills"),
    ("post", "/v1/drills"),
    ("get", "/v1/redteam/runs"),
    ("post", "/v1/redteam/runs"),
    ("get", "/v1/identities"),
    ("post", "/v1/identities"),
    ("get", "/v1/identities/audit"),
    ("get", "/v1/identities/{id}"),
    ("post", "/v1/identities/{id}/approve"),
    ("post", "/v1/identities/{id}/suspend"),
    ("post", "/v1/identities/{id}/reinstate"),
    ("post", "/v1/identities/{id}/decommission"),
    ("post", "/v1/identities/{id}/rotate"),
    ("post", "/v1/identities/{id}/review"),
    ("post", "/v1/credentials"),
    ("post", "/v1/credentials/delegate"),
    ("post", "/v1/credentials/{jti}/revoke"),
    ("get", "/v1/credentials/jwks"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

/// The router over `state`.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/decisions", post(routes::decisions::decide))
        .route("/v1/decisions/{id}", get(routes::decisions::get))
        .route("/v1/decisions/{id}/outcome", post(routes::decisions::outcome))
        .route("/v1/bundle", get(routes::bundle::get))
        .route("/v1/bundle/reload", post(routes::bundle::reload))
        .route("/v1/tokens", post(routes::tokens::create))
        .route("/v1/tools", get(routes::tools::list))
        .route("/v1/openapi.json", get(routes::health::openapi))
        .route("/v1/audit/key", get(routes::audit::key))
        .route("/v1/audit/checkpoint", get(routes::audit::checkpoint))
        .route("/v1/audit/checkpoints", get(routes::audit::checkpoints))
        .route("/v1/audit/entries", get(routes::audit::entries))
        .route("/v1/audit/entries/{index}", get(routes::audit::entry))
        .route("/v1/audit/entries/{index}/proof", get(routes::audit::inclusion))
        .route("/v1/audit/consistency", get(routes::audit::consistency))
        .route(
            "/v1/audit/holds",
            get(routes::audit::holds).post(routes::audit::add_hold),
        )
        .route("/v1/audit/holds/{id}/release", post(routes::audit::release_hold))
        .route("/v1/audit/retention/run", post(routes::audit::run_retention))
        .route(
            "/v1/audit/reviews",
            get(routes::audit::reviews).post(routes::audit::review),
        )
        .route("/v1/approvals", get(routes::approvals::list))
        .route("/v1/approvals/{id}", get(routes::approvals::get))
        .route("/v1/approvals/{id}/approve", post(routes::approvals::approve))
        .route("/v1/approvals/{id}/deny", post(routes::approvals::deny))
        .route("/v1/mfa/enroll", post(routes::approvals::enroll))
        .route("/v1/stops", get(routes::stops::list).post(routes::stops::create))
        .route("/v1/stops/{id}/resume", post(routes::stops::resume))
        .route("/v1/providers", get(routes::providers::list))
        .route("/v1/providers/{id}", get(routes::providers::show))
        .route("/v1/providers/{id}/vet", post(routes::providers::vet))
        .route("/v1/providers/{id}/pin", post(routes::providers::pin))
        .route("/v1/providers/{id}/tools", post(routes::providers::report))
        .route("/v1/incidents", get(routes::incidents::list))
        .route("/v1/incidents/{id}", get(routes::incidents::get))
        .route("/v1/incidents/{id}/close", post(routes::incidents::close))
        .route("/v1/trust", get(routes::trust::list))
        .route("/v1/trust/{subject}", get(routes::trust::get))
        .route(
            "/v1/drills",
            get(routes::drills::list).post(routes::drills::create),
        )
        .route(
            "/v1/redteam/runs",
            get(routes::redteam::list).post(routes::redteam::create),
        )
        .route(
            "/v1/identities",
            get(routes::identities::list).post(routes::identities::create),
        )
        .route("/v1/identities/audit", get(routes::identities::audit))
        .route("/v1/identities/{id}", get(routes::identities::get))
        .route("/v1/identities/{id}/approve", post(routes::identities::approve))
        .route("/v1/identities/{id}/suspend", post(routes::identities::suspend))
        .route(
            "/v1/identities/{id}/reinstate",
            post(routes::identities::reinstate),
        )
        .route(
            "/v1/identities/{id}/decommission",
            post(routes::identities::decommission),
        )
        .route("/v1/identities/{id}/rotate", post(routes::identities::rotate))
        .route("/v1/identities/{id}/review", post(routes::identities::review))
        .route("/v1/credentials", post(routes::identities::issue))
        .route("/v1/credentials/delegate", post(routes::identities::delegate))
        .route("/v1/credentials/{jti}/revoke", post(routes::identities::revoke))
        .route("/v1/credentials/jwks", get(routes::identities::jwks))
        .route("/healthz", get(routes::health::healthz))
        .route("/readyz", get(routes::health::readyz))
        .route("/metrics", get(routes::health::metrics))
        .route("/mcp/{provider}", axum::routing::any(mcp::handle))
        .fallback(|uri: axum::http::Uri| async move { ApiError::NoRoute(uri.path().to_owned()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            count_errors,
        ))
        .with_state(state)
}

/// Counts every error response by its stable code.
async fn count_errors(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let response = next.run(request).await;
    if let Some(error::ErrorCode(code)) = response.extensions().get::<error::ErrorCode>() {
        state
            .metrics
            .errors
            .get_or_create(&metrics::CodeLabels { code })
            .inc();
    }
    response
}

/// Serves the API on `listener` until `shutdown` completes, then drains in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let fronts = Arc::clone(&state);
    let shutdown = async move {
        shutdown.await;
        // MCP sessions hold event streams open; ending them lets the drain finish.
        fronts.mcp.shutdown();
    };
    // One router for every connection: `Router` as a make-service would copy every route per
    // connection, and MCP clients open a connection per request.
    axum::serve(listener, router(state).into_make_service())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Where the server's bundle and database are.
#[derive(Clone, Debug)]
pub struct Config {
    /// The bundle directory.
    pub bundle_dir: PathBuf,
    /// The database.
    pub database: Database,
    /// An admin token to install if the database has none (`TRIBUNE_BOOTSTRAP_TOKEN`).
    pub bootstrap_token: Option<String>,
    /// The ledger's Ed25519 signing key file: read if present, else generated (owner-only).
    pub ledger_key: PathBuf,
}

/// Which database to use.
#[derive(Clone, Debug)]
pub enum Database {
    /// An SQLite file (created if missing): the embedded default.
    SqliteFile(PathBuf),
    /// A database url: `postgres://...` (or `sqlite:...`).
    Url(String),
}

impl Database {
    /// Connects and migrates.
    pub async fn open(&self) -> Result<Store, tribune_store::StoreError> {
        match self {
            Database::SqliteFile(path) => Store::open_sqlite(path).await,
            Database::Url(url) => Store::connect(url).await,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The bundle did not load.
    #[error("the bundle in `{dir}` is invalid")]
    Bundle {
        /// Where it was loaded from.
        dir: PathBuf,
        /// Every problem found.
        diagnostics: Vec<tribune_bundle::Diagnostic>,
    },
    /// The database could not be opened or written.
    #[error("database: {0}")]
    Store(#[from] tribune_store::StoreError),
    /// The bootstrap token is unusable.
    #[error("`TRIBUNE_BOOTSTRAP_TOKEN`: {0}")]
    BootstrapToken(String),
    /// Anything else during activation.
    #[error("{0}")]
    Activation(String),
}

/// A ready-to-serve state, plus the admin token if this start created one.
pub struct Opened {
    /// The state to serve.
    pub state: Arc<AppState>,
    /// A newly minted admin token, to show once.
    pub new_admin_token: Option<String>,
}

/// Loads the bundle, opens (and migrates) the database and makes sure an admin token exists.
pub async fn open(config: &Config) -> Result<Opened, StartError> {
    let snapshot = match load_snapshot(config.bundle_dir.clone()).await {
        Ok(s) => s,
        Err(ActivationError::Invalid(diagnostics)) => {
            return Err(StartError::Bundle {
                dir: config.bundle_dir.clone(),
                diagnostics,
            });
        }
        Err(e) => return Err(StartError::Activation(e.to_string())),
    };
    let store = config.database.open().await?;
    let (key, created) = ledger::load_or_create_key(&config.ledger_key, &snapshot.bundle().deployment.name)
        .map_err(|e| StartError::Activation(e.to_string()))?;
    if created {
        tracing::info!(path = %config.ledger_key.display(), verifier = %key.verifier_key(), "generated the ledger signing key");
    }
    let new_admin_token = bootstrap(&store, config.bootstrap_token.as_deref()).await?;
    let state = AppState::new(snapshot, config.bundle_dir.clone(), store, key)
        .await
        .map_err(|e| match e {
            ActivationError::Store(e) => StartError::Store(e),
            other => StartError::Activation(other.to_string()),
        })?;
    state.start_retention();
    state.start_hitl();
    state.start_stops();
    state.start_incidents();
    state.start_trust();
    if let Some(hook) = &state.snapshot().bundle().hitl.webhook
        && std::env::var_os(&hook.secret_env).is_none()
    {
        tracing::warn!(env = %hook.secret_env, url = %hook.url, "the approval webhook's key variable is not set; notifications will fail until it is");
    }
    Ok(Opened {
        state,
        new_admin_token,
    })
}

/// Installs the supplied bootstrap token if it is not yet known, or mints one if the database
/// has no admin token at all. Returns a newly minted token, which the caller shows once.
async fn bootstrap(store: &Store, supplied: Option<&str>) -> Result<Option<String>, StartError> {
    if let Some(token) = supplied {
        tokens::check_supplied(token).map_err(StartError::BootstrapToken)?;
        if store.token_by_hash(&tokens::hash(token)).await?.is_none() {
            record_bootstrap(store, admin_record(token, "bootstrap (TRIBUNE_BOOTSTRAP_TOKEN)")).await?;
        }
        return Ok(None);
    }
    if store.count_tokens_of_kind(TokenKind::Admin).await? > 0 {
        return Ok(None);
    }
    let token = tokens::mint();
    record_bootstrap(store, admin_record(&token, "bootstrap (first start)")).await?;
    Ok(Some(token))
}

/// Stores a bootstrap admin token's hash together with its ledger entry.
async fn record_bootstrap(store: &Store, record: TokenRecord) -> Result<(), StartError> {
    let at = record.created_at_ms;
    let details = serde_json::json!({ "token_id": record.id, "kind": "admin", "label": record.label });
    let value = ocsf::event(
        "token_issued",
        1,
        &format!("token/{}", record.id),
        "tribune",
        None,
        details,
        at,
    );
    let entry = ocsf::entry(value).map_err(|e| StartError::Store(tribune_store::StoreError::Ledger(e)))?;
    let meta = EntryMeta {
        event_class: "identity".to_owned(),
        classification: None,
        correlation_uid: None,
        created_at_ms: at,
    };
    store
        .append_ledger(&[LedgerAppend {
            entry,
            meta,
            side: SideRecord::Token(record),
        }])
        .await?;
    Ok(())
}

fn admin_record(token: &str, label: &str) -> TokenRecord {
    TokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        hash: tokens::hash(token),
        kind: TokenKind::Admin,
        subject: None,
        label: label.to_owned(),
        created_at_ms: now_ms(),
        revoked_at_ms: None,
    }
}

/// Issues a token for a subject declared in `snapshot`'s bundle, storing only its hash
/// (used by the CLI and the demo; the API does the same through `POST /v1/tokens`).
pub async fn issue_token(
    snapshot: &tribune_policy::Snapshot,
    store: &Store,
    kind: TokenKind,
    subject: Option<String>,
    label: &str,
    issued_by: &str,
) -> Result<String, ApiError> {
    let issued = routes::tokens::issue(snapshot, store, kind, subject, label.to_owned(), issued_by).await?;
    issued["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ApiError::Internal("token missing from its own answer".to_owned()))
}
