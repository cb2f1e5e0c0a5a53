//! The server's side of the ledger: appends through the group-commit writer, an in-memory
//! tree kept in step with the database for proofs, and signed checkpoints.
//!
//! The database is the source of truth. The in-memory [`Tree`] is a cache rebuilt from the
//! stored leaf hashes at start and extended from them before every proof and checkpoint, so
//! several server processes appending to one PostgreSQL log all see the same tree.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Mutex;
use tribune_ledger::{
    Checkpoint, ConsistencyProof, Entry, Hash, InclusionProof, PrefetchedLeafHashes, SigningKey, Tree,
    VerifierKey,
};
use tribune_store::{
    Appended, CheckpointRecord, EntryMeta, LedgerAppend, LedgerWriter, SideRecord, Store, StoreError,
};

use crate::state::now_ms;

/// Leaf hashes read from the database per query while catching the tree up.
const SYNC_CHUNK: u64 = 65_536;

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A proof, key or checkpoint operation failed.
    #[error(transparent)]
    Ledger(#[from] tribune_ledger::Error),
    /// The signing key file is unusable.
    #[error("ledger signing key `{path}`: {message}")]
    Key {
        /// The key file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A size or index beyond the log.
    #[error("{0}")]
    OutOfRange(String),
}

/// The ledger as the server uses it.
pub struct Ledger {
    store: Store,
    writer: LedgerWriter,
    key: SigningKey,
    tree: Mutex<Tree>,
}

impl Ledger {
    /// Opens the ledger on `store` with `key`, rebuilding the tree from the stored leaf hashes.
    pub async fn open(store: Store, key: SigningKey) -> Result<Arc<Ledger>, LedgerError> {
        let ledger = Ledger {
            writer: LedgerWriter::spawn_ledger(store.clone(), 1024),
            store,
            key,
            tree: Mutex::new(Tree::new()),
        };
        // A log whose stored hashes cannot be read back (a row deleted by hand, say) still takes
        // appends — they number from the head — and still serves its entries to auditors, whose
        // verification then names the damage. Proofs and new checkpoints fail until it is fixed.
        if let Err(e) = ledger.sync().await {
            tracing::error!(error = %e, "the ledger's stored leaf hashes do not rebuild its tree; no checkpoints will be signed");
        }
        Ok(Arc::new(ledger))
    }

    /// The public key auditors verify with.
    pub fn verifier_key(&self) -> VerifierKey {
        self.key.verifier_key()
    }

    /// The checkpoint origin (the key's name: the deployment).
    pub fn origin(&self) -> &str {
        self.key.name()
    }

    /// Appends one entry (with its side record) and waits until it is durable.
    pub async fn append(
        &self,
        entry: Entry,
        meta: EntryMeta,
        side: SideRecord,
    ) -> Result<Appended, StoreError> {
        self.writer.append(LedgerAppend { entry, meta, side }).await
    }

    /// Appends a governance event (an OCSF event from `ocsf::event`) of `event_class`, about no
    /// data classification, and waits until it is durable.
    pub async fn record_event(
        &self,
        event_class: &str,
        event: serde_json::Value,
        at_ms: i64,
        side: SideRecord,
    ) -> Result<Appended, StoreError> {
        let entry = crate::ocsf::entry(event)?;
        let meta = EntryMeta {
            event_class: event_class.to_owned(),
            classification: None,
            correlation_uid: None,
            created_at_ms: at_ms,
        };
        self.append(entry, meta, side).await
    }

    /// The writer's counters, for metrics.
    pub fn writer_stats(&self) -> tribune_store::WriterStats {
        self.writer.stats()
    }

    /// Catches the in-memory tree up with the database; returns its size and root.
    pub async fn sync(&self) -> Result<(u64, Hash), LedgerError> {
        let head = self.store.ledger_head().await?;
        let mut tree = self.tree.lock().await;
        while tree.size() < head.size() {
            let end = head.size().min(tree.size() + SYNC_CHUNK);
            let hashes = self.store.ledger_leaf_hashes(tree.size()..end).await?;
            tree.extend(hashes);
        }
        if tree.size() == head.size() && tree.root() != head.root() {
            return Err(LedgerError::Store(StoreError::LedgerInconsistent(
                "the stored leaf hashes do not hash to the head's root",
            )));
        }
        Ok((tree.size(), tree.root()))
    }

    /// Signs and stores a checkpoint for the current size if none exists for it yet; returns
    /// the newest checkpoint.
    pub async fn checkpoint(&self) -> Result<Option<CheckpointRecord>, LedgerError> {
        let (size, root) = self.sync().await?;
        let latest = self.store.latest_checkpoint().await?;
        if size > 0 && latest.as_ref().is_none_or(|c| c.size < size) {
            let note = Checkpoint::new(self.key.name(), size, root)?.sign(&self.key)?;
            let note =
                String::from_utf8(note).map_err(|_| tribune_ledger::Error::MalformedHash { len: 0 })?;
            self.store
                .insert_checkpoint(&CheckpointRecord {
                    size,
                    note,
                    created_at_ms: now_ms(),
                })
                .await?;
            return Ok(self.store.latest_checkpoint().await?);
        }
        Ok(latest)
    }

    /// An inclusion proof for entry `index` in the tree of `size` entries.
    pub async fn inclusion_proof(&self, index: u64, size: u64) -> Result<InclusionProof, LedgerError> {
        self.sync().await?;
        let tree = self.tree.lock().await;
        if size > tree.size() || index >= size {
            return Err(LedgerError::OutOfRange(format!(
                "no entry {index} in a tree of size {size} (the log has {})",
                tree.size()
            )));
        }
        let mut leaves = PrefetchedLeafHashes::new();
        for span in tree.inclusion_leaf_spans(index, size)? {
            leaves.insert(span.start, self.store.ledger_leaf_hashes(span).await?);
        }
        Ok(tree.inclusion_proof(index, size, &leaves)?)
    }

    /// A consistency proof between tree sizes `old` and `new`.
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<ConsistencyProof, LedgerError> {
        self.sync().await?;
        let tree = self.tree.lock().await;
        if new > tree.size() || old > new {
            return Err(LedgerError::OutOfRange(format!(
                "no consistency from {old} to {new} (the log has {})",
                tree.size()
            )));
        }
        let mut leaves = PrefetchedLeafHashes::new();
        for span in tree.consistency_leaf_spans(old, new)? {
            leaves.insert(span.start, self.store.ledger_leaf_hashes(span).await?);
        }
        Ok(tree.consistency_proof(old, new, &leaves)?)
    }

    /// Signs checkpoints once a second while entries arrive, until the task is aborted.
    pub fn spawn_checkpointer(self: &Arc<Self>) -> tokio::task::AbortHandle {
        let ledger = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = ledger.checkpoint().await {
                    tracing::error!(error = %e, "cannot sign a ledger checkpoint");
                }
            }
        })
        .abort_handle()
    }
}

/// Loads the signing key from `path`, or generates one named `origin` and writes it there with
/// owner-only permissions. Returns the key and whether it was created.
pub fn load_or_create_key(path: &Path, origin: &str) -> Result<(SigningKey, bool), LedgerError> {
    let err = |message: String| LedgerError::Key {
        path: path.display().to_string(),
        message,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let key = SigningKey::from_private_key(text.trim()).map_err(|e| err(e.to_string()))?;
            if key.name() != origin {
                tracing::warn!(
                    key = key.name(),
                    deployment = origin,
                    "the ledger key names another deployment; its name stays the checkpoint origin"
                );
            }
            Ok((key, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create its directory: {e}")))?;
            }
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
            let key = SigningKey::from_seed(origin, seed).map_err(|e| err(e.to_string()))?;
            write_private(path, key.to_private_key().as_bytes()).map_err(|e| err(e.to_string()))?;
            Ok((key, true))
        }
        Err(e) => Err(err(e.to_string())),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
