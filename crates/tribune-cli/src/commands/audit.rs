//! `tribune audit`: the ledger's key, offline verification, proofs, tiles export and tailing.

use std::path::{Path, PathBuf};

use serde_json::Value;
use tribune_ledger::{Checkpoint, Hash, Tree, VerifierKey, verify_log};

use crate::client::{self, Remote};
use crate::exit;

/// Audit subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the ledger's public key in signed-note verifier format.
    Key(KeyArgs),
    /// Verify the whole ledger offline: every entry, every checkpoint signature, consistency.
    Verify(VerifyArgs),
    /// Prove that one entry is in the log, checked against a signed checkpoint.
    Prove(ProveArgs),
    /// Write the ledger as a C2SP tlog-tiles tree with its checkpoint.
    Export(ExportArgs),
    /// Print entries as JSON lines (OCSF events), optionally following new ones.
    Tail(TailArgs),
    /// Review the ledger's activity: verify the whole ledger against a fresh signed checkpoint,
    /// then record the review (who, when, the checkpoint, the note) on the server.
    Review(ReviewArgs),
    /// List the recorded activity reviews, newest first.
    Reviews(ReviewsArgs),
}

/// Arguments of `audit review`.
#[derive(Debug, clap::Args)]
pub struct ReviewArgs {
    /// The ledger's verifier key (`name+id+key`), from `tribune audit key`.
    #[arg(long)]
    pub key: String,
    /// What the review found.
    #[arg(long)]
    pub note: String,
    #[command(flatten)]
    remote: Remote,
}

/// Arguments of `audit reviews`.
#[derive(Debug, clap::Args)]
pub struct ReviewsArgs {
    /// How many at most.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Print the API's JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    remote: Remote,
}

/// Arguments of `audit key`.
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// The server's data directory (reads `ledger.key` there).
    #[arg(long, env = "TRIBUNE_DATA_DIR", default_value = crate::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// The signing key file, if not in the data directory.
    #[arg(long, env = "TRIBUNE_LEDGER_KEY")]
    pub ledger_key: Option<PathBuf>,
    #[command(flatten)]
    remote: Remote,
}

/// Arguments of `audit verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The ledger's verifier key (`name+id+key`), from `tribune audit key`.
    #[arg(long)]
    pub key: String,
    /// Verify a tiles export in this directory instead of a server.
    #[arg(long)]
    pub tiles: Option<PathBuf>,
    /// Also check these checkpoints, saved earlier (e.g. by a witness), against the log.
    #[arg(long = "checkpoint")]
    pub checkpoints: Vec<PathBuf>,
    #[command(flatten)]
    remote: Remote,
}

/// Arguments of `audit prove`.
#[derive(Debug, clap::Args)]
pub struct ProveArgs {
    /// The entry's index.
    pub index: u64,
    /// The ledger's verifier key.
    #[arg(long)]
    pub key: String,
    #[command(flatten)]
    remote: Remote,
}

/// Arguments of `audit export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Directory to write the tiles into.
    #[arg(long)]
    pub tiles: PathBuf,
    #[command(flatten)]
    remote: Remote,
}

/// Output formats of `audit tail`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum TailFormat {
    /// Each entry's OCSF event, one per line.
    Ocsf,
    /// Each entry with its index, hash and metadata, one per line.
    Json,
}

/// Arguments of `audit tail`.
#[derive(Debug, clap::Args)]
pub struct TailArgs {
    /// First index to print.
    #[arg(long, default_value_t = 0)]
    pub from: u64,
    /// Keep polling for new entries.
    #[arg(long)]
    pub follow: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "ocsf")]
    pub format: TailFormat,
    #[command(flatten)]
    remote: Remote,
}

/// Runs an audit subcommand.
pub async fn run(command: Command) -> u8 {
    let result = match command {
        Command::Key(a) => key(a).await,
        Command::Verify(a) => verify(a).await,
        Command::Prove(a) => prove(a).await,
        Command::Export(a) => export(a).await,
        Command::Tail(a) => tail(a).await,
        Command::Review(a) => review(a).await,
        Command::Reviews(a) => reviews(a).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            exit::FAILURE
        }
    }
}

async fn key(a: KeyArgs) -> Result<u8, String> {
    if a.remote.server.is_some() {
        let (server, token) = a.remote.get()?;
        let v = client::get(server, "/v1/audit/key", token)
            .await
            .map_err(|e| e.to_string())?;
        println!("{}", v["verifier_key"].as_str().unwrap_or_default());
        return Ok(exit::OK);
    }
    let path = crate::commands::serve::ledger_key_path(&a.data_dir, a.ledger_key.as_deref());
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let key = tribune_ledger::SigningKey::from_private_key(text.trim()).map_err(|e| e.to_string())?;
    println!("{}", key.verifier_key());
    Ok(exit::OK)
}

/// Everything a verification needs, however it was obtained.
pub(crate) struct Log {
    pub(crate) payloads: Vec<Option<Vec<u8>>>,
    pub(crate) leaf_hashes: Vec<Hash>,
    pub(crate) checkpoints: Vec<Vec<u8>>,
}

/// Entries asked for per page (the server's most).
const ENTRY_PAGE: usize = 10_000;

/// Reads the whole log from `server`: every checkpoint, then every entry up to at least the
/// newest checkpoint. An entry missing from the sequence is an `Err` starting `FAILED`.
pub(crate) async fn fetch_log(server: &str, token: &str) -> Result<Log, String> {
    let mut log = Log {
        payloads: Vec::new(),
        leaf_hashes: Vec::new(),
        checkpoints: Vec::new(),
    };
    // Checkpoints first: the log only grows, so the entries read next cover every checkpoint
    // read now, even while new entries and checkpoints keep arriving.
    let mut from = 0u64;
    let mut signed = 0u64;
    loop {
        let page = client::get(
            server,
            &format!("/v1/audit/checkpoints?from={from}&limit=10000"),
            token,
        )
        .await
        .map_err(|e| e.to_string())?;
        let list = page["checkpoints"].as_array().cloned().unwrap_or_default();
        let Some(last) = list.last().and_then(|c| c["size"].as_u64()) else {
            break;
        };
        for c in &list {
            log.checkpoints
                .push(c["note"].as_str().unwrap_or_default().as_bytes().to_vec());
        }
        signed = last;
        from = last + 1;
    }
    loop {
        let from = log.leaf_hashes.len() as u64;
        let page = client::get(
            server,
            &format!("/v1/audit/entries?from={from}&limit={ENTRY_PAGE}"),
            token,
        )
        .await
        .map_err(|e| e.to_string())?;
        let entries = page["entries"].as_array().cloned().unwrap_or_default();
        if entries.is_empty() {
            break;
        }
        let reached_end = entries.len() < ENTRY_PAGE;
        for e in entries {
            let expected = log.leaf_hashes.len() as u64;
            let index = e["index"].as_u64().ok_or("an entry without an index")?;
            if index != expected {
                // A deleted row leaves a gap; the verifier reports the first missing index.
                return Err(format!(
                    "FAILED at entry {expected}: it is missing (the next stored entry is {index})"
                ));
            }
            let hash =
                Hash::from_hex(e["leaf_hash"].as_str().unwrap_or_default()).map_err(|e| e.to_string())?;
            log.leaf_hashes.push(hash);
            log.payloads
                .push(e["payload"].as_str().map(|p| p.as_bytes().to_vec()));
        }
        // A short page reached the end of the log as it was when read. Stop there once every
        // checkpoint is covered: while entries keep arriving (each page read is itself logged,
        // and agents keep deciding) the end would otherwise be chased forever.
        if reached_end && log.leaf_hashes.len() as u64 >= signed {
            break;
        }
    }
    Ok(log)
}

fn read_tiles(dir: &Path) -> Result<Log, String> {
    let note =
        std::fs::read(dir.join("checkpoint")).map_err(|e| format!("cannot read the checkpoint: {e}"))?;
    let size = Checkpoint::parse_unverified(&note)
        .map_err(|e| e.to_string())?
        .size();
    let mut log = Log {
        payloads: Vec::new(),
        leaf_hashes: Vec::new(),
        checkpoints: vec![note],
    };
    let width = tribune_ledger::TILE_WIDTH;
    let mut n = 0u64;
    while n * width < size {
        let w = (size - n * width).min(width);
        let tile = tribune_ledger::TileId::new(0, n, u16::try_from(w).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        let hashes = std::fs::read(dir.join(tile.path()))
            .map_err(|e| format!("cannot read `{}`: {e}", tile.path()))?;
        for chunk in hashes.chunks(32) {
            log.leaf_hashes
                .push(Hash::from_slice(chunk).map_err(|e| e.to_string())?);
        }
        match std::fs::read(dir.join(tile.entries_path())) {
            Ok(bundle) => {
                let mut rest = bundle.as_slice();
                while rest.len() >= 2 {
                    let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                    let entry = rest.get(2..2 + len).ok_or("a truncated entry bundle")?;
                    log.payloads.push(Some(entry.to_vec()));
                    rest = &rest[2 + len..];
                }
            }
            // Bundles of tiles with pruned payloads are not exported; their hashes still verify.
            Err(_) => log.payloads.extend(std::iter::repeat_n(None, w as usize)),
        }
        n += 1;
    }
    if log.payloads.len() != log.leaf_hashes.len() {
        return Err(format!(
            "the export holds {} entries but {} leaf hashes",
            log.payloads.len(),
            log.leaf_hashes.len()
        ));
    }
    Ok(log)
}

async fn verify(a: VerifyArgs) -> Result<u8, String> {
    let key = VerifierKey::parse(&a.key).map_err(|e| format!("bad `--key`: {e}"))?;
    let mut log = match &a.tiles {
        Some(dir) => read_tiles(dir)?,
        None => {
            let (server, token) = a.remote.get()?;
            match fetch_log(server, token).await {
                Ok(log) => log,
                Err(e) if e.starts_with("FAILED") => {
                    println!("{e}");
                    return Ok(exit::FAILURE);
                }
                Err(e) => return Err(e),
            }
        }
    };
    for path in &a.checkpoints {
        log.checkpoints
            .push(std::fs::read(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?);
    }
    // Checkpoints must be in size order for the consistency check between neighbours.
    log.checkpoints
        .sort_by_key(|n| Checkpoint::parse_unverified(n).map_or(0, |c| c.size()));
    log.checkpoints.dedup();
    match verify_log(&log.payloads, &log.leaf_hashes, &log.checkpoints, &key) {
        Ok(r) => {
            println!(
                "ok: {} entries ({} pruned), {} checkpoints verified; entries 0..{} proven by a signed checkpoint",
                r.entries, r.pruned, r.checkpoints, r.verified_size
            );
            println!("root at {}: {}", r.verified_size, r.verified_root.to_base64());
            Ok(exit::OK)
        }
        Err(e) => {
            match e.first_bad_index() {
                Some(i) => println!("FAILED at entry {i}: {e}"),
                None => println!("FAILED: {e}"),
            }
            Ok(exit::FAILURE)
        }
    }
}

fn b64_hashes(v: &Value) -> Result<Vec<Hash>, String> {
    v.as_array()
        .ok_or("no hashes in the proof")?
        .iter()
        .map(|h| Hash::from_base64(h.as_str().unwrap_or_default()).map_err(|e| e.to_string()))
        .collect()
}

async fn prove(a: ProveArgs) -> Result<u8, String> {
    let key = VerifierKey::parse(&a.key).map_err(|e| format!("bad `--key`: {e}"))?;
    let (server, token) = a.remote.get()?;
    let cp = client::get(server, "/v1/audit/checkpoint", token)
        .await
        .map_err(|e| e.to_string())?;
    let checkpoint = Checkpoint::open(cp["note"].as_str().unwrap_or_default().as_bytes(), &key)
        .map_err(|e| e.to_string())?;
    let proof = client::get(
        server,
        &format!("/v1/audit/entries/{}/proof?size={}", a.index, checkpoint.size()),
        token,
    )
    .await
    .map_err(|e| e.to_string())?;
    let entry = client::get(server, &format!("/v1/audit/entries/{}", a.index), token)
        .await
        .map_err(|e| e.to_string())?;
    let leaf = Hash::from_hex(entry["leaf_hash"].as_str().unwrap_or_default()).map_err(|e| e.to_string())?;
    if let Some(payload) = entry["payload"].as_str()
        && tribune_ledger::leaf_hash(payload.as_bytes()) != leaf
    {
        println!(
            "FAILED at entry {}: its payload does not hash to its leaf hash",
            a.index
        );
        return Ok(exit::FAILURE);
    }
    let hashes = b64_hashes(&proof["hashes"])?;
    match tribune_ledger::verify_inclusion(a.index, checkpoint.size(), &leaf, &hashes, checkpoint.root()) {
        Ok(()) => {
            println!(
                "ok: entry {} is in the log of {} entries signed by {}",
                a.index,
                checkpoint.size(),
                key.name()
            );
            println!("leaf hash {}", leaf.to_hex());
            println!("root {}", checkpoint.root().to_base64());
            Ok(exit::OK)
        }
        Err(e) => {
            println!("FAILED at entry {}: {e}", a.index);
            Ok(exit::FAILURE)
        }
    }
}

async fn export(a: ExportArgs) -> Result<u8, String> {
    let (server, token) = a.remote.get()?;
    let cp = client::get(server, "/v1/audit/checkpoint", token)
        .await
        .map_err(|e| e.to_string())?;
    let note = cp["note"].as_str().unwrap_or_default().as_bytes().to_vec();
    let size = Checkpoint::parse_unverified(&note)
        .map_err(|e| e.to_string())?
        .size();
    let log = fetch_log(server, token).await?;
    let hashes: Vec<Hash> = log
        .leaf_hashes
        .iter()
        .take(usize::try_from(size).map_err(|e| e.to_string())?)
        .copied()
        .collect();
    let tree = Tree::from_leaf_hashes(hashes.iter().copied());
    let files = tribune_ledger::tiles::export(&tree, size, &hashes, &log.payloads, &note)
        .map_err(|e| e.to_string())?;
    for f in &files {
        let path = a.tiles.join(&f.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("cannot create `{}`: {e}", parent.display()))?;
        }
        std::fs::write(&path, &f.contents).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    println!(
        "wrote {} files for {size} entries to {}",
        files.len(),
        a.tiles.display()
    );
    Ok(exit::OK)
}

async fn tail(a: TailArgs) -> Result<u8, String> {
    let (server, token) = a.remote.get()?;
    let mut from = a.from;
    loop {
        let page = client::get(
            server,
            &format!("/v1/audit/entries?from={from}&limit=1000"),
            token,
        )
        .await
        .map_err(|e| e.to_string())?;
        let entries = page["entries"].as_array().cloned().unwrap_or_default();
        for e in &entries {
            match a.format {
                TailFormat::Ocsf => match e["payload"].as_str() {
                    Some(p) => println!("{p}"),
                    None => println!("{}", serde_json::json!({ "index": e["index"], "pruned": true })),
                },
                TailFormat::Json => println!("{e}"),
            }
            from = e["index"].as_u64().map_or(from, |i| i + 1);
        }
        if !a.follow {
            return Ok(exit::OK);
        }
        if entries.is_empty() {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}

async fn review(a: ReviewArgs) -> Result<u8, String> {
    let key = VerifierKey::parse(&a.key).map_err(|e| format!("bad `--key`: {e}"))?;
    let (server, token) = a.remote.get()?;
    // Sign whatever arrived since the last checkpoint, so the review covers the ledger as it is.
    client::get(server, "/v1/audit/checkpoint", token)
        .await
        .map_err(|e| e.to_string())?;
    let log = match fetch_log(server, token).await {
        Ok(log) => log,
        Err(e) if e.starts_with("FAILED") => {
            println!("{e}");
            println!("no review recorded: the ledger does not verify");
            return Ok(exit::FAILURE);
        }
        Err(e) => return Err(e),
    };
    let verified = match verify_log(&log.payloads, &log.leaf_hashes, &log.checkpoints, &key) {
        Ok(r) if r.verified_size > 0 => r,
        Ok(_) => {
            println!("no review recorded: no signed checkpoint covers any entry yet");
            return Ok(exit::FAILURE);
        }
        Err(e) => {
            match e.first_bad_index() {
                Some(i) => println!("FAILED at entry {i}: {e}"),
                None => println!("FAILED: {e}"),
            }
            println!("no review recorded: the ledger does not verify");
            return Ok(exit::FAILURE);
        }
    };
    let body = serde_json::json!({
        "checkpoint_size": verified.verified_size,
        "checkpoint_root": verified.verified_root.to_base64(),
        "note": a.note,
    });
    let recorded = client::post(server, "/v1/audit/reviews", token, &body)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "ok: {} entries ({} pruned) verified; entries 0..{} proven by a signed checkpoint",
        verified.entries, verified.pruned, verified.verified_size
    );
    println!(
        "review {} recorded by {}: up to checkpoint {} (root {})",
        recorded["id"].as_str().unwrap_or_default(),
        recorded["reviewed_by"].as_str().unwrap_or_default(),
        verified.verified_size,
        verified.verified_root.to_base64()
    );
    Ok(exit::OK)
}

async fn reviews(a: ReviewsArgs) -> Result<u8, String> {
    let (server, token) = a.remote.get()?;
    let list = client::get(server, &format!("/v1/audit/reviews?limit={}", a.limit), token)
        .await
        .map_err(|e| e.to_string())?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&list).map_err(|e| e.to_string())?
        );
        return Ok(exit::OK);
    }
    let reviews = list["reviews"].as_array().cloned().unwrap_or_default();
    if reviews.is_empty() {
        println!("no activity review recorded");
    }
    for r in reviews {
        println!(
            "{}  {}  by {}  up to entry {}: {}",
            r["id"].as_str().unwrap_or_default(),
            crate::commands::identity::rfc3339(r["reviewed_at_ms"].as_i64().unwrap_or_default()),
            r["reviewed_by"].as_str().unwrap_or_default(),
            r["checkpoint_size"].as_u64().unwrap_or_default(),
            r["note"].as_str().unwrap_or_default()
        );
    }
    Ok(exit::OK)
}
