//! The claims of a Tribune credential: an RFC 9068 JWT access token whose `scope` (RFC 8693
//! §4.2) lists the tools it may call, with the RFC 8693 `act` claim for delegation and `anc`,
//! the jtis of its ancestors, so revoking a parent revokes its whole subtree.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The claims of a Tribune credential.
///
/// `gen` is a reserved keyword in edition 2024, so the generation claim is the field
/// `generation`, serialised as `gen`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The issuer (RFC 7519 §4.1.1).
    pub iss: String,
    /// The identity the credential stands for, e.g. `agent:summariser` or `service:billing`.
    pub sub: String,
    /// The audience, exactly one (RFC 9068 §3).
    pub aud: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Not before, unix seconds.
    pub nbf: i64,
    /// Expires at, unix seconds: valid while `now < exp` (plus the verifier's leeway).
    pub exp: i64,
    /// The credential's unique id.
    pub jti: String,
    /// The tools the credential may call, one space-separated string in JSON.
    pub scope: Scopes,
    /// The identity's credential generation at issue; rotation bumps it server-side.
    #[serde(rename = "gen")]
    pub generation: u32,
    /// The agent class, informative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cls: Option<String>,
    /// The delegation's actors, the outermost being the current one (RFC 8693 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// The jtis of the ancestor credentials, root first; empty for a root credential.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anc: Vec<String>,
}

impl Claims {
    /// The delegation chain for display, from the subject down to the current actor, e.g.
    /// `["agent:planner", "researcher", "fetcher"]`.
    pub fn chain(&self) -> Vec<String> {
        let mut chain: Vec<String> = self.actors().map(|a| a.sub.clone()).collect();
        chain.push(self.sub.clone());
        chain.reverse();
        chain
    }

    /// The actors, the current (outermost) one first.
    pub fn actors(&self) -> impl Iterator<Item = &Actor> {
        std::iter::successors(self.act.as_ref(), |a| a.act.as_deref())
    }

    /// Who is acting now: the current actor, or the subject itself when not delegated.
    pub fn current_actor(&self) -> &str {
        self.act.as_ref().map_or(&self.sub, |a| &a.sub)
    }

    /// How many delegations separate this credential from its root: the number of ancestors.
    pub fn depth(&self) -> usize {
        self.anc.len()
    }

    /// Whether the credential's scope includes `tool`.
    pub fn covers(&self, tool: &str) -> bool {
        self.scope.contains(tool)
    }
}

/// An RFC 8693 actor: who acts for the subject, wrapping whoever acted before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The actor's name.
    pub sub: String,
    /// The previous actor, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

/// A sorted set of tool ids, serialised as one space-separated string (RFC 8693 §4.2,
/// RFC 6749 §3.3).
///
/// Each entry must be an RFC 6749 scope token (printable ASCII except space, `"` and `\`) to
/// be serialised; Tribune's tool ids always are. Parsing rejects anything else.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// No tools.
    pub fn new() -> Scopes {
        Scopes::default()
    }

    /// Parses a space-separated scope string; the empty string is the empty set.
    pub fn parse(s: &str) -> Result<Scopes, ScopeError> {
        if s.is_empty() {
            return Ok(Scopes::new());
        }
        s.split(' ')
            .map(|token| match is_scope_token(token) {
                true => Ok(token.to_owned()),
                false => Err(ScopeError {
                    token: token.to_owned(),
                }),
            })
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Scopes)
    }

    /// Whether `tool` is in the set.
    pub fn contains(&self, tool: &str) -> bool {
        self.0.contains(tool)
    }

    /// The tools, as a set.
    pub fn as_set(&self) -> &BTreeSet<String> {
        &self.0
    }

    /// Whether every tool of `self` is in `other`.
    pub fn is_subset(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The tools in `self` that are not in `other`, sorted.
    pub fn difference(&self, other: &Scopes) -> Vec<String> {
        self.0.difference(&other.0).cloned().collect()
    }

    /// Adds `tool`; returns whether it was new.
    pub fn insert(&mut self, tool: impl Into<String>) -> bool {
        self.0.insert(tool.into())
    }

    /// The tools, sorted.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The number of tools.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

impl<S: Into<String>> FromIterator<S> for Scopes {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Scopes {
        Scopes(iter.into_iter().map(Into::into).collect())
    }
}

impl<'a> IntoIterator for &'a Scopes {
    type Item = &'a String;
    type IntoIter = std::collections::btree_set::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Scopes {
    type Item = String;
    type IntoIter = std::collections::btree_set::IntoIter<String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, tool) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(tool)?;
        }
        Ok(())
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(bad) = self.0.iter().find(|t| !is_scope_token(t)) {
            return Err(serde::ser::Error::custom(ScopeError { token: bad.clone() }));
        }
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scopes, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Scopes::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A scope entry that is not an RFC 6749 scope token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{token}` is not a scope token (printable ASCII without space, `\"` or `\\`)")]
pub struct ScopeError {
    /// The offending entry.
    pub token: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_round_trip_as_one_sorted_string() {
        let scopes: Scopes = ["web.fetch", "crm.read", "a"].into_iter().collect();
        assert_eq!(
            serde_json::to_string(&scopes).unwrap(),
            r#""a crm.read web.fetch""#
        );
        let back: Scopes = serde_json::from_str(r#""web.fetch a crm.read""#).unwrap();
        assert_eq!(back, scopes);
        assert_eq!(serde_json::from_str::<Scopes>(r#""""#).unwrap(), Scopes::new());
    }

    #[test]
    fn scopes_reject_what_is_not_a_scope_token() {
        for bad in [
            r#""a  b""#,
            r#"" a""#,
            r#""a ""#,
            r#""a\tb""#,
            r#""caf\u00e9""#,
            r#""a\"b""#,
        ] {
            assert!(serde_json::from_str::<Scopes>(bad).is_err(), "{bad}");
        }
        let spaced: Scopes = ["a b"].into_iter().collect();
        let err = serde_json::to_string(&spaced).unwrap_err();
        assert!(err.to_string().contains("`a b` is not a scope token"), "{err}");
    }

    #[test]
    fn chain_runs_from_subject_to_current_actor() {
        let claims = Claims {
            iss: "tribune".into(),
            sub: "agent:planner".into(),
            aud: "tribune".into(),
            iat: 0,
            nbf: 0,
            exp: 10,
            jti: "c".into(),
            scope: Scopes::new(),
            generation: 1,
            cls: None,
            act: Some(Actor {
                sub: "fetcher".into(),
                act: Some(Box::new(Actor {
                    sub: "researcher".into(),
                    act: None,
                })),
            }),
            anc: vec!["a".into(), "b".into()],
        };
        assert_eq!(claims.chain(), ["agent:planner", "researcher", "fetcher"]);
        assert_eq!(claims.current_actor(), "fetcher");
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            json["act"],
            serde_json::json!({"sub": "fetcher", "act": {"sub": "researcher"}})
        );
        assert_eq!(json["gen"], 1);
        let root = Claims {
            act: None,
            anc: vec![],
            ..claims
        };
        assert_eq!(root.chain(), ["agent:planner"]);
        let json = serde_json::to_value(&root).unwrap();
        assert!(json.get("anc").is_none() && json.get("act").is_none() && json.get("cls").is_none());
    }
}
