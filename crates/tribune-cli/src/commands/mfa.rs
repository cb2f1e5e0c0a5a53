//! `tribune mfa enroll`: enrol your personal token's human in TOTP step-up.
//!
//! Prints the otpauth URI and its QR code for an authenticator app; the secret is shown this
//! once. Replacing an existing enrolment needs a current code from it (`--mfa-code`).

use serde_json::json;

use crate::client;
use crate::client::Remote;
use crate::exit;

/// MFA subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Enrol in TOTP and print the otpauth URI and a QR code to scan.
    Enroll {
        /// To replace an existing enrolment: a current code from it.
        #[arg(long)]
        mfa_code: Option<String>,
        /// Print the URI only, without the QR code.
        #[arg(long)]
        no_qr: bool,
        #[command(flatten)]
        remote: Remote,
    },
}

/// Runs an mfa subcommand.
pub async fn run(command: Command) -> u8 {
    let Command::Enroll {
        mfa_code,
        no_qr,
        remote,
    } = command;
    let (server, token) = match remote.get() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    let answer = match client::post(server, "/v1/mfa/enroll", token, &json!({ "mfa_code": mfa_code })).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::FAILURE;
        }
    };
    let uri = answer["otpauth_uri"].as_str().unwrap_or_default();
    println!(
        "Enrolled `{}` in TOTP ({} digits, {}-second steps). Scan the code or add the URI to your authenticator app; it is shown only now.",
        answer["human"].as_str().unwrap_or("?"),
        answer["digits"],
        answer["period"]
    );
    println!();
    println!("otpauth URI: {uri}");
    println!("secret:      {}", answer["secret"].as_str().unwrap_or_default());
    if !no_qr {
        match tribune_approvals::totp::qr_terminal(uri) {
            Ok(qr) => {
                println!();
                println!("{qr}");
            }
            Err(e) => eprintln!("warning: cannot draw the QR code: {e}"),
        }
    }
    exit::OK
}
