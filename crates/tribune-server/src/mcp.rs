//! `/mcp/{provider}`: the MCP gateway in front of the bundle's remote MCP servers.
//!
//! An agent points its MCP client (Streamable HTTP) at `/mcp/{provider}` with the bearer token
//! or credential it uses for the decision API. Each request is authenticated like any API
//! request; the provider must be an MCP server declared with `transport = "streamable_http"`.
//! rmcp's Streamable HTTP server runs the agent's side, and every new MCP session (or every
//! request of the sessionless 2026-07-28 revision) gets its own upstream connection
//! (`tribune_gateway::connect_remote`) and its own gateway core (`tribune_gateway::session`),
//! whose [`InProcess`] governor asks this server's own handlers — the same decision, outcome,
//! tool-list and pin paths the HTTP API runs, without a socket in between.
//!
//! Sessions are kept per provider, caller and presented credential: another agent's token,
//! or the same agent's other credential, finds no session (404, and the client starts
//! afresh), so a session's decisions are always the presenter's.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse as _, Response};
use dashmap::DashMap;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use serde_json::{Value, json};
use tribune_gateway::http::{
    Sent, decide_body, outcome_body, parse_hidden, parse_release, parse_tools, parse_verdict,
};
use tribune_gateway::{Call, CallReport, DecisionId, Governor, Reason, Release, ToolGrant, Verdict};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::identities::Presented;
use crate::routes::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

/// How long the remote server may take to complete the MCP handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The most MCP sessions one caller (one credential) may hold open at one provider's front:
/// each holds an upstream connection until it is closed or idle for five minutes.
pub const MAX_SESSIONS_PER_CALLER: usize = 64;

/// How many callers' session sets are kept before those with no open session are dropped.
const PRUNE_ABOVE: usize = 1024;

/// The agent sessions of every front, and the Streamable HTTP settings they share.
pub struct Fronts {
    sessions: DashMap<FrontKey, Arc<LocalSessionManager>>,
    config: StreamableHttpServerConfig,
}

impl std::fmt::Debug for Fronts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fronts")
            .field("keys", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

impl Default for Fronts {
    fn default() -> Fronts {
        // Every request carries a bearer token, which a page that rebinds DNS cannot send, so
        // the `Host` allow-list (meant for unauthenticated local servers) stays off: Tribune is
        // reached under whatever name the deployment gives it.
        let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
        Fronts {
            sessions: DashMap::new(),
            config,
        }
    }
}

impl Fronts {
    /// Ends every agent session (and with it its upstream connection) and refuses new ones,
    /// so the server's graceful shutdown is not held open by event streams.
    pub fn shutdown(&self) {
        self.config.cancellation_token.cancel();
    }
}

/// Whose sessions: the provider, the caller (`agent:ID`), and the credential presented.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FrontKey {
    provider: String,
    actor: String,
    credential: Option<String>,
}

/// `/mcp/{provider}`, every method: authenticates, finds the provider's upstream, and hands
/// the request to the Streamable HTTP server of the caller's sessions.
pub async fn handle(
    State(state): State<Arc<AppState>>,
    ApiPath(provider): ApiPath<String>,
    caller: Caller,
    presented: Option<Extension<Presented>>,
    request: axum::extract::Request,
) -> Result<Response, ApiError> {
    if !matches!(caller, Caller::Agent(_) | Caller::Service(_)) {
        return Err(ApiError::Forbidden(
            "the MCP gateway is for agents and services: use an agent's or service's token or credential"
                .to_owned(),
        ));
    }
    let url = {
        let snapshot = state.snapshot();
        let found = snapshot
            .bundle()
            .providers
            .get(provider.as_str())
            .ok_or_else(|| ApiError::NotFound {
                what: "provider",
                id: provider.clone(),
            })?;
        found
            .streamable_http_url()
            .ok_or_else(|| ApiError::NotMcpFront(provider.clone()))?
            .to_owned()
    };
    let presented = presented.map(|Extension(p)| p);
    let key = FrontKey {
        provider: provider.clone(),
        actor: caller.actor(),
        credential: match &presented {
            Some(Presented::Credential(claims)) => Some(claims.jti.clone()),
            _ => None,
        },
    };
    // A request without a session starts one (or, on 2026-07-28, is served on its own): it
    // gets a fresh upstream connection, which the gateway core made for it owns and closes.
    let starts =
        request.method() == axum::http::Method::POST && !request.headers().contains_key("mcp-session-id");
    if starts && state.mcp.sessions.len() > PRUNE_ABOVE {
        // Callers whose sessions all ended (e.g. a credential rotated out) leave an empty
        // entry each: drop those, but never this caller's, whose session is starting.
        state
            .mcp
            .sessions
            .retain(|k, m| k == &key || m.sessions.try_read().map_or(true, |open| !open.is_empty()));
    }
    let sessions = state
        .mcp
        .sessions
        .entry(key)
        .or_insert_with(|| Arc::new(LocalSessionManager::default()))
        .clone();
    if starts && sessions.sessions.read().await.len() >= MAX_SESSIONS_PER_CALLER {
        return Err(ApiError::TooManySessions(format!(
            "`{}` already holds {MAX_SESSIONS_PER_CALLER} MCP sessions at `/mcp/{provider}`, the most one caller may; close one (HTTP DELETE with its `Mcp-Session-Id`) or let it expire",
            caller.actor()
        )));
    }
    let upstream = if starts {
        let connected = tribune_gateway::connect_remote(&url, CONNECT_TIMEOUT)
            .await
            .map_err(|e| ApiError::Upstream {
                provider: provider.clone(),
                message: e.to_string(),
            })?;
        tracing::debug!(
            provider = %provider,
            protocol = ?connected.peer().peer_info().map(|i| i.protocol_version.clone()),
            "connected to the remote MCP server"
        );
        Some(connected)
    } else {
        None
    };
    let governor = InProcess {
        state: Arc::clone(&state),
        caller,
        presented,
        provider,
    };
    let slot = Mutex::new(upstream);
    let service = StreamableHttpService::new(
        move || {
            let child = slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
                .ok_or_else(|| std::io::Error::other("no upstream connection was made for this request"))?;
            Ok(tribune_gateway::session(
                governor.clone(),
                child,
                uuid::Uuid::now_v7().to_string(),
            ))
        },
        sessions,
        state.mcp.config.clone(),
    );
    Ok(service
        .handle(request)
        .await
        .map(axum::body::Body::new)
        .into_response())
}

/// The gateway's governor inside the server: one caller, one provider, and this server's own
/// handlers for tools, decisions, pins and outcomes.
#[derive(Clone)]
struct InProcess {
    state: Arc<AppState>,
    caller: Caller,
    presented: Option<Presented>,
    provider: String,
}

impl InProcess {
    /// The provider that offers `tool` in the active bundle, if it is declared.
    fn provider_of(&self, tool: &str) -> Option<String> {
        self.state
            .snapshot()
            .bundle()
            .tools
            .get(tool)
            .map(|t| t.provider.to_string())
    }
}

/// An API error as the gateway's, as `HttpGovernor` would have read it off the wire.
fn api_error(e: ApiError) -> tribune_gateway::Error {
    let code = e.code().to_owned();
    let message = e.to_string();
    let status = e.into_response().status().as_u16();
    tribune_gateway::Error::Api {
        status,
        code,
        message,
    }
}

fn bad_answer(what: String) -> tribune_gateway::Error {
    tribune_gateway::Error::BadAnswer {
        url: "(in process)".to_owned(),
        what,
    }
}

fn body<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, tribune_gateway::Error> {
    serde_json::from_value(value).map_err(|e| bad_answer(format!("the request body does not fit: {e}")))
}

impl Governor for InProcess {
    async fn tools(&self) -> Result<Vec<ToolGrant>, tribune_gateway::Error> {
        let axum::Json(answer) = crate::routes::tools::list(
            State(Arc::clone(&self.state)),
            self.caller.clone(),
            ApiQuery(Default::default()),
        )
        .await
        .map_err(api_error)?;
        let grants = parse_tools(&answer).map_err(bad_answer)?;
        // Only this provider's tools: a same-named tool of another server is not this one.
        Ok(grants
            .into_iter()
            .filter(|g| g.provider == self.provider)
            .collect())
    }

    async fn decide(&self, call: Call<'_>) -> Result<Verdict, tribune_gateway::Error> {
        if let Some(other) = self.provider_of(call.tool).filter(|p| *p != self.provider) {
            // Deciding it would judge the other provider's tool and then run this server's.
            return Ok(Verdict::Deny {
                decision: None,
                reasons: vec![Reason {
                    stage: "request".to_owned(),
                    code: "wrong_provider".to_owned(),
                    rule: None,
                    message: format!(
                        "tool `{}` belongs to provider `{other}`, not `{}`; call it through `/mcp/{other}`",
                        call.tool, self.provider
                    ),
                }],
            });
        }
        let wait = crate::hitl::max_wait(&self.state.snapshot());
        let request = body(decide_body(&call, wait))?;
        let answer = crate::routes::decisions::decide(
            State(Arc::clone(&self.state)),
            self.caller.clone(),
            self.presented.clone().map(Extension),
            ApiJson(request),
        )
        .await;
        match answer {
            Ok((_, axum::Json(decision))) => parse_verdict(&decision).map_err(bad_answer),
            // A refused request (undeclared tool, arguments that break the schema) still
            // carries its recorded deny.
            Err(ApiError::Refused { decision, .. }) => parse_verdict(&decision).map_err(bad_answer),
            Err(e) => Err(api_error(e)),
        }
    }

    async fn observe(&self, provider: &str, tools: &[Value]) -> Result<Vec<String>, tribune_gateway::Error> {
        let report = body(json!({ "tools": tools }))?;
        let axum::Json(answer) = crate::routes::providers::report(
            State(Arc::clone(&self.state)),
            self.caller.clone(),
            ApiPath(provider.to_owned()),
            ApiJson(report),
        )
        .await
        .map_err(api_error)?;
        parse_hidden(&answer).map_err(bad_answer)
    }

    async fn outcome(
        &self,
        decision: &DecisionId,
        report: CallReport<'_>,
    ) -> Result<Release, tribune_gateway::Error> {
        // In process there is no body limit to keep under: every result is screened.
        let (request, sent) = outcome_body(&report, usize::MAX);
        let request = body(request)?;
        let (_, axum::Json(answer)) = crate::routes::decisions::outcome(
            State(Arc::clone(&self.state)),
            self.caller.clone(),
            axum::extract::Path(decision.0.clone()),
            ApiJson(request),
        )
        .await
        .map_err(api_error)?;
        if matches!(sent, Sent::Unsendable(_)) {
            tracing::warn!(decision = %decision, "a result could not be serialized for screening");
        }
        parse_release(&answer, &sent).map_err(bad_answer)
    }
}
