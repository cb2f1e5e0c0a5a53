//! `tribune decide`: one decision, offline against a bundle or from a running server.

use std::path::PathBuf;

use serde_json::Value;
use tribune_policy::{Facts, PrincipalKind, Request, Snapshot};

use crate::client::{self, ClientError};
use crate::commands::print_diagnostics;
use crate::exit;

/// Arguments of `tribune decide`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent making the call (with `--server` and an agent token, defaults to the token's agent).
    #[arg(long)]
    pub agent: Option<String>,
    /// Decide for a service identity instead of an agent.
    #[arg(long, conflicts_with = "agent")]
    pub service: Option<String>,
    /// The tool to call.
    #[arg(long)]
    pub tool: String,
    /// The call's arguments, as a JSON object.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// The agent's session id.
    #[arg(long)]
    pub session: Option<String>,
    /// Request context attributes the bundle declares, as a JSON object (e.g. '{"purpose":"treatment"}').
    #[arg(long)]
    pub context: Option<String>,
    /// Decide offline against this bundle directory.
    #[arg(long, env = "TRIBUNE_BUNDLE", conflicts_with = "server")]
    pub bundle: Option<PathBuf>,
    /// Ask this running server instead (e.g. http://127.0.0.1:8470).
    #[arg(long, env = "TRIBUNE_SERVER", requires = "token")]
    pub server: Option<String>,
    /// Bearer token for `--server`: the agent's own, or an admin token for a dry run.
    #[arg(long, env = "TRIBUNE_TOKEN")]
    pub token: Option<String>,
    /// Print the decision as JSON, exactly as the API returns it.
    #[arg(long)]
    pub json: bool,
}

/// Runs the command. Exit code: 0 allow, 1 deny, 3 hold, 2 invalid bundle, 4 no decision.
pub async fn run(args: Args) -> u8 {
    let arguments: Value = match serde_json::from_str(&args.args) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            eprintln!("error: `--args` must be a JSON object");
            return exit::NO_DECISION;
        }
        Err(e) => {
            eprintln!("error: `--args` is not valid JSON: {e}");
            return exit::NO_DECISION;
        }
    };
    let context = match args.context.as_deref().map(serde_json::from_str::<Value>) {
        None => None,
        Some(Ok(Value::Object(map))) => Some(map),
        Some(_) => {
            eprintln!("error: `--context` must be a JSON object");
            return exit::NO_DECISION;
        }
    };
    let decision = match (&args.server, &args.token) {
        (Some(server), Some(token)) => match remote(&args, server, token, arguments, context).await {
            Ok(d) => d,
            Err(code) => return code,
        },
        _ => match offline(&args, &arguments, context.as_ref()) {
            Ok(d) => d,
            Err(code) => return code,
        },
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&decision).unwrap_or_default());
    } else {
        print!("{}", render(&decision));
    }
    match decision["decision"].as_str() {
        Some("allow") => exit::OK,
        Some("hold") => exit::HOLD,
        _ => exit::FAILURE,
    }
}

fn offline(
    args: &Args,
    arguments: &Value,
    context: Option<&serde_json::Map<String, Value>>,
) -> Result<Value, u8> {
    let dir = args
        .bundle
        .clone()
        .unwrap_or_else(|| crate::default_path(crate::DEFAULT_BUNDLE));
    let snapshot = tribune_bundle::load_dir(&dir)
        .and_then(Snapshot::build)
        .map_err(|d| {
            eprintln!("error: the bundle in `{}` is invalid:", dir.display());
            print_diagnostics(&d);
            exit::INVALID_BUNDLE
        })?;
    let (kind, principal) = match (&args.agent, &args.service) {
        (Some(a), _) => (PrincipalKind::Agent, a.as_str()),
        (None, Some(s)) => (PrincipalKind::Service, s.as_str()),
        (None, None) => {
            eprintln!("error: offline decisions need `--agent ID` (or `--service ID`)");
            return Err(exit::NO_DECISION);
        }
    };
    let request = Request {
        kind,
        principal,
        tool: &args.tool,
        arguments,
        session: args.session.as_deref(),
        context,
    };
    let now = tribune_server::now_ms();
    let decision = snapshot.decide(&request, &Facts::default(), now);
    let mut v = serde_json::to_value(&decision).map_err(|e| {
        eprintln!("error: {e}");
        exit::NO_DECISION
    })?;
    v["offline"] = Value::Bool(true);
    Ok(v)
}

async fn remote(
    args: &Args,
    server: &str,
    token: &str,
    arguments: Value,
    context: Option<serde_json::Map<String, Value>>,
) -> Result<Value, u8> {
    let mut body = serde_json::json!({ "tool": args.tool, "arguments": arguments });
    if let Some(context) = context {
        body["context"] = Value::Object(context);
    }
    if let Some(a) = &args.agent {
        body["agent"] = Value::String(a.clone());
    }
    if let Some(s) = &args.service {
        body["service"] = Value::String(s.clone());
    }
    if let Some(s) = &args.session {
        body["session"] = Value::String(s.clone());
    }
    match client::post(server, "/v1/decisions", token, &body).await {
        Ok(decision) => Ok(decision),
        // A refused request (unknown tool, bad arguments) still carries its recorded deny.
        Err(ClientError::Api { body, .. }) if body.get("decision").is_some() => Ok(body["decision"].clone()),
        Err(e) => {
            eprintln!("error: {e}");
            Err(exit::NO_DECISION)
        }
    }
}

/// A decision for people: the verdict, then one line per reason.
pub fn render(d: &Value) -> String {
    let mut out = String::new();
    let verdict = d["decision"].as_str().unwrap_or("deny");
    let head = match verdict {
        "hold" => {
            let n = d["approvals_required"].as_u64().unwrap_or(0);
            let mfa = if d["mfa_required"].as_bool().unwrap_or(false) {
                ", with MFA"
            } else {
                ""
            };
            let pool = d["reviewer_pool"]
                .as_str()
                .map(|p| format!(" from pool `{p}`"))
                .unwrap_or_default();
            format!("HOLD: needs {n} human approval(s){mfa}{pool}")
        }
        "allow" => "ALLOW: the agent may make this call alone".to_owned(),
        _ => "DENY: the call must not be made".to_owned(),
    };
    out.push_str(&format!("{head}\n"));
    out.push_str(&format!(
        "  {} -> {} ({})\n",
        d["principal"].as_str().unwrap_or("?"),
        d["tool"].as_str().unwrap_or("?"),
        d["tier"].as_str().unwrap_or("undeclared tool")
    ));
    if let Some(reasons) = d["reasons"].as_array() {
        for r in reasons {
            let rule = r["rule"].as_str().map(|r| format!(" [{r}]")).unwrap_or_default();
            out.push_str(&format!(
                "  - {}/{}{rule}: {}\n",
                r["stage"].as_str().unwrap_or("?"),
                r["code"].as_str().unwrap_or("?"),
                r["message"].as_str().unwrap_or("")
            ));
        }
    }
    if let Some(id) = d["id"].as_str() {
        out.push_str(&format!("  decision id: {id}\n"));
    }
    out
}
