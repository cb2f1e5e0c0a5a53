//! `tribune stop`, `tribune resume` and `tribune stops`: emergency stops. Stopping needs a
//! human with stop authority, their personal token and a fresh TOTP code; resuming needs two
//! different holders, each running `tribune resume` with their own code.

use serde_json::{Value, json};

use crate::client::{self, Remote};
use crate::exit;

/// `tribune stop SCOPE`.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    /// What to stop: `all`, `class:ID`, `agent:ID`, `service:ID`, `tool:ID` or `provider:ID`.
    scope: String,
    /// Why; recorded in the ledger.
    #[arg(long)]
    reason: String,
    /// A current TOTP code from your MFA enrolment (`tribune mfa enroll`).
    #[arg(long)]
    mfa_code: String,
    #[command(flatten)]
    remote: Remote,
}

/// `tribune resume ID`.
#[derive(Debug, clap::Args)]
pub struct ResumeArgs {
    /// The stop's id (see `tribune stops`).
    id: String,
    /// A current TOTP code from your MFA enrolment.
    #[arg(long)]
    mfa_code: String,
    #[command(flatten)]
    remote: Remote,
}

/// `tribune stops`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Resumed stops too, newest first.
    #[arg(long)]
    all: bool,
    #[command(flatten)]
    remote: Remote,
}

fn print(result: Result<Value, String>) -> u8 {
    match result {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILURE
        }
    }
}

/// Stops a scope.
pub async fn stop(args: StopArgs) -> u8 {
    let body = json!({ "scope": args.scope, "reason": args.reason, "mfa_code": args.mfa_code });
    print(match args.remote.get() {
        Ok((s, t)) => client::post(s, "/v1/stops", t, &body)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    })
}

/// One holder's step towards resuming a stop.
pub async fn resume(args: ResumeArgs) -> u8 {
    let body = json!({ "mfa_code": args.mfa_code });
    print(match args.remote.get() {
        Ok((s, t)) => client::post(s, &format!("/v1/stops/{}/resume", args.id), t, &body)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    })
}

/// Lists stops.
pub async fn list(args: ListArgs) -> u8 {
    let path = if args.all {
        "/v1/stops?all=true"
    } else {
        "/v1/stops"
    };
    print(match args.remote.get() {
        Ok((s, t)) => client::get(s, path, t).await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    })
}
