//! `[providers.ID] transport` and `url`: an MCP server reached over Streamable HTTP needs an
//! `http://` URL, which `tribune serve` fronts at `/mcp/{provider}`; every error is located
//! where it is written.

use tribune_bundle::{Bundle, Diagnostic, McpTransport};

const BASE: &str = r#"[deployment]
name = "example.com/providers"
"#;

fn parse(providers: &str) -> Result<Bundle, Vec<Diagnostic>> {
    crate::parse_manifest(&format!("{BASE}\n{providers}"))
}

/// Every diagnostic of an invalid bundle, as `tribune check` prints it.
fn errors(providers: &str) -> Vec<String> {
    parse(providers)
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn an_mcp_server_over_streamable_http_is_fronted_at_its_url() {
    let b = parse(
        r#"[providers.remote]
kind = "mcp_server"
transport = "streamable_http"
url = "http://127.0.0.1:3001/mcp"

[providers.local]
kind = "mcp_server"
transport = "stdio"

[providers.legacy]
kind = "mcp_server"
url = "http://ehr-mcp.internal:8080/mcp"

[providers.api]
kind = "external_api"
url = "https://api.example.com"
"#,
    )
    .unwrap();
    let url = |id: &str| b.providers.get(id).unwrap().streamable_http_url();
    assert_eq!(url("remote"), Some("http://127.0.0.1:3001/mcp"));
    assert_eq!(
        b.providers.get("remote").unwrap().transport,
        Some(McpTransport::StreamableHttp)
    );
    // Without `transport = "streamable_http"` a `url` is only a note: nothing is fronted.
    assert_eq!(url("local"), None);
    assert_eq!(url("legacy"), None);
    assert_eq!(url("api"), None);
}

#[test]
fn bad_transports_and_urls_are_located() {
    assert_eq!(
        errors(
            r#"[providers.remote]
kind = "mcp_server"
transport = "streamable_http"
"#
        ),
        [
            "tribune.toml:4:12: error[missing-key]: provider `remote` is reached over Streamable HTTP but has no `url`"
        ]
    );
    assert_eq!(
        errors(
            r#"[providers.a]
kind = "mcp_server"
transport = "streamable_http"
url = "https://mcp.example.com/mcp"

[providers.b]
kind = "mcp_server"
transport = "streamable_http"
url = "ftp://mcp.example.com"

[providers.c]
kind = "mcp_server"
transport = "streamable_http"
url = "http:///mcp"

[providers.d]
kind = "external_api"
transport = "streamable_http"
url = "http://api.example.com"
"#
        ),
        [
            "tribune.toml:7:7: error[bad-value]: MCP server url `https://mcp.example.com/mcp`: https is not supported yet; point it at a local TLS proxy over `http://`",
            "tribune.toml:12:7: error[bad-value]: MCP server url `ftp://mcp.example.com` must be `http://HOST[:PORT]/PATH`",
            "tribune.toml:17:7: error[bad-value]: MCP server url `http:///mcp` must be `http://HOST[:PORT]/PATH`",
            "tribune.toml:21:13: error[bad-value]: provider `d` is `external_api`; `transport` is only for `kind = \"mcp_server\"`",
        ]
    );
    let unknown = errors(
        r#"[providers.a]
kind = "mcp_server"
transport = "websocket"
"#,
    );
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert!(
        unknown[0].starts_with("tribune.toml:6:13: error[")
            && unknown[0].contains("unknown variant `websocket`, expected `stdio` or `streamable_http`"),
        "{unknown:?}"
    );
}
