//! The gateway core: an rmcp server facing the agent ([`Gateway`]) and an rmcp client facing
//! the MCP server ([`Backend`]), joined by [`serve`].
//!
//! `tools/list` is the server's list cut down to the tools the agent may ever call;
//! `tools/call` is decided by the [`Governor`] before it is forwarded and reported after;
//! everything else rmcp models is forwarded both ways (see [`Gateway`]'s `ServerHandler`
//! methods and [`Backend`]'s `ClientHandler` methods). Every refusal is a tool result with
//! `isError: true`, never a broken session.

// Sampling, roots, logging and resources/subscribe are deprecated in rmcp because 2026-07-28
// (SEP-2577) drops them; agents and servers on 2025-11-25 still use them, so they are forwarded.
#![allow(deprecated)]

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResponse, CallToolResult, CancelledNotificationParam,
    ClientCapabilities, ClientConfig, ClientRequest, CompleteRequest, CompleteRequestParams, CompleteResult,
    ContentBlock, CreateMessageRequestParams, CreateMessageResult, CustomNotification, CustomRequest,
    CustomResult, ElicitRequestParams, ElicitResult, GetPromptRequest, GetPromptRequestParams,
    GetPromptResponse, Implementation, InitializeRequestParams, InitializeResult, ListPromptsRequest,
    ListPromptsResult, ListResourceTemplatesRequest, ListResourceTemplatesResult, ListResourcesRequest,
    ListResourcesResult, ListRootsResult, ListToolsResult, LoggingMessageNotificationParam, MetaObject,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ProtocolVersion, ReadResourceRequest,
    ReadResourceRequestParams, ReadResourceResponse, ResourceUpdatedNotificationParam, ServerConfig,
    ServerResult, SetLevelRequest, SetLevelRequestParams, SubscribeRequest, SubscribeRequestParams, Tool,
    UnsubscribeRequest, UnsubscribeRequestParams,
};
use rmcp::service::{
    ClientLifecycleMode, ClientServiceExt as _, NotificationContext, Peer, PeerRequestOptions,
    RequestContext, RoleClient, RoleServer, RunningService, ServiceError,
};
use rmcp::transport::IntoTransport;
use rmcp::{ClientHandler, ErrorData as McpError, ServerHandler, ServiceExt as _};
use serde_json::{Map, Value, json};

use crate::Error;
use crate::governor::{
    Call, CallReport, CallStatus, DecisionId, Governor, Hold, Reason, Release, ToolGrant, Verdict, Withheld,
};

/// The protocol revisions the gateway prefers with the MCP server, newest first; the agent may
/// use any revision rmcp knows (2024-11-05 up to 2026-07-28).
pub const CHILD_REVISIONS: [ProtocolVersion; 2] =
    [ProtocolVersion::V_2026_07_28, ProtocolVersion::V_2025_11_25];

/// The `_meta` key under which refusals carry Tribune's decision as data.
pub const META_KEY: &str = "dev.tribune/decision";

/// The `_meta` key under which a redacted or withheld result says what Tribune did to it.
pub const OUTCOME_META_KEY: &str = "dev.tribune/outcome";

/// How long a request's progress route outlives its response (see `Gateway::forward`).
const PROGRESS_LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Child progress tokens (chosen by rmcp on the server side) to the agent's own tokens.
type ProgressRoutes = Arc<Mutex<HashMap<ProgressToken, ProgressToken>>>;

/// Proof that the governor allowed this call: only [`Gateway::call_tool`] makes one, from a
/// [`Verdict::Allow`], and forwarding a call to the server takes one.
#[derive(Debug)]
struct Authorized {
    decision: DecisionId,
}

/// The MCP client facing the server. Requests and notifications the server sends are passed
/// on to the agent once it is connected.
#[derive(Clone, Debug, Default)]
pub struct Backend {
    agent: Arc<OnceLock<Peer<RoleServer>>>,
    progress: ProgressRoutes,
}

impl Backend {
    fn agent(&self) -> Result<&Peer<RoleServer>, McpError> {
        self.agent
            .get()
            .ok_or_else(|| McpError::internal_error("no MCP client is connected to the gateway yet", None))
    }
}

/// Starts the MCP client side on `transport` (the server's stdio, or any rmcp client
/// transport), negotiating 2026-07-28 (`server/discover`) and falling back to 2025-11-25
/// (`initialize`).
pub async fn connect_child<T, E, A>(transport: T) -> Result<RunningService<RoleClient, Backend>, Error>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    Backend::default()
        .serve_with_lifecycle(
            transport,
            ClientLifecycleMode::Auto {
                preferred_versions: CHILD_REVISIONS.to_vec(),
                legacy_version: Some(ProtocolVersion::V_2025_11_25),
            },
        )
        .await
        .map_err(|e| Error::ChildHandshake(e.to_string()))
}

/// Runs one agent connection on `agent` in front of the connected `child` until either side
/// ends or `shutdown` completes; the agent's session is `session`. Either way both sides are
/// closed before it returns (a child process gets its stdin closed, then SIGTERM, then SIGKILL).
pub async fn serve<G, T, E, A>(
    governor: G,
    child: RunningService<RoleClient, Backend>,
    agent: T,
    session: String,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> Result<(), Error>
where
    G: Governor,
    T: IntoTransport<RoleServer, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let backend = child.service().clone();
    let gateway = Gateway::new(governor, child.peer().clone(), session, &backend, None);
    let running = gateway
        .serve(agent)
        .await
        .map_err(|e| Error::AgentHandshake(e.to_string()))?;
    // Set once: one gateway per child connection (`initialize` may have set it already).
    let _ = backend.agent.set(running.peer().clone());
    let agent_ct = running.cancellation_token();
    let child_ct = child.cancellation_token();
    let mut agent_task = tokio::spawn(running.waiting());
    let mut child_task = tokio::spawn(child.waiting());
    let (side, ended) = tokio::select! {
        r = &mut agent_task => {
            child_ct.cancel();
            let _ = child_task.await;
            ("agent", r)
        }
        r = &mut child_task => {
            agent_ct.cancel();
            let _ = agent_task.await;
            ("server", r)
        }
        () = shutdown => {
            agent_ct.cancel();
            child_ct.cancel();
            let _ = child_task.await;
            ("shutdown", agent_task.await)
        }
    };
    tracing::info!(side, "a side of the gateway closed; closing the other");
    match ended {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::Service {
            side,
            message: e.to_string(),
        }),
    }
}

/// A gateway for one agent session whose transport the caller runs — rmcp's Streamable HTTP
/// server starts one per MCP session (or per request, on the sessionless 2026-07-28) — in
/// front of the connected `child`. It learns the agent's peer from `initialize`, so the
/// server's requests and notifications reach the agent; dropping it (the session ended)
/// closes `child`.
pub fn session<G: Governor>(
    governor: G,
    child: RunningService<RoleClient, Backend>,
    session: String,
) -> Gateway<G> {
    let backend = child.service().clone();
    let peer = child.peer().clone();
    Gateway::new(governor, peer, session, &backend, Some(child))
}

/// The MCP server facing the agent.
pub struct Gateway<G> {
    governor: G,
    child: Peer<RoleClient>,
    session: String,
    progress: ProgressRoutes,
    /// Where the server's requests and notifications go (the backend's).
    agent: Arc<OnceLock<Peer<RoleServer>>>,
    /// The server connection, when this gateway owns it ([`session`]): dropped with it.
    _owned: Option<RunningService<RoleClient, Backend>>,
}

impl<G> std::fmt::Debug for Gateway<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl<G: Governor> Gateway<G> {
    /// The listed tools whose descriptions no longer match their pins: each provider's granted
    /// tools, as the server lists them, are reported to Tribune, which compares and answers.
    async fn quarantined(&self, tools: &[Tool], grants: &[ToolGrant]) -> Result<HashSet<String>, Error> {
        let mut by_provider: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for grant in grants.iter().filter(|g| !g.provider.is_empty()) {
            if let Some(tool) = tools.iter().find(|t| t.name == grant.name) {
                let listed = serde_json::to_value(tool).map_err(|e| Error::BadAnswer {
                    url: String::new(),
                    what: format!("tool `{}` does not serialize: {e}", grant.name),
                })?;
                by_provider
                    .entry(grant.provider.as_str())
                    .or_default()
                    .push(listed);
            }
        }
        let mut hidden = HashSet::new();
        for (provider, listed) in by_provider {
            hidden.extend(self.governor.observe(provider, &listed).await?);
        }
        Ok(hidden)
    }

    fn new(
        governor: G,
        child: Peer<RoleClient>,
        session: String,
        backend: &Backend,
        owned: Option<RunningService<RoleClient, Backend>>,
    ) -> Gateway<G> {
        Gateway {
            governor,
            child,
            session,
            progress: backend.progress.clone(),
            agent: backend.agent.clone(),
            _owned: owned,
        }
    }

    /// Sends `request` to the server: the agent's progress token is routed back, and the
    /// agent's cancellation is passed on.
    async fn forward(
        &self,
        request: ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, McpError> {
        let handle = self
            .child
            .send_request_with_option(request, PeerRequestOptions::no_options())
            .await
            .map_err(service_error)?;
        let route = context.meta.get_progress_token().map(|agent_token| {
            let ours = handle.progress_token.clone();
            lock(&self.progress).insert(ours.clone(), agent_token);
            ours
        });
        let id = handle.id.clone();
        let answer = tokio::select! {
            answer = handle.await_response() => answer.map_err(service_error),
            () = context.ct.cancelled() => {
                let _ = self
                    .child
                    .notify_cancelled(CancelledNotificationParam::new(Some(id), Some("cancelled by the client".to_owned())))
                    .await;
                Err(McpError::internal_error("the request was cancelled by the client", None))
            }
        };
        if let Some(ours) = route {
            // rmcp handles notifications on tasks of their own, so progress the server sent just
            // before its response can be handled just after it: keep the route a moment longer.
            let routes = Arc::clone(&self.progress);
            tokio::spawn(async move {
                tokio::time::sleep(PROGRESS_LINGER).await;
                lock(&routes).remove(&ours);
            });
        }
        answer
    }

    /// Forwards an allowed call, reports its outcome, and releases its result.
    async fn run_allowed(
        &self,
        proof: Authorized,
        params: CallToolRequestParams,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let tool = params.name.to_string();
        let started = Instant::now();
        let answer = self
            .forward(
                ClientRequest::CallToolRequest(CallToolRequest::new(params)),
                context,
            )
            .await;
        let duration = started.elapsed();
        let answer: Result<CallToolResponse, McpError> = match answer {
            Ok(ServerResult::CallToolResult(r)) => Ok(CallToolResponse::Complete(r)),
            Ok(ServerResult::InputRequiredResult(r)) => Ok(CallToolResponse::InputRequired(r)),
            Ok(other) => Err(unexpected("tools/call", &other)),
            Err(e) => Err(e),
        };
        let error_text;
        let report = match &answer {
            Ok(CallToolResponse::Complete(r)) => CallReport {
                tool: &tool,
                status: if r.is_error == Some(true) {
                    CallStatus::Failed
                } else {
                    CallStatus::Succeeded
                },
                result: Some(r),
                error: None,
                duration,
            },
            Ok(_) => {
                error_text =
                    "the server asked for more input; the call with that input is a new call".to_owned();
                CallReport {
                    tool: &tool,
                    status: CallStatus::Failed,
                    result: None,
                    error: Some(&error_text),
                    duration,
                }
            }
            Err(e) => {
                error_text = format!("{}: {}", e.code.0, e.message);
                CallReport {
                    tool: &tool,
                    status: CallStatus::Failed,
                    result: None,
                    error: Some(&error_text),
                    duration,
                }
            }
        };
        let complete = |r| Ok(CallToolResponse::Complete(r));
        match self.governor.outcome(&proof.decision, report).await {
            Ok(Release::AsIs) => answer,
            Ok(Release::Redacted { result, detectors }) => {
                complete(redacted(result, &proof.decision, &detectors))
            }
            Ok(Release::Withheld(why)) => complete(withheld(&tool, &proof.decision, &why)),
            Ok(Release::Replace(r)) => complete(r),
            Err(e) => {
                tracing::warn!(decision = %proof.decision, tool = %tool, error = %e, "the outcome could not be recorded");
                match answer {
                    // A result nobody screened may hold what DLP would keep from the agent:
                    // fail closed. The call ran; the agent is told so.
                    Ok(CallToolResponse::Complete(_)) => complete(withheld(
                        &tool,
                        &proof.decision,
                        &Withheld::Unscreened(e.to_string()),
                    )),
                    // No result to leak: the server's error (or input request) goes on.
                    other => other,
                }
            }
        }
    }
}

impl<G: Governor> ServerHandler for Gateway<G> {
    fn get_info(&self) -> ServerConfig {
        let Some(peer) = self.child.peer_info() else {
            return ServerConfig::default();
        };
        let mut capabilities = peer.capabilities.clone();
        // Tasks (a call that returns a handle to poll) would let results bypass the outcome
        // step, so the gateway does not offer them; nor skills, which it does not forward.
        capabilities.extensions = None;
        let mut info = ServerConfig::new(capabilities).with_server_info(
            peer.server_info
                .clone()
                .unwrap_or_else(|| Implementation::new("tribune-gateway", env!("CARGO_PKG_VERSION"))),
        );
        info.instructions = peer.instructions.clone();
        info
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS)
    }

    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, McpError> {
        // A transport the gateway does not run itself (Streamable HTTP) hands over the agent's
        // peer only here; set once, so the stdio path's own setting is the same peer.
        let _ = self.agent.set(context.peer.clone());
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let (grants, tools) = tokio::join!(self.governor.tools(), self.child.list_all_tools());
        let grants = grants.map_err(|e| {
            McpError::internal_error(
                format!("Tribune could not say which tools this agent may call, so none are listed: {e}"),
                None,
            )
        })?;
        let tools = tools.map_err(service_error)?;
        let hidden = self.quarantined(&tools, &grants).await.map_err(|e| {
            McpError::internal_error(
                format!("Tribune could not compare the tools' descriptions with their pins, so none are listed: {e}"),
                None,
            )
        })?;
        let tools = tools
            .into_iter()
            .filter(|t| !hidden.contains(t.name.as_ref()))
            .collect();
        Ok(ListToolsResult::with_all_items(permitted_tools(tools, &grants)))
    }

    async fn call_tool(
        &self,
        params: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let empty = Map::new();
        let call = Call {
            tool: &params.name,
            arguments: params.arguments.as_ref().unwrap_or(&empty),
            session: &self.session,
        };
        let verdict = tokio::select! {
            v = self.governor.decide(call) => v,
            () = context.ct.cancelled() => {
                return Err(McpError::internal_error("the request was cancelled by the client", None));
            }
        };
        let proof = match verdict {
            Ok(Verdict::Allow { decision }) => Authorized { decision },
            Ok(Verdict::Deny { decision, reasons }) => {
                tracing::info!(tool = %params.name, "denied");
                return Ok(CallToolResponse::Complete(denied(
                    &params.name,
                    decision.as_ref(),
                    &reasons,
                )));
            }
            Ok(Verdict::Held(hold)) => {
                tracing::info!(tool = %params.name, approval = ?hold.approval, "held");
                return Ok(CallToolResponse::Complete(held(&params.name, &hold)));
            }
            Err(e) => {
                tracing::warn!(tool = %params.name, error = %e, "no decision; the call is not made");
                return Ok(CallToolResponse::Complete(undecided(&params.name, &e)));
            }
        };
        self.run_allowed(proof, params, &context).await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let r = ListPromptsRequest {
            params: request,
            ..Default::default()
        };
        match self
            .forward(ClientRequest::ListPromptsRequest(r), &context)
            .await?
        {
            ServerResult::ListPromptsResult(r) => Ok(r),
            other => Err(unexpected("prompts/list", &other)),
        }
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let r = GetPromptRequest::new(request);
        match self.forward(ClientRequest::GetPromptRequest(r), &context).await? {
            ServerResult::GetPromptResult(r) => Ok(GetPromptResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(GetPromptResponse::InputRequired(r)),
            other => Err(unexpected("prompts/get", &other)),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let r = ListResourcesRequest {
            params: request,
            ..Default::default()
        };
        match self
            .forward(ClientRequest::ListResourcesRequest(r), &context)
            .await?
        {
            ServerResult::ListResourcesResult(r) => Ok(r),
            other => Err(unexpected("resources/list", &other)),
        }
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let r = ListResourceTemplatesRequest {
            params: request,
            ..Default::default()
        };
        match self
            .forward(ClientRequest::ListResourceTemplatesRequest(r), &context)
            .await?
        {
            ServerResult::ListResourceTemplatesResult(r) => Ok(r),
            other => Err(unexpected("resources/templates/list", &other)),
        }
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let r = ReadResourceRequest::new(request);
        match self
            .forward(ClientRequest::ReadResourceRequest(r), &context)
            .await?
        {
            ServerResult::ReadResourceResult(r) => Ok(ReadResourceResponse::Complete(r)),
            ServerResult::InputRequiredResult(r) => Ok(ReadResourceResponse::InputRequired(r)),
            other => Err(unexpected("resources/read", &other)),
        }
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let r = SubscribeRequest::new(request);
        self.forward(ClientRequest::SubscribeRequest(r), &context)
            .await
            .map(drop)
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let r = UnsubscribeRequest::new(request);
        self.forward(ClientRequest::UnsubscribeRequest(r), &context)
            .await
            .map(drop)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let r = CompleteRequest::new(request);
        match self.forward(ClientRequest::CompleteRequest(r), &context).await? {
            ServerResult::CompleteResult(r) => Ok(r),
            other => Err(unexpected("completion/complete", &other)),
        }
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        let r = SetLevelRequest::new(request);
        self.forward(ClientRequest::SetLevelRequest(r), &context)
            .await
            .map(drop)
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        match self
            .forward(ClientRequest::CustomRequest(request), &context)
            .await?
        {
            ServerResult::CustomResult(r) => Ok(r),
            other => Err(unexpected("a custom request", &other)),
        }
    }

    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        if let Err(e) = self.child.notify_roots_list_changed().await {
            tracing::debug!(error = %e, "cannot pass roots/list_changed on");
        }
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleServer>,
    ) {
        if let Err(e) = self.child.send_notification(notification.into()).await {
            tracing::debug!(error = %e, "cannot pass a custom notification on");
        }
    }
}

impl ClientHandler for Backend {
    fn get_info(&self) -> ClientConfig {
        // The agent's own capabilities are not known before the server is connected, so the
        // gateway offers what it can pass on; an agent without them answers with an error,
        // which goes back to the server unchanged.
        let capabilities = ClientCapabilities::builder()
            .enable_roots()
            .enable_roots_list_changed()
            .enable_sampling()
            .enable_elicitation()
            .build();
        ClientConfig::new(
            capabilities,
            Implementation::new("tribune-gateway", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::V_2025_11_25)
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, McpError> {
        self.agent()?.create_message(params).await.map_err(service_error)
    }

    async fn list_roots(&self, _context: RequestContext<RoleClient>) -> Result<ListRootsResult, McpError> {
        self.agent()?.list_roots().await.map_err(service_error)
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, McpError> {
        self.agent()?
            .create_elicitation(request)
            .await
            .map_err(service_error)
    }

    async fn on_progress(
        &self,
        mut params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let Some(agent_token) = lock(&self.progress).get(&params.progress_token).cloned() else {
            return;
        };
        params.progress_token = agent_token;
        if let Ok(agent) = self.agent() {
            let _ = agent.notify_progress(params).await;
        }
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Ok(agent) = self.agent() {
            let _ = agent.notify_logging_message(params).await;
        }
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Ok(agent) = self.agent() {
            let _ = agent.notify_resource_updated(params).await;
        }
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Ok(agent) = self.agent() {
            let _ = agent.notify_resource_list_changed().await;
        }
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Ok(agent) = self.agent() {
            let _ = agent.notify_tool_list_changed().await;
        }
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        if let Ok(agent) = self.agent() {
            let _ = agent.notify_prompt_list_changed().await;
        }
    }

    async fn on_custom_notification(
        &self,
        notification: CustomNotification,
        _context: NotificationContext<RoleClient>,
    ) {
        if let Ok(agent) = self.agent() {
            let _ = agent.send_notification(notification.into()).await;
        }
    }
}

/// The server's tools the agent may ever call, in the server's order; a tool that needs
/// approval says so at the end of its description.
pub fn permitted_tools(tools: Vec<Tool>, grants: &[ToolGrant]) -> Vec<Tool> {
    let by_name: HashMap<&str, &ToolGrant> = grants.iter().map(|g| (g.name.as_str(), g)).collect();
    tools
        .into_iter()
        .filter_map(|mut tool| {
            let grant = by_name.get(tool.name.as_ref())?;
            if let Some(note) = grant.approval_note() {
                let description = match tool.description.as_deref() {
                    Some(d) if !d.trim().is_empty() => format!("{} {note}", d.trim_end()),
                    _ => note,
                };
                tool.description = Some(description.into());
            }
            Some(tool)
        })
        .collect()
}

/// The result for a denied call.
pub fn denied(tool: &str, decision: Option<&DecisionId>, reasons: &[Reason]) -> CallToolResult {
    let mut text = format!("Tribune denied this call to `{tool}`; it was not made.");
    for r in reasons {
        let rule = r.rule.as_deref().map(|r| format!(" [{r}]")).unwrap_or_default();
        text.push_str(&format!("\n- {}/{}{rule}: {}", r.stage, r.code, r.message));
    }
    if let Some(d) = decision {
        text.push_str(&format!("\nDecision: {d}"));
    }
    refusal(
        text,
        json!({
            "decision": "deny",
            "id": decision.map(|d| d.0.clone()),
            "reasons": reasons_json(reasons),
        }),
    )
}

/// The result for a held call that was not approved within the wait.
pub fn held(tool: &str, hold: &Hold) -> CallToolResult {
    let who = match hold.approvals_required {
        0 | 1 => "1 human approval".to_owned(),
        n => format!("{n} human approvals"),
    };
    let mfa = if hold.mfa { " with MFA" } else { "" };
    let mut text = match hold.state.as_deref() {
        Some(state @ ("denied" | "expired" | "cancelled")) => format!(
            "Tribune held this call to `{tool}` for {who}{mfa}, and the approval request was {state}; the call was not made."
        ),
        _ => format!(
            "Tribune is holding this call to `{tool}` until it has {who}{mfa}; it was not made. Once the request is approved, make the same call with the same arguments again: the approval allows it once."
        ),
    };
    if let Some(approval) = &hold.approval {
        text.push_str(&format!("\nApproval request: {approval}"));
    }
    for r in &hold.reasons {
        text.push_str(&format!("\n- {}/{}: {}", r.stage, r.code, r.message));
    }
    text.push_str(&format!("\nDecision: {}", hold.decision));
    refusal(
        text,
        json!({
            "decision": "hold",
            "id": hold.decision.0,
            "approval_id": hold.approval,
            "approval_state": hold.state,
            "approvals_required": hold.approvals_required,
            "mfa_required": hold.mfa,
            "reasons": reasons_json(&hold.reasons),
            "tainted": hold.tainted,
        }),
    )
}

/// The result for a call Tribune could not decide: it fails closed.
pub fn undecided(tool: &str, error: &Error) -> CallToolResult {
    refusal(
        format!("Tribune could not decide this call to `{tool}`, so it was not made: {error}"),
        json!({ "decision": "none", "error": error.to_string() }),
    )
}

/// The result for a call that ran but whose result the agent may not see.
pub fn withheld(tool: &str, decision: &DecisionId, why: &Withheld) -> CallToolResult {
    const RAN: &str = "The call was made; making it again will not release its result.";
    let (text, meta) = match why {
        Withheld::Dlp { classes, detectors } => (
            format!(
                "Tribune withheld the result of this call to `{tool}`: it holds data{}{}, which this deployment's DLP rules keep from the agent. {RAN}",
                if classes.is_empty() {
                    String::new()
                } else {
                    format!(" classified {}", listed(classes))
                },
                if detectors.is_empty() {
                    String::new()
                } else {
                    format!(" (found by {})", listed(detectors))
                },
            ),
            json!({ "release": "withheld", "decision": decision.0, "classes": classes, "detectors": detectors }),
        ),
        Withheld::Unscreened(error) => (
            format!(
                "Tribune could not screen the result of this call to `{tool}`, so it is withheld: {error}. {RAN}"
            ),
            json!({ "release": "withheld", "decision": decision.0, "error": error }),
        ),
    };
    let mut result = CallToolResult::error(vec![ContentBlock::text(format!("{text}\nDecision: {decision}"))]);
    let mut m = MetaObject::new();
    m.insert(OUTCOME_META_KEY.to_owned(), meta);
    result.meta = Some(m);
    result
}

/// `result` as redacted, saying so in its `_meta` (beside the server's own keys).
pub fn redacted(mut result: CallToolResult, decision: &DecisionId, detectors: &[String]) -> CallToolResult {
    let mut meta = result.meta.take().unwrap_or_default();
    meta.insert(
        OUTCOME_META_KEY.to_owned(),
        json!({ "release": "redacted", "decision": decision.0, "detectors": detectors }),
    );
    result.meta = Some(meta);
    result
}

/// `` `a`, `b` and `c` ``.
fn listed(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

fn refusal(text: String, decision: Value) -> CallToolResult {
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    let mut meta = MetaObject::new();
    meta.insert(META_KEY.to_owned(), decision);
    result.meta = Some(meta);
    result
}

fn reasons_json(reasons: &[Reason]) -> Value {
    Value::Array(
        reasons
            .iter()
            .map(|r| json!({ "stage": r.stage, "code": r.code, "rule": r.rule, "message": r.message }))
            .collect(),
    )
}

fn service_error(e: ServiceError) -> McpError {
    match e {
        // The server's own JSON-RPC error goes back to the agent unchanged.
        ServiceError::McpError(e) => e,
        e => McpError::internal_error(format!("the MCP server could not be asked: {e}"), None),
    }
}

fn unexpected(what: &str, answer: &ServerResult) -> McpError {
    let kind = serde_json::to_value(answer)
        .ok()
        .map(|v| v.to_string().chars().take(200).collect::<String>())
        .unwrap_or_default();
    McpError::internal_error(
        format!("the MCP server answered {what} with an unexpected result: {kind}"),
        None,
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned map only means a panic elsewhere while it was held; its entries stay valid.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
