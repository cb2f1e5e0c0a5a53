//! `tribune approvals list|show|approve|deny`: the review queue, from a reviewer's terminal.
//!
//! Every subcommand talks to a running server (`--server`, `--token`); approving and denying
//! need the reviewer's personal (human) token, and `--mfa-code` when the request needs MFA.

use serde_json::{Value, json};

use crate::client::{self, Remote};
use crate::exit;

/// Approvals subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List approval requests in review order (risk, then age).
    List {
        /// Only requests in this state.
        #[arg(long, value_parser = ["pending", "approved", "denied", "expired", "cancelled"])]
        state: Option<String>,
        /// Only requests for this reviewer pool.
        #[arg(long)]
        pool: Option<String>,
        /// Only requests of this agent.
        #[arg(long)]
        agent: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one request: what, who, why it was held, its votes.
    Show {
        /// The request's id.
        id: String,
        /// Wait up to this long for it to be resolved (e.g. `30s`).
        #[arg(long)]
        wait: Option<String>,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Approve a request (with your personal token).
    Approve {
        /// The request's id.
        id: String,
        /// Why.
        #[arg(long)]
        rationale: Option<String>,
        /// A current code from your authenticator app (required when the request needs MFA).
        #[arg(long)]
        mfa_code: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
    /// Deny a request, which ends it (with your personal token).
    Deny {
        /// The request's id.
        id: String,
        /// Why (required).
        #[arg(long)]
        rationale: String,
        /// A current code from your authenticator app (recorded if given).
        #[arg(long)]
        mfa_code: Option<String>,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs an approvals subcommand.
pub async fn run(command: Command) -> u8 {
    match execute(command).await {
        Ok(text) => {
            print!("{text}");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILURE
        }
    }
}

async fn execute(command: Command) -> Result<String, String> {
    match command {
        Command::List {
            state,
            pool,
            agent,
            limit,
            json,
            remote,
        } => {
            let (server, token) = remote.get()?;
            let mut query = vec![format!("limit={limit}")];
            for (k, v) in [("state", state), ("pool", pool), ("agent", agent)] {
                if let Some(v) = v {
                    query.push(format!("{k}={}", encode(&v)));
                }
            }
            let path = format!("/v1/approvals?{}", query.join("&"));
            let list = client::get(server, &path, token)
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return Ok(pretty(&list));
            }
            let items = list["approvals"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                return Ok("no approval requests\n".to_owned());
            }
            Ok(items.iter().map(line).collect())
        }
        Command::Show {
            id,
            wait,
            json,
            remote,
        } => {
            let (server, token) = remote.get()?;
            let mut path = format!("/v1/approvals/{}", encode(&id));
            if let Some(w) = wait {
                path.push_str(&format!("?wait={}", encode(&w)));
            }
            let req = client::get(server, &path, token)
                .await
                .map_err(|e| e.to_string())?;
            Ok(if json { pretty(&req) } else { render(&req) })
        }
        Command::Approve {
            id,
            rationale,
            mfa_code,
            remote,
        } => {
            let (server, token) = remote.get()?;
            let body = json!({ "rationale": rationale, "mfa_code": mfa_code });
            let path = format!("/v1/approvals/{}/approve", encode(&id));
            let req = client::post(server, &path, token, &body)
                .await
                .map_err(|e| e.to_string())?;
            let head = match req["outcome"]["outcome"].as_str() {
                Some("approved") => "APPROVED: the agent's call with these arguments may run once".to_owned(),
                Some("duplicate") => format!(
                    "ALREADY APPROVED by you: {} of {} approval(s)",
                    req["approvals"], req["approvals_required"]
                ),
                _ => {
                    let owner = if req["outcome"]["needs_non_owner"] == true {
                        "; an approver other than the agent's owner is still needed"
                    } else {
                        ""
                    };
                    format!(
                        "PENDING: {} of {} approval(s){owner}",
                        req["approvals"], req["approvals_required"]
                    )
                }
            };
            Ok(format!("{head}\n{}", render(&req)))
        }
        Command::Deny {
            id,
            rationale,
            mfa_code,
            remote,
        } => {
            let (server, token) = remote.get()?;
            let body = json!({ "rationale": rationale, "mfa_code": mfa_code });
            let path = format!("/v1/approvals/{}/deny", encode(&id));
            let req = client::post(server, &path, token, &body)
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!("DENIED: the call must not be made\n{}", render(&req)))
        }
    }
}

/// Percent-encodes everything outside the unreserved set.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn pretty(v: &Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("?")
}

/// One line per request: id, state, approvals, the summary.
fn line(r: &Value) -> String {
    format!(
        "{}  {:<9} {}/{}{}  {}\n",
        str_of(r, "id"),
        str_of(r, "state"),
        r["approvals"],
        r["approvals_required"],
        if r["mfa_required"] == true { " mfa" } else { "" },
        str_of(r, "summary"),
    )
}

/// A request for people.
pub fn render(r: &Value) -> String {
    let mut out = format!(
        "request {} ({}, revision {})\n  {}\n",
        str_of(r, "id"),
        str_of(r, "state"),
        r["revision"],
        str_of(r, "summary")
    );
    out.push_str(&format!(
        "  needs {} distinct approval(s){} from pool `{}`; assigned to {}\n",
        r["approvals_required"],
        if r["mfa_required"] == true {
            " with MFA"
        } else {
            ""
        },
        str_of(r, "pool"),
        r["assignees"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "  held by decision {}; expires at {} ms\n",
        str_of(r, "decision_id"),
        r["expires_at_ms"]
    ));
    for v in r["votes"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  - {} {}{}{}\n",
            str_of(v, "human"),
            str_of(v, "verdict"),
            if v["mfa"].is_object() { " (mfa)" } else { "" },
            v["rationale"]
                .as_str()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_leaves_ids_alone_and_escapes_the_rest() {
        assert_eq!(encode("0190-ab_c.d~"), "0190-ab_c.d~");
        assert_eq!(encode("a b&c"), "a%20b%26c");
    }
}
