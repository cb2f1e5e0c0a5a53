//! `tribune drill stop SCOPE` and `tribune drills`: emergency-stop drills.
//!
//! A drill stops one of the bundle's `[drills] scopes` for real, measures the time until the
//! stop is enforced, resumes it at once and records the result (`POST /v1/drills`); it needs a
//! human with stop authority, their personal token and a fresh TOTP code. `tribune drills`
//! lists them and says whether one is overdue against `[drills] cadence_days`.

use serde_json::{Value, json};

use crate::client::{self, Remote};
use crate::commands::identity::rfc3339;
use crate::exit;

/// `tribune drill ...`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Drill an emergency stop on a declared scope: stop it, measure the time to enforcement,
    /// resume it, record the drill (exit 0 passed, 1 failed).
    Stop(StopArgs),
}

/// `tribune drill stop SCOPE`.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// One of the bundle's `[drills] scopes`, e.g. `agent:canary`.
    scope: String,
    /// A current TOTP code from your MFA enrolment (`tribune mfa enroll`).
    #[arg(long)]
    mfa_code: String,
    /// Print the recorded drill as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// `tribune drills`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// At most this many drills, newest first.
    #[arg(long)]
    limit: Option<u32>,
    /// Print the drills and the cadence as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// Runs `tribune drill ...`.
pub async fn run(command: Command) -> u8 {
    match command {
        Command::Stop(args) => stop(args).await,
    }
}

fn failed(e: impl std::fmt::Display) -> u8 {
    eprintln!("error: {e}");
    exit::FAILURE
}

fn ms(v: &Value) -> String {
    v.as_f64()
        .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.3} ms"))
}

/// Drills a stop and reports the measured time.
async fn stop(args: StopArgs) -> u8 {
    let (server, token) = match args.remote.get() {
        Ok(r) => r,
        Err(e) => return failed(e),
    };
    let body = json!({ "scope": args.scope, "mfa_code": args.mfa_code });
    let drill = match client::post(server, "/v1/drills", token, &body).await {
        Ok(d) => d,
        Err(e) => return failed(e),
    };
    let passed = drill["passed"].as_bool() == Some(true);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&drill).unwrap_or_default());
    } else {
        let id = drill["id"].as_str().unwrap_or("?");
        let scope = drill["scope"].as_str().unwrap_or("?");
        let target = drill["target_ms"].as_i64().unwrap_or(0);
        if passed {
            println!(
                "drill {id} on {scope}: passed: enforced {} after the command (target < {target} ms)",
                ms(&drill["enforced_ms"])
            );
        } else {
            println!(
                "drill {id} on {scope}: FAILED: {}",
                drill["failure"].as_str().unwrap_or("no reason given")
            );
        }
        if let (Some(principal), Some(tool)) = (
            drill["call"]["principal"].as_str(),
            drill["call"]["tool"].as_str(),
        ) {
            println!("  checked: {principal} calling {tool} was decided `stopped`");
        }
        println!(
            "  stop {} resumed at {}",
            drill["stop_id"].as_str().unwrap_or("?"),
            drill["resumed_at_ms"]
                .as_i64()
                .map_or_else(|| "?".to_owned(), rfc3339)
        );
    }
    if passed { exit::OK } else { exit::FAILURE }
}

/// Lists the drills and where the deployment stands against its cadence (exit 1 when a drill
/// is overdue).
pub async fn list(args: ListArgs) -> u8 {
    let (server, token) = match args.remote.get() {
        Ok(r) => r,
        Err(e) => return failed(e),
    };
    let path = match args.limit {
        Some(n) => format!("/v1/drills?limit={n}"),
        None => "/v1/drills".to_owned(),
    };
    let listed = match client::get(server, &path, token).await {
        Ok(v) => v,
        Err(e) => return failed(e),
    };
    let overdue = listed["overdue"].as_bool() == Some(true);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listed).unwrap_or_default());
    } else {
        println!("{}", standing(&listed));
        let drills = listed["drills"].as_array().map_or(&[][..], Vec::as_slice);
        if !drills.is_empty() {
            println!(
                "{:<42} {:<24} {:<21} {:>12}  RESULT",
                "DRILL", "SCOPE", "STARTED", "ENFORCED"
            );
        }
        for d in drills {
            let result = if d["passed"].as_bool() == Some(true) {
                "passed".to_owned()
            } else {
                format!("failed: {}", d["failure"].as_str().unwrap_or("?"))
            };
            println!(
                "{:<42} {:<24} {:<21} {:>12}  {result}",
                d["id"].as_str().unwrap_or("?"),
                d["scope"].as_str().unwrap_or("?"),
                d["started_at_ms"]
                    .as_i64()
                    .map_or_else(|| "?".to_owned(), rfc3339),
                ms(&d["enforced_ms"]),
            );
        }
    }
    if overdue { exit::FAILURE } else { exit::OK }
}

/// One line: the cadence, the last passed drill, and whether one is due.
fn standing(listed: &Value) -> String {
    let last = listed["last_passed_at_ms"].as_i64().map_or_else(
        || "no drill has passed".to_owned(),
        |at| format!("last passed drill {}", rfc3339(at)),
    );
    match listed["cadence_days"].as_u64() {
        None => format!("no drill cadence declared (`[drills] cadence_days`); {last}"),
        Some(days) if listed["overdue"].as_bool() == Some(true) => {
            format!("drill OVERDUE: a drill must pass every {days} day(s); {last}")
        }
        Some(days) => format!(
            "a drill must pass every {days} day(s); {last}; next due {}",
            listed["due_at_ms"]
                .as_i64()
                .map_or_else(|| "?".to_owned(), rfc3339)
        ),
    }
}
