//! `tribune check BUNDLE`: validate a bundle, report findings, and assess it against the
//! mandates it declares (`[compliance] mandates`) and the OWASP agentic threats.

use std::path::PathBuf;

use tribune_bundle::{Bundle, Diagnostic, Severity};
use tribune_compliance::{Assessment, Status};
use tribune_policy::Snapshot;

use crate::exit;

/// Output formats.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Format {
    /// `file:line:col: severity[code]: message`, one per line.
    Text,
    /// A JSON object with every diagnostic, mandate result and the threat coverage.
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
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
    /// Print the OWASP agentic-threat coverage table even when the bundle declares no
    /// `[compliance]` table (text output; JSON and SARIF always carry it).
    #[arg(long)]
    pub coverage: bool,
}

/// Runs the command.
pub fn run(args: Args) -> u8 {
    let catalog = match tribune_compliance::catalog() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: the compliance packs built into this binary do not load: {e}");
            return exit::FAILURE;
        }
    };
    let result = tribune_bundle::load_dir(&args.bundle).and_then(Snapshot::build);
    let (diagnostics, schema, assessment) = match &result {
        Ok(s) => {
            let assessment = tribune_compliance::assess(catalog, s.bundle());
            let mut diagnostics = s.findings().to_vec();
            diagnostics.extend(assessment.diagnostics.iter().cloned());
            diagnostics.sort();
            (diagnostics, Some(s.schema_text().to_owned()), Some(assessment))
        }
        Err(d) => (d.clone(), None, None),
    };
    let valid = !Bundle::has_errors(&diagnostics);
    let code = if !valid {
        exit::INVALID_BUNDLE
    } else if !diagnostics.is_empty() || assessment.as_ref().is_some_and(Assessment::has_error_gaps) {
        exit::FAILURE
    } else {
        exit::OK
    };
    let bundle = result.as_ref().ok().map(|s| s.bundle().as_ref());
    match args.format {
        Format::Text => print_text(&args, &diagnostics, valid, bundle, assessment.as_ref()),
        Format::Json => print_json(&diagnostics, valid, assessment.as_ref()),
        Format::Sarif => {
            let log = tribune_compliance::sarif::log(
                &args.bundle.display().to_string(),
                env!("CARGO_PKG_VERSION"),
                &diagnostics,
                assessment.as_ref(),
            );
            println!("{}", serde_json::to_string_pretty(&log).unwrap_or_default());
        }
    }
    if args.print_schema
        && let Some(schema) = schema
    {
        println!("{schema}");
    }
    code
}

fn print_text(
    args: &Args,
    diagnostics: &[Diagnostic],
    valid: bool,
    bundle: Option<&Bundle>,
    assessment: Option<&Assessment>,
) {
    let dir = args.bundle.display();
    for d in diagnostics {
        println!("{dir}/{d}");
    }
    let gaps = assessment.map(Assessment::gaps).unwrap_or_default();
    for d in &gaps {
        println!("{dir}/{d}");
    }
    let declared = bundle.is_some_and(|b| b.compliance.location.is_some());
    if let Some(a) = assessment {
        if !a.mandates.is_empty() {
            print_mandates(a);
        }
        if declared || args.coverage {
            print_coverage(a);
        }
    }
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = diagnostics.len() - errors;
    let mandates = if assessment.is_some_and(|a| !a.mandates.is_empty()) {
        let gap_errors = gaps.iter().filter(|d| d.severity == Severity::Error).count();
        format!(
            "; {gap_errors} mandate error(s), {} mandate warning(s)",
            gaps.len() - gap_errors
        )
    } else {
        String::new()
    };
    if valid {
        println!("{dir}: valid; {warnings} finding(s){mandates}");
    } else {
        println!("{dir}: invalid; {errors} error(s), {warnings} finding(s)");
    }
}

fn print_mandates(a: &Assessment) {
    for m in &a.mandates {
        let (met, gap, open) = m.counts();
        println!();
        println!(
            "{} ({}, pack version {}): {met} met, {gap} with gaps, {open} not assessed",
            m.id, m.title, m.version
        );
        for r in &m.requirements {
            let req = r.requirement;
            let note = match r.status {
                Status::NotAssessed => format!(
                    ": needs runtime evidence (`tribune report`): {}",
                    r.needs_evidence.join("; ")
                ),
                _ => String::new(),
            };
            println!(
                "  {:<13} {:<28} {}: {}{note}",
                r.status.as_str(),
                req.id,
                req.citation,
                req.title
            );
        }
    }
}

fn print_coverage(a: &Assessment) {
    println!();
    println!("OWASP agentic threats (MAESTRO layers) this bundle's controls cover:");
    for t in &a.coverage {
        let why = if t.reasons.is_empty() {
            String::new()
        } else {
            format!(": {}", t.reasons.join("; "))
        };
        println!(
            "  {:<4} {:<8} {:<9} {}{why}",
            t.id,
            t.status.as_str(),
            t.layers.join(","),
            t.name
        );
    }
    println!();
}

fn print_json(diagnostics: &[Diagnostic], valid: bool, assessment: Option<&Assessment>) {
    let mut body = serde_json::json!({ "valid": valid, "diagnostics": diagnostics });
    if let (Some(a), Ok(catalog)) = (assessment, tribune_compliance::catalog()) {
        body["mandates"] = serde_json::json!(a.mandates);
        body["coverage"] = serde_json::json!({
            "source": catalog.threats.source,
            "url": catalog.threats.url,
            "layers": catalog.threats.layers,
            "threats": a.coverage,
        });
    }
    println!("{}", serde_json::to_string_pretty(&body).unwrap_or_default());
}
