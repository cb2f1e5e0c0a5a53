//! TOTP step-up (RFC 6238): secrets, codes, replay-proof verification, enrolment URI and the
//! terminal QR code that `tribune mfa enroll` prints.
//!
//! The arithmetic (HMAC-SHA1/256/512, dynamic truncation, constant-time comparison of codes,
//! base32, the otpauth URI) is `totp-rs`; this module fixes the parameters Tribune accepts
//! (30-second steps, ±1 step of skew, 6 or 8 digits, secrets of at least 128 bits), adds what
//! the RFC leaves to the verifier — a code is accepted at most once: its step must be later
//! than the last one used (RFC 6238 §5.2) — and turns a success into an [`MfaProof`].
//!
//! No clock and no randomness: `now_ms` and the secret's random bytes come from the caller. The
//! caller must store the returned step as the human's `last_used_step` atomically with the
//! action it authorised (compare-and-set), or two concurrent requests could both use a code.

use std::fmt;

use qrcode::QrCode;
use qrcode::render::unicode::Dense1x2;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::ids::HumanId;
use crate::request::MfaProof;

/// The issuer written into otpauth URIs, shown by authenticator apps.
pub const ISSUER: &str = "Tribune";
/// The RFC 6238 time step, in seconds.
pub const STEP_SECS: u64 = 30;
/// Steps of clock skew accepted either side of now.
pub const SKEW_STEPS: u16 = 1;

/// The HMAC behind the codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// HMAC-SHA-1: what every authenticator app supports; the default.
    #[default]
    #[serde(rename = "SHA1")]
    Sha1,
    /// HMAC-SHA-256.
    #[serde(rename = "SHA256")]
    Sha256,
    /// HMAC-SHA-512.
    #[serde(rename = "SHA512")]
    Sha512,
}

impl Algorithm {
    fn lib(self) -> totp_rs::Algorithm {
        match self {
            Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
            Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
            Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

/// How long a code is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Digits {
    /// Six digits; the default.
    #[default]
    Six,
    /// Eight digits.
    Eight,
}

impl Digits {
    /// The number of digits.
    pub fn get(self) -> u8 {
        match self {
            Digits::Six => 6,
            Digits::Eight => 8,
        }
    }
}

impl TryFrom<u8> for Digits {
    type Error = Error;
    fn try_from(n: u8) -> Result<Self, Error> {
        match n {
            6 => Ok(Digits::Six),
            8 => Ok(Digits::Eight),
            _ => Err(Error::TotpDigits { digits: n }),
        }
    }
}

impl From<Digits> for u8 {
    fn from(d: Digits) -> u8 {
        d.get()
    }
}

/// An enrolment's code parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TotpParams {
    /// The HMAC.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// The code length.
    #[serde(default)]
    pub digits: Digits,
}

/// A shared TOTP secret of at least [`TotpSecret::MIN_BYTES`] bytes. Zeroized on drop; its
/// `Debug` does not print it. Serialized as unpadded RFC 4648 base32, the form authenticator
/// apps take — so whatever stores it must protect it.
#[derive(Clone)]
pub struct TotpSecret(totp_rs::Secret);

impl TotpSecret {
    /// The shortest secret accepted: 128 bits (RFC 4226 §4).
    pub const MIN_BYTES: usize = 16;

    /// A secret from the caller's random bytes: 160 bits, as RFC 4226 recommends.
    pub fn generate(random: [u8; 20]) -> TotpSecret {
        TotpSecret(totp_rs::Secret::new_stack(random))
    }

    /// A secret from given bytes (at least 16).
    pub fn from_bytes(bytes: &[u8]) -> Result<TotpSecret, Error> {
        if bytes.len() < Self::MIN_BYTES {
            return Err(Error::TotpSecretTooShort { bytes: bytes.len() });
        }
        Ok(TotpSecret(totp_rs::Secret::new(bytes.into())))
    }

    /// Parses base32 (RFC 4648 alphabet, padding optional, case-insensitive, spaces ignored).
    pub fn from_base32(s: &str) -> Result<TotpSecret, Error> {
        let cleaned: String = s
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let secret = totp_rs::Secret::try_from_base32(cleaned.trim_end_matches('='))
            .map_err(|_| Error::TotpSecretNotBase32)?;
        TotpSecret::from_bytes(secret.as_bytes())
    }

    /// Unpadded base32.
    pub fn to_base32(&self) -> String {
        self.0.to_base32()
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TotpSecret({} bytes)", self.as_bytes().len())
    }
}

impl Serialize for TotpSecret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base32())
    }
}

impl<'de> Deserialize<'de> for TotpSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TotpSecret::from_base32(&s).map_err(serde::de::Error::custom)
    }
}

fn build(secret: &TotpSecret, params: TotpParams, account: Option<&HumanId>) -> Result<totp_rs::Totp, Error> {
    let mut b = totp_rs::Builder::new()
        .with_algorithm(params.algorithm.lib())
        .with_digits(params.digits.get())
        .with_skew(SKEW_STEPS)
        .with_step_duration(STEP_SECS)
        .with_secret(secret.0.clone());
    if let Some(h) = account {
        b = b.with_issuer(Some(ISSUER)).with_account_name(h.as_str());
    }
    b.build().map_err(|e| Error::Totp {
        message: e.to_string(),
    })
}

fn unix_secs(now_ms: i64) -> Result<u64, Error> {
    u64::try_from(now_ms.div_euclid(1000)).map_err(|_| Error::TimeBeforeEpoch { now_ms })
}

/// The code for the step containing `unix_secs` (for tests, drills and the CLI's self-check).
pub fn code_at(secret: &TotpSecret, params: TotpParams, unix_secs: u64) -> Result<String, Error> {
    Ok(build(secret, params, None)?.generate(unix_secs).to_string())
}

/// The RFC 6238 time step containing `now_ms`.
pub fn step_at(now_ms: i64) -> Result<u64, Error> {
    Ok(unix_secs(now_ms)? / STEP_SECS)
}

/// Checks `code` at `now_ms` with ±1 step of skew and returns the step it matched.
///
/// Refuses a malformed code, a wrong one, and one whose step is not after `last_used_step`
/// (a replay, or an older code after a newer one was used). Spaces in the code are ignored.
pub fn verify(
    secret: &TotpSecret,
    params: TotpParams,
    code: &str,
    now_ms: i64,
    last_used_step: Option<u64>,
) -> Result<u64, Error> {
    let code: String = code.chars().filter(|c| *c != ' ').collect();
    let digits = params.digits.get();
    if code.len() != usize::from(digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::TotpMalformedCode { digits });
    }
    let secs = unix_secs(now_ms)?;
    let step = build(secret, params, None)?
        .check(&code, secs)
        .ok_or(Error::TotpWrongCode)?;
    if let Some(last) = last_used_step
        && step <= last
    {
        return Err(Error::TotpReplay {
            step,
            last_used_step: last,
        });
    }
    Ok(step)
}

/// [`verify`], and on success the [`MfaProof`] that `human` passed step-up at `now_ms`.
pub fn verify_for(
    human: &HumanId,
    secret: &TotpSecret,
    params: TotpParams,
    code: &str,
    now_ms: i64,
    last_used_step: Option<u64>,
) -> Result<MfaProof, Error> {
    let step = verify(secret, params, code, now_ms, last_used_step)?;
    Ok(MfaProof::new(human.clone(), step, now_ms))
}

/// `otpauth://totp/Tribune:<human>?secret=...&issuer=Tribune` (plus `digits` and `algorithm`
/// when not the defaults), the Key URI format authenticator apps scan.
pub fn otpauth_uri(human: &HumanId, secret: &TotpSecret, params: TotpParams) -> Result<String, Error> {
    build(secret, params, Some(human))?
        .to_url()
        .map_err(|e| Error::Totp {
            message: e.to_string(),
        })
}

/// `text` as a QR code drawn with Unicode half blocks, two modules per character row, light on
/// dark (for the usual dark terminal), with the standard quiet zone.
pub fn qr_terminal(text: &str) -> Result<String, Error> {
    let code = QrCode::new(text.as_bytes()).map_err(|_| Error::QrTooLong { bytes: text.len() })?;
    Ok(code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .build())
}

/// A human's TOTP enrolment as stored: the secret, its parameters and the last step used.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Enrollment {
    /// Whose.
    pub human: HumanId,
    /// The shared secret.
    pub secret: TotpSecret,
    /// Code parameters.
    #[serde(flatten)]
    pub params: TotpParams,
    /// When it was enrolled.
    pub enrolled_at_ms: i64,
    /// The step of the last code accepted; codes at or before it are refused.
    #[serde(default)]
    pub last_used_step: Option<u64>,
}

impl Enrollment {
    /// A new enrolment that has used no code yet.
    pub fn new(human: HumanId, secret: TotpSecret, params: TotpParams, now_ms: i64) -> Self {
        Enrollment {
            human,
            secret,
            params,
            enrolled_at_ms: now_ms,
            last_used_step: None,
        }
    }

    /// Verifies `code` and, on success, advances `last_used_step` (persist it with
    /// compare-and-set before acting on the proof).
    pub fn verify(&mut self, code: &str, now_ms: i64) -> Result<MfaProof, Error> {
        let proof = verify_for(
            &self.human,
            &self.secret,
            self.params,
            code,
            now_ms,
            self.last_used_step,
        )?;
        self.last_used_step = Some(proof.step());
        Ok(proof)
    }

    /// The otpauth URI to show once at enrolment.
    pub fn uri(&self) -> Result<String, Error> {
        otpauth_uri(&self.human, &self.secret, self.params)
    }

    /// The URI as a terminal QR code.
    pub fn qr(&self) -> Result<String, Error> {
        qr_terminal(&self.uri()?)
    }
}
