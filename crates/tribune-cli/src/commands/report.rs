//! `tribune report`: write a bundle's compliance assessment for people and tools — a
//! self-contained HTML page, Markdown, JSON or OSCAL assessment results.
//!
//! Without `--server` the report is static: the requirements that need runtime evidence are
//! reported as awaiting it. With `--server` it reads the evidence first (stop drills, the whole
//! ledger verified here against its signed checkpoints, the identities, red-team runs; see
//! [`crate::evidence`]) and fails, writing nothing, when any of it cannot be read.
//!
//! Exit codes as `tribune check`: 2 for an invalid bundle (nothing written), 1 for a finding or
//! a gap in a requirement of severity `error` (the report is still written) or when the
//! evidence or the output cannot be read or written, 0 otherwise.

use std::path::PathBuf;

use tribune_bundle::Bundle;
use tribune_compliance::Evidence;
use tribune_policy::Snapshot;
use tribune_report::{Format as ReportFormat, Report};

use crate::commands::check::{drill_overdue, redteam_overdue};
use crate::exit;

/// Output formats.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// A self-contained HTML page with charts, readable and printable.
    Html,
    /// Markdown (CommonMark with GitHub tables).
    Md,
    /// One JSON object: the assessment, its evidence, the summary and the findings.
    Json,
    /// OSCAL assessment results (JSON), for GRC tools.
    Oscal,
}

/// Arguments of `tribune report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle directory.
    #[arg(long, env = "TRIBUNE_BUNDLE", default_value = crate::DEFAULT_BUNDLE)]
    pub bundle: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "html")]
    pub format: Format,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Read runtime evidence from this running server (drills, the ledger, identities).
    #[arg(long, env = "TRIBUNE_SERVER")]
    pub server: Option<String>,
    /// The bearer token for `--server`: an auditor's or an admin's (the ledger and the
    /// identities are theirs to read).
    #[arg(long, env = "TRIBUNE_TOKEN")]
    pub token: Option<String>,
    /// The ledger's verifier key (`name+hash+key`, from `tribune audit key` on the server's
    /// host or a witness). Without it the key the server publishes is used, and the report
    /// says so.
    #[arg(long)]
    pub ledger_key: Option<String>,
}

/// Runs the command.
pub async fn run(args: Args) -> u8 {
    let catalog = match tribune_compliance::catalog() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: the compliance packs built into this binary do not load: {e}");
            return exit::FAILURE;
        }
    };
    let dir = args.bundle.display().to_string();
    let snapshot = match tribune_bundle::load_dir(&args.bundle).and_then(Snapshot::build) {
        Ok(s) => s,
        Err(diagnostics) => {
            for d in &diagnostics {
                eprintln!("{dir}/{d}");
            }
            eprintln!("{dir}: invalid; no report written");
            return exit::INVALID_BUNDLE;
        }
    };
    let bundle: &Bundle = snapshot.bundle();
    let now = tribune_server::now_ms();
    let collected = match &args.server {
        Some(server) => {
            let token = args.token.as_deref();
            match crate::evidence::collect(bundle, server, token, args.ledger_key.as_deref(), now).await {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::FAILURE;
                }
            }
        }
        None => None,
    };
    let evidence = collected.as_ref().map_or(Evidence::NONE, |c| c.evidence.clone());
    let assessment = tribune_compliance::assess_with(catalog, bundle, &evidence);
    if !assessment.diagnostics.is_empty() {
        for d in &assessment.diagnostics {
            eprintln!("{dir}/{d}");
        }
        eprintln!("{dir}: invalid; no report written");
        return exit::INVALID_BUNDLE;
    }
    // The runtime findings `tribune check --server` adds, so the exit codes agree.
    let mut findings = snapshot.findings().to_vec();
    if let (Some(c), Some(server)) = (&collected, &args.server) {
        findings.extend(drill_overdue(bundle, &c.drills, now));
        if let Some(last) = c.redteam {
            findings.extend(redteam_overdue(bundle, server, last, now));
        }
    }
    findings.sort();
    let generated_at = match time::OffsetDateTime::from_unix_timestamp(now.div_euclid(1000)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: the clock reads an impossible time: {e}");
            return exit::FAILURE;
        }
    };
    let report = Report {
        bundle,
        bundle_dir: &dir,
        catalog,
        assessment: &assessment,
        findings: &findings,
        evidence: &evidence,
        server: args.server.as_deref(),
        generated_at,
        tribune_version: env!("CARGO_PKG_VERSION"),
    };
    let format = match args.format {
        Format::Html => ReportFormat::Html,
        Format::Md => ReportFormat::Markdown,
        Format::Json => ReportFormat::Json,
        Format::Oscal => ReportFormat::Oscal,
    };
    let mut text = match tribune_report::render(&report, format) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match &args.out {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                eprintln!("error: cannot write `{}`: {e}", path.display());
                return exit::FAILURE;
            }
        }
        None => print!("{text}"),
    }
    if !findings.is_empty() || assessment.has_error_gaps() {
        exit::FAILURE
    } else {
        exit::OK
    }
}
