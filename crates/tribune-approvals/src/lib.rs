//! Tribune's human-in-the-loop core (issue 4), pure: no IO, no database, no clock reads (time
//! comes in as `now_ms`), no randomness of its own (ids and secret bytes come in).
//!
//! - [`request`]: the approval request opened from a held decision and the rules that move it
//!   (pool membership, distinct approvers, no self-approval, dual control for irreversible
//!   calls, MFA, expiry, single use of an approval bound to the exact call).
//! - [`workload`]: admission of new holds against reviewer capacity, per-agent and per-pool
//!   limits (coalesce, admit with assignees, or refuse with `hitl_capacity`), and queue order.
//! - [`summary`](mod@summary): the one line people see for a request.
//! - [`totp`]: RFC 6238 step-up with replay refusal, the otpauth URI and its terminal QR code.
//! - [`webhook`]: notification bodies and their timestamped HMAC-SHA256 signature.
//! - [`config`]: the program's limits and lifetimes.
//!
//! The store persists [`ApprovalRequest`]s (serde) with compare-and-set on
//! [`ApprovalRequest::revision`]; the server calls [`admit`], [`ApprovalRequest::open`] and the
//! transitions, and maps [`Error::code`] and [`HitlCapacity::CODE`] to its responses.

pub mod config;
mod error;
pub mod ids;
pub mod request;
pub mod summary;
pub mod totp;
pub mod webhook;
pub mod workload;

pub use config::HitlConfig;
pub use error::Error;
pub use ids::{
    ArgumentsHash, ClassId, DecisionId, EventId, HumanId, PoolId, Principal, Rationale, RequestId, ToolId,
    Trust,
};
pub use request::{
    ApprovalRequest, ApproveOutcome, ApprovedCall, CallField, CallKey, CancelReason, DataClass, HeldReason,
    MFA_PROOF_TTL_MS, MfaEvidence, MfaProof, MfaRecord, NewRequest, State, StateKind, Verdict, Vote,
};
pub use summary::{summary, summary_redacted};
pub use workload::{
    Admission, Admitted, HitlCapacity, Priority, QueueView, admit, priority, sort_by_priority,
};
