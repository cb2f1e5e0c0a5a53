//! `tribune incidents list|show|close`: the incidents the bundle's triggers opened.
//!
//! Every subcommand talks to a running server (`--server`, `--token`). Reading needs the admin
//! token or a human who is an admin, an auditor or a holder of stop authority; closing needs a
//! human with stop authority or the `admin` role, and a reason. Closing lifts nothing the
//! incident did: resume its stops with `tribune resume` (two holders) and release its holds
//! with `tribune hold release` (two humans).

use serde_json::{Value, json};

use crate::client::{self, Remote};
use crate::exit;

/// Incidents subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List incidents, newest first.
    List {
        /// Only incidents in this state.
        #[arg(long, value_parser = ["open", "closed"])]
        state: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Show one incident: what fired it, its evidence and checkpoint, its containment.
    Show {
        /// The incident's id.
        id: String,
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        remote: Remote,
    },
    /// Close an incident (with your personal token), saying why. Its stops and holds stay.
    Close {
        /// The incident's id.
        id: String,
        /// Why: what was found and what was done.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs an incidents subcommand.
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
            limit,
            json,
            remote,
        } => {
            let (server, token) = remote.get()?;
            let mut path = format!("/v1/incidents?limit={limit}");
            if let Some(state) = state {
                path.push_str(&format!("&state={state}"));
            }
            let list = client::get(server, &path, token)
                .await
                .map_err(|e| e.to_string())?;
            if json {
                return Ok(pretty(&list));
            }
            let items = list["incidents"].as_array().cloned().unwrap_or_default();
            if items.is_empty() {
                return Ok("no incidents\n".to_owned());
            }
            Ok(items.iter().map(line).collect())
        }
        Command::Show { id, json, remote } => {
            let (server, token) = remote.get()?;
            let incident = client::get(server, &format!("/v1/incidents/{}", encode(&id)), token)
                .await
                .map_err(|e| e.to_string())?;
            Ok(if json {
                pretty(&incident)
            } else {
                render(&incident)
            })
        }
        Command::Close { id, reason, remote } => {
            let (server, token) = remote.get()?;
            let path = format!("/v1/incidents/{}/close", encode(&id));
            let incident = client::post(server, &path, token, &json!({ "reason": reason }))
                .await
                .map_err(|e| e.to_string())?;
            Ok(format!(
                "CLOSED: its stops and legal holds stay until they are resumed and released\n{}",
                render(&incident)
            ))
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

/// `FROM..=TO` of the evidence, or `-`.
fn evidence(i: &Value) -> String {
    match (i["evidence"]["from"].as_u64(), i["evidence"]["to"].as_u64()) {
        (Some(from), Some(to)) => format!("{from}..={to}"),
        _ => "-".to_owned(),
    }
}

/// One line per incident: id, state, trigger, subject, evidence.
fn line(i: &Value) -> String {
    format!(
        "{}  {:<6} {:<24} {:<32} evidence {}\n",
        str_of(i, "id"),
        str_of(i, "state"),
        format!("{} ({})", str_of(i, "trigger"), str_of(i, "kind")),
        str_of(i, "subject"),
        evidence(i),
    )
}

/// An incident for people.
fn render(i: &Value) -> String {
    let mut out = format!(
        "incident {} ({})\n  trigger `{}` ({}) on {}, opened at {} ms\n",
        str_of(i, "id"),
        str_of(i, "state"),
        str_of(i, "trigger"),
        str_of(i, "kind"),
        str_of(i, "subject"),
        i["opened_at_ms"],
    );
    out.push_str(&format!("  evidence: ledger entries {}\n", evidence(i)));
    if let Some(c) = i["checkpoint"].as_object() {
        out.push_str(&format!(
            "  checkpoint: tree size {}, root {}\n",
            c.get("size").unwrap_or(&Value::Null),
            c.get("root").and_then(Value::as_str).unwrap_or("?")
        ));
    }
    if let Some(index) = i["ledger_index"].as_u64() {
        out.push_str(&format!("  recorded at ledger entry {index}\n"));
    }
    out.push_str(&format!("  detail: {}\n", i["detail"]));
    let actions = i["actions"].as_array().cloned().unwrap_or_default();
    if actions.is_empty() {
        out.push_str("  containment: none recorded yet\n");
    }
    for a in &actions {
        let mut what: Vec<String> = Vec::new();
        for key in [
            "scope", "stop", "identity", "revoked", "hold", "from", "to", "url", "detail",
        ] {
            match &a[key] {
                Value::Null => {}
                Value::String(s) => what.push(format!("{key} {s}")),
                other => what.push(format!("{key} {other}")),
            }
        }
        out.push_str(&format!(
            "  - {} {}{}\n",
            str_of(a, "action"),
            str_of(a, "result"),
            if what.is_empty() {
                String::new()
            } else {
                format!(": {}", what.join(", "))
            }
        ));
    }
    if i["state"] == "closed" {
        out.push_str(&format!(
            "  closed by {} at {} ms: {}\n",
            str_of(i, "closed_by"),
            i["closed_at_ms"],
            str_of(i, "close_reason")
        ));
    }
    out
}
