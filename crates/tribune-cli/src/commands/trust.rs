//! `tribune trust list` and `tribune trust show SUBJECT`: trust scores of agents, services and
//! providers, with the bundle's thresholds and the events that moved each score. Both talk to
//! a running server (`--server`, `--token`): listing needs an admin or auditor; showing also
//! works with the agent's or service's own token for itself.

use serde_json::Value;

use super::identity::{encode, pretty, rfc3339};
use crate::client::{self, Remote};
use crate::exit;

/// Trust subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Every subject's score now, its band (`normal`, `review`, `blocked`), and the thresholds.
    List {
        #[command(flatten)]
        out: Output,
    },
    /// One subject's score and the events that moved it, each with the score after it.
    Show {
        /// `agent:ID`, `service:ID` or `provider:ID`.
        subject: String,
        /// How many of the most recent events to show (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
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

/// Runs a trust subcommand.
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
        Command::List { out } => {
            let (server, token) = out.remote.get()?;
            let list = client::get(server, "/v1/trust", token)
                .await
                .map_err(|e| e.to_string())?;
            Ok(if out.json { pretty(&list) } else { table(&list) })
        }
        Command::Show { subject, limit, out } => {
            let (server, token) = out.remote.get()?;
            let path = format!("/v1/trust/{}?limit={limit}", encode(&subject));
            let one = client::get(server, &path, token)
                .await
                .map_err(|e| e.to_string())?;
            Ok(if out.json { pretty(&one) } else { render(&one) })
        }
    }
}

/// `baseline 700, review below 400, block below 200, half-life 24h (enforced)`.
fn thresholds(v: &Value) -> String {
    format!(
        "baseline {}, review below {}, block below {}, half-life {}{}\n",
        v["baseline"],
        v["review_below"],
        v["block_below"],
        duration(v["half_life_ms"].as_u64().unwrap_or(0)),
        if v["enforced"] == true {
            ""
        } else {
            " (not enforced: the bundle declares no [trust])"
        }
    )
}

/// `1d`, `24h`, `90s`, `1500ms`: the largest whole unit.
fn duration(ms: u64) -> String {
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("?")
}

/// Aligned columns, one row per line.
fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; n];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            format!("{}\n", cells.join("  ").trim_end())
        })
        .collect()
}

/// The list for people: the thresholds, then one line per subject.
fn table(list: &Value) -> String {
    let mut out = thresholds(list);
    let subjects = list["subjects"].as_array().map_or(&[][..], Vec::as_slice);
    if subjects.is_empty() {
        out.push_str("no subjects\n");
        return out;
    }
    let mut rows = vec![
        ["SUBJECT", "SCORE", "BAND", "LAST EVENT"]
            .map(str::to_owned)
            .to_vec(),
    ];
    rows.extend(subjects.iter().map(|s| {
        vec![
            str_of(s, "subject").to_owned(),
            s["score"].to_string(),
            str_of(s, "band").to_owned(),
            s["last_event_at_ms"]
                .as_i64()
                .map_or_else(|| "-".to_owned(), rfc3339),
        ]
    }));
    out.push_str(&columns(&rows));
    out
}

/// One subject for people: its score and band, the thresholds, and its history.
fn render(v: &Value) -> String {
    let mut out = format!(
        "{}: {} ({})\n",
        str_of(v, "subject"),
        v["score"],
        str_of(v, "band")
    );
    out.push_str(&thresholds(v));
    let pending = v["pending_allowed"].as_u64().unwrap_or(0);
    if pending > 0 {
        out.push_str(&format!("{pending} allowed call(s) counted, not yet written\n"));
    }
    let history = v["history"].as_array().map_or(&[][..], Vec::as_slice);
    let total = v["history_total"].as_u64().unwrap_or(0);
    if history.is_empty() {
        out.push_str("no events\n");
        return out;
    }
    if total > history.len() as u64 {
        out.push_str(&format!("the last {} of {total} events:\n", history.len()));
    }
    let mut rows = vec![
        ["AT", "EVENT", "DELTA", "SCORE AFTER", "REFERENCE"]
            .map(str::to_owned)
            .to_vec(),
    ];
    rows.extend(history.iter().map(|e| {
        let count = e["count"].as_u64().unwrap_or(1);
        let kind = if count > 1 {
            format!("{} ×{count}", str_of(e, "kind"))
        } else {
            str_of(e, "kind").to_owned()
        };
        vec![
            e["at_ms"].as_i64().map_or_else(|| "?".to_owned(), rfc3339),
            kind,
            format!("{:+}", e["delta"].as_i64().unwrap_or(0)),
            e["score_after"].to_string(),
            e["reference"].as_str().unwrap_or("-").to_owned(),
        ]
    }));
    out.push_str(&columns(&rows));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn durations_use_the_largest_whole_unit() {
        assert_eq!(duration(86_400_000), "1d");
        assert_eq!(duration(24 * 3_600_000 + 3_600_000), "25h");
        assert_eq!(duration(2000), "2s");
        assert_eq!(duration(1500), "1500ms");
    }

    #[test]
    fn a_subject_renders_its_score_thresholds_and_history() {
        let v = json!({
            "subject": "agent:bot", "score": 300, "band": "review", "enforced": true,
            "baseline": 700, "review_below": 400, "block_below": 200, "half_life_ms": 3_600_000,
            "pending_allowed": 0, "history_total": 2,
            "history": [
                { "seq": 1, "kind": "allowed", "delta": 3, "count": 3, "at_ms": 0, "reference": null, "score_after": 703 },
                { "seq": 2, "kind": "forbidden", "delta": -400, "count": 1, "at_ms": 1000, "reference": "d-1", "score_after": 303 },
            ],
        });
        let text = render(&v);
        assert!(
            text.starts_with(
                "agent:bot: 300 (review)\nbaseline 700, review below 400, block below 200, half-life 1h\n"
            ),
            "{text}"
        );
        assert!(text.contains("allowed ×3"), "{text}");
        assert!(text.contains("-400"), "{text}");
        assert!(text.contains("d-1"), "{text}");
    }
}
