//! `tribune mcp wrap`: the MCP gateway over stdio. The agent's MCP client starts this command
//! instead of its MCP server; it starts the server as a child process, speaks MCP to both, and
//! asks Tribune (as the agent, with the agent's token) about every tool call.

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::time::Duration;

use tribune_gateway::{HttpGovernor, WrapOptions};

use crate::exit;

/// MCP subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Govern a local stdio MCP server: `tribune mcp wrap --server URL --token T -- CMD ARGS...`.
    Wrap(WrapArgs),
}

/// Arguments of `tribune mcp wrap`.
#[derive(Debug, clap::Args)]
pub struct WrapArgs {
    /// The Tribune server (e.g. http://127.0.0.1:8470).
    #[arg(long, env = "TRIBUNE_SERVER")]
    pub server: String,
    /// The agent's bearer token. It is not passed on to the MCP server's environment.
    #[arg(long, env = "TRIBUNE_TOKEN", hide_env_values = true)]
    pub token: String,
    /// How long a held call waits for its approval, in seconds, before the agent gets a
    /// "held" result carrying the approval id (the server caps it at `[hitl] max_wait_secs`).
    /// Keep it below the MCP client's request timeout.
    #[arg(long, value_name = "SECS", default_value_t = 50)]
    pub hold_wait: u64,
    /// How long any request to Tribune may take beyond the hold wait, in seconds; past it the
    /// call fails closed.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
    /// The MCP server to run, and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// Runs the command. Exit 0 when the agent or the server closed the connection, 1 on failure.
pub async fn run(command: Command) -> u8 {
    match command {
        Command::Wrap(args) => wrap(args).await,
    }
}

async fn wrap(args: WrapArgs) -> u8 {
    init_tracing();
    let governor = match HttpGovernor::new(
        &args.server,
        &args.token,
        Duration::from_secs(args.hold_wait),
        Duration::from_secs(args.timeout),
    ) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    let mut command = args.command.into_iter();
    let Some(program) = command.next() else {
        eprintln!("error: name the MCP server to run after `--`");
        return exit::FAILURE;
    };
    let options = WrapOptions {
        program,
        args: command.collect(),
        hide_env: vec!["TRIBUNE_TOKEN".into()],
    };
    match tribune_gateway::wrap(governor, options).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILURE
        }
    }
}

/// Logs go to stderr: stdout carries the MCP protocol.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRIBUNE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
