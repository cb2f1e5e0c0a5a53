//! `tribune redteam run [SUITE]`: replay a red-team suite (docs/redteam.md) and report pass or
//! fail per step.
//!
//! Offline (`--bundle DIR`) the suite is replayed in process against the bundle, through
//! `tribune-policy`'s decision point with the facts each step sets up. Against a live server
//! (`--server URL --token T`, an admin's) the suite is sent to `POST /v1/redteam/runs`: the
//! server replays it against its active bundle with its own stops, trust scores and vettings,
//! records the run (ledger and store) and answers the report, which is printed the same way.
//! Without SUITE, the built-in suite written for the bundle's deployment is replayed.
//!
//! Exit codes: 0 every step passed, 1 a step failed (or the server could not be reached),
//! 2 bad input (an invalid bundle or suite, or a suite that does not fit the bundle).

use std::path::PathBuf;

use serde_json::{Value, json};
use tribune_bundle::{Bundle, Diagnostic, SourceFile};
use tribune_policy::Snapshot;
use tribune_redteam::{Offline, Report, Suite};

use crate::client::{self, ClientError, Remote};
use crate::commands::print_diagnostics;
use crate::exit;

/// Output formats.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// One line per step and a summary.
    Text,
    /// The report as JSON.
    Json,
}

/// `tribune redteam ...`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Replay a red-team suite offline against a bundle or on a live server, and report pass or
    /// fail per step (exit 0 all passed, 1 a step failed, 2 bad input).
    Run(RunArgs),
}

/// `tribune redteam run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The suite file (TOML); the built-in suite for the bundle's deployment when omitted.
    suite: Option<PathBuf>,
    /// Replay offline against this bundle directory.
    #[arg(long, conflicts_with = "server")]
    bundle: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    remote: Remote,
}

/// Runs `tribune redteam ...`.
pub async fn run(command: Command) -> u8 {
    match command {
        Command::Run(args) => run_suite(args).await,
    }
}

fn bad_input(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    exit::INVALID_BUNDLE
}

/// Reads the suite file: its text, and the name diagnostics locate it by.
fn read_suite(path: &std::path::Path) -> Result<SourceFile, String> {
    std::fs::read_to_string(path)
        .map(|text| SourceFile::new(path.display().to_string(), text))
        .map_err(|e| format!("cannot read the suite `{}`: {e}", path.display()))
}

fn suite_for(file: Option<&SourceFile>, bundle: &Bundle) -> Result<Suite, Result<Vec<Diagnostic>, String>> {
    match file {
        Some(file) => tribune_redteam::parse(file).map_err(Ok),
        None => match tribune_redteam::builtin(&bundle.deployment.name) {
            Some(parsed) => parsed.map_err(Ok),
            None => Err(Err(format!(
                "there is no built-in red-team suite for deployment `{}`; name a suite file",
                bundle.deployment.name
            ))),
        },
    }
}

async fn run_suite(args: RunArgs) -> u8 {
    let file = match args.suite.as_deref().map(read_suite).transpose() {
        Ok(f) => f,
        Err(e) => return bad_input(e),
    };
    let report = if args.remote.server.is_some() {
        match live(&args, file.as_ref()).await {
            Ok(r) => r,
            Err(code) => return code,
        }
    } else {
        let Some(dir) = &args.bundle else {
            return bad_input("name the bundle (`--bundle DIR`) or a live server (`--server URL --token T`)");
        };
        let snapshot = match tribune_bundle::load_dir(dir).and_then(Snapshot::build) {
            Ok(s) => s,
            Err(d) => {
                print_diagnostics(&d);
                return bad_input(format!("the bundle `{}` is invalid", dir.display()));
            }
        };
        let suite = match suite_for(file.as_ref(), snapshot.bundle()) {
            Ok(s) => s,
            Err(Ok(d)) => {
                print_diagnostics(&d);
                return bad_input("the suite is invalid");
            }
            Err(Err(e)) => return bad_input(e),
        };
        let unbound = tribune_redteam::bind::check(&suite, snapshot.bundle());
        if !unbound.is_empty() {
            print_diagnostics(&unbound);
            return bad_input("the suite does not fit the bundle");
        }
        tribune_redteam::run(&snapshot, &suite, &Offline, tribune_server::now_ms())
    };
    match args.format {
        Format::Text => print!("{}", tribune_redteam::render_text(&report)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default()),
    }
    if report.passed { exit::OK } else { exit::FAILURE }
}

/// Sends the suite to the server, which replays and records it; returns its report.
async fn live(args: &RunArgs, file: Option<&SourceFile>) -> Result<Report, u8> {
    let (server, token) = args.remote.get().map_err(bad_input)?;
    let body = match file {
        Some(f) => json!({ "suite": f.text, "file": f.path }),
        None => json!({}),
    };
    let answer: Value = match client::post(server, "/v1/redteam/runs", token, &body).await {
        Ok(a) => a,
        Err(
            e @ ClientError::Api {
                status: 400 | 422, ..
            },
        ) => return Err(bad_input(e)),
        Err(e) => {
            eprintln!("error: {e}");
            return Err(exit::FAILURE);
        }
    };
    if let Some(id) = answer["id"].as_str() {
        eprintln!(
            "recorded red-team run `{id}` (ledger entry {})",
            answer["ledger_index"]
        );
    }
    serde_json::from_value(answer["report"].clone()).map_err(|e| {
        eprintln!("error: the server's red-team report is not one this client reads: {e}");
        exit::FAILURE
    })
}
