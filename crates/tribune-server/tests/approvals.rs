//! The approvals API against its OpenAPI document: a real server on port 0 over a real SQLite
//! file, every answer (and every accepted request body) checked against the schema the
//! document gives for that operation and status, every refusal against the error codes the
//! document lists for it. The behaviour end to end, on both backends, is tested through the
//! CLI in `tribune-cli`'s `approvals` tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use serde_json::{Value, json};
use tokio::net::TcpListener;
use tribune_approvals::totp::{TotpParams, TotpSecret, code_at};
use tribune_server::{Config, Database, OPENAPI};

const ADMIN: &str = "trb_approvals-contract-admin-token-0123456789abcdef";

struct Server {
    base: String,
    http: reqwest::Client,
    doc: Value,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart"),
            &bundle,
        );
        let manifest = bundle.join("tribune.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        std::fs::write(&manifest, format!("{text}\n[hitl]\nmax_wait_secs = 2\n")).unwrap();
        let opened = tribune_server::open(&Config {
            bundle_dir: bundle,
            database: Database::SqliteFile(dir.path().join("tribune.db")),
            bootstrap_token: Some(ADMIN.to_owned()),
            ledger_key: dir.path().join("ledger.key"),
        })
        .await
        .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(tribune_server::serve(listener, opened.state, async {
            let _ = stopped.await;
        }));
        Server {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            doc: serde_json::from_str(OPENAPI).unwrap(),
            stop: Some(stop),
            _dir: dir,
        }
    }

    /// Sends a request and checks the exchange against the document; returns (status, body).
    async fn call(
        &self,
        method: &str,
        path: &str,
        template: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {template} is not documented");
        let documented = self.resolve(&op["responses"][status.to_string()]);
        assert!(
            documented.is_object(),
            "{method} {template} answered {status}, which is not documented: {answer:#}"
        );
        let schema = &documented["content"]["application/json"]["schema"];
        self.validate(schema, &answer, &format!("{method} {template} {status}"));
        if !(200..300).contains(&status) {
            let code = answer["error"]["code"].as_str().unwrap();
            let listed = schema["allOf"][1]["properties"]["error"]["properties"]["code"].clone();
            let allowed: Vec<Value> = match (listed.get("const"), listed.get("enum")) {
                (Some(c), _) => vec![c.clone()],
                (None, Some(Value::Array(e))) => e.clone(),
                _ => panic!("{method} {template} {status} names no codes"),
            };
            assert!(
                allowed.contains(&json!(code)),
                "{method} {template} {status}: `{code}` is not documented"
            );
        } else if let (Some(b), Some(request)) = (&body, op.get("requestBody")) {
            let schema = &self.resolve(request)["content"]["application/json"]["schema"];
            self.validate(schema, b, &format!("request body of {method} {template}"));
        }
        (status, answer)
    }

    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            v = self.doc.pointer(r.trim_start_matches('#')).unwrap();
        }
        v
    }

    fn validate(&self, schema: &Value, instance: &Value, what: &str) {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": self.doc["components"],
        });
        let validator = jsonschema::draft202012::new(&root).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("at `{}`: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{what}: {}\n{instance:#}", errors.join("\n"));
    }

    async fn token(&self, kind: &str, subject: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/v1/tokens",
                "/v1/tokens",
                ADMIN,
                Some(json!({ "kind": kind, "subject": subject })),
            )
            .await;
        assert_eq!(status, 201);
        body["token"].as_str().unwrap().to_owned()
    }

    async fn decide(&self, token: &str, tool: &str, arguments: Value) -> Value {
        let (status, body) = self
            .call(
                "POST",
                "/v1/decisions",
                "/v1/decisions",
                token,
                Some(json!({ "tool": tool, "arguments": arguments })),
            )
            .await;
        assert_eq!(status, 200, "{body:#}");
        body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn code(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, answer.1["error"]["code"].as_str().unwrap_or("-"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_approvals_api_answers_as_documented() {
    let s = Server::start().await;
    let agent = s.token("agent", "support-bot").await;
    let alice = s.token("human", "alice").await;
    let bob = s.token("human", "bob").await;
    let carol = s.token("human", "carol").await;

    // Enrolment: once per human, and only by a human for themselves.
    const ENROLL: &str = "/v1/mfa/enroll";
    let (status, enrolled) = s.call("POST", ENROLL, ENROLL, &bob, Some(json!({}))).await;
    assert_eq!(status, 201);
    let secret = TotpSecret::from_base32(enrolled["secret"].as_str().unwrap()).unwrap();
    assert_eq!(
        code(&s.call("POST", ENROLL, ENROLL, &bob, Some(json!({}))).await),
        (409, "conflict")
    );
    assert_eq!(
        code(&s.call("POST", ENROLL, ENROLL, &agent, Some(json!({}))).await),
        (403, "forbidden")
    );
    assert_eq!(
        code(
            &s.call("POST", ENROLL, ENROLL, &bob, Some(json!({ "mfa_code": "12" })))
                .await
        ),
        (403, "mfa_invalid")
    );

    // A hold and its request.
    let held = s
        .decide(&agent, "issue_refund", json!({ "order_id": "O-1", "amount": 5 }))
        .await;
    let id = held["approval_id"].as_str().unwrap().to_owned();
    const ONE: &str = "/v1/approvals/{id}";
    const LIST: &str = "/v1/approvals";
    let one = format!("/v1/approvals/{id}");
    let (status, request) = s.call("GET", &one, ONE, &carol, None).await;
    assert_eq!((status, &request["state"]), (200, &json!("pending")));
    let (status, list) = s
        .call("GET", "/v1/approvals?state=pending", LIST, &agent, None)
        .await;
    assert_eq!(
        (status, list["approvals"][0]["id"].as_str()),
        (200, Some(id.as_str()))
    );
    assert_eq!(
        code(&s.call("GET", "/v1/approvals?state=open", LIST, &bob, None).await),
        (400, "invalid_query")
    );
    assert_eq!(
        code(&s.call("GET", "/v1/approvals?limit=5000", LIST, &bob, None).await),
        (400, "invalid_query")
    );
    assert_eq!(
        code(
            &s.call("GET", "/v1/approvals?agent=other", LIST, &agent, None)
                .await
        ),
        (403, "forbidden")
    );
    assert_eq!(
        code(&s.call("GET", &format!("{one}?wait=soon"), ONE, &bob, None).await),
        (400, "invalid_query")
    );
    assert_eq!(
        code(&s.call("GET", "/v1/approvals/nope", ONE, &bob, None).await),
        (404, "not_found")
    );
    // A long poll of a request nobody resolves ends at the bundle's bound.
    let started = std::time::Instant::now();
    let (status, _) = s.call("GET", &format!("{one}?wait=1m"), ONE, &agent, None).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    // Votes and their refusals.
    const APPROVE: &str = "/v1/approvals/{id}/approve";
    const DENY: &str = "/v1/approvals/{id}/deny";
    let approve = format!("{one}/approve");
    let vote = |b: Value| Some(b);
    assert_eq!(
        code(&s.call("POST", &approve, APPROVE, &agent, vote(json!({}))).await),
        (403, "forbidden")
    );
    assert_eq!(
        code(&s.call("POST", &approve, APPROVE, &carol, vote(json!({}))).await),
        (403, "not_eligible")
    );
    assert_eq!(
        code(&s.call("POST", &approve, APPROVE, &bob, vote(json!({}))).await),
        (403, "mfa_required")
    );
    assert_eq!(
        code(
            &s.call(
                "POST",
                &approve,
                APPROVE,
                &alice,
                vote(json!({ "mfa_code": "123456" }))
            )
            .await
        ),
        (403, "mfa_not_enrolled")
    );
    assert_eq!(
        code(
            &s.call("POST", &approve, APPROVE, &bob, vote(json!({ "rationale": " " })))
                .await
        ),
        (422, "invalid_body")
    );
    assert_eq!(
        code(
            &s.call("POST", &format!("{one}/deny"), DENY, &bob, vote(json!({})))
                .await
        ),
        (422, "invalid_body")
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fresh = code_at(&secret, TotpParams::default(), now).unwrap();
    let (status, voted) = s
        .call(
            "POST",
            &approve,
            APPROVE,
            &bob,
            vote(json!({ "rationale": "verified with the customer", "mfa_code": fresh })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(voted["outcome"]["outcome"], "pending");
    assert_eq!(
        code(
            &s.call(
                "POST",
                &approve,
                APPROVE,
                &bob,
                vote(json!({ "mfa_code": fresh }))
            )
            .await
        ),
        (403, "mfa_replay")
    );
    let (status, denied) = s
        .call(
            "POST",
            &format!("{one}/deny"),
            DENY,
            &alice,
            vote(json!({ "rationale": "not this one" })),
        )
        .await;
    assert_eq!((status, &denied["state"]), (200, &json!("denied")));
    assert_eq!(
        code(&s.call("POST", &approve, APPROVE, &bob, vote(json!({}))).await),
        (409, "not_pending")
    );

    // A write with one approval: the allow that uses it, as documented.
    let ticket = json!({ "ticket_id": "T-1", "status": "solved" });
    let held = s.decide(&agent, "update_ticket", ticket.clone()).await;
    let write = format!("/v1/approvals/{}/approve", held["approval_id"].as_str().unwrap());
    let (status, voted) = s.call("POST", &write, APPROVE, &alice, vote(json!({}))).await;
    assert_eq!((status, &voted["outcome"]["outcome"]), (200, &json!("approved")));
    let allowed = s.decide(&agent, "update_ticket", ticket).await;
    assert_eq!(allowed["approved_by"], json!(["alice"]));
    let (status, list) = s.call("GET", "/v1/approvals?limit=10", LIST, ADMIN, None).await;
    assert_eq!((status, list["approvals"].as_array().unwrap().len()), (200, 2));
}
