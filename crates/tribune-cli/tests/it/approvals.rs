//! Human-in-the-loop approvals end to end (issue 4): `tribune serve` as a real process on
//! SQLite and on PostgreSQL, agents deciding over HTTP, reviewers using the `tribune approvals`
//! and `tribune mfa` commands with TOTP codes computed from their enrolled secrets, and a local
//! receiver checking the signed webhook notifications.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tribune_approvals::totp::{TotpParams, TotpSecret, code_at};
use tribune_approvals::webhook::{SIGNATURE_HEADER, WebhookKey};

use crate::deployment::{ADMIN, Backend, Deployment, Server};
use crate::{copy_dir, repo, stderr, stdout};

const WEBHOOK_ENV: &str = "TRIBUNE_TEST_APPROVALS_WEBHOOK_KEY";
const WEBHOOK_KEY: &str = "approvals-webhook-test-key-0123456789";

/// A `tribune serve` process on its own bundle and database.
struct Served {
    server: Server,
    url: String,
    http: reqwest::Client,
    _deployment: Deployment,
}

/// The quick-start bundle, changed by `edit_manifest`, with `extra_policies` added.
fn bundle(dir: &Path, edit_manifest: impl FnOnce(String) -> String, extra_policies: &str) {
    copy_dir(&repo().join("examples/quickstart"), dir);
    let manifest = dir.join("tribune.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, edit_manifest(text)).unwrap();
    if !extra_policies.is_empty() {
        std::fs::write(dir.join("policies/extra.cedar"), extra_policies).unwrap();
    }
}

async fn serve(backend: Backend, write_bundle: impl FnOnce(&Path)) -> Served {
    let deployment = Deployment::with_bundle(backend, write_bundle)
        .await
        .env(WEBHOOK_ENV, WEBHOOK_KEY);
    let server = deployment.serve();
    Served {
        url: server.url.clone(),
        server,
        http: reqwest::Client::new(),
        _deployment: deployment,
    }
}

impl Served {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, token, None).await;
        assert_eq!(status, 200, "GET {path}: {body:#}");
        body
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, token, Some(body)).await
    }

    /// A decision for `token`'s agent; 200 expected.
    async fn decide(&self, token: &str, tool: &str, arguments: Value) -> Value {
        let (status, body) = self
            .post(
                "/v1/decisions",
                token,
                json!({ "tool": tool, "arguments": arguments }),
            )
            .await;
        assert_eq!(status, 200, "{tool} {arguments}: {body:#}");
        body
    }

    async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `tribune ARGS --server URL --token TOKEN`, off the async runtime.
    async fn cli(&self, token: &str, args: &[&str]) -> Output {
        self.server.cli_async(token, args).await
    }

    /// Issues a token through the CLI, as the bootstrap admin.
    async fn token(&self, kind: &str, subject: &str) -> String {
        self.server.token_async(kind, subject).await
    }
}

/// A reviewer: a personal token and the TOTP secret `tribune mfa enroll` showed once.
pub struct Reviewer {
    pub token: String,
    secret: TotpSecret,
    /// The time step of the last code sent: each code must be of a later step.
    last_step: Option<u64>,
}

impl Reviewer {
    /// A human enrolled through the API (`POST /v1/mfa/enroll`) with personal token `token`.
    pub async fn enrol_api(api: &crate::ledger::support::Api, token: String) -> Reviewer {
        let (status, enrolled) = api.post(&token, "/v1/mfa/enroll", &json!({})).await;
        assert_eq!(status, 201, "{enrolled}");
        Reviewer {
            token,
            secret: TotpSecret::from_base32(enrolled["secret"].as_str().unwrap()).unwrap(),
            last_step: None,
        }
    }

    async fn enrol(s: &Served, human: &str) -> Reviewer {
        let token = s.token("human", human).await;
        let out = s.cli(&token, &["mfa", "enroll"]).await;
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.contains(&format!("otpauth://totp/Tribune:{human}?")),
            "{text}"
        );
        // The QR code is drawn with half blocks.
        assert!(
            text.contains('▀') || text.contains('▄') || text.contains('█'),
            "{text}"
        );
        let secret = text
            .lines()
            .find_map(|l| l.strip_prefix("secret:"))
            .unwrap()
            .trim();
        Reviewer {
            token,
            secret: TotpSecret::from_base32(secret).unwrap(),
            last_step: None,
        }
    }

    /// A code of a step no earlier code used: the current step's, else the next one's (the
    /// server accepts one step of skew), else, after waiting for the clock, a later one.
    pub async fn fresh_code(&mut self) -> String {
        let step = |now: u64| now / 30;
        let mut now = unix_secs();
        let wanted = self.last_step.map_or(step(now), |last| (last + 1).max(step(now)));
        while wanted > step(now) + 1 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            now = unix_secs();
        }
        self.last_step = Some(wanted);
        code_at(&self.secret, TotpParams::default(), wanted * 30).unwrap()
    }
}

/// What the webhook receiver saw: (signature header, body).
type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

async fn webhook_receiver() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let log = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let log = Arc::clone(&log);
            async move {
                let signature = headers
                    .get(SIGNATURE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                log.lock().unwrap().push((signature, body.to_vec()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, seen)
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn wait_until<F: FnMut() -> bool>(what: &str, mut f: F) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_fails_with(out: &Output, code: &str) {
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(out), stderr(out));
    assert!(
        stderr(out).contains(code),
        "expected `{code}` in: {}",
        stderr(out)
    );
}

/// Three reviewers in the pool; irreversible calls need two approvals with MFA for class
/// `support`, and one (with MFA) for class `ops`, whose agent `ops-bot` is owned by alice.
fn dual_control_bundle(webhook: SocketAddr) -> impl FnOnce(&Path) {
    move |dir| {
        bundle(
            dir,
            |m| {
                let m = m
                    .replace(
                        "irreversible = { approvals = 2, mfa = true }",
                        "irreversible = { approvals = 1, mfa = true }",
                    )
                    .replace(r#"members = ["alice", "bob"]"#, r#"members = ["alice", "bob", "dave"]"#)
                    .replace(
                        "quota = { calls_per_minute = 120 }",
                        "quota = { calls_per_minute = 120 }\nautonomy.irreversible = { approvals = 2, mfa = true }",
                    );
                format!(
                    "{m}
[humans.dave]
name = \"Dave Ito\"
roles = [\"reviewer\"]

[classes.ops]
ceiling = \"irreversible\"

[agents.ops-bot]
class = \"ops\"
owner = \"alice\"

[hitl]
max_wait_secs = 10
webhook_url = \"http://{webhook}/hook\"
webhook_secret_env = \"{WEBHOOK_ENV}\"
"
                )
            },
            "@id(\"ops-may-refund\")\npermit (principal in AgentClass::\"ops\", action == Action::\"issue_refund\", resource);\n",
        )
    }
}

async fn approvals_end_to_end(backend: Backend) {
    let (hook, seen) = webhook_receiver().await;
    let s = serve(backend, dual_control_bundle(hook)).await;
    let agent = s.token("agent", "support-bot").await;
    let ops = s.token("agent", "ops-bot").await;
    let mut alice = Reviewer::enrol(&s, "alice").await;
    let mut bob = Reviewer::enrol(&s, "bob").await;
    let mut dave = Reviewer::enrol(&s, "dave").await;

    // Enrolling again without a current code is refused: a token alone cannot move MFA.
    let again = s.cli(&bob.token, &["mfa", "enroll"]).await;
    assert_fails_with(&again, "conflict");

    // --- write: one approval, the same call allowed once ---
    let ticket = |id: &str| json!({ "ticket_id": id, "status": "solved" });
    let held = s.decide(&agent, "update_ticket", ticket("T-1")).await;
    assert_eq!(held["decision"], "hold", "{held:#}");
    let a1 = held["approval_id"].as_str().unwrap().to_owned();
    // An identical call while it is pending joins the same request.
    let joined = s.decide(&agent, "update_ticket", ticket("T-1")).await;
    assert_eq!(joined["approval_id"], a1.as_str());
    let other = s.decide(&agent, "update_ticket", ticket("T-2")).await;
    let a2 = other["approval_id"].as_str().unwrap().to_owned();
    assert_ne!(a1, a2);

    let listed = s
        .cli(&bob.token, &["approvals", "list", "--state", "pending"])
        .await;
    assert_eq!(listed.status.code(), Some(0), "{}", stderr(&listed));
    assert!(
        stdout(&listed).contains(&a1) && stdout(&listed).contains(&a2),
        "{}",
        stdout(&listed)
    );
    let shown = s.cli(&bob.token, &["approvals", "show", &a1]).await;
    assert!(
        stdout(&shown).contains(
            "update_ticket [write, internal] by agent:support-bot (owner alice); held: `write` calls by class `support` need 1 approval(s); touches: status=\"solved\", ticket_id=\"T-1\""
        ),
        "{}",
        stdout(&shown)
    );
    // An agent sees its own requests only; another agent's are not found.
    s.get(&format!("/v1/approvals/{a1}"), &agent).await;
    let (status, _) = s
        .send(reqwest::Method::GET, &format!("/v1/approvals/{a1}"), &ops, None)
        .await;
    assert_eq!(status, 404);
    // Agents and the admin token do not vote.
    let (status, body) = s
        .post(&format!("/v1/approvals/{a1}/approve"), &agent, json!({}))
        .await;
    assert_eq!((status, &body["error"]["code"]), (403, &json!("forbidden")));

    let approved = s
        .cli(
            &bob.token,
            &["approvals", "approve", &a1, "--rationale", "customer confirmed"],
        )
        .await;
    assert_eq!(approved.status.code(), Some(0), "{}", stderr(&approved));
    assert!(stdout(&approved).starts_with("APPROVED"), "{}", stdout(&approved));

    let allowed = s.decide(&agent, "update_ticket", ticket("T-1")).await;
    assert_eq!(allowed["decision"], "allow", "{allowed:#}");
    assert_eq!(allowed["approval_id"], a1.as_str());
    assert_eq!(allowed["approved_by"], json!(["bob"]));
    assert_eq!(allowed["held_decision_id"], held["id"]);
    assert_eq!(allowed["obligations"], json!([{ "kind": "report_outcome" }]));
    // The record is flagged as held, then approved.
    let record = s
        .get(
            &format!("/v1/decisions/{}", allowed["id"].as_str().unwrap()),
            ADMIN,
        )
        .await;
    assert_eq!(record["approved_by"], json!(["bob"]));
    assert_eq!(record["held_decision_id"], held["id"]);
    // The approval was used: a second identical call is held again, under a new request.
    let second = s.decide(&agent, "update_ticket", ticket("T-1")).await;
    assert_eq!(second["decision"], "hold");
    assert_ne!(second["approval_id"], a1.as_str());
    // A call with different arguments was never covered.
    let different = s.decide(&agent, "update_ticket", ticket("T-2")).await;
    assert_eq!(
        (&different["decision"], &different["approval_id"]),
        (&json!("hold"), &json!(a2))
    );
    let used = s.get(&format!("/v1/approvals/{a1}"), &bob.token).await;
    assert_eq!(used["state"], "approved");
    assert!(used["used_at_ms"].is_i64(), "{used:#}");

    // --- one deny ends a request ---
    let denied = s
        .cli(
            &dave.token,
            &["approvals", "deny", &a2, "--rationale", "wrong ticket"],
        )
        .await;
    assert_eq!(denied.status.code(), Some(0), "{}", stderr(&denied));
    let late = s.cli(&bob.token, &["approvals", "approve", &a2]).await;
    assert_fails_with(&late, "not_pending");
    let after = s.decide(&agent, "update_ticket", ticket("T-2")).await;
    assert_eq!(after["decision"], "hold");
    assert_ne!(after["approval_id"], a2.as_str());

    // --- irreversible: two distinct humans with MFA, the owner alone never enough ---
    let refund = json!({ "order_id": "O-1", "amount": 25 });
    let held = s.decide(&agent, "issue_refund", refund.clone()).await;
    assert_eq!(
        (held["approvals_required"].as_u64(), &held["mfa_required"]),
        (Some(2), &json!(true))
    );
    let a4 = held["approval_id"].as_str().unwrap().to_owned();
    let code = alice.fresh_code().await;
    let first = s
        .cli(&alice.token, &["approvals", "approve", &a4, "--mfa-code", &code])
        .await;
    assert!(
        stdout(&first).starts_with("PENDING: 1 of 2"),
        "{}{}",
        stdout(&first),
        stderr(&first)
    );
    // The same human again counts once (no code needed to be told so).
    let again = s.cli(&alice.token, &["approvals", "approve", &a4]).await;
    assert!(
        stdout(&again).starts_with("ALREADY APPROVED"),
        "{}{}",
        stdout(&again),
        stderr(&again)
    );
    assert_eq!(
        s.decide(&agent, "issue_refund", refund.clone()).await["decision"],
        "hold"
    );
    // Without a code, a second human's approval is refused; with one it completes the request.
    let no_code = s.cli(&bob.token, &["approvals", "approve", &a4]).await;
    assert_fails_with(&no_code, "mfa_required");
    let malformed = s
        .cli(&bob.token, &["approvals", "approve", &a4, "--mfa-code", "12345"])
        .await;
    assert_fails_with(&malformed, "mfa_invalid");
    let bob_code = bob.fresh_code().await;
    let done = s
        .cli(
            &bob.token,
            &["approvals", "approve", &a4, "--mfa-code", &bob_code],
        )
        .await;
    assert!(
        stdout(&done).starts_with("APPROVED"),
        "{}{}",
        stdout(&done),
        stderr(&done)
    );
    let allowed = s.decide(&agent, "issue_refund", refund.clone()).await;
    assert_eq!(allowed["decision"], "allow", "{allowed:#}");
    assert_eq!(allowed["approved_by"], json!(["alice", "bob"]));

    // --- the owner alone cannot complete an irreversible call, even where one approval suffices ---
    let small = json!({ "order_id": "O-9", "amount": 10 });
    let held = s.decide(&ops, "issue_refund", small.clone()).await;
    assert_eq!(held["approvals_required"], 1);
    let a6 = held["approval_id"].as_str().unwrap().to_owned();
    let code = alice.fresh_code().await;
    let owner = s
        .post(
            &format!("/v1/approvals/{a6}/approve"),
            &alice.token,
            json!({ "rationale": "mine", "mfa_code": code }),
        )
        .await;
    assert_eq!(owner.0, 200, "{:#}", owner.1);
    assert_eq!(
        owner.1["outcome"],
        json!({ "outcome": "pending", "approvals": 1, "required": 1, "needs_non_owner": true })
    );
    assert_eq!(
        s.decide(&ops, "issue_refund", small.clone()).await["decision"],
        "hold"
    );
    // A replayed code is refused: bob's last code, on another request.
    let replay = s
        .cli(
            &bob.token,
            &["approvals", "approve", &a6, "--mfa-code", &bob_code],
        )
        .await;
    assert_fails_with(&replay, "mfa_replay");
    let code = dave.fresh_code().await;
    let done = s
        .cli(&dave.token, &["approvals", "approve", &a6, "--mfa-code", &code])
        .await;
    assert!(
        stdout(&done).starts_with("APPROVED"),
        "{}{}",
        stdout(&done),
        stderr(&done)
    );
    let replay = s
        .cli(&dave.token, &["approvals", "approve", &a4, "--mfa-code", &code])
        .await;
    assert_fails_with(&replay, "mfa_replay");
    let allowed = s.decide(&ops, "issue_refund", small).await;
    assert_eq!(allowed["approved_by"], json!(["alice", "dave"]));

    // --- waiting: inline in the decision, and by long-polling the request ---
    let body = json!({ "tool": "update_ticket", "arguments": ticket("T-7"), "wait_ms": 8000 });
    let waiting = {
        let http = s.http.clone();
        let url = format!("{}/v1/decisions", s.url);
        let agent = agent.clone();
        tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(agent)
                .json(&body)
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        })
    };
    let mut pending_id = None;
    for _ in 0..100 {
        let list = s
            .get("/v1/approvals?state=pending&agent=support-bot", &bob.token)
            .await;
        pending_id = list["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["arguments"] == ticket("T-7"))
            .map(|r| r["id"].as_str().unwrap().to_owned());
        if pending_id.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let a7 = pending_id.expect("the waiting call's request never appeared");
    let poll = {
        let http = s.http.clone();
        let url = format!("{}/v1/approvals/{a7}?wait=8s", s.url);
        let agent = agent.clone();
        tokio::spawn(async move {
            http.get(url)
                .bearer_auth(agent)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, _) = s
        .post(&format!("/v1/approvals/{a7}/approve"), &dave.token, json!({}))
        .await;
    assert_eq!(status, 200);
    let polled = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(polled["state"], "approved", "{polled:#}");
    let answered = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answered["decision"], "allow", "{answered:#}");
    assert_eq!(answered["approval_id"], a7.as_str());

    // --- every change is in the ledger, correlated with the held decision ---
    let entries = s.get("/v1/audit/entries?limit=10000", ADMIN).await;
    let approval_events: Vec<&Value> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_class"] == "approval")
        .collect();
    let events_of = |decision: &Value| -> Vec<String> {
        approval_events
            .iter()
            .filter(|e| e["correlation_uid"] == *decision)
            .map(|e| {
                let payload: Value = serde_json::from_str(e["payload"].as_str().unwrap()).unwrap();
                payload["unmapped"]["tribune"]["event"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let a4_request = s.get(&format!("/v1/approvals/{a4}"), ADMIN).await;
    assert_eq!(
        events_of(&a4_request["decision_id"]),
        ["approval_vote", "approval_approved"],
        "alice's duplicate approval changes nothing"
    );
    let a2_request = s.get(&format!("/v1/approvals/{a2}"), ADMIN).await;
    assert_eq!(events_of(&a2_request["decision_id"]), ["approval_denied"]);
    assert_eq!(a2_request["votes"][0]["rationale"], "wrong ticket");
    let votes = &a4_request["votes"];
    assert!(
        votes[0]["mfa"]["step"].is_u64() && votes[1]["mfa"]["step"].is_u64(),
        "{votes:#}"
    );

    // --- signed webhook notifications, without argument values ---
    let key = WebhookKey::new(WEBHOOK_KEY.as_bytes()).unwrap();
    wait_until("the webhook notifications", || {
        seen.lock().unwrap().iter().any(|(_, body)| {
            serde_json::from_slice::<Value>(body).unwrap()["data"]["request_id"] == a7.as_str()
                && serde_json::from_slice::<Value>(body).unwrap()["type"] == "approval.resolved"
        })
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    let now = unix_secs();
    for (signature, body) in &seen {
        tribune_approvals::webhook::verify(&key, signature, body, i64::try_from(now).unwrap(), 300)
            .unwrap_or_else(|e| panic!("bad signature `{signature}`: {e}"));
    }
    let bodies: Vec<Value> = seen
        .iter()
        .map(|(_, b)| serde_json::from_slice(b).unwrap())
        .collect();
    let created = bodies
        .iter()
        .find(|b| b["type"] == "approval.created" && b["data"]["request_id"] == a1.as_str())
        .expect("no approval.created for the first request");
    assert_eq!(
        created["data"]["summary"],
        "update_ticket [write, internal] by agent:support-bot (owner alice); held: `write` calls by class `support` need 1 approval(s); touches: status, ticket_id"
    );
    assert!(bodies.iter().any(|b| b["type"] == "approval.resolved"
        && b["data"]["request_id"] == a2.as_str()
        && b["data"]["state"] == "denied"));

    // --- metrics ---
    let text = s.metrics().await;
    for needle in [
        "tribune_approval_queue_depth{pool=\"support-leads\"}",
        "tribune_approval_time_to_decision_seconds_count",
        "tribune_approvals_resolved_total{state=\"approved\"}",
        "tribune_approvals_resolved_total{state=\"denied\"}",
        "tribune_approval_webhook_deliveries_total{result=\"ok\"}",
    ] {
        assert!(text.contains(needle), "no `{needle}` in\n{text}");
    }
    // The sweeper refreshes the load gauges every second; two requests are still pending.
    let start = Instant::now();
    while !s
        .metrics()
        .await
        .contains("tribune_approval_reviewer_load{reviewer=")
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no reviewer load gauge"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Short expiry and a small pool rate: requests end in deny, and a saturated pool refuses.
async fn expiry_and_pool_saturation(backend: Backend) {
    let s = serve(backend, |dir| {
        bundle(
            dir,
            |m| format!("{m}\n[hitl]\nexpiry_secs = 1\npool_rate_per_minute = 3\nmax_wait_secs = 5\n"),
            "",
        )
    })
    .await;
    let agent = s.token("agent", "support-bot").await;
    let bob = s.token("human", "bob").await;
    let ticket = |id: &str| json!({ "ticket_id": id, "status": "solved" });

    // Waiting inline past the expiry answers the hold with the request's final state.
    let (status, waited) = s
        .post(
            "/v1/decisions",
            &agent,
            json!({ "tool": "update_ticket", "arguments": ticket("T-1"), "wait_ms": 4000 }),
        )
        .await;
    assert_eq!(status, 200, "{waited:#}");
    assert_eq!(
        (&waited["decision"], &waited["approval_state"]),
        (&json!("hold"), &json!("expired"))
    );
    let id = waited["approval_id"].as_str().unwrap().to_owned();
    let expired = s.get(&format!("/v1/approvals/{id}"), &bob).await;
    assert_eq!(expired["state"], "expired");
    let (status, body) = s
        .post(&format!("/v1/approvals/{id}/approve"), &bob, json!({}))
        .await;
    assert_eq!((status, &body["error"]["code"]), (409, &json!("not_pending")));
    // The expired request authorises nothing: the same call is held again, anew.
    let again = s.decide(&agent, "update_ticket", ticket("T-1")).await;
    assert_eq!(again["decision"], "hold");
    assert_ne!(again["approval_id"], id.as_str());

    // Three requests a minute for the pool: a third distinct call fills it, a fourth is denied.
    s.decide(&agent, "update_ticket", ticket("T-2")).await;
    let refused = s.decide(&agent, "update_ticket", ticket("T-3")).await;
    assert_eq!(refused["decision"], "deny", "{refused:#}");
    let reason = refused["reasons"].as_array().unwrap().last().unwrap();
    assert_eq!(
        (&reason["stage"], &reason["code"], &reason["rule"]),
        (
            &json!("approval"),
            &json!("hitl_capacity"),
            &json!("hitl.pool_rate_per_minute")
        )
    );
    assert!(refused.get("approval_id").is_none());
    let text = s.metrics().await;
    assert!(
        text.contains("tribune_approval_pool_saturations_total{pool=\"support-leads\"} 1"),
        "{text}"
    );
    let entries = s.get("/v1/audit/entries?limit=10000", ADMIN).await;
    assert!(
        entries["entries"].as_array().unwrap().iter().any(|e| {
            e["event_class"] == "approval"
                && e["payload"]
                    .as_str()
                    .unwrap()
                    .contains("\"event\":\"approval_expired\"")
        }),
        "no expiry in the ledger"
    );
}

/// 1,000 holds from one agent against a pending cap of 5, with another agent deciding
/// throughout. Prints the other agent's decide latency.
async fn a_flood_of_holds_is_capped(backend: Backend) {
    const CAP: usize = 5;
    const FLOOD: usize = 1000;
    let s = Arc::new(
        serve(backend, |dir| {
            bundle(
                dir,
                |m| {
                    format!(
                        "{}\n[agents.docs-bot]\nclass = \"support\"\nowner = \"bob\"\n\n[hitl]\nagent_pending_cap = {CAP}\n",
                        m.replace("quota = { calls_per_minute = 120 }", "")
                    )
                },
                "",
            )
        })
        .await,
    );
    let flooder = s.token("agent", "support-bot").await;
    let other = s.token("agent", "docs-bot").await;

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let measurer = {
        let s = Arc::clone(&s);
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let d = s
                    .decide(&other, "search_docs", json!({ "query": "refunds" }))
                    .await;
                latencies.push(started.elapsed());
                assert_eq!(d["decision"], "allow", "{d:#}");
            }
            latencies
        })
    };
    let flood_started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..16 {
        let s = Arc::clone(&s);
        let flooder = flooder.clone();
        workers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            for i in (w..FLOOD).step_by(16) {
                let d = s
                    .decide(
                        &flooder,
                        "update_ticket",
                        json!({ "ticket_id": format!("T-{i}"), "status": "solved" }),
                    )
                    .await;
                answers.push(d);
            }
            answers
        }));
    }
    let mut answers = Vec::new();
    for w in workers {
        answers.extend(w.await.unwrap());
    }
    let flood_took = flood_started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut latencies = measurer.await.unwrap();

    let held = answers.iter().filter(|a| a["decision"] == "hold").count();
    let capped = answers
        .iter()
        .filter(|a| {
            a["decision"] == "deny"
                && a["reasons"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["code"] == "hitl_capacity" && r["rule"] == "hitl.agent_pending_cap")
        })
        .count();
    assert_eq!((held, capped), (CAP, FLOOD - CAP));
    let pending = s
        .get("/v1/approvals?state=pending&agent=support-bot", ADMIN)
        .await;
    assert_eq!(pending["approvals"].as_array().unwrap().len(), CAP);

    latencies.sort();
    let at = |q: f64| {
        let i = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies[i].as_secs_f64() * 1000.0
    };
    assert!(
        latencies.len() >= 10,
        "the other agent decided only {} times",
        latencies.len()
    );
    println!(
        "hitl flood ({backend:?}): {FLOOD} holds from one agent in {:.2} s ({CAP} pending, {} denied hitl_capacity); \
         the other agent's {} decisions during the flood: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        flood_took.as_secs_f64(),
        FLOOD - CAP,
        latencies.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}

macro_rules! on_both_backends {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::Backend::Postgres).await;
                }
            )+
        }
    };
}

on_both_backends!(
    approvals_end_to_end,
    expiry_and_pool_saturation,
    a_flood_of_holds_is_capped
);
