//! The ledger's storage: entries, the head, checkpoints and legal holds.
//!
//! [`Store::append_ledger`] and [`LedgerCommitter`] are the only ways an entry enters the log.
//! In one transaction each locks the head (PostgreSQL: `SELECT ... FOR UPDATE`; SQLite:
//! `BEGIN IMMEDIATE`), numbers the batch's entries from the head's size, writes each entry
//! together with its side record (the decision row, the outcome row, ...), advances the head's
//! compact range, and commits.
//! Because every writer — in this process or another server process on the same PostgreSQL —
//! must hold the head's lock to append, the log stays one tree without gaps or forks.
//!
//! On SQLite a writer that knows the head its previous append left (the group-commit writer
//! does) does not read it: its append is one command that moves the head on only from that
//! size, under the same lock, and rolls itself back if the head is elsewhere or a row clashes,
//! in which case the append runs again, reading the head.
//!
//! [`LedgerCommitter`] plugs this into the group-commit [`BatchWriter`], so many entries share
//! one transaction and each caller learns its entry's index once it is durable. On SQLite it
//! appends through a connection it keeps for itself, outside the pool.

use std::ops::Range;

use sqlx::Row as _;
use tribune_ledger::{Entry, Frontier, Hash};

use crate::approvals::{ApprovalRecord, MfaEnrollmentRecord, update_approval, upsert_enrollment};
use crate::error::{Entity, StoreError};
use crate::records::{ActivationRecord, DecisionRecord, OutcomeRecord, TokenRecord};
use crate::reviews::{ActivityReviewRecord, insert_review};
use crate::store::{Backend, Store, insert_activation, insert_decision, insert_token, with_pool};
use crate::writer::{BatchCommit, BatchWriter};
use crate::writes::{Writes, execute_write};

/// What an entry is about, kept beside it for queries and retention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryMeta {
    /// The event class: `decision`, `outcome`, `activation`, `token`, `legal_hold`, ...
    pub event_class: String,
    /// The data classification involved, for retention schedules.
    pub classification: Option<String>,
    /// Links the entry to a decision (OCSF `metadata.correlation_uid`).
    pub correlation_uid: Option<String>,
    /// When the event happened.
    pub created_at_ms: i64,
}

/// A record written in the same transaction as its ledger entry.
#[derive(Debug, Clone)]
pub enum SideRecord {
    /// Nothing besides the entry.
    None,
    /// A decision row.
    Decision(DecisionRecord),
    /// A call outcome; a second outcome for the same decision is not written and its entry is
    /// not appended ([`Appended::Duplicate`]).
    Outcome(OutcomeRecord),
    /// A bundle activation.
    Activation(ActivationRecord),
    /// A newly issued token (its hash).
    Token(TokenRecord),
    /// An approval request's new state, written only if the stored request is still at
    /// `expected_revision` (compare-and-set); otherwise nothing is written and the entry is not
    /// appended ([`Appended::Stale`]).
    Approval {
        /// The request as it is now.
        record: Box<ApprovalRecord>,
        /// The revision it was read at.
        expected_revision: u64,
    },
    /// A decision that uses an approval: the approval's update, compare-and-set as for
    /// [`SideRecord::Approval`], and the decision row — both, or neither and no entry.
    DecisionUsingApproval {
        /// The decision.
        decision: DecisionRecord,
        /// The approval request, marked used.
        approval: Box<ApprovalRecord>,
        /// The revision it was read at.
        expected_revision: u64,
    },
    /// A human's TOTP enrolment, replacing any earlier one (its secret never enters the entry).
    MfaEnrollment(MfaEnrollmentRecord),
    /// A human's review of the ledger's activity.
    ActivityReview(ActivityReviewRecord),
    /// A governance change described as statements ([`Writes`]): it commits with its entry or
    /// not at all, and a guarded change that finds its row moved on is [`Appended::Stale`].
    Writes(Writes),
}

/// One entry to append.
#[derive(Debug, Clone)]
pub struct LedgerAppend {
    /// The entry: canonical JSON, at most 64 KiB.
    pub entry: Entry,
    /// Its metadata.
    pub meta: EntryMeta,
    /// What is written with it.
    pub side: SideRecord,
}

/// What became of one [`LedgerAppend`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The entry is durable at this index.
    Entry {
        /// Its 0-based position in the log.
        index: u64,
    },
    /// The side record already existed (an outcome reported twice); nothing was appended.
    Duplicate,
    /// A compare-and-set side record found the record changed since it was read; nothing was
    /// written or appended.
    Stale,
}

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntryRecord {
    /// Position in the log.
    pub index: u64,
    /// Its RFC 6962 leaf hash.
    pub leaf_hash: Hash,
    /// The canonical JSON, or `None` once retention pruned it.
    pub payload: Option<Vec<u8>>,
    /// Metadata.
    pub meta: EntryMeta,
    /// When it was pruned.
    pub pruned_at_ms: Option<i64>,
}

/// A signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRecord {
    /// The tree size it commits to.
    pub size: u64,
    /// The signed note (C2SP tlog-checkpoint).
    pub note: String,
    /// When it was signed.
    pub created_at_ms: i64,
}

/// A legal hold over log indices `[from, to]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegalHoldRecord {
    /// Id.
    pub id: String,
    /// First held index.
    pub from_index: u64,
    /// Last held index (inclusive).
    pub to_index: u64,
    /// Why.
    pub reason: String,
    /// Who placed it.
    pub placed_by: String,
    /// When.
    pub placed_at_ms: i64,
    /// When it was released, if it was.
    pub released_at_ms: Option<i64>,
    /// By whom.
    pub released_by: Option<String>,
    /// The first of the two humans a release needs, once one has asked.
    pub release_requested_by: Option<String>,
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::LedgerInconsistent("an index does not fit in 63 bits"))
}

fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::LedgerInconsistent("a negative index is stored"))
}

fn frontier_from_row(size: i64, bytes: &[u8]) -> Result<Frontier, StoreError> {
    let hashes = bytes
        .chunks(32)
        .map(Hash::from_slice)
        .collect::<Result<Vec<_>, _>>()?;
    if !bytes.len().is_multiple_of(32) {
        return Err(StoreError::LedgerInconsistent(
            "the head's compact range is not whole hashes",
        ));
    }
    Ok(Frontier::from_parts(to_u64(size)?, hashes)?)
}

fn frontier_bytes(f: &Frontier) -> Vec<u8> {
    f.hashes()
        .iter()
        .flat_map(|h| h.as_bytes().iter().copied())
        .collect()
}

/// Most rows one multi-row INSERT writes: at 7 or 8 parameters a row, far below SQLite's
/// 32,766 and PostgreSQL's 65,535.
const MAX_INSERT_ROWS: usize = 512;

/// How many of `remaining` rows the next INSERT writes: the largest power of two that fits,
/// so a batch of any size needs at most a few distinct (cached) statements.
fn insert_chunk(remaining: usize) -> usize {
    remaining
        .checked_ilog2()
        .map_or(1, |log| 1 << log)
        .min(MAX_INSERT_ROWS)
}

/// Writes the decision rows gathered in `$decisions` (a `Vec<&DecisionRecord>`, emptied) in
/// multi-row INSERTs, chunked like the entries.
macro_rules! insert_decisions_in_tx {
    ($tx:ident, $decisions:ident) => {{
        let mut rest = &$decisions[..];
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(insert_chunk(rest.len()));
            rest = tail;
            let mut insert = sqlx::QueryBuilder::new("");
            push_decisions!(&mut insert, chunk, "");
            insert
                .build()
                .execute(&mut *$tx)
                .await
                .map_err(|err| StoreError::on_insert(err, Entity::Decision, &decisions_key(chunk)))?;
        }
        $decisions.clear();
    }};
}

/// The side records of an append, written once for both backends: `$tx` is an open
/// transaction that already holds the head's write lock, `$frontier` the head as read in it.
/// Numbers the appended entries from the head, advancing `$frontier`, and evaluates to each
/// item's [`Appended`], the entry rows still to write, and the decision rows still to write
/// (consecutive decisions are written together; the caller writes the last of them).
macro_rules! side_records_in_tx {
    ($tx:ident, $batch:expr, $frontier:ident) => {{
        let mut outputs = Vec::with_capacity($batch.len());
        let mut entries: Vec<EntryRow<'_>> = Vec::with_capacity($batch.len());
        // Consecutive decision rows are written together, flushed before any other side record
        // (which may refer to one of them, as an outcome does) and at the end.
        let mut decisions: Vec<&DecisionRecord> = Vec::new();
        for item in $batch {
            if !matches!(item.side, SideRecord::Decision(_)) {
                insert_decisions_in_tx!($tx, decisions);
            }
            let skipped = match &item.side {
                SideRecord::None => None,
                SideRecord::Decision(d) => {
                    decisions.push(d);
                    None
                }
                SideRecord::Outcome(o) => {
                    let mut insert = sqlx::QueryBuilder::new("");
                    push_outcomes!(
                        &mut insert,
                        std::slice::from_ref(&o),
                        " ON CONFLICT (decision_id) DO NOTHING",
                        "INSERT"
                    );
                    let done = insert.build().execute(&mut *$tx).await?;
                    (done.rows_affected() != 1).then_some(Appended::Duplicate)
                }
                SideRecord::Activation(a) => {
                    insert_activation!(a).execute(&mut *$tx).await?;
                    None
                }
                SideRecord::Token(t) => {
                    insert_token!(t)
                        .execute(&mut *$tx)
                        .await
                        .map_err(|err| StoreError::on_insert(err, Entity::Token, &t.id))?;
                    None
                }
                SideRecord::Approval {
                    record,
                    expected_revision,
                } => {
                    let done = update_approval!(record, *expected_revision)
                        .execute(&mut *$tx)
                        .await?;
                    (done.rows_affected() != 1).then_some(Appended::Stale)
                }
                SideRecord::DecisionUsingApproval {
                    decision,
                    approval,
                    expected_revision,
                } => {
                    let done = update_approval!(approval, *expected_revision)
                        .execute(&mut *$tx)
                        .await?;
                    if done.rows_affected() == 1 {
                        insert_decision!(decision)
                            .execute(&mut *$tx)
                            .await
                            .map_err(|err| StoreError::on_insert(err, Entity::Decision, &decision.id))?;
                        None
                    } else {
                        Some(Appended::Stale)
                    }
                }
                SideRecord::MfaEnrollment(e) => {
                    upsert_enrollment!(e).execute(&mut *$tx).await?;
                    None
                }
                SideRecord::ActivityReview(r) => {
                    insert_review!(r)
                        .execute(&mut *$tx)
                        .await
                        .map_err(|err| StoreError::on_insert(err, Entity::ActivityReview, &r.id))?;
                    None
                }
                SideRecord::Writes(w) => {
                    // A guard that changed a different number of rows than expected (more
                    // than one, say) is undone with its savepoint, so a stale change writes
                    // nothing at all.
                    let moved_on = match &w.guard {
                        Some((guard, rows)) => {
                            sqlx::query("SAVEPOINT side_guard").execute(&mut *$tx).await?;
                            let moved_on = execute_write!($tx, guard) != *rows;
                            if moved_on {
                                sqlx::query("ROLLBACK TO SAVEPOINT side_guard")
                                    .execute(&mut *$tx)
                                    .await?;
                            }
                            // A rollback keeps its savepoint: release it either way, so stale
                            // items in one batch do not stack savepoints.
                            sqlx::query("RELEASE SAVEPOINT side_guard")
                                .execute(&mut *$tx)
                                .await?;
                            moved_on
                        }
                        None => false,
                    };
                    if moved_on {
                        Some(Appended::Stale)
                    } else {
                        for statement in &w.statements {
                            execute_write!($tx, statement);
                        }
                        None
                    }
                }
            };
            if let Some(skipped) = skipped {
                outputs.push(skipped);
                continue;
            }
            let index = $frontier.size();
            let leaf = item.entry.leaf_hash();
            $frontier.push(leaf);
            entries.push((to_i64(index)?, leaf, item));
            outputs.push(Appended::Entry { index });
        }
        (outputs, entries, decisions)
    }};
}

/// One entry row to write: its index, leaf hash and the append it came from.
type EntryRow<'a> = (i64, Hash, &'a LedgerAppend);

/// Adds the multi-row INSERTs of `rows` to `query`, one statement per chunk (see
/// [`insert_chunk`]), each started by `prefix` (the table and columns) and followed by
/// `separator`; `push` binds one row.
fn push_inserts<'r, DB: sqlx::Database, T: 'r>(
    query: &mut sqlx::QueryBuilder<DB>,
    prefix: &str,
    rows: &'r [T],
    mut push: impl FnMut(sqlx::query_builder::Separated<'_, DB, &'static str>, &'r T),
    separator: &str,
) {
    let mut rest = rows;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(insert_chunk(rest.len()));
        rest = tail;
        query.push(prefix);
        query.push_values(chunk, &mut push);
        query.push(separator);
    }
}

/// Adds the INSERTs of ledger entry rows (`&[EntryRow]`) to a query builder of either backend;
/// `$insert` is the statement's verb (`"INSERT"`, or SQLite's `"INSERT OR ROLLBACK"`).
macro_rules! push_entries {
    ($query:expr, $rows:expr, $separator:expr) => {
        push_entries!($query, $rows, $separator, "INSERT")
    };
    ($query:expr, $rows:expr, $separator:expr, $insert:literal) => {
        push_inserts(
            $query,
            concat!(
                $insert,
                " INTO ledger_entries
                   (idx, leaf_hash, payload, event_class, classification, correlation_uid, created_at_ms) "
            ),
            $rows,
            |mut row, (index, leaf, item)| {
                row.push_bind(*index)
                    .push_bind(&leaf.as_bytes()[..])
                    .push_bind(item.entry.as_bytes())
                    .push_bind(&item.meta.event_class)
                    .push_bind(&item.meta.classification)
                    .push_bind(&item.meta.correlation_uid)
                    .push_bind(item.meta.created_at_ms);
            },
            $separator,
        )
    };
}

/// Adds the INSERTs of decision rows (`&[&DecisionRecord]`) to a query builder of either
/// backend; `$insert` as for [`push_entries`].
macro_rules! push_decisions {
    ($query:expr, $rows:expr, $separator:expr) => {
        push_decisions!($query, $rows, $separator, "INSERT")
    };
    ($query:expr, $rows:expr, $separator:expr, $insert:literal) => {
        push_inserts(
            $query,
            concat!(
                $insert,
                " INTO decisions
                   (id, created_at_ms, principal, tool, outcome, arguments_hash, bundle_hash, body) "
            ),
            $rows,
            |mut row, d| {
                row.push_bind(&d.id)
                    .push_bind(d.created_at_ms)
                    .push_bind(&d.principal)
                    .push_bind(&d.tool)
                    .push_bind(&d.outcome)
                    .push_bind(&d.arguments_hash)
                    .push_bind(&d.bundle_hash)
                    .push_bind(d.body.to_string());
            },
            $separator,
        )
    };
}

/// Adds the INSERTs of outcome rows (`&[&OutcomeRecord]`) to a query builder of either
/// backend; `$insert` as for [`push_entries`].
macro_rules! push_outcomes {
    ($query:expr, $rows:expr, $separator:expr, $insert:literal) => {
        push_inserts(
            $query,
            concat!(
                $insert,
                " INTO outcomes (decision_id, recorded_at_ms, status, body) "
            ),
            $rows,
            |mut row, o| {
                row.push_bind(&o.decision_id)
                    .push_bind(o.recorded_at_ms)
                    .push_bind(&o.status)
                    .push_bind(o.body.to_string());
            },
            $separator,
        )
    };
}

/// The key a clash among `decisions` (written together) is reported under.
fn decisions_key(decisions: &[&DecisionRecord]) -> String {
    match decisions {
        [one] => one.id.clone(),
        [first, ..] => format!(
            "{} (one of {} decisions written together)",
            first.id,
            decisions.len()
        ),
        [] => String::new(),
    }
}

/// The most entries whose final command an SQLite append keeps prepared. Its text follows the
/// batch's shape (how many decision, outcome and entry rows), so only the small shapes, which
/// recur, are kept: 209 for up to eight entries, inside the committer's connection's statement
/// cache (`LEDGER_STATEMENT_CACHE`), which holds only the ledger's statements. A large batch's
/// command is prepared once and dropped instead of pushing the hot ones out. (Direct
/// [`Store::append_ledger`] calls, which are rare, keep theirs in a pooled connection's cache.)
const CACHED_TAIL_ROWS: usize = 8;

/// A pooled SQLite connection inside a transaction this module began by hand: unless
/// [`SqliteTx::ended`] is called, the connection is closed instead of going back to the
/// pool, and SQLite rolls the transaction back as it closes, so an error or a dropped future
/// never hands the next user a connection that is still inside a transaction.
struct SqliteTx {
    conn: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    ended: bool,
}

impl SqliteTx {
    async fn begin(pool: &sqlx::SqlitePool) -> Result<SqliteTx, StoreError> {
        Ok(SqliteTx {
            conn: pool.acquire().await?,
            ended: false,
        })
    }

    /// The transaction committed or rolled back: the connection may be used again.
    fn ended(mut self) {
        self.ended = true;
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if !self.ended {
            self.conn.close_on_drop();
        }
    }
}

impl std::ops::Deref for SqliteTx {
    type Target = sqlx::SqliteConnection;
    fn deref(&self) -> &sqlx::SqliteConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut sqlx::SqliteConnection {
        &mut self.conn
    }
}

/// Appends on SQLite through `conn`. Every statement is a hand-off to sqlx's worker thread (two
/// thread wake-ups, most of what an append costs besides the fsync), so:
///
/// - if `head` holds the head this appender left behind and the batch's side records need no
///   answer of their own (decisions, outcomes, plain entries), the whole append is one command
///   ([`append_sqlite_from`]); if another writer moved the head meanwhile, or a row clashes
///   (an outcome reported twice), that command rolls itself back and the append runs as below;
///   any other error fails the append, as it would have failed below;
/// - otherwise the head is read under the write lock ([`append_sqlite_locked`]).
///
/// On return `head` holds the head this append left, or `None` if it failed. After an error
/// `conn` may still be inside the transaction: the caller closes it.
async fn append_sqlite(
    conn: &mut sqlx::SqliteConnection,
    batch: &[LedgerAppend],
    head: &mut Option<Frontier>,
) -> Result<Vec<Appended>, StoreError> {
    if let Some(known) = head.take()
        && let Some(rows) = KnownHeadRows::of(batch, known)?
    {
        let start = rows.start;
        match append_sqlite_from(conn, &rows).await {
            Ok(true) => {
                *head = Some(rows.frontier);
                return Ok((start..start + batch.len() as u64)
                    .map(|index| Appended::Entry { index })
                    .collect());
            }
            Ok(false) => {}
            // Not retried: after an error in COMMIT nobody can say whether the batch is on disk.
            Err(err) => return Err(err),
        }
    }
    let (outputs, frontier) = append_sqlite_locked(conn, batch).await?;
    *head = Some(frontier);
    Ok(outputs)
}

/// A batch numbered from a known head: every item gets an entry, and its side record (if any)
/// is a decision or an outcome of a decision stored or earlier in the batch.
struct KnownHeadRows<'a> {
    /// The known head's size: the index of the batch's first entry.
    start: u64,
    /// The head after the batch.
    frontier: Frontier,
    decisions: Vec<&'a DecisionRecord>,
    outcomes: Vec<&'a OutcomeRecord>,
    entries: Vec<EntryRow<'a>>,
}

impl<'a> KnownHeadRows<'a> {
    /// The batch's rows numbered from `head`, or `None` if a side record needs an answer of
    /// its own (a compare-and-set, a guarded change) or is not written by this path, or an
    /// outcome comes before its decision (the command writes every decision row first, so it
    /// would succeed where [`append_sqlite_locked`] fails on the foreign key).
    fn of(batch: &'a [LedgerAppend], head: Frontier) -> Result<Option<KnownHeadRows<'a>>, StoreError> {
        let mut rows = KnownHeadRows {
            start: head.size(),
            frontier: head,
            decisions: Vec::new(),
            outcomes: Vec::new(),
            entries: Vec::with_capacity(batch.len()),
        };
        let mut reported = std::collections::HashSet::new();
        for item in batch {
            match &item.side {
                SideRecord::None => {}
                SideRecord::Decision(d) if reported.contains(d.id.as_str()) => return Ok(None),
                SideRecord::Decision(d) => rows.decisions.push(d),
                SideRecord::Outcome(o) => {
                    reported.insert(o.decision_id.as_str());
                    rows.outcomes.push(o);
                }
                _ => return Ok(None),
            }
            let index = rows.frontier.size();
            let leaf = item.entry.leaf_hash();
            rows.frontier.push(leaf);
            rows.entries.push((to_i64(index)?, leaf, item));
        }
        Ok(Some(rows))
    }
}

/// Appends `rows` in one command: take the write lock, move the head on from the known size
/// (a `CHECK` fails if the stored head is elsewhere), write the decision rows, then the
/// outcome rows (an outcome may be of a decision in the same batch), then the entries, and
/// commit. Every statement resolves a conflict (a `UNIQUE`, `PRIMARY KEY` or `CHECK`
/// constraint) by rolling the whole transaction back, so `Ok(false)` means nothing was written
/// and the connection is out of its transaction: the head moved (another writer appended), or
/// a row was already there (an outcome reported twice, a decision id taken), for
/// [`append_sqlite_locked`] to sort out. `OR ROLLBACK` does not cover foreign keys (an outcome
/// of an unknown decision) or other errors: those may leave the transaction open, for the
/// caller to close the connection.
async fn append_sqlite_from(
    conn: &mut sqlx::SqliteConnection,
    rows: &KnownHeadRows<'_>,
) -> Result<bool, StoreError> {
    let mut command = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
        "BEGIN IMMEDIATE; UPDATE OR ROLLBACK ledger_head SET size = CASE WHEN size = ",
    );
    command
        .push_bind(to_i64(rows.start)?)
        .push(" THEN ")
        .push_bind(to_i64(rows.frontier.size())?)
        .push(" ELSE -1 END, frontier = ")
        .push_bind(frontier_bytes(&rows.frontier))
        .push(" WHERE id = 1; ");
    push_decisions!(&mut command, &rows.decisions, "; ", "INSERT OR ROLLBACK");
    push_outcomes!(&mut command, &rows.outcomes, "; ", "INSERT OR ROLLBACK");
    push_entries!(&mut command, &rows.entries, "; ", "INSERT OR ROLLBACK");
    command.push("COMMIT");
    let done = command
        .build()
        .persistent(rows.entries.len() <= CACHED_TAIL_ROWS)
        .execute(&mut *conn)
        .await;
    match done {
        Ok(_) => Ok(true),
        Err(err)
            if err.as_database_error().is_some_and(|db| {
                matches!(
                    db.kind(),
                    sqlx::error::ErrorKind::UniqueViolation | sqlx::error::ErrorKind::CheckViolation
                )
            }) =>
        {
            Ok(false)
        }
        Err(err) => Err(err.into()),
    }
}

/// Appends on SQLite with the head read under the write lock, in as few statements as the
/// batch allows: the write lock and the head in one, each side record that needs its own
/// answer (an outcome, a guarded change) in one each, and every remaining row, the new head
/// and the COMMIT in one. Returns each item's [`Appended`] and the head after the batch.
/// After an error `tx` may still be inside the transaction: the caller closes it.
async fn append_sqlite_locked(
    tx: &mut sqlx::SqliteConnection,
    batch: &[LedgerAppend],
) -> Result<(Vec<Appended>, Frontier), StoreError> {
    // BEGIN IMMEDIATE takes SQLite's write lock before the head is read.
    let row = sqlx::query("BEGIN IMMEDIATE; SELECT size, frontier FROM ledger_head WHERE id = 1")
        .persistent(true)
        .fetch_one(&mut *tx)
        .await?;
    let mut frontier = frontier_from_row(row.try_get("size")?, &row.try_get::<Vec<u8>, _>("frontier")?)?;
    let (outputs, entries, decisions) = side_records_in_tx!(tx, batch, frontier);
    let mut tail = sqlx::QueryBuilder::<sqlx::Sqlite>::new("");
    push_decisions!(&mut tail, &decisions, "; ");
    push_entries!(&mut tail, &entries, "; ");
    tail.push("UPDATE ledger_head SET size = ")
        .push_bind(to_i64(frontier.size())?)
        .push(", frontier = ")
        .push_bind(frontier_bytes(&frontier))
        .push(" WHERE id = 1; COMMIT");
    tail.build()
        .persistent(entries.len() <= CACHED_TAIL_ROWS)
        .execute(&mut *tx)
        .await
        .map_err(|err| {
            // One command wrote both tables: SQLite's message names the one that clashed.
            let clashed_decision = err
                .as_database_error()
                .is_some_and(|db| db.message().contains("decisions."));
            if clashed_decision {
                StoreError::on_insert(err, Entity::Decision, &decisions_key(&decisions))
            } else {
                let first = entries.first().map_or(0, |(index, _, _)| *index);
                StoreError::on_insert(err, Entity::LedgerEntry, &first.to_string())
            }
        })?;
    Ok((outputs, frontier))
}

/// Appends on PostgreSQL: the head's row lock serializes appends across every server process
/// sharing the database.
async fn append_postgres(pool: &sqlx::PgPool, batch: &[LedgerAppend]) -> Result<Vec<Appended>, StoreError> {
    let mut tx = pool.begin().await?;
    let row = sqlx::query("SELECT size, frontier FROM ledger_head WHERE id = 1 FOR UPDATE")
        .fetch_one(&mut *tx)
        .await?;
    let mut frontier = frontier_from_row(row.try_get("size")?, &row.try_get::<Vec<u8>, _>("frontier")?)?;
    let (outputs, entries, mut decisions) = side_records_in_tx!(tx, batch, frontier);
    insert_decisions_in_tx!(tx, decisions);
    // The entries go in as few multi-row INSERTs as possible: per statement, not per row, is
    // what an append costs. Chunks are powers of two so only a few distinct statements are
    // prepared and cached, whatever the batch sizes.
    let mut rest = &entries[..];
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(insert_chunk(rest.len()));
        rest = tail;
        let first = chunk.first().map_or(0, |(index, _, _)| *index);
        let mut insert = sqlx::QueryBuilder::new("");
        push_entries!(&mut insert, chunk, "");
        insert
            .build()
            .persistent(true)
            .execute(&mut *tx)
            .await
            .map_err(|err| StoreError::on_insert(err, Entity::LedgerEntry, &first.to_string()))?;
    }
    sqlx::query("UPDATE ledger_head SET size = $1, frontier = $2 WHERE id = 1")
        .bind(to_i64(frontier.size())?)
        .bind(frontier_bytes(&frontier))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(outputs)
}

impl Store {
    /// Appends `batch` to the log in one transaction, with each item's side record, reading
    /// the head under its lock.
    pub async fn append_ledger(&self, batch: &[LedgerAppend]) -> Result<Vec<Appended>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        match &self.backend {
            Backend::Sqlite { pool, .. } => {
                let mut tx = SqliteTx::begin(pool).await?;
                let (outputs, _) = append_sqlite_locked(&mut tx, batch).await?;
                tx.ended();
                Ok(outputs)
            }
            Backend::Postgres(pool) => append_postgres(pool, batch).await,
        }
    }

    /// The log's size and compact range as stored in its head.
    pub async fn ledger_head(&self) -> Result<Frontier, StoreError> {
        let (size, bytes): (i64, Vec<u8>) = with_pool!(self, pool => {
            sqlx::query_as("SELECT size, frontier FROM ledger_head WHERE id = 1").fetch_one(pool).await?
        });
        frontier_from_row(size, &bytes)
    }

    /// The leaf hashes of `range`, in order. Fails if any is missing (a deleted row).
    pub async fn ledger_leaf_hashes(&self, range: Range<u64>) -> Result<Vec<Hash>, StoreError> {
        let rows: Vec<(i64, Vec<u8>)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT idx, leaf_hash FROM ledger_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx")
                .bind(to_i64(range.start)?)
                .bind(to_i64(range.end)?)
                .fetch_all(pool)
                .await?
        });
        let mut out = Vec::with_capacity(rows.len());
        for (expected, (idx, hash)) in range.clone().zip(&rows) {
            if to_u64(*idx)? != expected {
                return Err(StoreError::NotFound {
                    entity: Entity::LedgerEntry,
                    key: expected.to_string(),
                });
            }
            out.push(Hash::from_slice(hash)?);
        }
        if (out.len() as u64) < range.end.saturating_sub(range.start) {
            let missing = range.start + out.len() as u64;
            return Err(StoreError::NotFound {
                entity: Entity::LedgerEntry,
                key: missing.to_string(),
            });
        }
        Ok(out)
    }

    /// Up to `limit` entries from index `from` on, in order (gaps are not filled in: a verifier
    /// sees them as missing).
    pub async fn ledger_entries(&self, from: u64, limit: u32) -> Result<Vec<LedgerEntryRecord>, StoreError> {
        type Row = (
            i64,
            Vec<u8>,
            Option<Vec<u8>>,
            String,
            Option<String>,
            Option<String>,
            i64,
            Option<i64>,
        );
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT idx, leaf_hash, payload, event_class, classification, correlation_uid, created_at_ms, pruned_at_ms
                 FROM ledger_entries WHERE idx >= $1 ORDER BY idx LIMIT $2",
            )
            .bind(to_i64(from)?)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(
                |(
                    idx,
                    leaf,
                    payload,
                    event_class,
                    classification,
                    correlation_uid,
                    created_at_ms,
                    pruned_at_ms,
                )| {
                    Ok(LedgerEntryRecord {
                        index: to_u64(idx)?,
                        leaf_hash: Hash::from_slice(&leaf)?,
                        payload,
                        meta: EntryMeta {
                            event_class,
                            classification,
                            correlation_uid,
                            created_at_ms,
                        },
                        pruned_at_ms,
                    })
                },
            )
            .collect()
    }

    /// The entry at `index`, if stored.
    pub async fn ledger_entry(&self, index: u64) -> Result<Option<LedgerEntryRecord>, StoreError> {
        Ok(self
            .ledger_entries(index, 1)
            .await?
            .into_iter()
            .find(|e| e.index == index))
    }

    /// Stores a signed checkpoint; returns false if one for that size already exists.
    pub async fn insert_checkpoint(&self, checkpoint: &CheckpointRecord) -> Result<bool, StoreError> {
        let done = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO ledger_checkpoints (size, note, created_at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (size) DO NOTHING",
            )
            .bind(to_i64(checkpoint.size)?)
            .bind(&checkpoint.note)
            .bind(checkpoint.created_at_ms)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Checkpoints with sizes in `[from_size, ...)`, oldest first, at most `limit`.
    pub async fn checkpoints(&self, from_size: u64, limit: u32) -> Result<Vec<CheckpointRecord>, StoreError> {
        let rows: Vec<(i64, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT size, note, created_at_ms FROM ledger_checkpoints WHERE size >= $1 ORDER BY size LIMIT $2",
            )
            .bind(to_i64(from_size)?)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(size, note, created_at_ms)| {
                Ok(CheckpointRecord {
                    size: to_u64(size)?,
                    note,
                    created_at_ms,
                })
            })
            .collect()
    }

    /// The newest checkpoint.
    pub async fn latest_checkpoint(&self) -> Result<Option<CheckpointRecord>, StoreError> {
        let row: Option<(i64, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT size, note, created_at_ms FROM ledger_checkpoints ORDER BY size DESC LIMIT 1")
                .fetch_optional(pool)
                .await?
        });
        row.map(|(size, note, created_at_ms)| {
            Ok(CheckpointRecord {
                size: to_u64(size)?,
                note,
                created_at_ms,
            })
        })
        .transpose()
    }

    /// Places a legal hold.
    pub async fn insert_legal_hold(&self, hold: &LegalHoldRecord) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO legal_holds (id, from_idx, to_idx, reason, placed_by, placed_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&hold.id)
            .bind(to_i64(hold.from_index)?)
            .bind(to_i64(hold.to_index)?)
            .bind(&hold.reason)
            .bind(&hold.placed_by)
            .bind(hold.placed_at_ms)
            .execute(pool)
            .await
            .map_err(|err| StoreError::on_insert(err, Entity::LegalHold, &hold.id))?;
        });
        Ok(())
    }

    /// Every legal hold, active or released, oldest first.
    pub async fn legal_holds(&self) -> Result<Vec<LegalHoldRecord>, StoreError> {
        type Row = (
            String,
            i64,
            i64,
            String,
            String,
            i64,
            Option<i64>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, from_idx, to_idx, reason, placed_by, placed_at_ms, released_at_ms, released_by,
                        release_requested_by
                 FROM legal_holds ORDER BY placed_at_ms, id",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(
                |(id, from, to, reason, placed_by, placed_at_ms, released_at_ms, released_by, requested)| {
                    Ok(LegalHoldRecord {
                        id,
                        from_index: to_u64(from)?,
                        to_index: to_u64(to)?,
                        reason,
                        placed_by,
                        placed_at_ms,
                        released_at_ms,
                        released_by,
                        release_requested_by: requested,
                    })
                },
            )
            .collect()
    }

    /// One human's step towards releasing hold `id`: releasing needs two distinct humans. The
    /// first call records the request; a call by a different human releases the hold.
    pub async fn step_hold_release(&self, id: &str, by: &str, at_ms: i64) -> Result<ReleaseStep, StoreError> {
        self.two_person_step(&HOLD_RELEASE, id, by, at_ms).await
    }

    /// One human's step of a two-person change (`sql` names the table's queries): the first
    /// records the request, a different human completes it. Each update is a compare-and-set,
    /// so racing humans cannot both be "second".
    pub(crate) async fn two_person_step(
        &self,
        sql: &TwoPersonSql,
        id: &str,
        by: &str,
        at_ms: i64,
    ) -> Result<ReleaseStep, StoreError> {
        let row: Option<(Option<String>, Option<i64>)> = with_pool!(self, pool => {
            sqlx::query_as(sql.read).bind(id).fetch_optional(pool).await?
        });
        let Some((requested_by, done_at)) = row else {
            return Ok(ReleaseStep::NotFound);
        };
        if done_at.is_some() {
            return Ok(ReleaseStep::AlreadyReleased);
        }
        let first = match requested_by {
            None => {
                let updated = with_pool!(self, pool => {
                    sqlx::query(sql.request)
                        .bind(by)
                        .bind(at_ms)
                        .bind(id)
                        .execute(pool)
                        .await?
                        .rows_affected()
                });
                return Ok(if updated == 1 {
                    ReleaseStep::Requested
                } else {
                    ReleaseStep::AlreadyReleased
                });
            }
            Some(first) if first == by => return Ok(ReleaseStep::SameHuman),
            Some(first) => first,
        };
        let done = with_pool!(self, pool => {
            sqlx::query(sql.complete)
                .bind(at_ms)
                .bind(by)
                .bind(id)
                .bind(&first)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(if done == 1 {
            ReleaseStep::Released { first }
        } else {
            ReleaseStep::AlreadyReleased
        })
    }

    /// Entries of `event_class` created before `before_ms`, from index `from_index` on, whose
    /// payload is still stored and that no active legal hold covers: `(index, classification, created_at_ms)`, oldest first.
    pub async fn retention_candidates(
        &self,
        event_class: &str,
        before_ms: i64,
        from_index: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Option<String>, i64)>, StoreError> {
        let rows: Vec<(i64, Option<String>, i64)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT idx, classification, created_at_ms FROM ledger_entries e
                 WHERE payload IS NOT NULL AND event_class = $1 AND created_at_ms < $2 AND idx >= $4
                   AND NOT EXISTS (SELECT 1 FROM legal_holds h
                                   WHERE h.released_at_ms IS NULL AND e.idx BETWEEN h.from_idx AND h.to_idx)
                 ORDER BY idx LIMIT $3",
            )
            .bind(event_class)
            .bind(before_ms)
            .bind(i64::from(limit))
            .bind(to_i64(from_index)?)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(|(i, c, t)| Ok((to_u64(i)?, c, t))).collect()
    }

    /// Deletes the payloads of `indices` (keeping their leaf hashes), except those an active
    /// legal hold covers at this moment. Returns the indices pruned.
    pub async fn prune_entries(&self, indices: &[u64], at_ms: i64) -> Result<Vec<u64>, StoreError> {
        let mut pruned = Vec::new();
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for &index in indices {
                let done = sqlx::query(
                    "UPDATE ledger_entries SET payload = NULL, pruned_at_ms = $1
                     WHERE idx = $2 AND payload IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM legal_holds h
                                       WHERE h.released_at_ms IS NULL AND $2 BETWEEN h.from_idx AND h.to_idx)",
                )
                .bind(at_ms)
                .bind(to_i64(index)?)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 1 {
                    pruned.push(index);
                }
            }
            tx.commit().await?;
        });
        Ok(pruned)
    }
}

/// The three queries of a two-person change on one table: read (requested by, completed at) by
/// id; record the request ($1 by, $2 at, $3 id); complete it ($1 at, $2 by, $3 id, $4 first).
#[derive(Debug)]
pub(crate) struct TwoPersonSql {
    pub(crate) read: &'static str,
    pub(crate) request: &'static str,
    pub(crate) complete: &'static str,
}

const HOLD_RELEASE: TwoPersonSql = TwoPersonSql {
    read: "SELECT release_requested_by, released_at_ms FROM legal_holds WHERE id = $1",
    request: "UPDATE legal_holds SET release_requested_by = $1, release_requested_at_ms = $2
              WHERE id = $3 AND release_requested_by IS NULL AND released_at_ms IS NULL",
    complete: "UPDATE legal_holds SET released_at_ms = $1, released_by = $2
               WHERE id = $3 AND released_at_ms IS NULL AND release_requested_by = $4",
};

/// The result of one step of a two-person change: releasing a legal hold or resuming a stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseStep {
    /// No such hold.
    NotFound,
    /// The hold was already released.
    AlreadyReleased,
    /// The first human asked; a second, different human must confirm.
    Requested,
    /// The human who asked first asked again; it does not count twice.
    SameHuman,
    /// A second human confirmed; the hold is released.
    Released {
        /// Who asked first.
        first: String,
    },
}

/// Commits batches of [`LedgerAppend`]s to a store's log, each in one transaction, as
/// [`Store::append_ledger`] does.
///
/// On SQLite it keeps, between batches, the head its last batch left (see `append_sqlite`)
/// and a connection of its own, opened at its first batch: a pooled one would cost a round
/// trip to sqlx's worker thread each time it went back to the pool. The connection is held
/// only by the batch while it runs and put back when the batch commits, so a batch that fails,
/// or whose future is dropped, closes it (it may be inside the transaction, which SQLite rolls
/// back as it closes), and the next batch opens another. A batch that starts after the store
/// was closed ([`Store::close`]) fails, and closes the connection.
#[derive(Debug)]
pub struct LedgerCommitter {
    store: Store,
    /// The head its last batch left, if it committed (SQLite).
    head: Option<Frontier>,
    /// Its own connection (SQLite), once opened.
    conn: Option<sqlx::SqliteConnection>,
}

impl LedgerCommitter {
    /// A committer appending to `store`'s log.
    pub fn new(store: Store) -> Self {
        LedgerCommitter {
            store,
            head: None,
            conn: None,
        }
    }
}

impl BatchCommit for LedgerCommitter {
    type Item = LedgerAppend;
    type Output = Appended;

    async fn commit(&mut self, batch: &[LedgerAppend]) -> Result<Vec<Appended>, StoreError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let (pool, options) = match &self.store.backend {
            Backend::Postgres(pool) => return append_postgres(pool, batch).await,
            Backend::Sqlite { pool, ledger } => (pool, ledger),
        };
        // Taken out for the batch: whatever ends it other than a commit drops the connection.
        let conn = self.conn.take();
        if pool.is_closed() {
            self.head = None;
            return Err(StoreError::Database(sqlx::Error::PoolClosed));
        }
        let mut conn = match conn {
            Some(conn) => conn,
            None => {
                use sqlx::ConnectOptions as _;
                options.connect().await?
            }
        };
        let appended = append_sqlite(&mut conn, batch, &mut self.head).await?;
        self.conn = Some(conn);
        Ok(appended)
    }
}

/// The group-commit writer of the ledger.
pub type LedgerWriter = BatchWriter<LedgerAppend, Appended>;

impl BatchWriter<LedgerAppend, Appended> {
    /// Starts a ledger writer on `store`, at most `max_batch` entries per transaction.
    pub fn spawn_ledger(store: Store, max_batch: usize) -> LedgerWriter {
        BatchWriter::spawn_with(LedgerCommitter::new(store), max_batch)
    }
}

#[cfg(test)]
mod tests {
    //! The one-command SQLite append alone, and the committer's hold on its connection: the
    //! integration tests see only that appends come out right, which the locked append would
    //! give too. These need the private parts.

    use serde_json::json;

    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn append(n: u64, side: SideRecord) -> LedgerAppend {
        LedgerAppend {
            entry: Entry::from_json(&json!({ "n": n })).expect("a small object is an entry"),
            meta: EntryMeta {
                event_class: "audit_read".to_owned(),
                classification: None,
                correlation_uid: None,
                created_at_ms: 1_700_000_000_000,
            },
            side,
        }
    }

    fn decision(id: &str) -> DecisionRecord {
        DecisionRecord {
            id: id.to_owned(),
            created_at_ms: 1_700_000_000_000,
            principal: "agent:a".to_owned(),
            tool: "fs.read".to_owned(),
            outcome: "allow".to_owned(),
            arguments_hash: "0".repeat(64),
            bundle_hash: "b".repeat(64),
            body: json!({ "decision": "allow" }),
        }
    }

    fn outcome(decision_id: &str) -> SideRecord {
        SideRecord::Outcome(OutcomeRecord {
            decision_id: decision_id.to_owned(),
            recorded_at_ms: 1_700_000_000_001,
            status: "succeeded".to_owned(),
            body: json!({ "status": "succeeded" }),
        })
    }

    /// A SQLite store and one connection of its pool, held for the test as a committer holds
    /// its own.
    async fn sqlite() -> Result<
        (Store, sqlx::pool::PoolConnection<sqlx::Sqlite>, tempfile::TempDir),
        Box<dyn std::error::Error>,
    > {
        let dir = tempfile::tempdir()?;
        let store = Store::open_sqlite(&dir.path().join("ledger.db")).await?;
        let Backend::Sqlite { pool, .. } = &store.backend else {
            return Err("open_sqlite made a store of another backend".into());
        };
        let conn = pool.acquire().await?;
        Ok((store, conn, dir))
    }

    #[tokio::test]
    async fn one_command_writes_every_row_from_the_right_head_and_nothing_from_a_stale_one() -> TestResult {
        let (store, mut conn, _dir) = sqlite().await?;
        let d = decision("d1");
        let first = [
            append(0, SideRecord::Decision(d.clone())),
            append(1, outcome("d1")),
            append(2, SideRecord::None),
        ];
        let rows = KnownHeadRows::of(&first, Frontier::new())?.ok_or("decisions and outcomes fit")?;
        assert!(
            append_sqlite_from(&mut conn, &rows).await?,
            "refused from the right head"
        );
        assert_eq!(store.ledger_head().await?, rows.frontier);
        assert_eq!(store.decision("d1").await?.as_ref(), Some(&d));
        let reported = store
            .outcome("d1")
            .await?
            .ok_or("the outcome row was not written")?;
        assert_eq!(
            (reported.status.as_str(), reported.recorded_at_ms),
            ("succeeded", 1_700_000_000_001)
        );
        let stored = store.ledger_entries(0, 10).await?;
        let payloads: Vec<_> = stored.iter().map(|r| r.payload.as_deref()).collect();
        let expected: Vec<_> = first.iter().map(|a| Some(a.entry.as_bytes())).collect();
        assert_eq!(payloads, expected);

        // The empty head is stale now: nothing of this batch may be written.
        let next = [append(3, SideRecord::None)];
        let stale = KnownHeadRows::of(&next, Frontier::new())?.ok_or("plain entries fit")?;
        assert!(
            !append_sqlite_from(&mut conn, &stale).await?,
            "appended from a stale head"
        );
        // From the right head, an outcome reported twice: nothing written either.
        let twice = [append(3, SideRecord::None), append(4, outcome("d1"))];
        let head = store.ledger_head().await?;
        let clash = KnownHeadRows::of(&twice, head.clone())?.ok_or("an outcome fits")?;
        assert!(
            !append_sqlite_from(&mut conn, &clash).await?,
            "appended a second outcome"
        );
        assert_eq!(store.ledger_head().await?, head);
        assert_eq!(store.ledger_entries(0, 10).await?.len(), 3);

        // Each refusal left the connection out of its transaction: the next command on it
        // commits.
        let rows = KnownHeadRows::of(&next, head)?.ok_or("plain entries fit")?;
        assert!(
            append_sqlite_from(&mut conn, &rows).await?,
            "refused from the right head"
        );
        assert_eq!(store.ledger_head().await?.size(), 4);
        Ok(())
    }

    #[tokio::test]
    async fn the_head_refuses_a_stale_size_even_where_no_entry_row_clashes() -> TestResult {
        let (store, mut conn, _dir) = sqlite().await?;
        let first = [append(0, SideRecord::None), append(1, SideRecord::None)];
        let rows = KnownHeadRows::of(&first, Frontier::new())?.ok_or("plain entries fit")?;
        assert!(append_sqlite_from(&mut conn, &rows).await?);
        let known = rows.frontier;
        store.append_ledger(&[append(2, SideRecord::None)]).await?;
        // With entry 2's row gone, only the head's own check stands between a stale head and a
        // second entry 2 under a rewritten head.
        sqlx::query("DELETE FROM ledger_entries WHERE idx = 2")
            .execute(&mut *conn)
            .await?;
        let next = [append(3, SideRecord::None)];
        let stale = KnownHeadRows::of(&next, known)?.ok_or("plain entries fit")?;
        assert!(
            !append_sqlite_from(&mut conn, &stale).await?,
            "appended from a stale head"
        );
        assert_eq!(store.ledger_head().await?.size(), 3);
        Ok(())
    }

    #[tokio::test]
    async fn batches_the_command_cannot_write_as_the_locked_append_would_are_left_to_it() -> TestResult {
        let guarded = [append(0, SideRecord::Writes(Writes::of(Vec::new())))];
        assert!(KnownHeadRows::of(&guarded, Frontier::new())?.is_none());
        // An outcome before its decision: the locked append refuses it on the foreign key.
        let backwards = [
            append(0, outcome("d1")),
            append(1, SideRecord::Decision(decision("d1"))),
        ];
        assert!(KnownHeadRows::of(&backwards, Frontier::new())?.is_none());
        let forwards = [
            append(0, SideRecord::Decision(decision("d1"))),
            append(1, outcome("d1")),
        ];
        assert!(KnownHeadRows::of(&forwards, Frontier::new())?.is_some());
        Ok(())
    }

    /// A SQLite store and a committer that has appended entry 0 to it.
    async fn committer_after_one_entry()
    -> Result<(Store, LedgerCommitter, tempfile::TempDir), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let store = Store::open_sqlite(&dir.path().join("ledger.db")).await?;
        let mut committer = LedgerCommitter::new(store.clone());
        committer.commit(&[append(0, SideRecord::None)]).await?;
        Ok((store, committer, dir))
    }

    #[tokio::test]
    async fn a_failed_batch_forgets_the_head_and_closes_the_connection() -> TestResult {
        let (store, mut committer, _dir) = committer_after_one_entry().await?;
        assert_eq!(committer.head.as_ref().map(Frontier::size), Some(1));
        assert!(committer.conn.is_some());
        // An outcome of a decision never made fails on the foreign key inside the transaction:
        // first in the one command from the known head, then, the head forgotten, in the
        // locked append.
        let orphan = [append(1, outcome("nobody"))];
        for path in ["one command", "locked"] {
            assert!(committer.commit(&orphan).await.is_err(), "{path}");
            assert_eq!(committer.head, None, "{path}");
            assert!(
                committer.conn.is_none(),
                "{path}: a connection maybe inside a transaction was kept"
            );
        }
        assert_eq!(store.ledger_head().await?.size(), 1);
        // The transaction it left open was rolled back as its connection closed: another
        // writer can append, and so can the committer, on a new connection.
        store.append_ledger(&[append(2, SideRecord::None)]).await?;
        let appended = committer.commit(&[append(3, SideRecord::None)]).await?;
        assert_eq!(appended, [Appended::Entry { index: 2 }]);
        Ok(())
    }

    #[tokio::test]
    async fn a_batch_dropped_midway_closes_the_connection() -> TestResult {
        let (store, mut committer, _dir) = committer_after_one_entry().await?;
        // Another connection holds the write lock, so the batch waits in `BEGIN IMMEDIATE`
        // until it is dropped.
        let Backend::Sqlite { pool, .. } = &store.backend else {
            return Err("open_sqlite made a store of another backend".into());
        };
        let other = pool.begin_with("BEGIN IMMEDIATE").await?;
        let dropped = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            committer.commit(&[append(1, SideRecord::None)]),
        )
        .await;
        assert!(dropped.is_err(), "the batch did not wait for the write lock");
        assert!(
            committer.conn.is_none(),
            "a connection maybe inside a transaction was kept"
        );
        assert_eq!(committer.head, None);
        other.commit().await?;
        let appended = committer.commit(&[append(2, SideRecord::None)]).await?;
        let [Appended::Entry { index }] = appended[..] else {
            return Err(format!("{appended:?}").into());
        };
        assert_eq!(store.ledger_head().await?.size(), index + 1);
        Ok(())
    }

    #[tokio::test]
    async fn a_closed_store_fails_the_committers_batches() -> TestResult {
        let (store, mut committer, _dir) = committer_after_one_entry().await?;
        store.close().await;
        let Err(err) = committer.commit(&[append(1, SideRecord::None)]).await else {
            return Err("a batch committed after the store was closed".into());
        };
        assert!(
            matches!(err, StoreError::Database(sqlx::Error::PoolClosed)),
            "{err:?}"
        );
        assert!(committer.conn.is_none());
        Ok(())
    }
}
