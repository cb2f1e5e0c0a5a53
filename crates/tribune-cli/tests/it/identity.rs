//! Non-human identities end to end: `tribune serve` as a real process on SQLite and on
//! PostgreSQL with the bundle in `tests/fixtures/identities`; operators using `tribune
//! identity`, agents using `tribune credential` and `tribune decide` with the credentials they
//! get; and `tribune identity audit` over a registry whose overdue identities were written
//! straight into the store, backdated, before the server started (the API stamps everything
//! it creates with the present).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;

use serde_json::Value;
use tribune_ledger::Entry;
use tribune_store::{
    Appended, EntryMeta, IdentityKind, IdentityOrigin, IdentityRecord, IdentityState, LedgerAppend,
    SideRecord, Store, Writes,
};

use crate::deployment::{ADMIN, Backend, Deployment, Server};
use crate::{stderr, stdout};

const DAY: i64 = 86_400_000;

/// A `tribune serve` process on the fixture bundle and its own database.
struct Served {
    server: Server,
    _deployment: Deployment,
}

/// Starts a server whose registry already holds `identities`, written before it starts.
async fn serve(backend: Backend, identities: &[IdentityRecord]) -> Served {
    let deployment = Deployment::of(backend, "crates/tribune-cli/tests/fixtures/identities").await;
    let store = deployment.store().await;
    for identity in identities {
        // As the server registers one: guarded on the id being free, with its entry.
        let created = LedgerAppend {
            entry: Entry::from_json(
                &serde_json::json!({ "event": "identity_created", "identity": identity.id }),
            )
            .unwrap(),
            meta: EntryMeta {
                event_class: "identity".to_owned(),
                classification: None,
                correlation_uid: None,
                created_at_ms: tribune_server::now_ms(),
            },
            side: SideRecord::Writes(Writes::guarded(
                Store::insert_identity_write(identity),
                1,
                Vec::new(),
            )),
        };
        let done = store.append_ledger(&[created]).await.unwrap();
        assert!(
            matches!(done[..], [Appended::Entry { .. }]),
            "{}: {done:?}",
            identity.id
        );
    }
    store.close().await;
    Served {
        server: deployment.serve(),
        _deployment: deployment,
    }
}

impl Served {
    /// `tribune ARGS --server URL --token TOKEN`, off the async runtime.
    async fn cli(&self, token: &str, args: &[&str]) -> Output {
        self.server.cli_async(token, args).await
    }

    /// Runs a command that must succeed; its stdout.
    async fn ok(&self, token: &str, args: &[&str]) -> String {
        let out = self.cli(token, args).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    /// Runs a `--json` command that must succeed; its JSON.
    async fn json(&self, token: &str, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(token, &args).await).unwrap()
    }

    /// A personal token for `human`, issued through the CLI by the bootstrap admin.
    async fn human(&self, human: &str) -> String {
        self.ok(ADMIN, &["token", "create", "--human", human])
            .await
            .trim()
            .to_owned()
    }

    /// `tribune decide` with `credential` on `search_docs` (or `tool`); the decision and its
    /// exit code.
    async fn decide(&self, credential: &str, tool: &str) -> (Option<i32>, Value) {
        let args = match tool {
            "search_docs" => r#"{"query":"refunds"}"#,
            _ => r#"{"ticket_id":"T-1","status":"solved"}"#,
        };
        let out = self
            .cli(credential, &["decide", "--tool", tool, "--args", args, "--json"])
            .await;
        let decision = serde_json::from_str(&stdout(&out))
            .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
        (out.status.code(), decision)
    }

    /// The decision for `credential` on `tool` must be a deny for `code`.
    async fn denied(&self, credential: &str, tool: &str, code: &str) {
        let (exit, d) = self.decide(credential, tool).await;
        assert_eq!((exit, &d["decision"]), (Some(1), &Value::from("deny")), "{d:#}");
        assert_eq!(d["reasons"][0]["code"], code, "{d:#}");
        assert_eq!(d["reasons"][0]["stage"], "authenticate", "{d:#}");
    }

    /// The decision for `credential` on `search_docs` must be an allow made with it; returns
    /// the credential's jti as the decision names it.
    async fn allowed(&self, credential: &str) -> String {
        let (exit, d) = self.decide(credential, "search_docs").await;
        assert_eq!((exit, &d["decision"]), (Some(0), &Value::from("allow")), "{d:#}");
        d["credential"]["jti"].as_str().unwrap().to_owned()
    }
}

fn assert_fails_with(out: &Output, exit: i32, code: &str) {
    assert_eq!(out.status.code(), Some(exit), "{}{}", stdout(out), stderr(out));
    assert!(
        stderr(out).contains(code),
        "expected `{code}` in: {}",
        stderr(out)
    );
}

/// The value of the line `secret: ...` of `identity create` or `identity rotate`.
fn secret_of(text: &str) -> String {
    assert!(
        text.contains("warning: the registration secret is shown only this once"),
        "{text}"
    );
    let secret = text
        .lines()
        .find_map(|l| l.strip_prefix("secret: "))
        .unwrap()
        .trim();
    assert!(secret.starts_with("trb_"), "{text}");
    secret.to_owned()
}

async fn lifecycle_through_the_cli(backend: Backend) {
    let s = serve(backend, &[]).await;
    let alice = s.human("alice").await; // admin
    let bob = s.human("bob").await; // the agent's owner, no role over identities

    // --- registration: pending until a second admin approves ---
    let created = s
        .ok(
            ADMIN,
            &[
                "identity",
                "create",
                "agent:triage-bot",
                "--owner",
                "bob",
                "--class",
                "support",
                "--scope",
                "search_docs",
            ],
        )
        .await;
    assert!(
        created.starts_with("REGISTERED: pending; its registration secret is issued to the human admin who approves it\nagent:triage-bot (pending, runtime, secret generation 1)\n"),
        "{created}"
    );
    assert!(
        !created.contains("secret: "),
        "no secret before approval: {created}"
    );
    assert!(
        created.contains("  owner:          bob\n  class:          support\n  scopes:         search_docs\n"),
        "{created}"
    );
    // An owner is declared in the bundle; the same name twice is a conflict.
    let unknown = s
        .cli(
            ADMIN,
            &[
                "identity", "create", "agent:x", "--owner", "mallory", "--class", "support",
            ],
        )
        .await;
    assert_fails_with(&unknown, 1, "invalid_body");
    let again = s
        .cli(
            ADMIN,
            &[
                "identity",
                "create",
                "agent:triage-bot",
                "--owner",
                "bob",
                "--class",
                "support",
            ],
        )
        .await;
    assert_fails_with(&again, 1, "conflict");

    // Approval needs a human admin: not the admin token, not the owner.
    assert_fails_with(
        &s.cli(ADMIN, &["identity", "approve", "agent:triage-bot"]).await,
        1,
        "forbidden",
    );
    assert_fails_with(
        &s.cli(&bob, &["identity", "approve", "agent:triage-bot"]).await,
        1,
        "forbidden",
    );
    let approved = s.ok(&alice, &["identity", "approve", "agent:triage-bot"]).await;
    assert!(approved.starts_with("APPROVED"), "{approved}");
    let secret = secret_of(&approved);
    assert!(
        approved.contains("agent:triage-bot (active, runtime, secret generation 1)"),
        "{approved}"
    );

    // --- show and list ---
    let shown = s.ok(&bob, &["identity", "show", "agent:triage-bot"]).await;
    assert!(
        shown.contains("approved:       ") && shown.contains(" by human:alice\n"),
        "{shown}"
    );
    assert!(
        shown.contains("  last reviewed:  never\n  last used:      never\n  findings:       none\n"),
        "{shown}"
    );
    assert!(shown.ends_with("  credentials:    0\n"), "{shown}");
    let listed = s.ok(ADMIN, &["identity", "list"]).await;
    let rows: Vec<Vec<&str>> = listed.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows[0],
        ["IDENTITY", "STATE", "ORIGIN", "OWNER", "CLASS", "FINDINGS"],
        "{listed}"
    );
    assert_eq!(
        rows[1..],
        [
            vec!["agent:ops-bot", "active", "bundle", "bob", "ops", "-"],
            vec!["agent:support-bot", "active", "bundle", "alice", "support", "-"],
            vec!["agent:triage-bot", "active", "runtime", "bob", "support", "-"],
            vec!["service:ingest", "active", "bundle", "alice", "-", "-"],
        ],
        "{listed}"
    );
    let list = s.json(ADMIN, &["identity", "list"]).await;
    assert_eq!(list["identities"].as_array().unwrap().len(), 4, "{list:#}");
    // Listing is for admins and auditors, not owners.
    assert_fails_with(&s.cli(&bob, &["identity", "list"]).await, 1, "forbidden");

    // --- a credential for the secret: the JWT alone on stdout ---
    let issued = s.cli(&secret, &["credential", "issue"]).await;
    assert_eq!(issued.status.code(), Some(0), "{}", stderr(&issued));
    let credential = stdout(&issued).trim().to_owned();
    assert_eq!(stdout(&issued), format!("{credential}\n"));
    assert_eq!(credential.split('.').count(), 3, "{credential}");
    assert!(
        stderr(&issued).contains("for agent:triage-bot (tools: search_docs), expires "),
        "{}",
        stderr(&issued)
    );
    let jti = s.allowed(&credential).await;
    // Scoped to `search_docs` only: another tool is out of scope, and so is asking for it.
    s.denied(&credential, "update_ticket", "out_of_scope").await;
    let wider = s
        .cli(&secret, &["credential", "issue", "--scope", "update_ticket"])
        .await;
    assert_fails_with(&wider, 1, "forbidden");
    let too_long = s.cli(&secret, &["credential", "issue", "--ttl", "86400"]).await;
    assert_fails_with(&too_long, 1, "invalid_body");
    let full = s.json(&secret, &["credential", "issue", "--ttl", "900"]).await;
    assert_eq!(full["subject"], "agent:triage-bot");
    assert_eq!(full["scopes"], serde_json::json!(["search_docs"]));
    assert_eq!(full["chain"], serde_json::json!(["agent:triage-bot"]));

    // --- delegation and revocation ---
    let delegated = s
        .json(
            &credential,
            &[
                "credential",
                "delegate",
                "--actor",
                "summariser",
                "--scope",
                "search_docs",
            ],
        )
        .await;
    assert_eq!(
        delegated["chain"],
        serde_json::json!(["agent:triage-bot", "summariser"])
    );
    let child = delegated["credential"].as_str().unwrap().to_owned();
    let child_jti = delegated["jti"].as_str().unwrap().to_owned();
    assert_eq!(s.allowed(&child).await, child_jti);
    let from_secret = s
        .cli(&secret, &["credential", "delegate", "--actor", "summariser"])
        .await;
    assert_fails_with(&from_secret, 1, "forbidden");
    let revoked = s
        .ok(
            &bob,
            &["credential", "revoke", &child_jti, "--reason", "task done"],
        )
        .await;
    assert_eq!(
        revoked,
        format!("REVOKED: credential {child_jti} and those delegated from it (1 newly revoked)\n")
    );
    s.denied(&child, "search_docs", "credential_revoked").await;
    assert_eq!(s.allowed(&credential).await, jti);

    // --- suspension, by the owner, takes effect at once ---
    let suspended = s
        .ok(
            &bob,
            &[
                "identity",
                "suspend",
                "agent:triage-bot",
                "--reason",
                "investigating",
            ],
        )
        .await;
    assert!(suspended.starts_with("SUSPENDED"), "{suspended}");
    assert!(
        suspended.contains("  state reason:   investigating\n"),
        "{suspended}"
    );
    s.denied(&credential, "search_docs", "identity_suspended").await;
    assert_fails_with(
        &s.cli(&secret, &["credential", "issue"]).await,
        1,
        "identity_suspended",
    );
    // Only an admin reinstates.
    assert_fails_with(
        &s.cli(&bob, &["identity", "reinstate", "agent:triage-bot"]).await,
        1,
        "forbidden",
    );
    let reinstated = s.ok(ADMIN, &["identity", "reinstate", "agent:triage-bot"]).await;
    assert!(reinstated.starts_with("REINSTATED"), "{reinstated}");
    assert_eq!(s.allowed(&credential).await, jti);

    // --- rotation: the old secret and its credentials stop working ---
    let rotated = s.ok(&bob, &["identity", "rotate", "agent:triage-bot"]).await;
    assert!(
        rotated.contains("agent:triage-bot (active, runtime, secret generation 2)"),
        "{rotated}"
    );
    let new_secret = secret_of(&rotated);
    assert_ne!(new_secret, secret);
    s.denied(&credential, "search_docs", "credential_rotated").await;
    assert_fails_with(
        &s.cli(&secret, &["credential", "issue"]).await,
        1,
        "revoked_token",
    );
    let issued = s.cli(&new_secret, &["credential", "issue"]).await;
    assert_eq!(issued.status.code(), Some(0), "{}", stderr(&issued));
    let renewed = stdout(&issued).trim().to_owned();
    let renewed_jti = s.allowed(&renewed).await;

    // --- review, by the owner ---
    let reviewed = s.ok(&bob, &["identity", "review", "agent:triage-bot"]).await;
    assert!(reviewed.contains(" by human:bob\n  last used:"), "{reviewed}");

    // --- decommissioning: denied for good, every credential revoked ---
    let retired = s
        .ok(
            &bob,
            &[
                "identity",
                "decommission",
                "agent:triage-bot",
                "--reason",
                "replaced",
            ],
        )
        .await;
    assert!(
        retired.starts_with(
            "DECOMMISSIONED: retired for good; 1 credential(s) and 1 registration secret(s) revoked\n"
        ),
        "{retired}"
    );
    s.denied(&renewed, "search_docs", "identity_decommissioned").await;
    assert_fails_with(
        &s.cli(&new_secret, &["credential", "issue"]).await,
        1,
        "revoked_token",
    );
    let gone = s.cli(ADMIN, &["identity", "reinstate", "agent:triage-bot"]).await;
    assert_fails_with(&gone, 1, "conflict");
    let detail = s.json(ADMIN, &["identity", "show", "agent:triage-bot"]).await;
    assert_eq!(detail["state"], "decommissioned");
    let reasons: BTreeMap<&str, &str> = detail["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert!(c["revoked_at_ms"].is_i64(), "{c:#}");
            (c["jti"].as_str().unwrap(), c["revoked_reason"].as_str().unwrap())
        })
        .collect();
    let full_jti = full["jti"].as_str().unwrap();
    assert_eq!(
        reasons,
        BTreeMap::from([
            (jti.as_str(), "rotated"),
            (full_jti, "rotated"),
            (child_jti.as_str(), "task done"),
            (renewed_jti.as_str(), "decommissioned"),
        ])
    );
    let shown = s.ok(ADMIN, &["identity", "show", "agent:triage-bot"]).await;
    assert!(shown.contains("  credentials:    4\n"), "{shown}");
    assert_eq!(shown.matches("  revoked ").count(), 4, "{shown}");
    assert!(!shown.contains("live until"), "{shown}");
    assert!(shown.contains(&format!("    - {child_jti}  revoked ")), "{shown}");
    assert!(
        shown.contains("(task done); scopes search_docs, delegated to summariser\n"),
        "{shown}"
    );

    // --- the keys that verify credentials: no token needed ---
    let jwks = s.cli("", &["credential", "jwks"]).await;
    assert_eq!(jwks.status.code(), Some(0), "{}", stderr(&jwks));
    let jwks: Value = serde_json::from_str(&stdout(&jwks)).unwrap();
    assert_eq!(
        (&jwks["keys"][0]["kty"], &jwks["keys"][0]["alg"]),
        (&Value::from("OKP"), &Value::from("EdDSA"))
    );
}

/// An identity written straight into the store with times `*_days_ago` before `now`.
struct Backdated {
    id: &'static str,
    class: Option<&'static str>,
    owner: &'static str,
    origin: IdentityOrigin,
    state: IdentityState,
    created: i64,
    rotated: i64,
    reviewed: Option<i64>,
    used: Option<i64>,
}

impl Backdated {
    /// An active runtime agent of `class`, owned by alice, created and rotated `created` days
    /// ago, never reviewed, used a day ago.
    fn agent(id: &'static str, class: &'static str, created: i64) -> Backdated {
        Backdated {
            id,
            class: Some(class),
            owner: "alice",
            origin: IdentityOrigin::Runtime,
            state: IdentityState::Active,
            created,
            rotated: created,
            reviewed: None,
            used: Some(1),
        }
    }

    /// The same, with its secret last rotated `rotated` days ago.
    fn with_rotation(self, rotated: i64) -> Backdated {
        Backdated { rotated, ..self }
    }

    fn record(&self, now: i64) -> IdentityRecord {
        let ago = |days: i64| now - days * DAY;
        let kind = if self.id.starts_with("agent:") {
            IdentityKind::Agent
        } else {
            IdentityKind::Service
        };
        IdentityRecord {
            id: self.id.to_owned(),
            kind,
            class: self.class.map(str::to_owned),
            owner: self.owner.to_owned(),
            scopes: if kind == IdentityKind::Service {
                vec!["search_docs".to_owned()]
            } else {
                Vec::new()
            },
            origin: self.origin,
            state: self.state,
            state_reason: None,
            state_changed_at_ms: ago(self.created),
            state_changed_by: Some("admin".to_owned()),
            generation: 1,
            created_at_ms: ago(self.created),
            created_by: "admin".to_owned(),
            approved_at_ms: None,
            approved_by: None,
            last_used_at_ms: self.used.map(ago),
            last_reviewed_at_ms: self.reviewed.map(ago),
            reviewed_by: self.reviewed.map(|_| "human:alice".to_owned()),
            secret_rotated_at_ms: ago(self.rotated),
        }
    }
}

/// The registry of the audit test, with the (identity, finding, days before now it was due)
/// the audit must report, exactly. Deployment terms: rotation 90 (+7 grace), review 180 (+14),
/// stale 30; class `ops`: rotation 30 (+3), review 60 (+7), stale 10.
fn overdue_registry() -> (Vec<Backdated>, BTreeMap<(&'static str, &'static str), i64>) {
    let agent = Backdated::agent;
    let registry = vec![
        // A day short of every deadline: nothing.
        Backdated {
            used: Some(29),
            ..agent("agent:almost-due", "support", 179)
        }
        .with_rotation(89),
        // Rotation due 2 days ago, within grace.
        Backdated {
            reviewed: Some(10),
            ..agent("agent:rotation-due", "support", 100)
        }
        .with_rotation(92),
        // Rotation due 30 days ago, past grace.
        Backdated {
            reviewed: Some(10),
            ..agent("agent:rotation-lapsed", "support", 200)
        }
        .with_rotation(120),
        // Never reviewed, created 185 days ago: review due 5 days ago.
        agent("agent:review-due", "support", 185).with_rotation(10),
        // Reviewed 200 days ago: review due 20 days ago, past grace.
        Backdated {
            reviewed: Some(200),
            ..agent("agent:review-lapsed", "support", 300)
        }
        .with_rotation(10),
        // Never used, created 40 days ago: stale for 10 days.
        Backdated {
            used: None,
            ..agent("agent:idle-bot", "support", 40)
        },
        // Class `ops`: unused for 12 days is stale under its terms (not under the deployment's).
        Backdated {
            used: Some(12),
            ..agent("agent:ops-runtime", "ops", 20)
        },
        // Declared in the bundle, backdated: its class's 30-day rotation is 1 day overdue,
        // though 31 days is well within the deployment's 90.
        Backdated {
            owner: "bob",
            origin: IdentityOrigin::Bundle,
            reviewed: Some(5),
            ..agent("agent:ops-bot", "ops", 31)
        },
        // A declared service past every deadline: rotation and review lapsed, never used.
        Backdated {
            class: None,
            origin: IdentityOrigin::Bundle,
            used: None,
            ..agent("service:ingest", "-", 400)
        }
        .with_rotation(100),
        // Decommissioned identities are never audited, however old.
        Backdated {
            state: IdentityState::Decommissioned,
            used: None,
            ..agent("agent:retired-bot", "support", 1000)
        },
    ];
    let expected = BTreeMap::from([
        (("agent:rotation-due", "rotation_overdue"), 92 - 90),
        (("agent:rotation-lapsed", "rotation_expired"), 120 - 90),
        (("agent:review-due", "review_overdue"), 185 - 180),
        (("agent:review-lapsed", "review_expired"), 200 - 180),
        (("agent:idle-bot", "stale"), 40 - 30),
        (("agent:ops-runtime", "stale"), 12 - 10),
        (("agent:ops-bot", "rotation_overdue"), 31 - 30),
        (("service:ingest", "rotation_expired"), 100 - 90),
        (("service:ingest", "review_expired"), 400 - 180),
        (("service:ingest", "stale"), 400 - 30),
    ]);
    (registry, expected)
}

/// The (identity, kind) of each finding line of `identity audit`, checking each line's due
/// date against `expected` and its owner; and the summary line.
fn audit_lines(
    text: &str,
    now: i64,
    expected: &BTreeMap<(&str, &str), i64>,
    owners: &BTreeMap<&str, &str>,
) -> (BTreeSet<(String, String)>, String) {
    let mut lines: Vec<&str> = text.lines().collect();
    let summary = lines.pop().unwrap().to_owned();
    let found = lines
        .iter()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [identity, kind, "due", due, "owner", owner] = fields[..] else {
                panic!("unexpected line `{line}` in:\n{text}")
            };
            if let Some(days) = expected.get(&(identity, kind)) {
                // The deadline is whole days before the audit, which ran within the test.
                let due_ms = time::OffsetDateTime::parse(due, &time::format_description::well_known::Rfc3339)
                    .unwrap()
                    .unix_timestamp()
                    * 1000;
                let age = now - days * DAY - due_ms;
                assert!(
                    (0..60_000).contains(&age),
                    "{identity} {kind}: due {due}, {age} ms off"
                );
            }
            assert_eq!(Some(&owner), owners.get(identity), "{line}");
            (identity.to_owned(), kind.to_owned())
        })
        .collect();
    (found, summary)
}

fn pairs(expected: &BTreeMap<(&str, &str), i64>, keep: impl Fn(&str) -> bool) -> BTreeSet<(String, String)> {
    expected
        .keys()
        .filter(|(_, kind)| keep(kind))
        .map(|(id, kind)| ((*id).to_owned(), (*kind).to_owned()))
        .collect()
}

async fn audit_lists_exactly_the_overdue_identities(backend: Backend) {
    let now = tribune_server::now_ms();
    let (registry, expected) = overdue_registry();
    let records: Vec<IdentityRecord> = registry.iter().map(|b| b.record(now)).collect();
    let owners: BTreeMap<&str, &str> = registry.iter().map(|b| (b.id, b.owner)).collect();
    let s = serve(backend, &records).await;
    let carol = s.human("carol").await; // auditor
    let alice = s.human("alice").await; // admin

    let out = s.cli(&carol, &["identity", "audit"]).await;
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let (found, summary) = audit_lines(&stdout(&out), now, &expected, &owners);
    assert_eq!(found, pairs(&expected, |_| true), "{}", stdout(&out));
    assert_eq!(summary, "10 finding(s) for 8 identities");
    let audit = s.cli(&carol, &["identity", "audit", "--json"]).await;
    assert_eq!(audit.status.code(), Some(1));
    let audit: Value = serde_json::from_str(&stdout(&audit)).unwrap();
    assert_eq!(audit["findings"].as_array().unwrap().len(), 10, "{audit:#}");
    // The bundle-declared identity kept its backdated times through the start's sync.
    let ops = s.json(&carol, &["identity", "show", "agent:ops-bot"]).await;
    assert_eq!(
        (&ops["origin"], &ops["findings"][0]["kind"]),
        (&Value::from("bundle"), &Value::from("rotation_overdue"))
    );
    // Auditing is for admins and auditors.
    let bob = s.human("bob").await;
    assert_fails_with(&s.cli(&bob, &["identity", "audit"]).await, 2, "forbidden");

    // Reviews and rotations clear their findings; staleness stays until the identity acts.
    for id in ["agent:review-due", "agent:review-lapsed", "service:ingest"] {
        s.ok(&alice, &["identity", "review", id]).await;
    }
    let lapsed = s.json(&carol, &["identity", "show", "agent:review-lapsed"]).await;
    assert_eq!(
        lapsed["state"], "active",
        "a review lifts a suspension for a lapsed review: {lapsed:#}"
    );
    let out = s.cli(&carol, &["identity", "audit"]).await;
    assert_eq!(out.status.code(), Some(1));
    let (found, summary) = audit_lines(&stdout(&out), now, &expected, &owners);
    assert_eq!(
        found,
        pairs(&expected, |k| !k.starts_with("review_")),
        "{}",
        stdout(&out)
    );
    assert_eq!(summary, "7 finding(s) for 6 identities");
    for id in [
        "agent:rotation-due",
        "agent:rotation-lapsed",
        "agent:ops-bot",
        "service:ingest",
    ] {
        secret_of(&s.ok(&alice, &["identity", "rotate", id]).await);
    }
    let out = s.cli(&carol, &["identity", "audit"]).await;
    assert_eq!(out.status.code(), Some(1));
    let (found, summary) = audit_lines(&stdout(&out), now, &expected, &owners);
    assert_eq!(found, pairs(&expected, |k| k == "stale"), "{}", stdout(&out));
    assert_eq!(summary, "3 finding(s) for 3 identities");

    // Decommissioned identities leave the audit: nothing is overdue any more.
    for id in ["agent:idle-bot", "agent:ops-runtime", "service:ingest"] {
        s.ok(&alice, &["identity", "decommission", id, "--reason", "unused"])
            .await;
    }
    let out = s.cli(&carol, &["identity", "audit"]).await;
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out),
        "no findings: no rotation or review is overdue and no identity is stale\n"
    );
}

async fn audit_exits_0_when_nothing_is_overdue(backend: Backend) {
    let s = serve(backend, &[]).await;
    // The declared identities are synced with the present as their times.
    let out = s.cli(ADMIN, &["identity", "audit"]).await;
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out),
        "no findings: no rotation or review is overdue and no identity is stale\n"
    );
    let audit = s.json(ADMIN, &["identity", "audit"]).await;
    assert_eq!(audit["findings"], serde_json::json!([]));
    // An audit that cannot run is neither clean nor findings.
    let bad = s
        .cli(
            "trb_not-a-token-of-this-deployment-0123456789ab",
            &["identity", "audit"],
        )
        .await;
    assert_fails_with(&bad, 2, "invalid_token");
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
    lifecycle_through_the_cli,
    audit_lists_exactly_the_overdue_identities,
    audit_exits_0_when_nothing_is_overdue
);
