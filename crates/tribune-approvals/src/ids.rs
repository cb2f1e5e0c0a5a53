//! Typed identifiers and small values of the approval domain, parsed once.
//!
//! Each id is a distinct type over the bundle's [`Id`] (same character set), so a human can
//! never be passed where an agent or a pool is expected, and every one deserializes through the
//! same parser it was created with: a stored request cannot smuggle in an id the bundle would
//! reject.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tribune_bundle::Id;

use crate::Error;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Id);

        impl $name {
            /// Parses the id; the character set is the bundle's [`Id`] one.
            pub fn parse(s: &str) -> Result<Self, Error> {
                Id::parse(s).map($name).map_err(|reason| Error::InvalidId {
                    kind: $kind,
                    value: s.to_owned(),
                    reason,
                })
            }

            /// The id as a string.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            /// The bundle id it wraps.
            pub fn as_id(&self) -> &Id {
                &self.0
            }
        }

        impl From<Id> for $name {
            fn from(id: Id) -> Self {
                $name(id)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                $name::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(s: String) -> Result<Self, Error> {
                $name::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.as_str().to_owned()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.0.as_str())
            }
        }
    };
}

id_type!(
    /// A declared human: reviewer, owner, or the bearer of a token that triggered a hold.
    HumanId,
    "human"
);
id_type!(
    /// A reviewer pool declared in the bundle.
    PoolId,
    "reviewer pool"
);
id_type!(
    /// A tool declared in the bundle (its MCP name).
    ToolId,
    "tool"
);
id_type!(
    /// A level of the bundle's classification scale.
    ClassId,
    "classification"
);
id_type!(
    /// An approval request. The caller supplies it (a UUIDv7 string fits the character set), so
    /// this crate needs no randomness.
    RequestId,
    "approval request"
);
id_type!(
    /// The decision that held the call.
    DecisionId,
    "decision"
);
id_type!(
    /// A webhook notification, for the receiver's de-duplication.
    EventId,
    "event"
);

/// Who made the held call: an agent or a service, written `agent:ID` / `service:ID` exactly as
/// in the decision's `principal` field.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Principal {
    /// An AI agent.
    Agent(Id),
    /// A non-agent service identity.
    Service(Id),
}

impl Principal {
    /// Parses `agent:ID` or `service:ID`.
    pub fn parse(s: &str) -> Result<Principal, Error> {
        let bad = || Error::InvalidPrincipal { value: s.to_owned() };
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        let id = Id::parse(id).map_err(|_| bad())?;
        match kind {
            "agent" => Ok(Principal::Agent(id)),
            "service" => Ok(Principal::Service(id)),
            _ => Err(bad()),
        }
    }

    /// The agent's or service's id, without the kind.
    pub fn id(&self) -> &Id {
        match self {
            Principal::Agent(id) | Principal::Service(id) => id,
        }
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::Agent(id) => write!(f, "agent:{id}"),
            Principal::Service(id) => write!(f, "service:{id}"),
        }
    }
}

impl FromStr for Principal {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Principal::parse(s)
    }
}

impl TryFrom<String> for Principal {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Principal::parse(&s)
    }
}

impl From<Principal> for String {
    fn from(p: Principal) -> String {
        p.to_string()
    }
}

/// SHA-256 of a call's arguments in RFC 8785 canonical JSON (the decision's `arguments_hash`).
/// Approvals bind to it. Serialized as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ArgumentsHash([u8; 32]);

impl ArgumentsHash {
    /// Parses 64 hex digits (either case).
    pub fn parse(s: &str) -> Result<ArgumentsHash, Error> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| Error::InvalidArgumentsHash {
            value: s.chars().take(80).collect(),
        })?;
        Ok(ArgumentsHash(bytes))
    }

    /// Wraps a digest computed elsewhere.
    pub fn from_bytes(bytes: [u8; 32]) -> ArgumentsHash {
        ArgumentsHash(bytes)
    }

    /// The digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for ArgumentsHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ArgumentsHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ArgumentsHash({self})")
    }
}

impl FromStr for ArgumentsHash {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        ArgumentsHash::parse(s)
    }
}

impl TryFrom<String> for ArgumentsHash {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        ArgumentsHash::parse(&s)
    }
}

impl From<ArgumentsHash> for String {
    fn from(h: ArgumentsHash) -> String {
        h.to_string()
    }
}

/// Why a reviewer decided as they did: trimmed, non-empty, at most [`Rationale::MAX_CHARS`]
/// characters, no control characters (it is shown in terminals and chat).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Rationale(String);

impl Rationale {
    /// The longest rationale accepted, in characters.
    pub const MAX_CHARS: usize = 2000;

    /// Parses a rationale.
    pub fn parse(s: &str) -> Result<Rationale, Error> {
        let t = s.trim();
        if t.is_empty() {
            return Err(Error::EmptyRationale);
        }
        let chars = t.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(Error::RationaleTooLong {
                chars,
                max: Self::MAX_CHARS,
            });
        }
        if t.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Error::RationaleControlCharacter);
        }
        Ok(Rationale(t.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Rationale {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Rationale::parse(&s)
    }
}

impl From<Rationale> for String {
    fn from(r: Rationale) -> String {
        r.0
    }
}

impl fmt::Display for Rationale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A trust score input for queue ordering, in per-mille: 0 (no trust) to 1000 (full trust).
/// Lower trust is reviewed sooner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct Trust(u16);

impl Trust {
    /// The score assumed when none is known.
    pub const BASELINE: Trust = Trust(500);

    /// Parses a per-mille score.
    pub fn new(per_mille: u16) -> Result<Trust, Error> {
        if per_mille > 1000 {
            return Err(Error::InvalidTrust { value: per_mille });
        }
        Ok(Trust(per_mille))
    }

    /// The score in per-mille.
    pub fn per_mille(self) -> u16 {
        self.0
    }
}

impl TryFrom<u16> for Trust {
    type Error = Error;
    fn try_from(v: u16) -> Result<Self, Error> {
        Trust::new(v)
    }
}

impl From<Trust> for u16 {
    fn from(t: Trust) -> u16 {
        t.0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_the_bundle_rejects() {
        let h = HumanId::parse("alice").unwrap();
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, "\"alice\"");
        assert_eq!(serde_json::from_str::<HumanId>(&json).unwrap(), h);
        assert!(serde_json::from_str::<HumanId>("\"a:b\"").is_err());
        assert!(matches!(
            PoolId::parse(""),
            Err(Error::InvalidId {
                kind: "reviewer pool",
                ..
            })
        ));
    }

    #[test]
    fn principals_use_the_decision_spelling() {
        let p = Principal::parse("agent:billing-bot").unwrap();
        assert_eq!(p.to_string(), "agent:billing-bot");
        assert_eq!(Principal::parse("service:etl").unwrap().id().as_str(), "etl");
        for bad in ["billing-bot", "human:alice", "agent:", "agent:a:b"] {
            assert!(Principal::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arguments_hashes_are_64_hex_digits() {
        let s = "AB".repeat(32);
        let h = ArgumentsHash::parse(&s).unwrap();
        assert_eq!(h.to_string(), "ab".repeat(32));
        assert!(ArgumentsHash::parse("ab").is_err());
        assert!(ArgumentsHash::parse(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn rationales_are_trimmed_bounded_and_printable() {
        assert_eq!(Rationale::parse("  ok  ").unwrap().as_str(), "ok");
        assert_eq!(Rationale::parse(" \n "), Err(Error::EmptyRationale));
        assert_eq!(
            Rationale::parse("\u{1b}[2Jgotcha"),
            Err(Error::RationaleControlCharacter)
        );
        assert!(matches!(
            Rationale::parse(&"x".repeat(2001)),
            Err(Error::RationaleTooLong { chars: 2001, .. })
        ));
    }

    #[test]
    fn trust_is_per_mille() {
        assert!(Trust::new(1000).is_ok());
        assert_eq!(Trust::new(1001), Err(Error::InvalidTrust { value: 1001 }));
    }
}
