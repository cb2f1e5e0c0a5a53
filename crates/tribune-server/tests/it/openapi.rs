//! The OpenAPI document: its agreement with `ROUTES` and with the error mapping in
//! `src/error.rs`, and [`assert_conforms`], which every response of every test passes through.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::{Value, json};
use tribune_server::{OPENAPI, ROUTES};

use crate::harness::{Backend, Req, TestServer};

static DOCUMENT: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(OPENAPI).expect("openapi.json is not JSON"));

/// The parsed document.
pub fn document() -> &'static Value {
    &DOCUMENT
}

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Follows local `$ref`s (`#/...`) until a value that is not a reference.
fn resolve(mut v: &'static Value) -> &'static Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref `{r}`"));
        v = document()
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling $ref `{r}`"));
    }
    v
}

/// The route template `path` (without query) matches, if any.
fn templates_matching(path: &str) -> Vec<(&'static str, &'static str)> {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES
        .iter()
        .copied()
        .filter(|(_, template)| {
            let t: Vec<&str> = template.split('/').collect();
            t.len() == segments.len()
                && t.iter()
                    .zip(&segments)
                    .all(|(t, s)| (t.starts_with('{') && t.ends_with('}') && !s.is_empty()) || t == s)
        })
        .collect()
}

/// Checks one exchange against the document: a routed request's response (and, when it
/// succeeded, its JSON request body) must conform to the operation; anything else must be
/// `404 no_route` or `405 method_not_allowed` in the error shape.
pub fn check_exchange(method: &str, path: &str, sent: Option<&Value>, status: u16, body: &Value) {
    let method = method.to_ascii_lowercase();
    let routes = templates_matching(path);
    let Some((_, template)) = routes.iter().find(|(m, _)| *m == method) else {
        let (expected, code) = if routes.is_empty() {
            (404, "no_route")
        } else {
            (405, "method_not_allowed")
        };
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (expected, Some(code)),
            "{method} {path}: {body:#}"
        );
        validate(
            &json!({ "$ref": "#/components/schemas/Error" }),
            body,
            &format!("{method} {path}"),
        );
        return;
    };
    assert_conforms(&method, template, status, body);
    if (200..300).contains(&status)
        && let Some(sent) = sent
    {
        assert_request_conforms(&method, template, sent);
    }
}

/// The operation at (method, template), which must be in the document.
fn operation(method: &str, template: &str) -> &'static Value {
    let op = &document()["paths"][template][method];
    assert!(
        op.is_object(),
        "{method} {template} is not in the OpenAPI document"
    );
    op
}

/// Asserts `body`, answered with `status` by (method, path template), validates against the
/// schema the document gives for that response. A non-JSON body is passed as a JSON string.
#[track_caller]
pub fn assert_conforms(method: &str, template: &str, status: u16, body: &Value) {
    let method = method.to_ascii_lowercase();
    let op = operation(&method, template);
    let response = &op["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{method} {template} answered {status}, which the document does not list: {body:#}"
    );
    let content = resolve(response)["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {template} {status} has no content"));
    let media = content
        .get("application/json")
        .or_else(|| (content.len() == 1).then(|| content.values().next()).flatten())
        .unwrap_or_else(|| panic!("{method} {template} {status}: no media type to check against"));
    validate(&media["schema"], body, &format!("{method} {template} {status}"));
}

/// Asserts a JSON request body that was accepted validates against the operation's
/// `requestBody` schema: the document describes requests the server takes.
#[track_caller]
pub fn assert_request_conforms(method: &str, template: &str, sent: &Value) {
    let op = operation(method, template);
    let Some(request) = op.get("requestBody") else {
        return;
    };
    let schema = &resolve(request)["content"]["application/json"]["schema"];
    validate(schema, sent, &format!("request body of {method} {template}"));
}

static VALIDATORS: LazyLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> =
    LazyLock::new(Mutex::default);

/// A validator for `schema`, whose `#/components/...` references resolve into the document.
fn validator(schema: &Value) -> Arc<jsonschema::Validator> {
    let key = schema.to_string();
    let mut cache = VALIDATORS.lock().unwrap_or_else(|e| e.into_inner());
    Arc::clone(cache.entry(key).or_insert_with(|| {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "allOf": [schema],
            "components": document()["components"],
        });
        Arc::new(
            jsonschema::draft202012::new(&root)
                .unwrap_or_else(|e| panic!("schema {schema} does not compile: {e}")),
        )
    }))
}

#[track_caller]
fn validate(schema: &Value, instance: &Value, what: &str) {
    let validator = validator(schema);
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("  at `{}`: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not conform to the OpenAPI document:\n{}\nbody: {instance:#}",
        errors.join("\n")
    );
}

#[test]
fn the_document_is_openapi_3_1_with_bearer_security() {
    let doc = document();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1."));
    assert_eq!(doc["info"]["title"], "Tribune");
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (&bearer["type"], &bearer["scheme"]),
        (&json!("http"), &json!("bearer"))
    );
    assert_eq!(doc["security"], json!([{ "bearer": [] }]));
}

#[test]
fn the_paths_are_exactly_the_routes() {
    let documented: BTreeSet<(String, String)> = document()["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| METHODS.contains(&k.as_str()))
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, routed);
    assert_eq!(routed.len(), ROUTES.len(), "ROUTES lists a route twice");
}

/// (stable code, HTTP status) for every arm of `ApiError::parts` in `src/error.rs`.
fn codes_in_error_rs() -> BTreeMap<String, u16> {
    let source = include_str!("../../src/error.rs");
    let mut codes = BTreeMap::new();
    for line in source.lines() {
        let Some((_, rest)) = line.split_once("(StatusCode::") else {
            continue;
        };
        let (status, rest) = rest.split_once(',').unwrap();
        let code = rest.split('"').nth(1).unwrap();
        let status = match status.trim() {
            "BAD_REQUEST" => 400,
            "UNAUTHORIZED" => 401,
            "FORBIDDEN" => 403,
            "NOT_FOUND" => 404,
            "METHOD_NOT_ALLOWED" => 405,
            "CONFLICT" => 409,
            "PAYLOAD_TOO_LARGE" => 413,
            "UNSUPPORTED_MEDIA_TYPE" => 415,
            "UNPROCESSABLE_ENTITY" => 422,
            "TOO_MANY_REQUESTS" => 429,
            "INTERNAL_SERVER_ERROR" => 500,
            "BAD_GATEWAY" => 502,
            "SERVICE_UNAVAILABLE" => 503,
            other => panic!("add `StatusCode::{other}` to this test's table"),
        };
        assert_eq!(
            codes.insert(code.to_owned(), status),
            None,
            "`{code}` is mapped twice"
        );
    }
    assert!(codes.len() >= 20, "the scan of src/error.rs found only {codes:?}");
    codes
}

#[test]
fn the_error_codes_are_exactly_those_of_error_rs() {
    let documented: BTreeSet<String> = document()["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let mapped: BTreeSet<String> = codes_in_error_rs().into_keys().collect();
    assert_eq!(documented, mapped);
}

/// Every `error.code` an operation's response admits, with that response's status.
fn codes_by_response() -> Vec<(String, u16, String)> {
    fn walk(v: &'static Value, out: &mut BTreeSet<String>) {
        let v = resolve(v);
        if let Some(code) = v.pointer("/properties/error/properties/code") {
            if let Some(c) = code.get("const").and_then(Value::as_str) {
                out.insert(c.to_owned());
            }
            for c in code.get("enum").and_then(Value::as_array).into_iter().flatten() {
                out.insert(c.as_str().unwrap().to_owned());
            }
        }
        match v {
            Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    for (path, item) in document()["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                let status: u16 = status.parse().unwrap();
                let mut codes = BTreeSet::new();
                if let Some(schema) = resolve(response).pointer("/content/application~1json/schema")
                    && !(200..300).contains(&status)
                {
                    // Only the operation's own narrowing, not the shared `Error` schema.
                    match schema.get("allOf").and_then(Value::as_array) {
                        Some(parts) => parts.iter().skip(1).for_each(|p| walk(p, &mut codes)),
                        None => walk(schema, &mut codes),
                    }
                    assert!(
                        !codes.is_empty(),
                        "{method} {path} {status} does not name its error codes"
                    );
                }
                found.extend(codes.into_iter().map(|c| (format!("{method} {path}"), status, c)));
            }
        }
    }
    found
}

#[test]
fn each_documented_error_response_has_the_status_of_its_codes() {
    let mapped = codes_in_error_rs();
    for (op, status, code) in codes_by_response() {
        assert_eq!(
            mapped.get(&code),
            Some(&status),
            "{op} documents `{code}` under {status}, but src/error.rs answers it with another status"
        );
    }
}

#[test]
fn every_operation_documents_auth_and_body_failures() {
    // The endpoints that take no token: probes, metrics, this document and the credential keys.
    let public = [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/openapi.json",
        "/v1/credentials/jwks",
    ];
    for (method, path) in ROUTES {
        let op = operation(method, path);
        assert!(
            op["operationId"].is_string(),
            "{method} {path} has no operationId"
        );
        let responses = op["responses"].as_object().unwrap();
        if public.contains(path) {
            assert_eq!(op["security"], json!([]), "{method} {path} is public");
        } else {
            assert!(
                op.get("security").is_none(),
                "{method} {path} needs the bearer token"
            );
            assert!(
                responses.contains_key("401"),
                "{method} {path} does not document 401"
            );
        }
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415", "422"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} does not document {status}"
                );
            }
        }
        let params: Vec<&Value> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(resolve)
            .collect();
        let in_path: BTreeSet<&str> = params
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let templated: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(in_path, templated, "{method} {path}: path parameters");
        if params.iter().any(|p| p["in"] == "query") || !templated.is_empty() {
            // Extracting a parameter can fail with `invalid_query` (or a 404 for a record).
            assert!(
                responses.contains_key("400") || responses.contains_key("404"),
                "{method} {path} does not document a bad parameter"
            );
        }
    }
}

#[test]
fn every_component_schema_is_valid_json_schema_2020_12() {
    for (name, schema) in document()["components"]["schemas"].as_object().unwrap() {
        if let Err(e) = jsonschema::draft202012::meta::validate(schema) {
            panic!("components.schemas.{name} is not a valid JSON Schema: {e}");
        }
        // And it compiles with every reference resolved.
        validator(&json!({ "$ref": format!("#/components/schemas/{name}") }));
    }
}

#[test]
fn the_schemas_refuse_what_the_server_never_sends() {
    // The decision schema is strict: these bodies must not pass, or the conformance checks
    // of every other test would be toothless.
    let decision = |v: Value| validator(&json!({ "$ref": "#/components/schemas/Decision" })).is_valid(&v);
    let allow = json!({
        "id": "01a21a45-064f-73a7-b0ec-dfbb311f2b96",
        "decision": "allow", "approvals_required": 0, "mfa_required": false,
        "reasons": [{ "stage": "policy", "code": "permitted", "rule": "p", "message": "permitted" }],
        "obligations": [{ "kind": "report_outcome" }],
        "principal": "agent:support-bot", "tool": "search_docs", "tier": "read",
        "classification": "public", "arguments_hash": "a".repeat(64), "bundle": "b".repeat(64),
        "decided_at_ms": 1, "ledger_index": 3,
    });
    assert!(decision(allow.clone()));
    let with = |pointer: &str, v: Value| {
        let mut d = allow.clone();
        *d.pointer_mut(pointer).unwrap() = v;
        d
    };
    assert!(!decision(with("/decision", json!("maybe"))));
    assert!(
        !decision(with("/approvals_required", json!(1))),
        "an allow needs no approval"
    );
    assert!(!decision(with("/reasons", json!([]))), "reasons are never empty");
    assert!(
        !decision(with("/obligations", json!([]))),
        "an allow obliges an outcome report"
    );
    assert!(!decision(with("/bundle", json!("nothex"))));
    let mut extra = allow.clone();
    extra["surprise"] = json!(1);
    assert!(!decision(extra), "unknown fields are refused");
    let hold = with("/decision", json!("hold"));
    assert!(!decision(hold), "a hold needs approvals");
    let mut unindexed = allow.clone();
    unindexed.as_object_mut().unwrap().remove("ledger_index");
    assert!(!decision(unindexed), "an answered decision is in the ledger");

    let error = |v: Value| validator(&json!({ "$ref": "#/components/schemas/Error" })).is_valid(&v);
    assert!(error(
        json!({ "error": { "code": "forbidden", "message": "no" } })
    ));
    assert!(!error(json!({ "error": { "code": "nope", "message": "no" } })));
    assert!(
        !error(json!({ "error": { "code": "unknown_tool", "message": "no" } })),
        "a refused decision carries the decision"
    );
    assert!(
        !error(json!({ "error": { "code": "forbidden", "message": "no" }, "decision": allow })),
        "only refusals carry a decision"
    );
    assert!(
        !error(json!({ "error": { "code": "invalid_bundle", "message": "no" } })),
        "an invalid bundle carries diagnostics"
    );
}

on_both_backends!(served_verbatim, unrouted_requests_get_json_errors);

async fn served_verbatim(backend: Backend) {
    let s = TestServer::start(backend).await;
    let reply = s.send(Req::new("GET", "/v1/openapi.json")).await.expect(200);
    assert_eq!(reply.content_type, "application/json");
    assert_eq!(&reply.body, document());
    // Byte for byte, too.
    let text = reqwest::get(format!("{}/v1/openapi.json", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, OPENAPI);
    s.stop().await;
}

async fn unrouted_requests_get_json_errors(backend: Backend) {
    let s = TestServer::start(backend).await;
    let cases: &[(&str, &str, u16, &str)] = &[
        ("GET", "/", 404, "no_route"),
        ("GET", "/v1/nope", 404, "no_route"),
        ("POST", "/v1/decisions/", 404, "no_route"),
        ("GET", "/v1/decisions/a/b/c", 404, "no_route"),
        ("GET", "/v1/decisions", 405, "method_not_allowed"),
        ("DELETE", "/v1/decisions/some-id", 405, "method_not_allowed"),
        ("GET", "/v1/decisions/some-id/outcome", 405, "method_not_allowed"),
        ("GET", "/v1/bundle/reload", 405, "method_not_allowed"),
        ("GET", "/v1/tokens", 405, "method_not_allowed"),
        ("PUT", "/healthz", 405, "method_not_allowed"),
        ("POST", "/metrics", 405, "method_not_allowed"),
    ];
    for (method, path, status, code) in cases {
        // With and without a token: routing comes first.
        s.send(Req::new(method, path)).await.expect_error(*status, code);
        s.send(Req::new(method, path).bearer(&s.agent))
            .await
            .expect_error(*status, code);
    }
    s.stop().await;
}
