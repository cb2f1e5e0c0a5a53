//! The stdio transport: the gateway speaks MCP on its own stdin/stdout to the agent's client
//! and on a child process's stdin/stdout to a local MCP server. Logs go to stderr; so does the
//! child's stderr.

use std::ffi::OsString;

use rmcp::transport::TokioChildProcess;
use rmcp::transport::io::stdio_pipes;

use crate::Error;
use crate::gateway::{connect_child, serve};
use crate::governor::Governor;

/// What to run and how.
#[derive(Debug, Clone)]
pub struct WrapOptions {
    /// The MCP server's program.
    pub program: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Environment variables the child must not see (e.g. the agent's Tribune token, which
    /// would let a compromised server ask for decisions as the agent).
    pub hide_env: Vec<OsString>,
}

/// Spawns the MCP server and governs one agent connection on this process's stdio, until the
/// agent closes stdin, the server exits, or this process gets SIGTERM or SIGINT. The session is
/// a fresh UUIDv7.
pub async fn wrap<G: Governor>(governor: G, options: WrapOptions) -> Result<(), Error> {
    let mut command = tokio::process::Command::new(&options.program);
    // A backstop: should this process end without closing the child, the child dies with it.
    command.args(&options.args).kill_on_drop(true);
    for name in &options.hide_env {
        command.env_remove(name);
    }
    let (transport, _stderr) = TokioChildProcess::builder(command)
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|source| Error::Spawn {
            command: options.program.to_string_lossy().into_owned(),
            source,
        })?;
    let child = connect_child(transport).await?;
    if let Some(info) = child.peer().peer_info() {
        tracing::info!(
            protocol = %info.protocol_version,
            server = ?info.server_info.as_ref().map(|s| s.name.clone()),
            "connected to the MCP server"
        );
    }
    let session = uuid::Uuid::now_v7().to_string();
    tracing::info!(session = %session, "waiting for the MCP client on stdio");
    serve(governor, child, stdio_pipes(), session, terminated()).await
}

/// Completes on SIGTERM or SIGINT (MCP clients stop a stdio server with SIGTERM), so the child
/// is shut down rather than orphaned.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            // Without signal handling the gateway still ends with its client's stdin.
            _ => std::future::pending::<()>().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
