//! `tribune hold`: legal holds over ranges of the ledger, which retention may not prune.

use serde_json::json;

use crate::client::{self, Remote};
use crate::exit;

/// Hold subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Place a hold over ledger entries FROM..=TO.
    Add {
        /// First held entry.
        #[arg(long)]
        from: u64,
        /// Last held entry (inclusive).
        #[arg(long)]
        to: u64,
        /// Why (e.g. a matter or complaint number).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        remote: Remote,
    },
    /// List holds.
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Ask to release a hold; a second, different human must run this too. Each needs their
    /// personal token and a fresh TOTP code.
    Release {
        /// The hold's id.
        id: String,
        /// A current TOTP code from your MFA enrolment (`tribune mfa enroll`).
        #[arg(long)]
        mfa_code: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs a hold subcommand.
pub async fn run(command: Command) -> u8 {
    let result = match command {
        Command::Add {
            from,
            to,
            reason,
            remote,
        } => match remote.get() {
            Ok((s, t)) => client::post(
                s,
                "/v1/audit/holds",
                t,
                &json!({ "from": from, "to": to, "reason": reason }),
            )
            .await
            .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        },
        Command::List { remote } => match remote.get() {
            Ok((s, t)) => client::get(s, "/v1/audit/holds", t)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        },
        Command::Release { id, mfa_code, remote } => match remote.get() {
            Ok((s, t)) => client::post(
                s,
                &format!("/v1/audit/holds/{id}/release"),
                t,
                &json!({ "mfa_code": mfa_code }),
            )
            .await
            .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        },
    };
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
