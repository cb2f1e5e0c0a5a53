//! The seam between the gateway and the decision point: what the gateway asks (which tools may
//! this agent ever call, may it make this call, how did the call end) and the answers.
//!
//! [`crate::HttpGovernor`] answers over Tribune's HTTP API. The server will answer in process
//! when it runs the gateway itself (in front of remote MCP servers); both give the same
//! answers, so the gateway core does not know which one it has.

use std::future::Future;
use std::time::Duration;

use rmcp::model::CallToolResult;
use serde_json::{Map, Value};

use crate::Error;

/// A recorded decision's id (Tribune answers nothing it has not recorded).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DecisionId(pub String);

impl std::fmt::Display for DecisionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How far an agent may use a tool it may call at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The agent may call it alone (subject to the arguments and quotas).
    Alone,
    /// Every call needs human approval first.
    Approval,
}

/// A tool the agent may ever call, as `GET /v1/tools` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolGrant {
    /// The tool's name (the MCP tool name).
    pub name: String,
    /// The provider that offers it (empty when the server does not say).
    pub provider: String,
    /// Its action tier: `read`, `write` or `irreversible`.
    pub tier: String,
    /// Alone or only with approval.
    pub access: Access,
    /// Distinct human approvals a call needs (0 when alone).
    pub approvals: u32,
    /// Whether the approvals need MFA.
    pub mfa: bool,
}

impl ToolGrant {
    /// The sentence appended to the tool's description when calls need approval, so the agent
    /// (and the model driving it) knows before it calls.
    pub fn approval_note(&self) -> Option<String> {
        if self.access == Access::Alone {
            return None;
        }
        let who = match self.approvals {
            0 | 1 => "1 approver".to_owned(),
            n => format!("{n} approvers"),
        };
        let mfa = if self.mfa { ", MFA" } else { "" };
        Some(format!("Requires human approval ({who}{mfa}) before it runs."))
    }
}

/// One tool call to decide.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The tool.
    pub tool: &'a str,
    /// Its arguments.
    pub arguments: &'a Map<String, Value>,
    /// The MCP connection the call came on (one session per connection).
    pub session: &'a str,
}

/// One reason of a decision: which stage, which stable code, which rule, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// The pipeline stage (`request`, `policy`, `autonomy`, `quota`, `approval`, ...).
    pub stage: String,
    /// The stable reason code.
    pub code: String,
    /// The rule that decided, if one did.
    pub rule: Option<String>,
    /// For people.
    pub message: String,
}

/// A held call that was not resolved within the wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// The hold's decision.
    pub decision: DecisionId,
    /// The approval request the hold opened or joined.
    pub approval: Option<String>,
    /// How many distinct humans must approve.
    pub approvals_required: u32,
    /// Whether they need MFA.
    pub mfa: bool,
    /// Where the approval request stands after the wait (`pending`, `denied`, `expired`, ...).
    pub state: Option<String>,
    /// Why the call was held.
    pub reasons: Vec<Reason>,
    /// The call's tainted arguments as the decision lists them (argument, kind of value, the
    /// untrusted result it came from; never the value), empty when none is.
    pub tainted: Vec<Value>,
}

/// Tribune's answer for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The call may run.
    Allow {
        /// The recorded allow, to report the outcome against.
        decision: DecisionId,
    },
    /// The call must not run.
    Deny {
        /// The recorded deny, when there is one.
        decision: Option<DecisionId>,
        /// Why.
        reasons: Vec<Reason>,
    },
    /// The call waits for humans.
    Held(Hold),
}

/// How an allowed call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    /// The server returned a result that is not an error.
    Succeeded,
    /// The server returned an error result, a protocol error, or nothing.
    Failed,
}

/// What the gateway knows after an allowed call ran: the post-call step's input.
#[derive(Debug, Clone, Copy)]
pub struct CallReport<'a> {
    /// The tool.
    pub tool: &'a str,
    /// How it ended.
    pub status: CallStatus,
    /// The result the server returned, if it returned one. Result screening (DLP on results,
    /// later taint of untrusted output) reads it here; the governor's [`Release`] says what
    /// the agent gets.
    pub result: Option<&'a CallToolResult>,
    /// The protocol or transport error, if the server returned none.
    pub error: Option<&'a str>,
    /// Wall time of the call to the server.
    pub duration: Duration,
}

impl CallReport<'_> {
    /// A summary for the record that carries no result content: what kinds of blocks came
    /// back and how big they were. Content reaches the ledger only through result scanning,
    /// which decides what may be kept.
    pub fn summary(&self) -> String {
        match (self.result, self.error) {
            (Some(result), _) => {
                let kinds: Vec<String> = result
                    .content
                    .iter()
                    .map(|c| {
                        serde_json::to_value(c)
                            .ok()
                            .and_then(|v| v["type"].as_str().map(str::to_owned))
                            .unwrap_or_else(|| "unknown".to_owned())
                    })
                    .collect();
                let bytes = serde_json::to_vec(result).map_or(0, |b| b.len());
                let structured = if result.structured_content.is_some() {
                    ", structured content"
                } else {
                    ""
                };
                let error = if result.is_error == Some(true) {
                    "error result"
                } else {
                    "result"
                };
                format!(
                    "{error}: {} content block(s) [{}]{structured}, {bytes} bytes",
                    kinds.len(),
                    kinds.join(", ")
                )
            }
            (None, Some(error)) => format!("no result: {error}"),
            (None, None) => "no result".to_owned(),
        }
    }
}

/// What the agent gets after the post-call step.
#[derive(Debug, Clone, PartialEq)]
pub enum Release {
    /// The server's result, unchanged.
    AsIs,
    /// The result with what DLP found replaced by `[REDACTED:<detector>]` markers; the gateway
    /// says so in the result's `_meta`.
    Redacted {
        /// The redacted result.
        result: CallToolResult,
        /// The detectors whose findings were redacted.
        detectors: Vec<String>,
    },
    /// No result: the gateway answers with an error result saying why (the call was made).
    Withheld(Withheld),
    /// This result instead.
    Replace(CallToolResult),
}

/// Why the agent does not get a call's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withheld {
    /// The result holds data of classes whose DLP action (`deny`, or `hold`: results are never
    /// kept for later) keeps it from the agent.
    Dlp {
        /// The classes that withheld it.
        classes: Vec<String>,
        /// The detectors that found them.
        detectors: Vec<String>,
    },
    /// Tribune could not screen the result (unreachable, an error answer, a result too large to
    /// send), so it fails closed.
    Unscreened(String),
}

/// Decides tool calls for one agent and records how they ended.
///
/// Implementations fail closed by returning `Err`: the gateway then does not forward the call
/// and tells the agent why.
pub trait Governor: Send + Sync + 'static {
    /// The tools the agent may ever call; tools it may never call are absent.
    fn tools(&self) -> impl Future<Output = Result<Vec<ToolGrant>, Error>> + Send;

    /// Decides one call, waiting for a held call's approval as long as the implementation's
    /// bound allows.
    fn decide(&self, call: Call<'_>) -> impl Future<Output = Result<Verdict, Error>> + Send;

    /// Reports what the MCP server lists for `provider`'s tools (each `{name, description,
    /// inputSchema, ...}` as listed) so their descriptions are compared with their pins; the
    /// answer names the quarantined tools, which the gateway hides.
    fn observe(
        &self,
        provider: &str,
        tools: &[Value],
    ) -> impl Future<Output = Result<Vec<String>, Error>> + Send;

    /// Records how an allowed call ended and says what the agent may see of its result: a
    /// result is screened by the bundle's DLP (result direction) before the agent gets it. On
    /// `Err` the gateway withholds the result (it fails closed; the call was made).
    fn outcome(
        &self,
        decision: &DecisionId,
        report: CallReport<'_>,
    ) -> impl Future<Output = Result<Release, Error>> + Send;
}
