//! Provider vetting end to end: `tribune serve` as a real process on SQLite with the
//! quick-start bundle, and an admin using `tribune providers list`, `vet`, `show` and `pin`.

use crate::deployment::{ADMIN, Backend, Deployment, block_on};
use crate::stderr;

#[test]
fn an_admin_vets_shows_and_pins_through_the_cli() {
    let s = block_on(Deployment::quickstart(Backend::Sqlite)).start();
    let alice = s
        .ok(ADMIN, &["token", "create", "--human", "alice"])
        .trim()
        .to_owned();
    let bob = s
        .ok(ADMIN, &["token", "create", "--human", "bob"])
        .trim()
        .to_owned();

    // The quick start declares its providers' vettings in the bundle.
    let list = s.json(&alice, &["providers", "list"]);
    assert_eq!(list["providers"][0]["status"], "approved");
    assert_eq!(list["providers"][0]["vetting"]["source"], "bundle");
    let text = s.ok(&alice, &["providers", "list"]);
    assert!(
        text.contains("helpdesk") && text.contains("approved   bundle"),
        "{text}"
    );
    let shown = s.ok(&alice, &["providers", "show", "helpdesk"]);
    assert!(
        shown.contains(
            "declared approved by human:alice in the bundle, reviewed 2026-11-20, expires 2027-11-30"
        ),
        "{shown}"
    );

    // bob is not an admin.
    let out = s.cli(&bob, &["providers", "vet", "helpdesk", "--status", "approved"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("forbidden"), "{}", stderr(&out));

    let vetted = s.json(
        &alice,
        &[
            "providers",
            "vet",
            "helpdesk",
            "--status",
            "probation",
            "--valid-days",
            "30",
            "--notes",
            "SOC 2 pending",
        ],
    );
    assert_eq!(vetted["status"], "probation");
    assert_eq!(vetted["vetting"]["notes"], "SOC 2 pending");
    let shown = s.ok(&alice, &["providers", "show", "helpdesk"]);
    assert!(shown.contains("provider helpdesk: probation"), "{shown}");
    assert!(shown.contains("by human:alice"), "{shown}");
    assert!(shown.contains("notes: SOC 2 pending"), "{shown}");
    assert!(shown.contains("tool search_docs"), "{shown}");
    assert!(shown.contains("history (1):"), "{shown}");
    // The run-time vetting is later than the bundle's, so it is current.
    assert!(
        shown.contains("superseded: declared approved by human:alice"),
        "{shown}"
    );

    let pinned = s.json(&alice, &["providers", "pin", "helpdesk", "--tool", "search_docs"]);
    let states: Vec<&str> = pinned["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["pinned", "pinned"]);
}
