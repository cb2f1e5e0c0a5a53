//! `tribune credential ...`: short-lived credentials for agents and services.
//!
//! An agent or service exchanges its registration secret (`--token`) for a credential, a
//! signed JWT that expires within the hour by default, and uses that as its bearer token;
//! with a credential it may delegate a narrower one to a sub-agent. `issue` and `delegate`
//! print the credential alone on stdout, so `TRIBUNE_TOKEN=$(tribune credential issue)`
//! works; what it covers goes to stderr.

use serde_json::{Value, json};

use crate::client::{self, Remote};
use crate::commands::identity::{encode, pretty, rfc3339};
use crate::exit;

/// Credential subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Exchange a registration secret (the `--token`) for a short-lived credential and print it.
    Issue {
        /// A tool the credential covers; repeat for several (default: every tool the identity
        /// may use).
        #[arg(long = "scope", value_name = "TOOL")]
        scopes: Vec<String>,
        /// Its lifetime in seconds (default and maximum: the bundle's `[identities]`).
        #[arg(long, value_name = "SECS")]
        ttl: Option<u64>,
        #[command(flatten)]
        out: Output,
    },
    /// With a credential as the `--token`, mint a narrower one for a sub-agent and print it.
    Delegate {
        /// Who receives it: the sub-agent's name.
        #[arg(long)]
        actor: String,
        /// A tool it covers, among the parent's; repeat for several (default: all of them).
        #[arg(long = "scope", value_name = "TOOL")]
        scopes: Vec<String>,
        /// Its lifetime in seconds; never past the parent's expiry.
        #[arg(long, value_name = "SECS")]
        ttl: Option<u64>,
        #[command(flatten)]
        out: Output,
    },
    /// Revoke a credential and every one delegated from it (owner or admin).
    Revoke {
        /// The credential's id (its `jti`).
        jti: String,
        /// Why; recorded in the ledger.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Print the public keys credentials are signed with (a JWK Set; no token needed).
    Jwks {
        /// The Tribune server.
        #[arg(long, env = "TRIBUNE_SERVER")]
        server: String,
    },
}

/// Where to ask, and how to print the answer.
#[derive(Debug, clap::Args)]
pub struct Output {
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// Runs a credential subcommand.
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
        Command::Issue { scopes, ttl, out } => {
            let (server, token) = out.remote.get()?;
            let issued = client::post(server, "/v1/credentials", token, &request(None, scopes, ttl))
                .await
                .map_err(|e| e.to_string())?;
            Ok(credential(&issued, out.json))
        }
        Command::Delegate {
            actor,
            scopes,
            ttl,
            out,
        } => {
            let (server, token) = out.remote.get()?;
            let body = request(Some(actor), scopes, ttl);
            let issued = client::post(server, "/v1/credentials/delegate", token, &body)
                .await
                .map_err(|e| e.to_string())?;
            Ok(credential(&issued, out.json))
        }
        Command::Revoke { jti, reason, out } => {
            let (server, token) = out.remote.get()?;
            let path = format!("/v1/credentials/{}/revoke", encode(&jti));
            let revoked = client::post(server, &path, token, &json!({ "reason": reason }))
                .await
                .map_err(|e| e.to_string())?;
            if out.json {
                return Ok(pretty(&revoked));
            }
            Ok(match revoked["revoked"].as_u64() {
                Some(0) => format!("credential {jti} and those delegated from it were already revoked\n"),
                n => format!(
                    "REVOKED: credential {jti} and those delegated from it ({} newly revoked)\n",
                    n.unwrap_or(0)
                ),
            })
        }
        Command::Jwks { server } => jwks(&server).await.map(|keys| pretty(&keys)),
    }
}

/// The body of an issue or delegation: scopes and lifetime only when given, so the server's
/// defaults apply otherwise.
fn request(actor: Option<String>, scopes: Vec<String>, ttl: Option<u64>) -> Value {
    let mut body = json!({});
    if let Some(actor) = actor {
        body["actor"] = json!(actor);
    }
    if !scopes.is_empty() {
        body["scopes"] = json!(scopes);
    }
    if let Some(ttl) = ttl {
        body["ttl_secs"] = json!(ttl);
    }
    body
}

/// The credential alone (with what it covers on stderr), or the whole answer as JSON.
fn credential(issued: &Value, json: bool) -> String {
    if json {
        return pretty(issued);
    }
    let chain: Vec<&str> = issued["chain"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let scopes: Vec<&str> = issued["scopes"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    eprintln!(
        "credential {} for {} (tools: {}), expires {}",
        issued["jti"].as_str().unwrap_or("?"),
        chain.join(" -> "),
        if scopes.is_empty() {
            "none".to_owned()
        } else {
            scopes.join(", ")
        },
        issued["expires_at_ms"]
            .as_i64()
            .map_or_else(|| "?".to_owned(), rfc3339)
    );
    format!("{}\n", issued["credential"].as_str().unwrap_or_default())
}

/// `GET /v1/credentials/jwks`, which takes no token: none is sent.
async fn jwks(server: &str) -> Result<Value, String> {
    let url = format!("{}/v1/credentials/jwks", server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("cannot reach `{url}`: {e}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("`{url}` did not answer JSON: {e}"))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!(
            "{} {}: {}",
            status.as_u16(),
            body["error"]["code"].as_str().unwrap_or("unknown"),
            body["error"]["message"].as_str().unwrap_or("")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_leave_the_defaults_to_the_server() {
        assert_eq!(request(None, Vec::new(), None), json!({}));
        assert_eq!(
            request(
                Some("fetcher".to_owned()),
                vec!["search_docs".to_owned()],
                Some(60)
            ),
            json!({ "actor": "fetcher", "scopes": ["search_docs"], "ttl_secs": 60 })
        );
    }
}
