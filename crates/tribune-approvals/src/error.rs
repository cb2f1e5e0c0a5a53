//! The crate's one error type: every refusal of the approval rules, TOTP and webhook checks, as
//! data, with a stable [`Error::code`] for the server's single error mapping.

use tribune_bundle::IdError;

use crate::ids::{HumanId, PoolId, RequestId};
use crate::request::{CallField, StateKind};

/// Everything this crate refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    // --- values ---
    /// An id that is not a valid bundle id.
    #[error("invalid {kind} id `{value}`: {reason}")]
    InvalidId {
        /// What it should have named.
        kind: &'static str,
        /// The input.
        value: String,
        /// Why not.
        reason: IdError,
    },
    /// A principal not written `agent:ID` or `service:ID`.
    #[error("`{value}` is not a principal: expected `agent:ID` or `service:ID`")]
    InvalidPrincipal {
        /// The input.
        value: String,
    },
    /// An arguments hash that is not 64 hex digits.
    #[error("`{value}` is not an arguments hash: expected 64 hex digits")]
    InvalidArgumentsHash {
        /// The input (at most 80 characters of it).
        value: String,
    },
    /// An empty rationale.
    #[error("a rationale cannot be empty")]
    EmptyRationale,
    /// An overlong rationale.
    #[error("a rationale is limited to {max} characters, this one has {chars}")]
    RationaleTooLong {
        /// Its length.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// A rationale with control characters (other than newlines).
    #[error("a rationale cannot contain control characters")]
    RationaleControlCharacter,
    /// A trust score above 1000 per mille.
    #[error("trust score {value} is out of range: expected 0 to 1000 per mille")]
    InvalidTrust {
        /// The input.
        value: u16,
    },

    // --- opening a request ---
    /// A hold that asks for zero approvals.
    #[error("a held call needs at least one approval")]
    NoApprovalsRequired,
    /// No sequence of votes could ever approve the request.
    #[error(
        "reviewer pool `{pool}` can never approve this call: it needs {required} distinct approver(s){} but has {eligible} eligible member(s)",
        if *needs_non_owner { " including one who is not the agent's owner" } else { "" }
    )]
    Unsatisfiable {
        /// The pool.
        pool: PoolId,
        /// Approvals required.
        required: u32,
        /// Members other than the human who triggered it.
        eligible: u32,
        /// Whether a non-owner is needed (irreversible calls).
        needs_non_owner: bool,
    },
    /// [`crate::ApprovalRequest::open`] was given an admission for another call or pool.
    #[error("the admission is for a different call, pool or set of reviewers than the request")]
    AdmissionMismatch,

    // --- transitions ---
    /// The request has already been resolved.
    #[error("approval request `{id}` is {state}, not pending")]
    NotPending {
        /// The request.
        id: RequestId,
        /// Its state.
        state: StateKind,
    },
    /// The request reached its expiry; it is now expired (a deny).
    #[error("approval request `{id}` expired at {expires_at_ms}")]
    Expired {
        /// The request.
        id: RequestId,
        /// Its expiry.
        expires_at_ms: i64,
        /// The time of the attempt.
        now_ms: i64,
    },
    /// [`crate::ApprovalRequest::expire`] before the expiry.
    #[error("approval request `{id}` does not expire until {expires_at_ms}")]
    NotDue {
        /// The request.
        id: RequestId,
        /// Its expiry.
        expires_at_ms: i64,
        /// The time of the attempt.
        now_ms: i64,
    },
    /// A vote from someone outside the request's pool.
    #[error("`{human}` is not a member of reviewer pool `{pool}`")]
    NotInPool {
        /// Who.
        human: HumanId,
        /// The pool.
        pool: PoolId,
    },
    /// An approval from the human who triggered the request.
    #[error("`{human}` triggered this request and cannot approve it")]
    RequesterCannotApprove {
        /// Who.
        human: HumanId,
    },
    /// An approval without MFA on a request that needs it.
    #[error("approval request `{id}` needs a fresh mfa code from `{human}`")]
    MfaRequired {
        /// The request.
        id: RequestId,
        /// Who tried.
        human: HumanId,
    },
    /// MFA evidence of another human.
    #[error("the mfa proof belongs to `{proof_human}`, not `{human}`")]
    MfaWrongHuman {
        /// Who voted.
        human: HumanId,
        /// Whose code was verified.
        proof_human: HumanId,
    },
    /// MFA evidence too old (or from the future).
    #[error("the mfa code verified at {verified_at_ms} is not fresh at {now_ms} (at most {ttl_ms} ms)")]
    MfaStale {
        /// When it was verified.
        verified_at_ms: i64,
        /// The time of the vote.
        now_ms: i64,
        /// How old it may be.
        ttl_ms: i64,
    },
    /// Consuming a request that is not approved.
    #[error("approval request `{id}` is {state}, so it authorises no call")]
    NotApproved {
        /// The request.
        id: RequestId,
        /// Its state.
        state: StateKind,
    },
    /// Consuming an approval a second time.
    #[error("the approval of request `{id}` was already used at {at_ms}")]
    AlreadyConsumed {
        /// The request.
        id: RequestId,
        /// When it was used.
        at_ms: i64,
    },
    /// Consuming an approval for a different call.
    #[error("the approval of request `{id}` is for a different {field}")]
    CallMismatch {
        /// The request.
        id: RequestId,
        /// What differs.
        field: CallField,
    },
    /// Consuming an approval after its validity.
    #[error("the approval of request `{id}` lapsed at {valid_until_ms}")]
    ApprovalLapsed {
        /// The request.
        id: RequestId,
        /// The end of its validity.
        valid_until_ms: i64,
        /// The time of the attempt.
        now_ms: i64,
    },

    // --- TOTP ---
    /// A TOTP secret under 128 bits.
    #[error("a totp secret needs at least 16 bytes, got {bytes}")]
    TotpSecretTooShort {
        /// Its length.
        bytes: usize,
    },
    /// A TOTP secret that is not base32.
    #[error("the totp secret is not valid base32")]
    TotpSecretNotBase32,
    /// A code length other than 6 or 8.
    #[error("totp codes have 6 or 8 digits, not {digits}")]
    TotpDigits {
        /// The input.
        digits: u8,
    },
    /// A code that is not the right number of digits.
    #[error("a totp code is {digits} digits")]
    TotpMalformedCode {
        /// The expected length.
        digits: u8,
    },
    /// A code that matches no step in the window.
    #[error("the totp code is not valid now")]
    TotpWrongCode,
    /// A code whose step is not after the last one used.
    #[error("the totp code for step {step} was already used or superseded (last used step {last_used_step})")]
    TotpReplay {
        /// The step it matched.
        step: u64,
        /// The last step used.
        last_used_step: u64,
    },
    /// A time before 1970.
    #[error("time {now_ms} is before the unix epoch")]
    TimeBeforeEpoch {
        /// The input.
        now_ms: i64,
    },
    /// `totp-rs` refused its parameters (unreachable with this crate's types; kept typed).
    #[error("totp: {message}")]
    Totp {
        /// The library's message.
        message: String,
    },
    /// Text too long for a QR code.
    #[error("{bytes} bytes are too many for a qr code")]
    QrTooLong {
        /// The input length.
        bytes: usize,
    },

    // --- webhooks ---
    /// A webhook key under 128 bits.
    #[error("a webhook key needs at least 16 bytes, got {bytes}")]
    WebhookKeyTooShort {
        /// Its length.
        bytes: usize,
    },
    /// A signature header that does not parse.
    #[error("the signature header is malformed: expected `t=<unix seconds>,v1=<64 hex digits>`")]
    SignatureMalformed,
    /// A signature timestamp outside the tolerance.
    #[error("the signature timestamp {timestamp} is more than {tolerance_secs} s from now ({now_secs})")]
    SignatureStale {
        /// The header's timestamp.
        timestamp: i64,
        /// The receiver's clock.
        now_secs: i64,
        /// The tolerance.
        tolerance_secs: u32,
    },
    /// No signature matches the body.
    #[error("the signature does not match the body")]
    SignatureMismatch,
    /// A "resolved" notification for a pending request.
    #[error("approval request `{id}` is still pending")]
    StillPending {
        /// The request.
        id: RequestId,
    },
    /// JSON serialization failed (not expected for this crate's types).
    #[error("cannot serialize the {what}: {message}")]
    Serialize {
        /// What.
        what: &'static str,
        /// serde_json's message.
        message: String,
    },
}

impl Error {
    /// A stable snake_case code for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidId { .. } => "invalid_id",
            Error::InvalidPrincipal { .. } => "invalid_principal",
            Error::InvalidArgumentsHash { .. } => "invalid_arguments_hash",
            Error::EmptyRationale | Error::RationaleTooLong { .. } | Error::RationaleControlCharacter => {
                "invalid_rationale"
            }
            Error::InvalidTrust { .. } => "invalid_trust",
            Error::NoApprovalsRequired => "no_approvals_required",
            Error::Unsatisfiable { .. } => "unsatisfiable",
            Error::AdmissionMismatch => "admission_mismatch",
            Error::NotPending { .. } => "not_pending",
            Error::Expired { .. } => "expired",
            Error::NotDue { .. } => "not_due",
            Error::NotInPool { .. } => "not_in_pool",
            Error::RequesterCannotApprove { .. } => "requester_cannot_approve",
            Error::MfaRequired { .. } => "mfa_required",
            Error::MfaWrongHuman { .. } => "mfa_wrong_human",
            Error::MfaStale { .. } => "mfa_stale",
            Error::NotApproved { .. } => "not_approved",
            Error::AlreadyConsumed { .. } => "already_consumed",
            Error::CallMismatch { .. } => "call_mismatch",
            Error::ApprovalLapsed { .. } => "approval_lapsed",
            Error::TotpSecretTooShort { .. } | Error::TotpSecretNotBase32 => "invalid_totp_secret",
            Error::TotpDigits { .. } => "invalid_totp_digits",
            Error::TotpMalformedCode { .. } | Error::TotpWrongCode => "totp_invalid",
            Error::TotpReplay { .. } => "totp_replay",
            Error::TimeBeforeEpoch { .. } => "time_before_epoch",
            Error::Totp { .. } => "totp_internal",
            Error::QrTooLong { .. } => "qr_too_long",
            Error::WebhookKeyTooShort { .. } => "webhook_key_too_short",
            Error::SignatureMalformed => "signature_malformed",
            Error::SignatureStale { .. } => "signature_stale",
            Error::SignatureMismatch => "signature_mismatch",
            Error::StillPending { .. } => "still_pending",
            Error::Serialize { .. } => "internal",
        }
    }
}
