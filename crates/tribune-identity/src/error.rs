//! The errors of issuing and verifying credentials, of delegation and of OIDC ID-token
//! verification. Each variant is a distinct reason the server can map to a distinct deny code.

use thiserror::Error;

/// Why a credential could not be issued or verified.
#[derive(Debug, Error)]
pub enum CredentialError {
    /// Not a credential of ours: not a compact JWS, bad base64url, bad JSON, a missing or
    /// mistyped claim, the wrong `typ`, or too long.
    #[error("malformed credential: {0}")]
    Malformed(#[from] Malformed),
    /// The signature does not verify: a tampered header or payload, another key, or a `kid`
    /// that is not the verifier's.
    #[error("credential signature does not verify")]
    BadSignature,
    /// The header names an algorithm other than `EdDSA` (`none`, `HS256`, `RS256`, ...).
    #[error("unsupported credential algorithm `{found}`, expected `EdDSA`")]
    UnsupportedAlgorithm {
        /// The header's `alg`.
        found: String,
    },
    /// `exp` (plus the leeway) is not after `now`.
    #[error("credential expired at {exp}")]
    Expired {
        /// The credential's `exp`, unix seconds.
        exp: i64,
    },
    /// `nbf` is after `now` (plus the leeway).
    #[error("credential not valid before {nbf}")]
    NotYetValid {
        /// The credential's `nbf`, unix seconds.
        nbf: i64,
    },
    /// `aud` is not exactly the verifier's audience.
    #[error("credential is for audience `{found}`, expected `{expected}`")]
    WrongAudience {
        /// The verifier's audience.
        expected: String,
        /// The credential's `aud`.
        found: String,
    },
    /// `iss` is not the verifier's issuer (or, when issuing, not the issuer's name).
    #[error("credential is issued by `{found}`, expected `{expected}`")]
    WrongIssuer {
        /// The verifier's (or the issuer's) name.
        expected: String,
        /// The credential's `iss`.
        found: String,
    },
    /// Signing failed (for example a scope that is not a valid scope token).
    #[error("cannot sign credential: {0}")]
    Signing(#[source] jsonwebtoken::errors::Error),
}

/// What is wrong with a token that is not a well-formed credential.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Malformed {
    /// Not three parts separated by dots.
    #[error("not a compact JWS (three base64url parts separated by dots)")]
    Shape,
    /// A part is not unpadded base64url.
    #[error("a part is not base64url")]
    Base64,
    /// The protected header is not a JSON object with a string `alg`.
    #[error("bad header: {detail}")]
    Header {
        /// What the JSON parser said.
        detail: String,
    },
    /// The header has a `crit` member; no extension is understood here.
    #[error("critical header extensions are not supported")]
    Critical,
    /// The header's `typ` is not `at+jwt` (RFC 9068 §2.1), so this is not an access token.
    #[error("token type {}, expected `at+jwt`", quoted_or(found.as_deref(), "missing"))]
    Type {
        /// The header's `typ`, if any.
        found: Option<String>,
    },
    /// The payload is not JSON with the claims we need.
    #[error("bad claims: {detail}")]
    Claims {
        /// What the JSON parser said (names the missing or mistyped claim).
        detail: String,
    },
    /// Longer than [`MAX_TOKEN_BYTES`](crate::MAX_TOKEN_BYTES).
    #[error("{len} bytes, more than the maximum {max}")]
    TooLong {
        /// The token's length.
        len: usize,
        /// The maximum.
        max: usize,
    },
}

/// Why a delegated credential was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DelegationError {
    /// The actor name is not acceptable.
    #[error("invalid actor `{actor}`: {reason}")]
    BadActor {
        /// The requested actor.
        actor: String,
        /// What is wrong with it.
        reason: ActorError,
    },
    /// The new `jti` is empty or repeats the parent's or an ancestor's.
    #[error("jti `{jti}` is empty or repeats one in the delegation chain")]
    BadJti {
        /// The offending jti.
        jti: String,
    },
    /// A lifetime of zero seconds.
    #[error("a delegated credential needs a lifetime of at least one second")]
    ZeroTtl,
    /// The parent credential has expired.
    #[error("the parent credential expired at {exp}")]
    ParentExpired {
        /// The parent's `exp`.
        exp: i64,
    },
    /// The parent credential is not valid yet.
    #[error("the parent credential is not valid before {nbf}")]
    ParentNotYetValid {
        /// The parent's `nbf`.
        nbf: i64,
    },
    /// The parent is already at the maximum delegation depth.
    #[error("the delegation chain is already {max} deep, the maximum")]
    TooDeep {
        /// The maximum depth, [`MAX_DELEGATION_DEPTH`](crate::MAX_DELEGATION_DEPTH).
        max: usize,
    },
    /// The request names tools the parent may not call.
    #[error("tools outside the parent credential's scope: {}", backticked(extra))]
    ScopeEscalation {
        /// The requested tools the parent does not have, sorted.
        extra: Vec<String>,
    },
}

/// What is wrong with an actor name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ActorError {
    /// The name is empty.
    #[error("it is empty")]
    Empty,
    /// The name has more than [`MAX_ACTOR_LEN`](crate::MAX_ACTOR_LEN) characters.
    #[error("it has {len} characters, more than {max}")]
    TooLong {
        /// Its length in characters.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The name contains whitespace or a control character.
    #[error("it contains whitespace or a control character")]
    BadCharacter,
}

/// Why an OIDC JWK Set or ID token was refused.
#[derive(Debug, Error)]
pub enum OidcError {
    /// The JWK Set is not an object with a `keys` array.
    #[error("the JWK Set is not an object with a `keys` array")]
    InvalidJwks,
    /// No key in the JWK Set can verify RS256, ES256 or EdDSA signatures.
    #[error("the JWK Set has no key usable for RS256, ES256 or EdDSA signatures")]
    NoUsableKeys,
    /// Not a well-formed JWT.
    #[error("malformed token: {0}")]
    Malformed(#[from] Malformed),
    /// The header names an algorithm other than RS256, ES256 and EdDSA.
    #[error("unsupported token algorithm `{found}`, expected `RS256`, `ES256` or `EdDSA`")]
    UnsupportedAlgorithm {
        /// The header's `alg`.
        found: String,
    },
    /// No key in the set matches the token's `kid` and algorithm (or, without a `kid`, not
    /// exactly one key is usable for the algorithm).
    #[error("no key for kid {} and algorithm `{alg}`", quoted_or(kid.as_deref(), "(none)"))]
    UnknownKey {
        /// The header's `kid`, if any.
        kid: Option<String>,
        /// The header's `alg`.
        alg: String,
    },
    /// The signature does not verify.
    #[error("token signature does not verify")]
    BadSignature,
    /// A required claim is missing or has the wrong type.
    #[error("claim `{claim}` is missing or has the wrong type")]
    BadClaim {
        /// The claim's name.
        claim: &'static str,
    },
    /// `exp` (plus the leeway) is not after `now`.
    #[error("token expired at {exp}")]
    Expired {
        /// The token's `exp`.
        exp: i64,
    },
    /// `nbf` is after `now` (plus the leeway).
    #[error("token not valid before {nbf}")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: i64,
    },
    /// `iss` is not the configured issuer.
    #[error("token is issued by `{found}`, expected `{expected}`")]
    WrongIssuer {
        /// The configured issuer.
        expected: String,
        /// The token's `iss`.
        found: String,
    },
    /// `aud` does not contain the configured audience.
    #[error("token is for audience {}, expected `{expected}`", backticked(found))]
    WrongAudience {
        /// The configured audience (client id).
        expected: String,
        /// The token's `aud` values.
        found: Vec<String>,
    },
}

/// `value` in backticks, or `absent` when there is none.
fn quoted_or(value: Option<&str>, absent: &str) -> String {
    value.map_or_else(|| absent.to_owned(), |v| format!("`{v}`"))
}

/// `a`, `b`, `c` with each item in backticks.
fn backticked(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    quoted.join(", ")
}
