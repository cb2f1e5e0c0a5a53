//! `tribune check BUNDLE`: validate a bundle, report findings, and assess it against the
//! mandates it declares (`[compliance] mandates`) and the OWASP agentic threats.
//!
//! With `--server`, it also reads runtime evidence from a running server: the emergency-stop
//! drills (`GET /v1/drills`). A drill overdue against the bundle's `[drills] cadence_days` is an
//! error finding there, and the mandates' "stop drill within its cadence" checks are assessed
//! from it instead of being reported as not assessed. Without `--server` nothing is read.

use std::path::PathBuf;

use serde_json::Value;
use tribune_bundle::{Bundle, Diagnostic, Severity};
use tribune_compliance::{Assessment, Evidence, RedteamEvidence, Status};
use tribune_policy::Snapshot;

use crate::commands::identity::rfc3339;
use crate::evidence::{Drills, read_drills};
use crate::exit;

const DAY_MS: i64 = 86_400_000;

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
    /// Also read runtime evidence from this running server: a stop drill overdue against
    /// `[drills] cadence_days` is an error finding, and mandates' drill checks are assessed.
    #[arg(long)]
    pub server: Option<String>,
    /// The bearer token for `--server`: an admin's, an auditor's or a stop-authority holder's.
    #[arg(long, env = "TRIBUNE_TOKEN")]
    pub token: Option<String>,
}

/// The finding for a drill overdue against the bundle's `[drills] cadence_days`, if it is.
pub(crate) fn drill_overdue(bundle: &Bundle, drills: &Drills, now_ms: i64) -> Option<Diagnostic> {
    let cadence = bundle.drills.cadence_days.as_ref()?;
    let days = cadence.value;
    let server = &drills.server;
    let example = bundle.drills.scopes.first().map_or("SCOPE", |s| s.value.as_str());
    let message = match drills.last_passed_at_ms {
        Some(at) if now_ms.saturating_sub(at) <= i64::from(days) * DAY_MS => return None,
        Some(at) => format!(
            "stop drill overdue: the last drill that passed on `{server}` was at {}, {} days ago; `[drills] cadence_days` requires one every {days} days (`tribune drill stop {example}`)",
            rfc3339(at),
            now_ms.saturating_sub(at) / DAY_MS
        ),
        None => format!(
            "stop drill overdue: no drill has passed on `{server}`; `[drills] cadence_days` requires one every {days} days (`tribune drill stop {example}`)"
        ),
    };
    Some(Diagnostic::error(
        cadence.location.clone(),
        "drill-overdue",
        message,
    ))
}

/// The latest passed run of the built-in red-team suite against one bundle, as a server
/// recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RedteamRun {
    /// When it ran.
    pub(crate) at_ms: i64,
    /// The suite's name.
    pub(crate) suite: String,
    /// The SHA-256 of the suite's text.
    pub(crate) suite_sha256: String,
}

/// The latest passed run of the built-in suite against the bundle whose hash is
/// `bundle_hash`, as a server reports it (`GET /v1/redteam/runs?bundle_hash=`), read only when
/// the bundle declares `[redteam] cadence_days`. A run of another suite or against another
/// bundle is no evidence for this one, so the run the server names is checked again here.
pub(crate) async fn read_redteam(
    server: &str,
    token: Option<&str>,
    bundle_hash: &str,
) -> Result<Option<RedteamRun>, String> {
    let token =
        token.ok_or_else(|| "`--server` needs `--token TOKEN` (an admin's or an auditor's)".to_owned())?;
    let path = format!("/v1/redteam/runs?limit=1&bundle_hash={bundle_hash}");
    let body = crate::client::get(server, &path, token)
        .await
        .map_err(|e| format!("cannot read the red-team runs from `{server}`: {e}"))?;
    Ok(counted_run(&body["last_passed"], bundle_hash))
}

/// The run a server names as the latest passed one, if it counts for the bundle whose hash is
/// `bundle_hash`: passed, the built-in suite, that bundle.
pub(crate) fn counted_run(run: &Value, bundle_hash: &str) -> Option<RedteamRun> {
    let counts =
        run["passed"] == true && run["builtin"] == true && run["bundle_hash"].as_str() == Some(bundle_hash);
    counts.then_some(())?;
    Some(RedteamRun {
        at_ms: run["ran_at_ms"].as_i64()?,
        suite: run["suite"].as_str()?.to_owned(),
        suite_sha256: run["suite_sha256"].as_str()?.to_owned(),
    })
}

/// The compliance evidence of the red-team runs read from `server` for the bundle whose hash
/// is `bundle_hash`.
pub(crate) fn redteam_evidence(
    server: &str,
    bundle_hash: &str,
    last: Option<&RedteamRun>,
    now_ms: i64,
) -> RedteamEvidence {
    RedteamEvidence {
        source: server.to_owned(),
        bundle_hash: bundle_hash.to_owned(),
        last_passed: last.map(|r| (r.at_ms, rfc3339(r.at_ms))),
        suite: last.map(|r| (r.suite.clone(), r.suite_sha256.clone())),
        now_ms,
    }
}

/// The finding for a red-team run overdue against the bundle's `[redteam] cadence_days`:
/// `last` is when the latest passed run of the built-in suite against this bundle ran.
pub(crate) fn redteam_overdue(
    bundle: &Bundle,
    server: &str,
    last: Option<i64>,
    now_ms: i64,
) -> Option<Diagnostic> {
    let cadence = bundle.redteam.cadence_days.as_ref()?;
    let days = cadence.value;
    let message = match last {
        Some(at) if now_ms.saturating_sub(at) <= i64::from(days) * DAY_MS => return None,
        Some(at) => format!(
            "red-team run overdue: the last run of the built-in suite that passed against this bundle on `{server}` was at {}, {} days ago; `[redteam] cadence_days` requires one every {days} days (`tribune redteam run --server URL`)",
            rfc3339(at),
            now_ms.saturating_sub(at) / DAY_MS
        ),
        None => format!(
            "red-team run overdue: no run of the built-in suite has passed against this bundle on `{server}`; `[redteam] cadence_days` requires one every {days} days (`tribune redteam run --server URL`)"
        ),
    };
    Some(Diagnostic::error(
        cadence.location.clone(),
        "redteam-overdue",
        message,
    ))
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
    let result = tribune_bundle::load_dir(&args.bundle).and_then(Snapshot::build);
    // Runtime evidence: only with `--server`, and only for a bundle that loaded.
    let drills = match (&args.server, &result) {
        (Some(server), Ok(_)) => match read_drills(server, args.token.as_deref()).await {
            Ok(d) => Some(d),
            Err(e) => {
                eprintln!("error: {e}");
                return exit::FAILURE;
            }
        },
        _ => None,
    };
    // Red-team runs: only with `--server`, and only when the bundle declares a cadence.
    let redteam = match (&args.server, &result) {
        (Some(server), Ok(s)) if s.bundle().redteam.cadence_days.is_some() => {
            match read_redteam(server, args.token.as_deref(), &s.bundle().hash).await {
                Ok(last) => Some((server.clone(), last)),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::FAILURE;
                }
            }
        }
        _ => None,
    };
    let now = tribune_server::now_ms();
    // Activity reviews: only with `--server`, and only when the bundle declares an interval.
    let reviews = match (&args.server, &result) {
        (Some(server), Ok(s)) if s.bundle().compliance.activity_review_days.is_some() => {
            match crate::evidence::read_reviews(server, args.token.as_deref(), now).await {
                Ok(r) => Some(r),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::FAILURE;
                }
            }
        }
        _ => None,
    };
    let evidence = Evidence {
        stop_drills: drills.as_ref().map(|d| d.evidence(now)),
        redteam: match (&redteam, &result) {
            (Some((server, last)), Ok(s)) => {
                Some(redteam_evidence(server, &s.bundle().hash, last.as_ref(), now))
            }
            _ => None,
        },
        reviews,
        ..Evidence::NONE
    };
    let (mut diagnostics, schema, assessment) = match &result {
        Ok(s) => {
            let assessment = tribune_compliance::assess_with(catalog, s.bundle(), &evidence);
            let mut diagnostics = s.findings().to_vec();
            diagnostics.extend(assessment.diagnostics.iter().cloned());
            diagnostics.sort();
            (diagnostics, Some(s.schema_text().to_owned()), Some(assessment))
        }
        Err(d) => (d.clone(), None, None),
    };
    let valid = !Bundle::has_errors(&diagnostics);
    // A drill overdue is an error finding about the deployment, not an invalid bundle, so it
    // is added once validity is settled. Overdue is judged against the cadence of the bundle
    // being checked, from the drills the server recorded.
    let mut runtime: Option<Value> = None;
    if let (Ok(s), Some(d)) = (&result, &drills) {
        let overdue = drill_overdue(s.bundle(), d, now);
        runtime = Some(serde_json::json!({
            "server": d.server,
            "cadence_days": s.bundle().drills.cadence_days.as_ref().map(|c| c.value),
            "last_passed_at_ms": d.last_passed_at_ms,
            "overdue": overdue.is_some(),
        }));
        diagnostics.extend(overdue);
        diagnostics.sort();
    }
    if let (Ok(s), Some((server, last))) = (&result, &redteam) {
        diagnostics.extend(redteam_overdue(
            s.bundle(),
            server,
            last.as_ref().map(|r| r.at_ms),
            now,
        ));
        diagnostics.sort();
    }
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
        Format::Json => print_json(&diagnostics, valid, assessment.as_ref(), runtime),
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
    // A valid bundle's findings include runtime ones (a drill overdue), which are errors.
    let findings = if valid { diagnostics.len() } else { warnings };
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
        println!("{dir}: valid; {findings} finding(s){mandates}");
    } else {
        println!("{dir}: invalid; {errors} error(s), {findings} finding(s)");
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
                Status::Met if !r.observed.is_empty() => format!(": {}", r.observed.join("; ")),
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

fn print_json(
    diagnostics: &[Diagnostic],
    valid: bool,
    assessment: Option<&Assessment>,
    drills: Option<Value>,
) {
    let mut body = serde_json::json!({ "valid": valid, "diagnostics": diagnostics });
    if let Some(drills) = drills {
        body["drills"] = drills;
    }
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
