//! `tribune serve`: run the control plane.

use std::net::SocketAddr;
use std::path::PathBuf;

use tribune_server::{Config, Database, StartError};

use crate::commands::print_diagnostics;
use crate::exit;

/// Arguments of `tribune serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The governance bundle directory.
    #[arg(long, env = "TRIBUNE_BUNDLE", default_value = crate::DEFAULT_BUNDLE)]
    pub bundle: PathBuf,
    /// Where Tribune keeps its SQLite database (created if missing).
    #[arg(long, env = "TRIBUNE_DATA_DIR", default_value = crate::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// A PostgreSQL url (`postgres://...`) to use instead of SQLite in the data directory.
    #[arg(long, env = "TRIBUNE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The ledger's signing key file (generated with owner-only permissions if missing;
    /// default: `ledger.key` in the data directory). Replicas sharing a database share it.
    #[arg(long, env = "TRIBUNE_LEDGER_KEY")]
    pub ledger_key: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "TRIBUNE_LISTEN", default_value = "127.0.0.1:8470")]
    pub listen: SocketAddr,
}

/// The database a command uses: the url if given, else `tribune.db` in the data directory.
pub fn database(data_dir: &std::path::Path, url: Option<&str>) -> Result<Database, String> {
    if let Some(url) = url {
        return Ok(Database::Url(url.to_owned()));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create data directory `{}`: {e}", data_dir.display()))?;
    restrict(data_dir);
    Ok(Database::SqliteFile(data_dir.join("tribune.db")))
}

/// The ledger key file: the one given, else `ledger.key` in the data directory.
pub fn ledger_key_path(data_dir: &std::path::Path, given: Option<&std::path::Path>) -> PathBuf {
    given.map_or_else(|| data_dir.join("ledger.key"), std::path::Path::to_path_buf)
}

#[cfg(unix)]
fn restrict(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot make the data directory owner-only");
    }
}

#[cfg(not(unix))]
fn restrict(_dir: &std::path::Path) {}

/// Runs the command until SIGINT or SIGTERM.
pub async fn run(args: Args) -> u8 {
    init_tracing();
    let database = match database(&args.data_dir, args.database_url.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    let config = Config {
        bundle_dir: args.bundle.clone(),
        database,
        bootstrap_token: std::env::var("TRIBUNE_BOOTSTRAP_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        ledger_key: ledger_key_path(&args.data_dir, args.ledger_key.as_deref()),
    };
    let opened = match tribune_server::open(&config).await {
        Ok(o) => o,
        Err(StartError::Bundle { dir, diagnostics }) => {
            eprintln!("error: the bundle in `{}` is invalid:", dir.display());
            print_diagnostics(&diagnostics);
            return exit::INVALID_BUNDLE;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return exit::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| args.listen.to_string(), |a| a.to_string());
    let snapshot = opened.state.snapshot();
    let bundle = snapshot.bundle();
    println!("tribune {} serving on http://{addr}", env!("CARGO_PKG_VERSION"));
    println!(
        "  bundle:   {} ({}, version {})",
        args.bundle.display(),
        bundle.deployment.name,
        bundle.deployment.version
    );
    println!("  store:    {}", opened.state.store.backend_name());
    println!("  ledger:   {}", opened.state.ledger.verifier_key());
    for finding in snapshot.findings() {
        println!("  finding:  {finding}");
    }
    if let Some(token) = &opened.new_admin_token {
        println!();
        println!("  admin token (shown once; keep it safe): {token}");
        println!("  issue an agent token with:");
        println!("    curl -s -X POST http://{addr}/v1/tokens -H 'Authorization: Bearer {token}' \\");
        println!(
            "      -H 'Content-Type: application/json' -d '{{\"kind\":\"agent\",\"subject\":\"AGENT_ID\"}}'"
        );
    }
    spawn_reload_on_sighup(opened.state.clone());
    match tribune_server::serve(listener, opened.state, shutdown_signal()).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: server failed: {e}");
            exit::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRIBUNE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(unix)]
fn spawn_reload_on_sighup(state: std::sync::Arc<tribune_server::AppState>) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; reload with POST /v1/bundle/reload");
                return;
            }
        };
        while hup.recv().await.is_some() {
            // Errors are logged by `reload`; the active bundle keeps serving.
            if let Err(tribune_server::ActivationError::Invalid(diagnostics)) =
                state.reload(&tribune_server::Activator::process("sighup")).await
            {
                for d in diagnostics {
                    tracing::warn!(diagnostic = %d, "bundle rejected");
                }
            }
        }
    });
}

#[cfg(not(unix))]
fn spawn_reload_on_sighup(_state: std::sync::Arc<tribune_server::AppState>) {}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down");
}
