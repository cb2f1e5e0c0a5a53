//! `tribune identity ...`: the registry of non-human identities (agents and services), from an
//! operator's terminal: register one at run time, review, rotate, suspend, reinstate and
//! decommission it, and audit the whole registry for overdue rotations and reviews and for
//! identities nobody uses.
//!
//! Every subcommand talks to a running server (`--server`, `--token`). Registering and
//! reinstating need an admin; approving needs a human admin other than the identity's
//! creator; the other changes need an admin or the identity's owner (a personal token);
//! listing and auditing need an admin or auditor.

use serde_json::{Value, json};

use crate::client::{self, Remote};
use crate::exit;

/// `identity audit`'s exit status when the audit could not be run at all: distinct from 1
/// (findings), so a scheduled job can tell an unreachable server from overdue identities.
const AUDIT_FAILED: u8 = 2;

/// Identity subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Register an agent or service at run time and print its registration secret, which is
    /// shown only this once (under `require_approval` it is pending and has none yet: the
    /// approval prints it).
    Create {
        /// `agent:NAME` or `service:NAME`.
        id: String,
        /// The human accountable for it (declared in the bundle).
        #[arg(long)]
        owner: String,
        /// The agent's class (required for an agent; a service has none).
        #[arg(long)]
        class: Option<String>,
        /// A tool it may use; repeat for several (default: an agent may use every tool its class
        /// reaches; a service needs at least one).
        #[arg(long = "scope", value_name = "TOOL")]
        scopes: Vec<String>,
        #[command(flatten)]
        out: Output,
    },
    /// List every identity: declared, registered and decommissioned, with their findings.
    List {
        #[command(flatten)]
        out: Output,
    },
    /// Show one identity with its lifecycle dates and live credentials.
    Show(Target),
    /// Approve a pending identity (a human admin other than its creator, personal token).
    Approve(Target),
    /// Suspend an identity: its credentials and secret stop working until it is reinstated.
    Suspend(Change),
    /// Let a suspended identity act again (admin).
    Reinstate(Target),
    /// Retire an identity for good, revoking every credential and secret it holds.
    Decommission(Change),
    /// Issue a new registration secret, shown only this once; the old secret and every
    /// credential issued under it stop working at once.
    Rotate(Target),
    /// Confirm the identity is still needed with its scopes (owner or admin).
    Review(Target),
    /// Report overdue rotations and reviews and stale identities (exit 0 none, 1 findings, 2 failed).
    ///
    /// Each line names the identity, the finding (`rotation_overdue`, `rotation_expired`,
    /// `review_overdue`, `review_expired` or `stale`), when it was due (RFC 3339, UTC) and
    /// the identity's owner; a summary line follows. Decommissioned identities are not
    /// audited.
    ///
    /// Exit status: 0 when nothing is overdue, 1 when there are findings, 2 when the audit
    /// could not be run (server unreachable, bad token, ...).
    Audit {
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

/// One identity to act on.
#[derive(Debug, clap::Args)]
pub struct Target {
    /// `agent:NAME` or `service:NAME`.
    id: String,
    #[command(flatten)]
    out: Output,
}

/// One identity to act on, with a reason for the record.
#[derive(Debug, clap::Args)]
pub struct Change {
    /// `agent:NAME` or `service:NAME`.
    id: String,
    /// Why; recorded in the ledger.
    #[arg(long)]
    reason: Option<String>,
    #[command(flatten)]
    out: Output,
}

/// What a subcommand prints: its text, and the exit status.
struct Answer {
    text: String,
    code: u8,
}

impl Answer {
    fn ok(text: String) -> Answer {
        Answer { text, code: exit::OK }
    }
}

/// Runs an identity subcommand.
pub async fn run(command: Command) -> u8 {
    let audit = matches!(command, Command::Audit { .. });
    match execute(command).await {
        Ok(answer) => {
            print!("{}", answer.text);
            answer.code
        }
        Err(e) => {
            eprintln!("error: {e}");
            if audit { AUDIT_FAILED } else { exit::FAILURE }
        }
    }
}

async fn execute(command: Command) -> Result<Answer, String> {
    match command {
        Command::Create {
            id,
            owner,
            class,
            scopes,
            out,
        } => {
            let (server, token) = out.remote.get()?;
            let body = json!({ "id": id, "owner": owner, "class": class, "scopes": scopes });
            let created = client::post(server, "/v1/identities", token, &body)
                .await
                .map_err(|e| e.to_string())?;
            if created.get("secret").is_none() {
                let head = "REGISTERED: pending; its registration secret is issued to the human admin who approves it";
                return Ok(Answer::ok(if out.json {
                    pretty(&created)
                } else {
                    format!("{head}\n{}", render(&created))
                }));
            }
            Ok(Answer::ok(with_secret("REGISTERED", &created, out.json)))
        }
        Command::List { out } => {
            let (server, token) = out.remote.get()?;
            let list = client::get(server, "/v1/identities", token)
                .await
                .map_err(|e| e.to_string())?;
            if out.json {
                return Ok(Answer::ok(pretty(&list)));
            }
            Ok(Answer::ok(table(
                list["identities"].as_array().map_or(&[], Vec::as_slice),
            )))
        }
        Command::Show(t) => {
            let (server, token) = t.out.remote.get()?;
            let identity = client::get(server, &path(&t.id, ""), token)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Answer::ok(if t.out.json {
                pretty(&identity)
            } else {
                render(&identity)
            }))
        }
        Command::Approve(t) => {
            let (server, token) = t.out.remote.get()?;
            let approved = client::post(server, &path(&t.id, "/approve"), token, &json!({}))
                .await
                .map_err(|e| e.to_string())?;
            Ok(Answer::ok(with_secret(
                "APPROVED: it may obtain credentials and act; hand it this registration secret",
                &approved,
                t.out.json,
            )))
        }
        Command::Suspend(c) => {
            let body = json!({ "reason": c.reason });
            let head = "SUSPENDED: its credentials and secret are refused until it is reinstated";
            change(Target { id: c.id, out: c.out }, "/suspend", body, head).await
        }
        Command::Reinstate(t) => change(t, "/reinstate", json!({}), "REINSTATED: it may act again").await,
        Command::Decommission(c) => {
            let (server, token) = c.out.remote.get()?;
            let body = json!({ "reason": c.reason });
            let retired = client::post(server, &path(&c.id, "/decommission"), token, &body)
                .await
                .map_err(|e| e.to_string())?;
            if c.out.json {
                return Ok(Answer::ok(pretty(&retired)));
            }
            Ok(Answer::ok(format!(
                "DECOMMISSIONED: retired for good; {} credential(s) and {} registration secret(s) revoked\n{}",
                retired["revoked_credentials"],
                retired["revoked_secrets"],
                render(&retired)
            )))
        }
        Command::Rotate(t) => {
            let (server, token) = t.out.remote.get()?;
            let rotated = client::post(server, &path(&t.id, "/rotate"), token, &json!({}))
                .await
                .map_err(|e| e.to_string())?;
            Ok(Answer::ok(with_secret(
                "ROTATED: the old secret and every credential issued under it are refused",
                &rotated,
                t.out.json,
            )))
        }
        Command::Review(t) => change(t, "/review", json!({}), "REVIEWED: confirmed still needed").await,
        Command::Audit { out } => {
            let (server, token) = out.remote.get()?;
            let audit = client::get(server, "/v1/identities/audit", token)
                .await
                .map_err(|e| e.to_string())?;
            let findings = audit["findings"].as_array().map_or(&[][..], Vec::as_slice);
            let code = if findings.is_empty() {
                exit::OK
            } else {
                exit::FAILURE
            };
            let text = if out.json {
                pretty(&audit)
            } else {
                audit_report(findings)
            };
            Ok(Answer { text, code })
        }
    }
}

/// Posts a state change and prints `head` over the identity it answers.
async fn change(t: Target, action: &str, body: Value, head: &str) -> Result<Answer, String> {
    let (server, token) = t.out.remote.get()?;
    let changed = client::post(server, &path(&t.id, action), token, &body)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Answer::ok(if t.out.json {
        pretty(&changed)
    } else {
        format!("{head}\n{}", render(&changed))
    }))
}

/// An identity with its new registration secret, which the server shows only this once.
fn with_secret(head: &str, answer: &Value, json: bool) -> String {
    let warning = "the registration secret is shown only this once (only its hash is stored): keep it now";
    if json {
        eprintln!("warning: {warning}");
        return pretty(answer);
    }
    format!(
        "{head}\n{}\nwarning: {warning}\nsecret: {}\n",
        render(answer),
        str_of(answer, "secret")
    )
}

/// `/v1/identities/ID` followed by `action`.
fn path(id: &str, action: &str) -> String {
    format!("/v1/identities/{}{action}", encode(id))
}

/// Percent-encodes everything outside the unreserved set.
pub fn encode(s: &str) -> String {
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

/// `v` as indented JSON and a newline.
pub fn pretty(v: &Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default())
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("?")
}

/// Milliseconds since the Unix epoch as an RFC 3339 UTC time to the second, e.g.
/// `2026-03-01T12:00:00Z`; a value outside the years 0 to 9999 is shown as milliseconds.
pub fn rfc3339(ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// A `*_at_ms` field as an RFC 3339 time, or `never` when it is null.
fn when(v: &Value, key: &str) -> String {
    v[key].as_i64().map_or_else(|| "never".to_owned(), rfc3339)
}

/// The strings in a JSON array.
fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// An identity's findings, e.g. `rotation_overdue (due 2026-03-01T12:00:00Z)`.
fn findings(v: &Value) -> Vec<String> {
    v["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| format!("{} (due {})", str_of(f, "kind"), when(f, "due_at_ms")))
        .collect()
}

/// One line per identity, in aligned columns.
fn table(identities: &[Value]) -> String {
    if identities.is_empty() {
        return "no identities\n".to_owned();
    }
    let header = ["IDENTITY", "STATE", "ORIGIN", "OWNER", "CLASS", "FINDINGS"].map(str::to_owned);
    let rows: Vec<[String; 6]> = std::iter::once(header)
        .chain(identities.iter().map(|i| {
            let kinds: Vec<String> = i["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| str_of(f, "kind").to_owned())
                .collect();
            [
                str_of(i, "id").to_owned(),
                str_of(i, "state").to_owned(),
                str_of(i, "origin").to_owned(),
                str_of(i, "owner").to_owned(),
                i["class"].as_str().unwrap_or("-").to_owned(),
                if kinds.is_empty() {
                    "-".to_owned()
                } else {
                    kinds.join(",")
                },
            ]
        }))
        .collect();
    let mut widths = [0; 6];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            format!("{}\n", cells.join("  ").trim_end())
        })
        .collect()
}

/// An identity for people.
fn render(i: &Value) -> String {
    let mut out = format!(
        "{} ({}, {}, secret generation {})\n",
        str_of(i, "id"),
        str_of(i, "state"),
        str_of(i, "origin"),
        i["generation"]
    );
    out.push_str(&format!("  owner:          {}\n", str_of(i, "owner")));
    if let Some(class) = i["class"].as_str() {
        out.push_str(&format!("  class:          {class}\n"));
    }
    let scopes = names(&i["scopes"]);
    // No scopes: an agent reaches what its class does; a service, which has no class, nothing.
    let scopes = match (scopes.is_empty(), i["kind"].as_str()) {
        (false, _) => scopes.join(", "),
        (true, Some("service")) => "none".to_owned(),
        (true, _) => "every tool its class reaches".to_owned(),
    };
    out.push_str(&format!("  scopes:         {scopes}\n"));
    if let Some(reason) = i["state_reason"].as_str() {
        out.push_str(&format!("  state reason:   {reason}\n"));
    }
    out.push_str(&format!(
        "  state since:    {}{}\n",
        when(i, "state_changed_at_ms"),
        i["state_changed_by"]
            .as_str()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "  created:        {} by {}\n",
        when(i, "created_at_ms"),
        str_of(i, "created_by")
    ));
    if let Some(by) = i["approved_by"].as_str() {
        out.push_str(&format!(
            "  approved:       {} by {by}\n",
            when(i, "approved_at_ms")
        ));
    }
    out.push_str(&format!(
        "  secret rotated: {}\n",
        when(i, "secret_rotated_at_ms")
    ));
    out.push_str(&format!(
        "  last reviewed:  {}{}\n",
        when(i, "last_reviewed_at_ms"),
        i["reviewed_by"]
            .as_str()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default()
    ));
    out.push_str(&format!("  last used:      {}\n", when(i, "last_used_at_ms")));
    let findings = findings(i);
    out.push_str(&format!(
        "  findings:       {}\n",
        if findings.is_empty() {
            "none".to_owned()
        } else {
            findings.join(", ")
        }
    ));
    if let Some(credentials) = i["credentials"].as_array() {
        out.push_str(&format!("  credentials:    {}\n", credentials.len()));
        for c in credentials {
            let status = match c["revoked_at_ms"].as_i64() {
                Some(at) => format!(
                    "revoked {} ({})",
                    rfc3339(at),
                    c["revoked_reason"].as_str().unwrap_or("no reason")
                ),
                None => format!("live until {}", when(c, "expires_at_ms")),
            };
            let actor = c["actor"]
                .as_str()
                .map(|a| format!(", delegated to {a}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "    - {}  {status}; scopes {}{actor}\n",
                str_of(c, "jti"),
                names(&c["scopes"]).join(", "),
            ));
        }
    }
    out
}

/// One line per finding (identity, kind, due date, owner) and a summary line.
fn audit_report(findings: &[Value]) -> String {
    if findings.is_empty() {
        return "no findings: no rotation or review is overdue and no identity is stale\n".to_owned();
    }
    let width = findings
        .iter()
        .map(|f| str_of(f, "identity").chars().count())
        .max()
        .unwrap_or(0);
    let mut out: String = findings
        .iter()
        .map(|f| {
            format!(
                "{:<width$}  {:<16}  due {}  owner {}\n",
                str_of(f, "identity"),
                str_of(f, "kind"),
                when(f, "due_at_ms"),
                str_of(f, "owner"),
            )
        })
        .collect();
    let identities: std::collections::BTreeSet<&str> =
        findings.iter().map(|f| str_of(f, "identity")).collect();
    out.push_str(&format!(
        "{} finding(s) for {} identit{}\n",
        findings.len(),
        identities.len(),
        if identities.len() == 1 { "y" } else { "ies" }
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_utc_to_the_second() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_772_366_400_999), "2026-03-01T12:00:00Z");
        assert_eq!(rfc3339(i64::MAX), format!("{} ms", i64::MAX));
    }

    #[test]
    fn an_audit_report_has_a_line_per_finding_and_a_summary() {
        let f =
            |id: &str, kind: &str| json!({ "identity": id, "owner": "alice", "kind": kind, "due_at_ms": 0 });
        let report = audit_report(&[
            f("agent:a", "rotation_overdue"),
            f("agent:a", "stale"),
            f("service:bb", "review_expired"),
        ]);
        assert_eq!(
            report,
            "agent:a     rotation_overdue  due 1970-01-01T00:00:00Z  owner alice\n\
             agent:a     stale             due 1970-01-01T00:00:00Z  owner alice\n\
             service:bb  review_expired    due 1970-01-01T00:00:00Z  owner alice\n\
             3 finding(s) for 2 identities\n"
        );
    }
}
