//! The MCP gateway: an MCP server to the agent and an MCP client to the real server, with every
//! `tools/call` between them governed by Tribune.
//!
//! The core ([`gateway`]) is independent of how the two sides are carried and of how decisions
//! are reached: it takes any rmcp transport for each side and any [`Governor`].
//! `tribune mcp wrap` runs it over stdio in front of a local child process with the
//! [`HttpGovernor`]; `tribune serve` runs it at `/mcp/{provider}` in front of remote
//! Streamable HTTP servers ([`connect_remote`], one [`session`] per MCP session) with a
//! governor that decides in process.

pub mod gateway;
pub mod governor;
pub mod http;
pub mod stdio;
pub mod streamable;

pub use gateway::{Gateway, connect_child, serve, session};
pub use governor::{
    Access, Call, CallReport, CallStatus, DecisionId, Governor, Hold, Reason, Release, ToolGrant, Verdict,
    Withheld,
};
pub use http::HttpGovernor;
pub use stdio::{WrapOptions, wrap};
pub use streamable::connect_remote;

/// Every way the gateway can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Tribune could not be reached (connection refused, timeout, broken response stream).
    #[error("cannot reach Tribune at `{url}`: {source}")]
    Unreachable {
        /// The url asked.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// Tribune answered with an error status.
    #[error("Tribune answered {status} `{code}`: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The stable error code from the body (`unknown` when the body has none).
        code: String,
        /// The error message from the body.
        message: String,
    },
    /// Tribune's answer was not what the API promises.
    #[error("Tribune's answer to `{url}` is malformed: {what}")]
    BadAnswer {
        /// The url asked.
        url: String,
        /// What was wrong.
        what: String,
    },
    /// The Tribune server url is not a usable base url.
    #[error("`{0}` is not an http(s) url")]
    BadServerUrl(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(reqwest::Error),
    /// The MCP server could not be started.
    #[error("cannot start the MCP server `{command}`: {source}")]
    Spawn {
        /// The program.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// The MCP server did not complete the MCP handshake.
    #[error("the MCP server did not complete the handshake: {0}")]
    ChildHandshake(String),
    /// The agent's MCP client did not complete the MCP handshake.
    #[error("the MCP client did not complete the handshake: {0}")]
    AgentHandshake(String),
    /// A service task ended abnormally.
    #[error("the gateway's {side} side failed: {message}")]
    Service {
        /// `agent` or `server`.
        side: &'static str,
        /// What happened.
        message: String,
    },
}
