//! Tribune's non-human identity credentials, as pure functions and in-memory state: no IO, no
//! clock (every check takes `now`, in unix seconds for credentials and unix milliseconds for
//! lifecycle audits).
//!
//! An agent or service exchanges its secret for a short-lived credential: an RFC 9068 JWT
//! access token ([`Claims`]) signed with the deployment's Ed25519 key by an [`Issuer`], whose
//! `scope` lists the tools it may call. A [`Verifier`] checks it on every call and caches the
//! claims of credentials it has verified. A holder may [`delegate`] a narrower, shorter-lived
//! credential to a sub-agent (RFC 8693 `act`), up to [`MAX_DELEGATION_DEPTH`] deep. [`audit`]
//! reports identities whose secret or review is overdue or that went stale, and
//! [`OidcVerifier`] verifies human users' OIDC ID tokens.
//!
//! Revocation, suspension, the credential generation and the scope check against the called
//! tool are state, checked by the server after [`Verifier::verify`].
//!
//! # Example
//! ```
//! use tribune_identity::{Claims, Delegation, Issuer, Scopes, delegate};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let now = 1_795_687_200;
//! let issuer = Issuer::from_seed([7; 32], "https://tribune.example");
//! let claims = Claims {
//!     iss: issuer.name().to_owned(),
//!     sub: "agent:planner".into(),
//!     aud: "tribune".into(),
//!     iat: now,
//!     nbf: now,
//!     exp: now + 900,
//!     jti: "01J0000000000000000000000A".into(),
//!     scope: ["web.fetch", "crm.read"].into_iter().collect(),
//!     generation: 1,
//!     cls: Some("research".into()),
//!     act: None,
//!     anc: vec![],
//! };
//! let token = issuer.issue(&claims)?;
//!
//! let verifier = issuer.verifier("tribune");
//! let verified = verifier.verify(&token, now + 1)?;
//! assert!(verified.claims.covers("web.fetch") && !verified.cached);
//! assert!(verifier.verify(&token, now + 2)?.cached);
//!
//! let request = Delegation {
//!     actor: "fetcher".into(),
//!     scopes: Some(Scopes::from_iter(["web.fetch"])),
//!     ttl_secs: 60,
//! };
//! let child = delegate(&verified.claims, &request, now + 2, "01J0000000000000000000000B".into())?;
//! assert_eq!(child.chain(), ["agent:planner", "fetcher"]);
//! assert_eq!(child.anc, [claims.jti]);
//! # Ok(())
//! # }
//! ```
//!
//! # Modules
//! - [`claims`] — [`Claims`], [`Scopes`], [`Actor`].
//! - [`issuer`] — [`Issuer`], signing and the JWK Set.
//! - [`verifier`] — [`Verifier`] and its cache.
//! - [`delegation`] — [`delegate`].
//! - [`lifecycle`] — [`audit`] and [`rotation_expired`].
//! - [`oidc`] — [`OidcVerifier`].
//!
//! # Dependencies
//! JWS encoding, decoding and signature checks are `jsonwebtoken`'s (with its pure-Rust
//! `rust_crypto` backend), so the tokens are what every JWT library reads. Its claim checks
//! read the system clock, so they are off: `iss`, `aud`, `exp` and `nbf` are checked here
//! against the `now` passed in, each with its own error.

pub mod claims;
pub mod delegation;
mod error;
pub mod issuer;
mod jws;
pub mod lifecycle;
pub mod oidc;
pub mod verifier;

pub use claims::{Actor, Claims, ScopeError, Scopes};
pub use delegation::{Delegation, MAX_ACTOR_LEN, MAX_DELEGATION_DEPTH, delegate, validate_actor};
pub use error::{ActorError, CredentialError, DelegationError, Malformed, OidcError};
pub use issuer::{ACCESS_TOKEN_TYPE, Issuer};
pub use jws::MAX_TOKEN_BYTES;
pub use lifecycle::{DAY_MS, Finding, FindingKind, IdentityFacts, Lifecycle, audit, rotation_expired};
pub use oidc::{DEFAULT_OIDC_LEEWAY_SECS, MIN_RSA_BITS, OidcVerifier, SkipReason, SkippedKey};
pub use verifier::{DEFAULT_CACHE_CAPACITY, DEFAULT_LEEWAY_SECS, Verified, Verifier};
