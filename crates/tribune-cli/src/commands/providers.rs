//! `tribune providers list|show|vet|pin`: provider vetting and tool description pins on a
//! running server (`--server`, `--token`). Listing and showing need a human's or the admin
//! token; vetting and pinning a human with the `admin` role.

use serde_json::{Value, json};

use super::identity::{encode, pretty, rfc3339};
use crate::client::{self, Remote};
use crate::exit;

/// Providers subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every provider's vetting status now and how many of its tools are pinned or quarantined.
    List {
        #[command(flatten)]
        out: Output,
    },
    /// One provider: its current vetting, its history and its tools' pins.
    Show {
        /// The provider's id.
        id: String,
        #[command(flatten)]
        out: Output,
    },
    /// Records a vetting; pins the provider's tools that are not pinned yet.
    Vet {
        /// The provider's id.
        id: String,
        /// `approved`, `probation` or `rejected`.
        #[arg(long)]
        status: String,
        /// How many days the vetting holds (1–1830).
        #[arg(long, default_value_t = 365)]
        valid_days: i64,
        /// The reviewer's notes.
        #[arg(long, default_value = "")]
        notes: String,
        #[command(flatten)]
        out: Output,
    },
    /// Pins the current descriptions again (every tool of the provider, or each `--tool`),
    /// lifting a quarantine.
    Pin {
        /// The provider's id.
        id: String,
        /// A tool to pin (repeatable); every tool of the provider when absent.
        #[arg(long = "tool")]
        tools: Vec<String>,
        #[command(flatten)]
        out: Output,
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

/// Runs a providers subcommand.
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
    let (answer, out) = match command {
        Command::List { out } => {
            let (server, token) = out.remote.get()?;
            let list = client::get(server, "/v1/providers", token)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(if out.json { pretty(&list) } else { table(&list) });
        }
        Command::Show { id, out } => {
            let (server, token) = out.remote.get()?;
            let path = format!("/v1/providers/{}", encode(&id));
            (client::get(server, &path, token).await, out)
        }
        Command::Vet {
            id,
            status,
            valid_days,
            notes,
            out,
        } => {
            let (server, token) = out.remote.get()?;
            let path = format!("/v1/providers/{}/vet", encode(&id));
            let body = json!({ "status": status, "valid_days": valid_days, "notes": notes });
            (client::post(server, &path, token, &body).await, out)
        }
        Command::Pin { id, tools, out } => {
            let (server, token) = out.remote.get()?;
            let path = format!("/v1/providers/{}/pin", encode(&id));
            let body = if tools.is_empty() {
                json!({})
            } else {
                json!({ "tools": tools })
            };
            (client::post(server, &path, token, &body).await, out)
        }
    };
    let answer = answer.map_err(|e| e.to_string())?;
    Ok(if out.json {
        pretty(&answer)
    } else {
        render(&answer)
    })
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("?")
}

fn count(tools: &Value, state: &str) -> usize {
    tools
        .as_array()
        .map_or(0, |t| t.iter().filter(|p| p["state"] == state).count())
}

/// Where a vetting comes from: `bundle` (declared) or `recorded` (vetted at run time).
fn source(v: &Value) -> &str {
    v["source"].as_str().unwrap_or("-")
}

/// One line per provider, its current vetting's source and expiry:
/// `helpdesk  approved  bundle  until 2027-11-30T00:00:00Z  2 pinned, 0 quarantined`.
fn table(list: &Value) -> String {
    let mut text = String::new();
    if list["required"] == false {
        text.push_str(
            "vetting is not required ([vetting] required = false): unvetted providers' tools run\n",
        );
    }
    for p in list["providers"].as_array().into_iter().flatten() {
        let until = p["vetting"]["expires_at_ms"]
            .as_i64()
            .map(|ms| format!("until {}", rfc3339(ms)))
            .unwrap_or_else(|| "-".to_owned());
        text.push_str(&format!(
            "{:<20} {:<10} {:<8} {:<32} {} pinned, {} quarantined\n",
            str_of(p, "id"),
            str_of(p, "status"),
            source(&p["vetting"]),
            until,
            count(&p["tools"], "pinned"),
            count(&p["tools"], "quarantined"),
        ));
    }
    text
}

/// One vetting: `vetted approved by human:alice on …, until …` for a run-time one,
/// `declared approved by human:alice, reviewed 2026-11-20, expires 2027-11-30` for the
/// bundle's.
fn vetting_line(v: &Value) -> String {
    if source(v) == "bundle" {
        format!(
            "declared {} by {} in the bundle, reviewed {}, expires {}\n",
            str_of(v, "status"),
            str_of(v, "reviewer"),
            str_of(v, "reviewed"),
            str_of(v, "expires"),
        )
    } else {
        format!(
            "vetted {} by {} on {}, until {}\n",
            str_of(v, "status"),
            str_of(v, "reviewer"),
            rfc3339(v["vetted_at_ms"].as_i64().unwrap_or(0)),
            rfc3339(v["expires_at_ms"].as_i64().unwrap_or(0)),
        )
    }
}

/// A provider: status, current vetting (and the bundle's declaration when a later run-time
/// vetting superseded it), pins, and history when given.
fn render(p: &Value) -> String {
    let mut text = format!("provider {}: {}\n", str_of(p, "id"), str_of(p, "status"));
    let v = &p["vetting"];
    if v.is_object() {
        text.push_str(&vetting_line(v));
        if v["notes"].as_str().is_some_and(|n| !n.is_empty()) {
            text.push_str(&format!("notes: {}\n", str_of(v, "notes")));
        }
    }
    let declared = &p["declared"];
    if declared.is_object() && source(v) != "bundle" {
        text.push_str(&format!("superseded: {}", vetting_line(declared)));
    }
    for t in p["tools"].as_array().into_iter().flatten() {
        let hash: String = t["hash"].as_str().unwrap_or("").chars().take(12).collect();
        text.push_str(&format!(
            "  tool {:<24} {:<12} {hash}\n",
            str_of(t, "tool"),
            str_of(t, "state")
        ));
    }
    if let Some(history) = p["history"].as_array() {
        text.push_str(&format!("history ({}):\n", history.len()));
        for h in history {
            text.push_str(&format!(
                "  {} {} by {}\n",
                rfc3339(h["vetted_at_ms"].as_i64().unwrap_or(0)),
                str_of(h, "status"),
                str_of(h, "reviewer"),
            ));
        }
    }
    text
}
