//! A small HTTP client for the Tribune API (plain HTTP; put TLS in front of the server).

use serde_json::Value;

/// Where a server is and the bearer token to reach it with: an agent's, a human's personal
/// token, or the admin token, as the command needs.
#[derive(Debug, clap::Args)]
pub struct Remote {
    /// The Tribune server.
    #[arg(long, env = "TRIBUNE_SERVER")]
    pub server: Option<String>,
    /// The bearer token.
    #[arg(long, env = "TRIBUNE_TOKEN")]
    pub token: Option<String>,
}

impl Remote {
    /// The server and token, or an error saying both are needed.
    pub fn get(&self) -> Result<(&str, &str), String> {
        match (&self.server, &self.token) {
            (Some(s), Some(t)) => Ok((s, t)),
            _ => Err("this needs `--server URL` and `--token TOKEN`".to_owned()),
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached or answered garbage.
    #[error("cannot reach `{url}`: {source}")]
    Transport {
        /// The url.
        url: String,
        /// Why.
        source: reqwest::Error,
    },
    /// The server answered with an error body.
    #[error("{status} {code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Stable error code.
        code: String,
        /// Message.
        message: String,
        /// The full body (it may carry a decision).
        body: Value,
    },
}

/// Sends `body` as JSON with `token` and returns the JSON answer.
pub async fn post(server: &str, path: &str, token: &str, body: &Value) -> Result<Value, ClientError> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .map_err(|source| ClientError::Transport {
            url: url.clone(),
            source,
        })?;
    answer(url, response).await
}

/// Fetches `path` with `token` and returns the JSON answer.
pub async fn get(server: &str, path: &str, token: &str) -> Result<Value, ClientError> {
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|source| ClientError::Transport {
            url: url.clone(),
            source,
        })?;
    answer(url, response).await
}

async fn answer(url: String, response: reqwest::Response) -> Result<Value, ClientError> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|source| ClientError::Transport { url, source })?;
    if status.is_success() {
        return Ok(body);
    }
    Err(ClientError::Api {
        status: status.as_u16(),
        code: body["error"]["code"].as_str().unwrap_or("unknown").to_owned(),
        message: body["error"]["message"].as_str().unwrap_or("").to_owned(),
        body,
    })
}
