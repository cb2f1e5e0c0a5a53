//! Streamable HTTP toward a remote MCP server: the gateway's client side over rmcp's reqwest
//! transport. The side facing the agent is rmcp's Streamable HTTP server, which `tribune
//! serve` runs at `/mcp/{provider}` with one [`crate::gateway::session`] per MCP session.

use std::time::Duration;

use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::Error;
use crate::gateway::{Backend, connect_child};

/// The most redirects one request follows.
const MAX_REDIRECTS: usize = 10;

/// How long an idle upstream connection is kept for the session's next request.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Connects to the MCP server at `url` over Streamable HTTP, negotiating as
/// [`connect_child`] does (2026-07-28, falling back to 2025-11-25). A server that does not
/// answer the handshake within `timeout` (or take a connection within it) is down, as far as
/// the agent is concerned.
///
/// The session's requests reuse its idle connections (rmcp's own client opens one per request):
/// a connection made for every call costs the gateway, the kernel and the remote server more
/// CPU than the call itself on a fast tool. As with rmcp's client, only same-origin 307 and
/// 308 redirects are followed: they keep the method and the message, and never carry the
/// session to another host.
pub async fn connect_remote(
    url: &str,
    timeout: Duration,
) -> Result<RunningService<RoleClient, Backend>, Error> {
    let client = reqwest::Client::builder()
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .last()
                .is_some_and(|from| from.origin() == attempt.url().origin());
            let keeps_body = matches!(attempt.status().as_u16(), 307 | 308);
            if !(same_origin && keeps_body) {
                attempt.stop()
            } else if attempt.previous().len() > MAX_REDIRECTS {
                attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
            } else {
                attempt.follow()
            }
        }))
        // Idle connections are dropped before the common server-side keep-alive timeouts
        // (Node's and uvicorn's are 5 s), so a request is not sent on one the server is closing.
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build()
        .map_err(|e| Error::ChildHandshake(format!("no HTTP client for `{url}`: {e}")))?;
    let transport = StreamableHttpClientTransport::with_client(
        client,
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    match tokio::time::timeout(timeout, connect_child(transport)).await {
        Ok(connected) => connected,
        Err(_) => Err(Error::ChildHandshake(format!(
            "`{url}` did not answer within {} ms",
            timeout.as_millis()
        ))),
    }
}
