//! `tribune check BUNDLE`: validate a bundle and report findings.

use std::path::PathBuf;

use tribune_bundle::{Diagnostic, Severity};
use tribune_policy::Snapshot;

use crate::exit;

/// Output formats.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// `file:line:col: severity[code]: message`, one per line.
    Text,
    /// A JSON object with every diagnostic.
    Json,
}

/// Arguments of `tribune check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The bundle directory.
    pub bundle: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Also print the Cedar schema generated from the bundle.
    #[arg(long)]
    pub print_schema: bool,
}

/// Runs the command.
pub fn run(args: Args) -> u8 {
    let result = tribune_bundle::load_dir(&args.bundle).and_then(Snapshot::build);
    let (diagnostics, valid, schema) = match &result {
        Ok(s) => (s.findings().to_vec(), true, Some(s.schema_text().to_owned())),
        Err(d) => (d.clone(), false, None),
    };
    let code = if !valid {
        exit::INVALID_BUNDLE
    } else if diagnostics.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    };
    match args.format {
        Format::Text => print_text(&args, &diagnostics, valid),
        Format::Json => print_json(&diagnostics, valid),
    }
    if args.print_schema
        && let Some(schema) = schema
    {
        println!("{schema}");
    }
    code
}

fn print_text(args: &Args, diagnostics: &[Diagnostic], valid: bool) {
    for d in diagnostics {
        println!("{}/{d}", args.bundle.display());
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    if valid {
        println!("{}: valid; {warnings} finding(s)", args.bundle.display());
    } else {
        println!(
            "{}: invalid; {errors} error(s), {warnings} finding(s)",
            args.bundle.display()
        );
    }
}

fn print_json(diagnostics: &[Diagnostic], valid: bool) {
    let body = serde_json::json!({ "valid": valid, "diagnostics": diagnostics });
    println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default());
}
