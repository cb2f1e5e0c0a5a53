//! The HITL program's knobs: how long requests and approvals live, and the workload limits that
//! keep reviewers from being buried (OWASP agentic threat T10).
//!
//! Deserializes from a `[hitl]`-style table with `deny_unknown_fields`; every field has a
//! default, and every limit is a `NonZeroU32` so a zero that would refuse everything (or a
//! zero expiry that would expire everything at once) cannot be written down.

use std::num::NonZeroU32;

use serde::{Deserialize, Serialize};

/// How long things live and how much reviewers may be asked to carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HitlConfig {
    /// Seconds a request stays pending before it expires, which ends it as a deny.
    pub expiry_secs: NonZeroU32,
    /// Seconds an approval stays usable after the request was approved. The agent's matching
    /// call within this window is allowed once.
    pub approval_valid_for_secs: NonZeroU32,
    /// The most pending requests one reviewer may be assigned at a time.
    pub reviewer_capacity: NonZeroU32,
    /// The most pending requests one agent (or service) may have at a time.
    pub agent_pending_cap: NonZeroU32,
    /// The most new requests one reviewer pool accepts in any 60-second window.
    pub pool_rate_per_minute: NonZeroU32,
}

/// Builds a `NonZeroU32` from a literal in a const context.
const fn nz(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(v) => v,
        // INVARIANT(nonzero-defaults): only called below with non-zero literals, at compile time.
        None => NonZeroU32::MIN,
    }
}

impl HitlConfig {
    /// The built-in defaults: 15-minute expiry (issue 4), approvals usable for 5 minutes,
    /// 25 open assignments per reviewer, 10 pending requests per agent, 60 new requests per
    /// pool per minute.
    pub const DEFAULT: HitlConfig = HitlConfig {
        expiry_secs: nz(15 * 60),
        approval_valid_for_secs: nz(5 * 60),
        reviewer_capacity: nz(25),
        agent_pending_cap: nz(10),
        pool_rate_per_minute: nz(60),
    };

    /// `expiry_secs` in milliseconds.
    pub fn expiry_ms(&self) -> i64 {
        i64::from(self.expiry_secs.get()) * 1000
    }

    /// `approval_valid_for_secs` in milliseconds.
    pub fn approval_valid_for_ms(&self) -> i64 {
        i64::from(self.approval_valid_for_secs.get()) * 1000
    }
}

impl Default for HitlConfig {
    fn default() -> Self {
        HitlConfig::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_fill_missing_fields_and_zero_is_rejected() {
        let c: HitlConfig = serde_json::from_str(r#"{"agent_pending_cap": 3}"#).unwrap();
        assert_eq!(c.agent_pending_cap.get(), 3);
        assert_eq!(c.expiry_ms(), 900_000);
        assert!(serde_json::from_str::<HitlConfig>(r#"{"reviewer_capacity": 0}"#).is_err());
        assert!(serde_json::from_str::<HitlConfig>(r#"{"capacity": 3}"#).is_err());
    }
}
