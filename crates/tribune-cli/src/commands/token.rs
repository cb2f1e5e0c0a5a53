//! `tribune token create`: issue a bearer token.

use std::path::PathBuf;

use serde_json::json;
use tribune_policy::Snapshot;
use tribune_store::TokenKind;

use crate::client;
use crate::commands::print_diagnostics;
use crate::exit;

/// Token subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Issue a token and print it (it is shown only once; only its hash is stored).
    Create(CreateArgs),
}

/// Arguments of `tribune token create`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).multiple(false).args(["agent", "service", "human", "admin"])))]
pub struct CreateArgs {
    /// For this agent.
    #[arg(long)]
    pub agent: Option<String>,
    /// For this service identity.
    #[arg(long)]
    pub service: Option<String>,
    /// For this human (a personal token).
    #[arg(long)]
    pub human: Option<String>,
    /// An admin token.
    #[arg(long)]
    pub admin: bool,
    /// A note saying what the token is for.
    #[arg(long, default_value = "")]
    pub label: String,
    /// The bundle the subject is declared in (local mode).
    #[arg(long, env = "TRIBUNE_BUNDLE", default_value = crate::DEFAULT_BUNDLE)]
    pub bundle: PathBuf,
    /// The server's data directory (local mode).
    #[arg(long, env = "TRIBUNE_DATA_DIR", default_value = crate::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The server's PostgreSQL url (local mode).
    #[arg(long, env = "TRIBUNE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Issue through this running server instead, with an admin `--token`.
    #[arg(long, env = "TRIBUNE_SERVER", requires = "token")]
    pub server: Option<String>,
    /// Admin bearer token for `--server`.
    #[arg(long, env = "TRIBUNE_TOKEN")]
    pub token: Option<String>,
}

impl CreateArgs {
    fn subject(&self) -> (TokenKind, Option<String>) {
        match (&self.agent, &self.service, &self.human) {
            (Some(a), _, _) => (TokenKind::Agent, Some(a.clone())),
            (_, Some(s), _) => (TokenKind::Service, Some(s.clone())),
            (_, _, Some(h)) => (TokenKind::Human, Some(h.clone())),
            _ => (TokenKind::Admin, None),
        }
    }
}

/// Runs the command.
pub async fn run(command: Command) -> u8 {
    let Command::Create(args) = command;
    let (kind, subject) = args.subject();
    let issued = match (&args.server, &args.token) {
        (Some(server), Some(token)) => {
            let body = json!({ "kind": kind.as_str(), "subject": subject, "label": args.label });
            client::post(server, "/v1/tokens", token, &body)
                .await
                .map(|v| v["token"].as_str().unwrap_or_default().to_owned())
                .map_err(|e| e.to_string())
        }
        _ => local(&args, kind, subject).await,
    };
    match issued {
        Ok(token) => {
            println!("{token}");
            exit::OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILURE
        }
    }
}

async fn local(args: &CreateArgs, kind: TokenKind, subject: Option<String>) -> Result<String, String> {
    let snapshot = tribune_bundle::load_dir(&args.bundle)
        .and_then(Snapshot::build)
        .map_err(|d| {
            print_diagnostics(&d);
            format!("the bundle in `{}` is invalid", args.bundle.display())
        })?;
    let database = crate::commands::serve::database(&args.data_dir, args.database_url.as_deref())?;
    let store = database
        .open()
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let token = tribune_server::issue_token(&snapshot, &store, kind, subject, &args.label, "cli")
        .await
        .map_err(|e| e.to_string());
    store.close().await;
    token
}
