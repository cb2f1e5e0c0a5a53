//! Provider vetting end to end: `tribune serve` as a real process on SQLite with the
//! quick-start bundle, and an admin using `tribune providers list`, `vet`, `show` and `pin`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use crate::{repo, stderr, stdout, tribune};

const ADMIN: &str = "trb_providers-test-admin-token-0123456789abcdefghijk";

struct Served {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tribune"))
        .args(["serve", "--listen", "127.0.0.1:0", "--bundle"])
        .arg(repo().join("examples/quickstart"))
        .arg("--data-dir")
        .arg(&data)
        .env("TRIBUNE_BOOTSTRAP_TOKEN", ADMIN)
        .env("TRIBUNE_LOG", "warn")
        .env_remove("TRIBUNE_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let Some(Ok(line)) = lines.next() else {
            let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
            panic!("serve exited before listening: {log}");
        };
        if let Some(rest) = line.split("serving on ").nth(1) {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Served {
        child,
        url,
        _dir: dir,
    }
}

impl Served {
    fn cli(&self, token: &str, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", &self.url, "--token", token]);
        tribune(&all)
    }

    fn ok(&self, token: &str, args: &[&str]) -> String {
        let out = self.cli(token, args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    }

    fn json(&self, token: &str, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        serde_json::from_str(&self.ok(token, &args)).unwrap()
    }
}

#[test]
fn an_admin_vets_shows_and_pins_through_the_cli() {
    let s = serve();
    let alice = s
        .ok(ADMIN, &["token", "create", "--human", "alice"])
        .trim()
        .to_owned();
    let bob = s
        .ok(ADMIN, &["token", "create", "--human", "bob"])
        .trim()
        .to_owned();

    let list = s.json(&alice, &["providers", "list"]);
    assert_eq!(list["providers"][0]["status"], "unvetted");
    let text = s.ok(&alice, &["providers", "list"]);
    assert!(text.contains("helpdesk") && text.contains("unvetted"), "{text}");

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

    let pinned = s.json(&alice, &["providers", "pin", "helpdesk", "--tool", "search_docs"]);
    let states: Vec<&str> = pinned["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["pinned", "pinned"]);
}
