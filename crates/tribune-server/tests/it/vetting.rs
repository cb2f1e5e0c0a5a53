//! Provider vetting declared in the bundle (`[providers.ID.vetting]`): vetting is required by
//! default, so a provider vetted nowhere is denied; a declared approval allows, a declared
//! expired one denies, declared probation holds; and the current vetting is the later of the
//! declaration (dated by `reviewed`) and the latest run-time vetting.

use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};

on_both_backends!(
    a_provider_vetted_nowhere_is_denied,
    a_declared_approval_allows,
    a_declared_expired_vetting_denies,
    declared_probation_holds,
    a_later_run_time_rejection_overrides_a_declared_approval,
    a_future_dated_declaration_does_not_override_a_run_time_vetting,
);

/// Replaces the quick start's declared vetting of `helpdesk` with `declaration` (TOML lines of
/// `[providers.helpdesk.vetting]`), or drops every declared vetting when it is `None`.
fn declare(bundle: &std::path::Path, declaration: Option<&str>) {
    let path = bundle.join("tribune.toml");
    let mut text = String::new();
    let mut skipping = false;
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        if line.starts_with('[') {
            skipping = match declaration {
                None => line.starts_with("[providers.") && line.ends_with(".vetting]"),
                Some(_) => line == "[providers.helpdesk.vetting]",
            };
        }
        if !skipping {
            text.push_str(line);
            text.push('\n');
        }
    }
    if let Some(lines) = declaration {
        text.push_str(&format!("\n[providers.helpdesk.vetting]\n{lines}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// The decision on a documentation search (a `helpdesk` tool) and its vetting-stage code.
async fn decide(s: &TestServer) -> (String, Option<String>) {
    let call = json!({ "tool": "search_docs", "arguments": { "query": "q" } });
    let d = s.decide(&s.agent, call).await.expect(200).body;
    let code = d["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["stage"] == "vetting")
        .map(|r| r["code"].as_str().unwrap().to_owned());
    (d["decision"].as_str().unwrap().to_owned(), code)
}

fn outcome(decision: &str, code: Option<&str>) -> (String, Option<String>) {
    (decision.to_owned(), code.map(str::to_owned))
}

async fn helpdesk(s: &TestServer, token: &str) -> Value {
    s.get("/v1/providers/helpdesk", token).await.expect(200).body
}

async fn a_provider_vetted_nowhere_is_denied(backend: Backend) {
    let s = TestServer::start_with(backend, |b| declare(b, None)).await;
    assert_eq!(decide(&s).await, outcome("deny", Some("provider_unvetted")));
    let alice = s.token("human", Some("alice")).await;
    let list = s.get("/v1/providers", &alice).await.expect(200).body;
    assert_eq!(list["required"], true);
    let shown = helpdesk(&s, &alice).await;
    assert_eq!(
        (&shown["status"], &shown["vetting"], &shown["declared"]),
        (&json!("unvetted"), &Value::Null, &Value::Null)
    );
}

async fn a_declared_approval_allows(backend: Backend) {
    // The quick start as shipped declares both providers approved.
    let s = TestServer::start(backend).await;
    assert_eq!(decide(&s).await, outcome("allow", None));
    let alice = s.token("human", Some("alice")).await;
    let shown = helpdesk(&s, &alice).await;
    assert_eq!(shown["status"], "approved");
    assert_eq!(shown["vetting"], shown["declared"]);
    let declared = &shown["declared"];
    assert_eq!(
        [
            &declared["source"],
            &declared["reviewer"],
            &declared["reviewed"],
            &declared["expires"],
        ],
        [
            &json!("bundle"),
            &json!("human:alice"),
            &json!("2026-11-20"),
            &json!("2027-11-30")
        ]
    );
    // 2027-11-30T00:00:00Z: the declaration holds until the start of its `expires` day.
    assert_eq!(declared["expires_at_ms"], 1_827_532_800_000_i64);
    assert_eq!(shown["history"], json!([]));
}

async fn a_declared_expired_vetting_denies(backend: Backend) {
    let s = TestServer::start_with(backend, |b| {
        declare(
            b,
            Some("status = \"approved\"\nreviewer = \"human:alice\"\nreviewed = \"2024-11-20\"\nexpires = \"2025-11-20\""),
        )
    })
    .await;
    assert_eq!(decide(&s).await, outcome("deny", Some("vetting_expired")));
    let alice = s.token("human", Some("alice")).await;
    let shown = helpdesk(&s, &alice).await;
    assert_eq!(
        (&shown["status"], &shown["vetting"]["source"]),
        (&json!("expired"), &json!("bundle"))
    );
    // A vetting at run time, later than the declaration, brings the provider back.
    s.post(
        "/v1/providers/helpdesk/vet",
        &alice,
        json!({ "status": "approved", "valid_days": 30 }),
    )
    .await
    .expect(201);
    assert_eq!(decide(&s).await, outcome("allow", None));
}

async fn declared_probation_holds(backend: Backend) {
    let s = TestServer::start_with(backend, |b| {
        declare(
            b,
            Some("status = \"probation\"\nreviewer = \"human:bob\"\nreviewed = \"2026-11-20\"\nexpires = \"2027-11-30\"\nnotes = \"SOC 2 report pending.\""),
        )
    })
    .await;
    assert_eq!(decide(&s).await, outcome("hold", Some("provider_probation")));
    let alice = s.token("human", Some("alice")).await;
    let shown = helpdesk(&s, &alice).await;
    assert_eq!(shown["status"], "probation");
    assert_eq!(
        (&shown["vetting"]["reviewer"], &shown["vetting"]["notes"]),
        (&json!("human:bob"), &json!("SOC 2 report pending."))
    );
}

async fn a_later_run_time_rejection_overrides_a_declared_approval(backend: Backend) {
    // Declared approved, reviewed 2026-11-20: every vetting recorded now is later.
    let s = TestServer::start(backend).await;
    assert_eq!(decide(&s).await, outcome("allow", None));
    let alice = s.token("human", Some("alice")).await;
    s.post(
        "/v1/providers/helpdesk/vet",
        &alice,
        json!({ "status": "rejected", "valid_days": 365, "notes": "breach disclosed" }),
    )
    .await
    .expect(201);
    assert_eq!(decide(&s).await, outcome("deny", Some("provider_rejected")));
    let shown = helpdesk(&s, &alice).await;
    assert_eq!(shown["status"], "rejected");
    assert_eq!(
        (&shown["vetting"]["source"], &shown["vetting"]["status"]),
        (&json!("recorded"), &json!("rejected"))
    );
    // The declaration is still shown, superseded.
    assert_eq!(
        (&shown["declared"]["source"], &shown["declared"]["status"]),
        (&json!("bundle"), &json!("approved"))
    );
    let list = s.get("/v1/providers", &alice).await.expect(200).body;
    let statuses: Vec<(&str, &str)> = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [("helpdesk", "rejected"), ("payments", "approved")]);
}

async fn a_future_dated_declaration_does_not_override_a_run_time_vetting(backend: Backend) {
    // A review dated ahead of now applies while nothing was recorded at run time...
    let s = TestServer::start_with(backend, |b| {
        declare(
            b,
            Some("status = \"approved\"\nreviewer = \"human:alice\"\nreviewed = \"2098-01-01\"\nexpires = \"2099-01-01\""),
        )
    })
    .await;
    assert_eq!(decide(&s).await, outcome("allow", None));
    // ...but cannot pre-empt a rejection recorded before its date.
    let alice = s.token("human", Some("alice")).await;
    s.post(
        "/v1/providers/helpdesk/vet",
        &alice,
        json!({ "status": "rejected", "valid_days": 365 }),
    )
    .await
    .expect(201);
    assert_eq!(decide(&s).await, outcome("deny", Some("provider_rejected")));
}
