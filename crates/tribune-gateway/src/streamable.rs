//! Streamable HTTP toward a remote MCP server: the gateway's client side over rmcp's reqwest
//! transport. The side facing the agent is rmcp's Streamable HTTP server, which `tribune
//! serve` runs at `/mcp/{provider}` with one [`crate::gateway::session`] per MCP session.

use std::time::Duration;

use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::Error;
use crate::gateway::{Backend, connect_child};

/// The most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// Connects to the MCP server at `url` over Streamable HTTP, negotiating as
/// [`connect_child`] does (2026-07-28, falling back to 2025-11-25). A server that does not
/// answer the handshake within `timeout` is down, as far as the agent is concerned.
pub async fn connect_remote(
    url: &str,
    timeout: Duration,
) -> Result<RunningService<RoleClient, Backend>, Error> {
    let transport = StreamableHttpClientTransport::with_client(
        upstream_client()?,
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

/// The HTTP client of one upstream session. Unlike rmcp's default client, it keeps connections
/// alive between requests: the default opens a connection for every message (to dodge delayed
/// ACK stalls on a connection whose last response was not read to the end, which hyper never
/// pools), and a new connection per forwarded call is most of what a hop costs. Nagle stays off
/// (reqwest's default), and redirects are followed as rmcp's default client follows them: same
/// origin, 307 and 308 only (they keep the method and the JSON-RPC body).
fn upstream_client() -> Result<reqwest::Client, Error> {
    let redirects = reqwest::redirect::Policy::custom(|attempt| {
        let keeps_body = matches!(
            attempt.status(),
            reqwest::StatusCode::TEMPORARY_REDIRECT | reqwest::StatusCode::PERMANENT_REDIRECT
        );
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if !keeps_body || !same_origin {
            attempt.stop()
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .redirect(redirects)
        .build()
        .map_err(Error::HttpClient)
}
