//! `tribune audit export --tiles` is read by `tests/verifier/verify_tiles.py`, a verifier
//! written only from the C2SP tlog-tiles, tlog-checkpoint and signed-note specifications and
//! RFC 6962, with no Tribune code: so third-party tools can check the log without Tribune.

use std::path::Path;
use std::process::Command;

use serde_json::json;
use tokio::task::JoinSet;

use super::support::{ADMIN, Api, Backend, Deployment, LedgerDeployment, cli, verifier_script};
use crate::{copy_dir, stderr, stdout};

/// Fails (never skips) without Python 3 and its `cryptography` package.
fn require_python() {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the independent tiles verifier needs `python3` with the `cryptography` package \
         (`pip install cryptography`; CI installs it)"
    );
}

/// Runs the independent verifier on `dir`; returns its exit code and output.
fn independent(dir: &Path, key: &str) -> (i32, String) {
    let out = Command::new("python3")
        .arg(verifier_script())
        .arg(dir)
        .arg(key)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

/// `tribune audit verify --tiles DIR`.
fn tribune_verify(dir: &Path, key: &str) -> (i32, String) {
    let out = cli(&["audit", "verify", "--key", key, "--tiles", dir.to_str().unwrap()]);
    (out.status.code().unwrap_or(-1), stdout(&out))
}

/// A copy of the export with `path` changed by `f`.
fn corrupted(export: &Path, path: &str, f: impl FnOnce(&mut Vec<u8>)) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(export, copy.path());
    let file = copy.path().join(path);
    let mut bytes = std::fs::read(&file).unwrap();
    f(&mut bytes);
    std::fs::write(&file, bytes).unwrap();
    copy
}

/// The byte offset of entry `k`'s first payload byte in an entry bundle.
fn entry_offset(bundle: &[u8], k: usize) -> usize {
    let mut at = 0;
    for _ in 0..k {
        at += 2 + usize::from(u16::from_be_bytes([bundle[at], bundle[at + 1]]));
    }
    at + 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiles_export_is_readable_by_an_independent_verifier() {
    require_python();
    let d = Deployment::quickstart(Backend::Sqlite).await;
    let server = d.serve();
    let api = Api::new(&server);
    let key = d.verifier_key();
    let agent = api.token("agent", "support-bot").await;
    // Past one full 256-entry tile, so the export has a full and a partial level-0 tile and a
    // level-1 tile.
    let mut tasks = JoinSet::new();
    for c in 0..8 {
        let (api, agent) = (api.clone(), agent.clone());
        tasks.spawn(async move {
            for n in 0..40 {
                let (status, body) = api
                    .decide(&agent, "search_docs", json!({ "query": format!("{c}/{n}") }))
                    .await;
                assert_eq!(status, 200, "{body}");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let size = api.checkpoint().await;
    assert!(size > 256 && size % 256 != 0, "size {size}");

    let export = tempfile::tempdir().unwrap();
    let out = cli(&[
        "audit",
        "export",
        "--tiles",
        export.path().to_str().unwrap(),
        "--server",
        &server.url,
        "--token",
        ADMIN,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (code, said) = independent(export.path(), &key);
    assert_eq!(code, 0, "the independent verifier rejects the export:\n{said}");
    assert!(said.contains(&format!("size {size} ")), "{said}");
    assert!(said.contains("1 upper-level tiles verified"), "{said}");
    let (code, said) = tribune_verify(export.path(), &key);
    assert_eq!(code, 0, "{said}");

    // One byte of one entry in an entry bundle: both verifiers name that entry.
    let k = 100;
    let bundle = std::fs::read(export.path().join("tile/entries/000")).unwrap();
    let at = entry_offset(&bundle, k) + 10;
    let bad = corrupted(export.path(), "tile/entries/000", |b| b[at] ^= 0x01);
    let (code, said) = independent(bad.path(), &key);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains(&format!("entry {k} ")), "{said}");
    let (code, said) = tribune_verify(bad.path(), &key);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains(&format!("FAILED at entry {k}:")), "{said}");

    // One byte of a leaf hash in a level-0 tile.
    let bad = corrupted(export.path(), "tile/0/000", |b| b[32 * 7 + 3] ^= 0x80);
    let (code, said) = independent(bad.path(), &key);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("entry 7 "), "{said}");

    // One byte of the level-1 tile (the hash of the first full level-0 tile).
    let bad = corrupted(export.path(), "tile/1/000.p/1", |b| b[0] ^= 0x01);
    let (code, said) = independent(bad.path(), &key);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("tile/1/000.p/1"), "{said}");

    // The signed root hash in the checkpoint.
    let bad = corrupted(export.path(), "checkpoint", |b| {
        let text = String::from_utf8(b.clone()).unwrap();
        let root_line = text.lines().nth(2).unwrap().to_owned();
        let flipped = match root_line.strip_prefix('A') {
            Some(rest) => format!("B{rest}"),
            None => format!("A{}", &root_line[1..]),
        };
        *b = text.replacen(&root_line, &flipped, 1).into_bytes();
    });
    let (code, said) = independent(bad.path(), &key);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("does not verify"), "{said}");

    // A bundle cut short.
    let bad = corrupted(export.path(), "tile/entries/000", |b| b.truncate(b.len() - 1));
    assert_eq!(independent(bad.path(), &key).0, 1);
}
