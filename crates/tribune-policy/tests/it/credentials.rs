//! The authenticate stage: the registry's refusal and a credential's scopes decide before
//! anything else, and an agent's declared scopes are a built-in forbid.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use tribune_policy::{Code, Credential, Facts, PrincipalKind, Request, Snapshot};

fn decide(s: &Snapshot, principal: &str, tool: &str, credential: Credential<'_>) -> Value {
    let args = match tool {
        "search_docs" => json!({ "query": "q" }),
        _ => json!({ "ticket_id": "T-1", "status": "open" }),
    };
    let req = Request {
        kind: PrincipalKind::Agent,
        principal,
        tool,
        arguments: &args,
        session: None,
        context: None,
    };
    let facts = Facts {
        credential,
        ..Facts::default()
    };
    serde_json::to_value(s.decide(&req, &facts, 0)).unwrap()
}

#[test]
fn a_refusal_denies_first_with_its_own_code() {
    let s = crate::snapshot("quickstart");
    for (code, name) in [
        (Code::CredentialRevoked, "credential_revoked"),
        (Code::CredentialRotated, "credential_rotated"),
        (Code::RotationOverdue, "rotation_overdue"),
        (Code::CredentialRequired, "credential_required"),
        (Code::IdentitySuspended, "identity_suspended"),
        (Code::IdentityDecommissioned, "identity_decommissioned"),
        (Code::IdentityPending, "identity_pending"),
    ] {
        // Even for an undeclared tool: authentication comes before the request is judged.
        for tool in ["search_docs", "no_such_tool"] {
            let d = decide(
                &s,
                "support-bot",
                tool,
                Credential {
                    scopes: None,
                    refusal: Some((code, "refused for the test")),
                },
            );
            assert_eq!(d["decision"], "deny", "{d:#}");
            assert_eq!(d["reasons"].as_array().unwrap().len(), 1);
            assert_eq!(d["reasons"][0]["stage"], "authenticate");
            assert_eq!(d["reasons"][0]["code"], name);
            assert_eq!(d["reasons"][0]["message"], "refused for the test");
        }
    }
}

#[test]
fn a_credential_covers_only_its_scopes() {
    let s = crate::snapshot("quickstart");
    let scopes: BTreeSet<String> = ["search_docs".to_owned()].into();
    let scoped = Credential {
        scopes: Some(&scopes),
        refusal: None,
    };
    let d = decide(&s, "support-bot", "search_docs", scoped);
    assert_eq!(d["decision"], "allow", "{d:#}");
    let d = decide(&s, "support-bot", "update_ticket", scoped);
    assert_eq!(d["decision"], "deny", "{d:#}");
    assert_eq!(d["reasons"][0]["stage"], "authenticate");
    assert_eq!(d["reasons"][0]["code"], "out_of_scope");
    assert_eq!(
        d["reasons"][0]["message"],
        "the credential is not scoped to tool `update_ticket`"
    );
    // Without a scoped credential, the same call is judged by policy as usual.
    let d = decide(&s, "support-bot", "update_ticket", Credential::default());
    assert_eq!(d["decision"], "hold", "{d:#}");
}

#[test]
fn declared_agent_scopes_forbid_every_other_tool() {
    let dir = tempfile::tempdir().unwrap();
    let src = crate::examples_dir().join("quickstart");
    copy_dir(&src, dir.path());
    let manifest = dir.path().join("tribune.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replacen(
        "[agents.support-bot]\n",
        "[agents.support-bot]\nscopes = [\"update_ticket\"]\n",
        1,
    );
    assert!(
        text.contains("scopes = [\"update_ticket\"]"),
        "the quickstart has no [agents.support-bot]"
    );
    std::fs::write(&manifest, text).unwrap();
    let s = Snapshot::build(tribune_bundle::load_dir(dir.path()).unwrap()).unwrap();
    let d = decide(&s, "support-bot", "search_docs", Credential::default());
    assert_eq!(d["decision"], "deny", "{d:#}");
    assert_eq!(d["reasons"][0]["code"], "forbidden");
    assert_eq!(d["reasons"][0]["rule"], "builtin:scope:support-bot");
    let d = decide(&s, "support-bot", "update_ticket", Credential::default());
    assert_eq!(d["decision"], "hold", "{d:#}");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
