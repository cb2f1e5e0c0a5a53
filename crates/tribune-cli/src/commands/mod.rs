//! One module per command.

pub mod approvals;
pub mod audit;
pub mod check;
pub mod credential;
pub mod decide;
pub mod demo;
pub mod drill;
pub mod hold;
pub mod identity;
pub mod incidents;
pub mod init;
pub mod mcp;
pub mod mfa;
pub mod providers;
pub mod redteam;
pub mod report;
pub mod serve;
pub mod stop;
pub mod token;
pub mod trust;

use tribune_bundle::Diagnostic;

/// Prints diagnostics, one per line, to stderr.
pub fn print_diagnostics(diagnostics: &[Diagnostic]) {
    for d in diagnostics {
        eprintln!("{d}");
    }
}
