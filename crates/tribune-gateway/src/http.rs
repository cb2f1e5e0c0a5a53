//! [`HttpGovernor`]: the governor over Tribune's HTTP API with the agent's bearer token —
//! `GET /v1/tools`, `POST /v1/decisions` (with `wait_ms`), `POST /v1/decisions/{id}/outcome`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::Error;
use crate::governor::{
    Access, Call, CallReport, CallStatus, DecisionId, Governor, Hold, Reason, Release, ToolGrant, Verdict,
    Withheld,
};

/// The longest outcome summary the API accepts.
const SUMMARY_LIMIT: usize = 4096;

/// The largest result (serialized) sent to be screened: the API takes bodies of up to 256 KiB,
/// and the rest of the report needs room. A larger result is reported without it, and goes to
/// the agent only if the bundle would release any result unscreened.
pub const RESULT_LIMIT: usize = 240 * 1024;

/// Asks a Tribune server, as one agent.
#[derive(Debug, Clone)]
pub struct HttpGovernor {
    base: String,
    token: String,
    hold_wait: Duration,
    timeout: Duration,
    http: reqwest::Client,
}

impl HttpGovernor {
    /// A governor for the agent whose token is `token`, at `server` (e.g.
    /// `http://127.0.0.1:8470`). A held call waits up to `hold_wait` for its approval (the
    /// server caps the wait at the bundle's `[hitl] max_wait_secs`); any request that takes
    /// longer than `timeout` beyond that wait fails (and so fails closed).
    pub fn new(
        server: &str,
        token: &str,
        hold_wait: Duration,
        timeout: Duration,
    ) -> Result<HttpGovernor, Error> {
        let base = server.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Error::BadServerUrl(server.to_owned()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .build()
            .map_err(Error::HttpClient)?;
        Ok(HttpGovernor {
            base: base.to_owned(),
            token: token.to_owned(),
            hold_wait,
            timeout,
            http,
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder, url: &str) -> Result<(u16, Value), Error> {
        let response =
            request
                .bearer_auth(&self.token)
                .send()
                .await
                .map_err(|source| Error::Unreachable {
                    url: url.to_owned(),
                    source,
                })?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|source| Error::Unreachable {
            url: url.to_owned(),
            source,
        })?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| Error::BadAnswer {
            url: url.to_owned(),
            what: format!("status {status}, body is not JSON: {e}"),
        })?;
        Ok((status, body))
    }
}

/// An error status as [`Error::Api`].
fn api_error(status: u16, body: &Value) -> Error {
    Error::Api {
        status,
        code: body["error"]["code"].as_str().unwrap_or("unknown").to_owned(),
        message: body["error"]["message"].as_str().unwrap_or("").to_owned(),
    }
}

impl Governor for HttpGovernor {
    async fn tools(&self) -> Result<Vec<ToolGrant>, Error> {
        let url = format!("{}/v1/tools", self.base);
        let (status, body) = self.send(self.http.get(&url).timeout(self.timeout), &url).await?;
        if !(200..300).contains(&status) {
            return Err(api_error(status, &body));
        }
        parse_tools(&body).map_err(|what| Error::BadAnswer { url, what })
    }

    async fn decide(&self, call: Call<'_>) -> Result<Verdict, Error> {
        let url = format!("{}/v1/decisions", self.base);
        let body = decide_body(&call, self.hold_wait);
        let (status, answer) = self
            .send(
                self.http
                    .post(&url)
                    .json(&body)
                    .timeout(self.hold_wait + self.timeout),
                &url,
            )
            .await?;
        let decision = if (200..300).contains(&status) {
            &answer
        } else if (400..500).contains(&status) && answer.get("decision").is_some() {
            // A refused request (undeclared tool, arguments that break the schema) still
            // carries its recorded deny.
            &answer["decision"]
        } else {
            return Err(api_error(status, &answer));
        };
        parse_verdict(decision).map_err(|what| Error::BadAnswer { url, what })
    }

    async fn observe(&self, provider: &str, tools: &[Value]) -> Result<Vec<String>, Error> {
        let url = format!("{}/v1/providers/{provider}/tools", self.base);
        let body = json!({ "tools": tools });
        let (status, answer) = self
            .send(self.http.post(&url).json(&body).timeout(self.timeout), &url)
            .await?;
        if !(200..300).contains(&status) {
            return Err(api_error(status, &answer));
        }
        parse_hidden(&answer).map_err(|what| Error::BadAnswer { url, what })
    }

    async fn outcome(&self, decision: &DecisionId, report: CallReport<'_>) -> Result<Release, Error> {
        let url = format!("{}/v1/decisions/{}/outcome", self.base, decision.0);
        let (body, sent) = outcome_body(&report, RESULT_LIMIT);
        let (status, answer) = self
            .send(self.http.post(&url).json(&body).timeout(self.timeout), &url)
            .await?;
        if !(200..300).contains(&status) {
            return Err(api_error(status, &answer));
        }
        parse_release(&answer, &sent).map_err(|what| Error::BadAnswer { url, what })
    }
}

/// The body of `POST /v1/decisions` for `call`, waiting up to `hold_wait` for a held call's
/// approval. The server's in-process governor decides the same body, so both paths agree.
pub fn decide_body(call: &Call<'_>, hold_wait: Duration) -> Value {
    json!({
        "tool": call.tool,
        "arguments": call.arguments,
        "session": call.session,
        "wait_ms": u64::try_from(hold_wait.as_millis()).unwrap_or(u64::MAX),
    })
}

/// The body of `POST /v1/decisions/{id}/outcome` for `report`, with the result to screen when
/// it serializes to at most `limit` bytes, and what of the result it carries.
pub fn outcome_body(report: &CallReport<'_>, limit: usize) -> (Value, Sent) {
    let mut summary = report.summary();
    if summary.chars().count() > SUMMARY_LIMIT {
        summary = summary.chars().take(SUMMARY_LIMIT).collect();
    }
    let mut body = json!({
        "status": match report.status {
            CallStatus::Succeeded => "succeeded",
            CallStatus::Failed => "failed",
        },
        "summary": summary,
        "duration_ms": u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
    });
    // The server screens the result with the bundle's DLP and says what to release.
    let sent = match report.result.map(serde_json::to_value) {
        None => Sent::Nothing,
        Some(Err(e)) => Sent::Unsendable(format!("the result cannot be serialized: {e}")),
        Some(Ok(result)) => match serde_json::to_vec(&result).map(|b| b.len()) {
            Ok(size) if size <= limit => {
                body["result"] = result;
                Sent::Result
            }
            Ok(size) => Sent::Unsendable(format!(
                "the result is {size} bytes, more than the {limit} Tribune screens"
            )),
            Err(e) => Sent::Unsendable(format!("the result cannot be serialized: {e}")),
        },
    };
    (body, sent)
}

/// What the outcome report carried of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// The call returned no result (a protocol error, or a request for more input).
    Nothing,
    /// The result, to be screened.
    Result,
    /// Not the result, which could not be sent (why).
    Unsendable(String),
}

/// Reads the answer to `POST /v1/decisions/{id}/outcome` as what the agent gets: `release` is
/// `pass`, `redacted` (with the redacted `result`) or `withheld` (with the classes and
/// detectors under `dlp.classes`, or, for an untrusted tool's result the taint memory could not
/// take, why under `taint.withheld`). An answer without `release` comes from a server that does
/// not screen results: the result goes out as it is.
pub fn parse_release(answer: &Value, sent: &Sent) -> Result<Release, String> {
    let release = match answer.get("release") {
        None => return Ok(Release::AsIs),
        Some(r) => r
            .as_str()
            .ok_or_else(|| format!("`release` is not a string: {r}"))?,
    };
    // The classes with the action `act`, and their detectors.
    let acting = |act: &[&str]| {
        let mut classes = Vec::new();
        let mut detectors: Vec<String> = Vec::new();
        for c in answer["dlp"]["classes"].as_array().into_iter().flatten() {
            if !act.contains(&c["action"].as_str().unwrap_or_default()) {
                continue;
            }
            classes.extend(c["class"].as_str().map(str::to_owned));
            for d in c["detectors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !detectors.iter().any(|x| x == d) {
                    detectors.push(d.to_owned());
                }
            }
        }
        (classes, detectors)
    };
    match (release, sent) {
        // Nothing came back from the tool, so there is nothing to release or withhold.
        (_, Sent::Nothing) | ("pass", _) => Ok(Release::AsIs),
        // An untrusted tool's result the server's taint memory could not take.
        ("withheld", _) if answer["taint"]["withheld"].is_string() => {
            Ok(Release::Withheld(Withheld::Unscreened(
                answer["taint"]["withheld"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )))
        }
        ("withheld", Sent::Unsendable(why)) => Ok(Release::Withheld(Withheld::Unscreened(why.clone()))),
        ("withheld", Sent::Result) => {
            let (classes, detectors) = acting(&["deny", "hold"]);
            Ok(Release::Withheld(Withheld::Dlp { classes, detectors }))
        }
        ("redacted", Sent::Result) => {
            let result = serde_json::from_value(answer["result"].clone())
                .map_err(|e| format!("the redacted `result` is not a tool result: {e}"))?;
            let (_, detectors) = acting(&["redact"]);
            Ok(Release::Redacted { result, detectors })
        }
        (other, _) => Err(format!(
            "`release` is `{other}`, which does not fit what was sent"
        )),
    }
}

/// Reads the answer of `POST /v1/providers/{id}/tools`: the tools to hide.
pub fn parse_hidden(body: &Value) -> Result<Vec<String>, String> {
    let hidden = body["hidden"]
        .as_array()
        .ok_or_else(|| "`hidden` is not an array".to_owned())?;
    hidden
        .iter()
        .map(|t| {
            t.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("a hidden tool is not a string: {t}"))
        })
        .collect()
}

/// Reads `GET /v1/tools`: `{"tools": [{"name", "provider", "tier", "access", "approvals",
/// "mfa"}]}`.
pub fn parse_tools(body: &Value) -> Result<Vec<ToolGrant>, String> {
    let tools = body["tools"]
        .as_array()
        .ok_or_else(|| "`tools` is not an array".to_owned())?;
    tools
        .iter()
        .map(|t| {
            let name = t["name"]
                .as_str()
                .ok_or_else(|| format!("a tool has no `name`: {t}"))?;
            let access = match t["access"].as_str() {
                Some("alone") => Access::Alone,
                Some("approval") => Access::Approval,
                other => return Err(format!("tool `{name}` has an unknown `access` {other:?}")),
            };
            let approvals = match &t["approvals"] {
                Value::Null => 0,
                v => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("tool `{name}` has a bad `approvals` {v}"))?,
            };
            Ok(ToolGrant {
                name: name.to_owned(),
                provider: t["provider"].as_str().unwrap_or("").to_owned(),
                tier: t["tier"].as_str().unwrap_or("").to_owned(),
                access,
                approvals,
                mfa: t["mfa"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

/// Reads one decision as `POST /v1/decisions` answers it.
pub fn parse_verdict(d: &Value) -> Result<Verdict, String> {
    let id = d["id"].as_str().map(|s| DecisionId(s.to_owned()));
    let reasons = d["reasons"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| Reason {
                    stage: r["stage"].as_str().unwrap_or("unknown").to_owned(),
                    code: r["code"].as_str().unwrap_or("unknown").to_owned(),
                    rule: r["rule"].as_str().map(str::to_owned),
                    message: r["message"].as_str().unwrap_or("").to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    match d["decision"].as_str() {
        Some("allow") => Ok(Verdict::Allow {
            decision: id.ok_or_else(|| "an allow without an `id`".to_owned())?,
        }),
        Some("deny") => Ok(Verdict::Deny {
            decision: id,
            reasons,
        }),
        Some("hold") => Ok(Verdict::Held(Hold {
            decision: id.ok_or_else(|| "a hold without an `id`".to_owned())?,
            approval: d["approval_id"].as_str().map(str::to_owned),
            approvals_required: d["approvals_required"]
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(0),
            mfa: d["mfa_required"].as_bool().unwrap_or(false),
            state: d["approval_state"].as_str().map(str::to_owned),
            reasons,
            tainted: d["tainted"].as_array().cloned().unwrap_or_default(),
        })),
        other => Err(format!("`decision` is {other:?}, not allow, deny or hold")),
    }
}
