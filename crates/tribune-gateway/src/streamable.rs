//! Streamable HTTP toward a remote MCP server: the gateway's client side over rmcp's reqwest
//! transport. The side facing the agent is rmcp's Streamable HTTP server, which `tribune
//! serve` runs at `/mcp/{provider}` with one [`crate::gateway::session`] per MCP session.

use std::time::Duration;

use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::Error;
use crate::gateway::{Backend, connect_child};

/// Connects to the MCP server at `url` over Streamable HTTP, negotiating as
/// [`connect_child`] does (2026-07-28, falling back to 2025-11-25). A server that does not
/// answer the handshake within `timeout` is down, as far as the agent is concerned.
pub async fn connect_remote(
    url: &str,
    timeout: Duration,
) -> Result<RunningService<RoleClient, Backend>, Error> {
    let transport =
        StreamableHttpClientTransport::from_config(StreamableHttpClientTransportConfig::with_uri(url));
    match tokio::time::timeout(timeout, connect_child(transport)).await {
        Ok(connected) => connected,
        Err(_) => Err(Error::ChildHandshake(format!(
            "`{url}` did not answer within {} ms",
            timeout.as_millis()
        ))),
    }
}
