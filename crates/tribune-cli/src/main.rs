//! The `tribune` command. Parses arguments and hands each command to its module.

mod client;
mod commands;
mod evidence;
mod exit;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc, not the system allocator: see the workspace manifest and BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tribune: the governance layer for AI agents.
#[derive(Debug, Parser)]
#[command(name = "tribune", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented starter bundle into DIR.
    Init(commands::init::Args),
    /// Validate a bundle and report findings (exit 0 clean, 1 findings, 2 invalid bundle).
    Check(commands::check::Args),
    /// Write the compliance assessment as HTML, Markdown, JSON or OSCAL (exit codes as `check`).
    Report(commands::report::Args),
    /// Run the control plane: decision API, records, metrics.
    Serve(commands::serve::Args),
    /// Decide one tool call, offline against a bundle or through a running server.
    Decide(commands::decide::Args),
    /// Manage bearer tokens.
    Token {
        #[command(subcommand)]
        command: commands::token::Command,
    },
    /// The tamper-evident ledger: key, verify, prove, export, tail.
    Audit {
        #[command(subcommand)]
        command: commands::audit::Command,
    },
    /// Legal holds over ranges of the ledger.
    Hold {
        #[command(subcommand)]
        command: commands::hold::Command,
    },
    /// Review held calls: list, show, approve, deny.
    Approvals {
        #[command(subcommand)]
        command: commands::approvals::Command,
    },
    /// Non-human identities: register, review, rotate, suspend, decommission, audit.
    Identity {
        #[command(subcommand)]
        command: commands::identity::Command,
    },
    /// Short-lived credentials for agents and services: issue, delegate, revoke, jwks.
    Credential {
        #[command(subcommand)]
        command: commands::credential::Command,
    },
    /// Provider vetting and tool description pins: list, show, vet, pin.
    Providers {
        #[command(subcommand)]
        command: commands::providers::Command,
    },
    /// Trust scores of agents, services and providers: list them, show one with its history.
    Trust {
        #[command(subcommand)]
        command: commands::trust::Command,
    },
    /// Multi-factor step-up for reviewers: enrol in TOTP.
    Mfa {
        #[command(subcommand)]
        command: commands::mfa::Command,
    },
    /// The MCP gateway: govern an MCP server's tool calls.
    Mcp {
        #[command(subcommand)]
        command: commands::mcp::Command,
    },
    /// Emergency stop: halt everything, an agent class, an agent, a service, a tool or a provider.
    Stop(commands::stop::StopArgs),
    /// One holder's step towards lifting an emergency stop (two different holders are needed).
    Resume(commands::stop::ResumeArgs),
    /// List the emergency stops in force (`--all`: every stop).
    Stops(commands::stop::ListArgs),
    /// Incidents the bundle's triggers opened: list, show, close.
    Incidents {
        #[command(subcommand)]
        command: commands::incidents::Command,
    },
    /// Emergency-stop drills: stop a declared scope, measure the time to enforcement, resume.
    Drill {
        #[command(subcommand)]
        command: commands::drill::Command,
    },
    /// List the emergency-stop drills and whether one is overdue (exit 1 when it is).
    Drills(commands::drill::ListArgs),
    /// The red-team program: replay adversarial scenario suites offline or on a live server.
    Redteam {
        #[command(subcommand)]
        command: commands::redteam::Command,
    },
    /// Start an in-process server and walk an agent through a read, a write and an irreversible call.
    Demo(commands::demo::Args),
}

/// The bundle directory used when none is given: the quick-start example in the repository.
pub const DEFAULT_BUNDLE: &str = "examples/quickstart";

/// The data directory used when none is given.
pub const DEFAULT_DATA_DIR: &str = "data";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let code = runtime.block_on(async move {
        match cli.command {
            Command::Init(args) => commands::init::run(args),
            Command::Check(args) => commands::check::run(args).await,
            Command::Report(args) => commands::report::run(args).await,
            Command::Serve(args) => commands::serve::run(args).await,
            Command::Decide(args) => commands::decide::run(args).await,
            Command::Token { command } => commands::token::run(command).await,
            Command::Demo(args) => commands::demo::run(args).await,
            Command::Audit { command } => commands::audit::run(command).await,
            Command::Hold { command } => commands::hold::run(command).await,
            Command::Approvals { command } => commands::approvals::run(command).await,
            Command::Mfa { command } => commands::mfa::run(command).await,
            Command::Providers { command } => commands::providers::run(command).await,
            Command::Trust { command } => commands::trust::run(command).await,
            Command::Identity { command } => commands::identity::run(command).await,
            Command::Credential { command } => commands::credential::run(command).await,
            Command::Mcp { command } => commands::mcp::run(command).await,
            Command::Stop(args) => commands::stop::stop(args).await,
            Command::Resume(args) => commands::stop::resume(args).await,
            Command::Stops(args) => commands::stop::list(args).await,
            Command::Incidents { command } => commands::incidents::run(command).await,
            Command::Drill { command } => commands::drill::run(command).await,
            Command::Drills(args) => commands::drill::list(args).await,
            Command::Redteam { command } => commands::redteam::run(command).await,
        }
    });
    ExitCode::from(code)
}

/// A path argument's default, relative to the working directory.
pub fn default_path(p: &str) -> PathBuf {
    PathBuf::from(p)
}
