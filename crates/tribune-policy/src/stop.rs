//! Emergency stops as the decision point sees them: scopes in force, matched against each call
//! before any policy runs. The server keeps the set current; `decide` only reads it.

use std::fmt;

/// What a stop halts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StopScope {
    /// Every call.
    All,
    /// Calls by agents of a class.
    Class(String),
    /// Calls by one agent.
    Agent(String),
    /// Calls by one service.
    Service(String),
    /// Calls of one tool.
    Tool(String),
    /// Calls of any tool of one provider.
    Provider(String),
}

impl StopScope {
    /// Parses `all`, `class:ID`, `agent:ID`, `service:ID`, `tool:ID` or `provider:ID`.
    pub fn parse(s: &str) -> Result<StopScope, String> {
        if s == "all" {
            return Ok(StopScope::All);
        }
        let bad = || {
            format!(
                "`{s}` is not a stop scope: use `all`, `class:ID`, `agent:ID`, `service:ID`, `tool:ID` or `provider:ID`"
            )
        };
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        if id.is_empty() {
            return Err(bad());
        }
        let id = id.to_owned();
        Ok(match kind {
            "class" => StopScope::Class(id),
            "agent" => StopScope::Agent(id),
            "service" => StopScope::Service(id),
            "tool" => StopScope::Tool(id),
            "provider" => StopScope::Provider(id),
            _ => return Err(bad()),
        })
    }
}

impl fmt::Display for StopScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopScope::All => f.write_str("all"),
            StopScope::Class(id) => write!(f, "class:{id}"),
            StopScope::Agent(id) => write!(f, "agent:{id}"),
            StopScope::Service(id) => write!(f, "service:{id}"),
            StopScope::Tool(id) => write!(f, "tool:{id}"),
            StopScope::Provider(id) => write!(f, "provider:{id}"),
        }
    }
}

/// One stop in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stop {
    /// The stop's id.
    pub id: String,
    /// What it halts.
    pub scope: StopScope,
    /// Why, as its author gave it.
    pub reason: String,
    /// Who stopped it (`human:ID`).
    pub by: String,
}

/// What a call is, for matching against stops.
#[derive(Clone, Copy, Debug)]
pub struct CallScope<'a> {
    /// `agent` or `service`.
    pub kind: crate::PrincipalKind,
    /// The principal's id.
    pub principal: &'a str,
    /// The agent's class, if it is an agent.
    pub class: Option<&'a str>,
    /// The tool.
    pub tool: &'a str,
    /// The tool's provider.
    pub provider: &'a str,
}

impl Stop {
    /// Whether this stop halts `call`.
    pub fn covers(&self, call: &CallScope<'_>) -> bool {
        use crate::PrincipalKind::{Agent, Service};
        match &self.scope {
            StopScope::All => true,
            StopScope::Class(c) => call.class == Some(c.as_str()),
            StopScope::Agent(a) => call.kind == Agent && call.principal == a,
            StopScope::Service(s) => call.kind == Service && call.principal == s,
            StopScope::Tool(t) => call.tool == t,
            StopScope::Provider(p) => call.provider == p,
        }
    }
}
