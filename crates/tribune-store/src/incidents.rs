//! Incidents: what a bundle trigger opened, the evidence it points at in the ledger, the
//! containment run for it, and who closed it and why.
//!
//! An incident is inserted `open`, with its `incident_opened` ledger entry, before any
//! containment runs ([`IncidentRecord::open_write`], a guard): the partial unique index on
//! `(trigger_id, subject) WHERE state = 'open'` lets no second one in, so a trigger firing
//! again on this or another replica while its incident is open contains nothing twice. The
//! containment's results, the checkpoint and the ledger index of the opening entry are written
//! with the `incident_contained` entry ([`IncidentRecord::contained_write`]); closing with
//! `incident_closed` ([`IncidentRecord::close_write`]).

use crate::error::{Entity, StoreError};
use crate::ledger::LegalHoldRecord;
use crate::store::{Store, with_pool};
use crate::writes::Write;

/// Whether an incident is still open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentState {
    /// Open: its trigger does not open another for the same subject.
    Open,
    /// Closed by a human, with a reason.
    Closed,
}

impl IncidentState {
    /// As stored and shown: `open` or `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Closed => "closed",
        }
    }
}

/// The signed checkpoint taken when an incident was opened: it commits to the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentCheckpoint {
    /// The tree size it commits to.
    pub size: u64,
    /// The tree's root hash at that size (base64, as the audit API shows roots).
    pub root: String,
    /// The C2SP signed note itself.
    pub note: String,
}

/// One incident.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentRecord {
    /// Id.
    pub id: String,
    /// The id of the bundle trigger that opened it.
    pub trigger_id: String,
    /// What fired it: `denials`, `forbid`, `dlp`, `canary`, `trust_below`, `drill_failed`.
    pub kind: String,
    /// What it is about: `agent:ID`, `service:ID`, or another subject (`drill:ID`).
    pub subject: String,
    /// What the trigger saw, as JSON (never argument values).
    pub detail: serde_json::Value,
    /// When it was opened.
    pub opened_at_ms: i64,
    /// The ledger range of the evidence, first and last index (inclusive).
    pub evidence: Option<(u64, u64)>,
    /// The checkpoint taken when it was opened, once taken.
    pub checkpoint: Option<IncidentCheckpoint>,
    /// The containment run and each step's result, as JSON (an array).
    pub actions: serde_json::Value,
    /// The ledger entry that records the opening, once written.
    pub ledger_index: Option<u64>,
    /// Open or closed.
    pub state: IncidentState,
    /// Who closed it (`human:ID`).
    pub closed_by: Option<String>,
    /// When.
    pub closed_at_ms: Option<i64>,
    /// Why.
    pub close_reason: Option<String>,
    /// The ledger entry that records the closing, once written.
    pub closed_ledger_index: Option<u64>,
}

/// The columns every read selects, in [`IncidentRow`]'s order.
macro_rules! incident_columns {
    () => {
        "id, trigger_id, kind, subject, detail, opened_at_ms, evidence_from, evidence_to, checkpoint_size,
         checkpoint_root, checkpoint_note, actions, ledger_index, state, closed_by, closed_at_ms, close_reason,
         closed_ledger_index"
    };
}

#[derive(sqlx::FromRow)]
struct IncidentRow {
    id: String,
    trigger_id: String,
    kind: String,
    subject: String,
    detail: String,
    opened_at_ms: i64,
    evidence_from: Option<i64>,
    evidence_to: Option<i64>,
    checkpoint_size: Option<i64>,
    checkpoint_root: Option<String>,
    checkpoint_note: Option<String>,
    actions: String,
    ledger_index: Option<i64>,
    state: String,
    closed_by: Option<String>,
    closed_at_ms: Option<i64>,
    close_reason: Option<String>,
    closed_ledger_index: Option<i64>,
}

impl TryFrom<IncidentRow> for IncidentRecord {
    type Error = StoreError;

    fn try_from(row: IncidentRow) -> Result<Self, StoreError> {
        let corrupt = |column| StoreError::Corrupt {
            entity: Entity::Incident,
            key: row.id.clone(),
            column,
        };
        let json = |text: &str| {
            serde_json::from_str(text).map_err(|source| StoreError::CorruptJson {
                entity: Entity::Incident,
                key: row.id.clone(),
                source,
            })
        };
        let index = |v: Option<i64>, column| {
            v.map(|v| u64::try_from(v).map_err(|_| corrupt(column)))
                .transpose()
        };
        let evidence = match (
            index(row.evidence_from, "evidence_from")?,
            index(row.evidence_to, "evidence_to")?,
        ) {
            (Some(from), Some(to)) => Some((from, to)),
            (None, None) => None,
            _ => return Err(corrupt("evidence_to")),
        };
        let checkpoint = match (
            index(row.checkpoint_size, "checkpoint_size")?,
            &row.checkpoint_root,
            &row.checkpoint_note,
        ) {
            (Some(size), Some(root), Some(note)) => Some(IncidentCheckpoint {
                size,
                root: root.clone(),
                note: note.clone(),
            }),
            (None, None, None) => None,
            _ => return Err(corrupt("checkpoint_size")),
        };
        let state = match row.state.as_str() {
            "open" => IncidentState::Open,
            "closed" => IncidentState::Closed,
            _ => return Err(corrupt("state")),
        };
        Ok(IncidentRecord {
            detail: json(&row.detail)?,
            actions: json(&row.actions)?,
            ledger_index: index(row.ledger_index, "ledger_index")?,
            closed_ledger_index: index(row.closed_ledger_index, "closed_ledger_index")?,
            evidence,
            checkpoint,
            state,
            id: row.id,
            trigger_id: row.trigger_id,
            kind: row.kind,
            subject: row.subject,
            opened_at_ms: row.opened_at_ms,
            closed_by: row.closed_by,
            closed_at_ms: row.closed_at_ms,
            close_reason: row.close_reason,
        })
    }
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::LedgerInconsistent("an index does not fit in 63 bits"))
}

impl IncidentRecord {
    /// Opens this incident (its `state` must be open) with its `incident_opened` entry, as a
    /// guard: it inserts one row, or none while an incident of the same trigger and subject is
    /// open (the append is then `Stale`).
    pub fn open_write(&self) -> Result<Write, StoreError> {
        let from = self.evidence.map(|(from, _)| to_i64(from)).transpose()?;
        let to = self.evidence.map(|(_, to)| to_i64(to)).transpose()?;
        Ok(Write::new(
            "INSERT INTO incidents (id, trigger_id, kind, subject, detail, opened_at_ms, evidence_from,
               evidence_to, actions, state)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'open')
             ON CONFLICT DO NOTHING",
        )
        .bind(&self.id)
        .bind(&self.trigger_id)
        .bind(&self.kind)
        .bind(&self.subject)
        .bind(self.detail.to_string())
        .bind(self.opened_at_ms)
        .bind(from)
        .bind(to)
        .bind(self.actions.to_string()))
    }

    /// Writes what opening incident `id` did (with its `incident_contained` entry): the
    /// containment's results, the checkpoint, and the index of the `incident_opened` entry.
    pub fn contained_write(
        id: &str,
        actions: &serde_json::Value,
        checkpoint: Option<&IncidentCheckpoint>,
        opened_index: u64,
    ) -> Result<Write, StoreError> {
        let size = checkpoint.map(|c| to_i64(c.size)).transpose()?;
        Ok(Write::new(
            "UPDATE incidents SET actions = $1, checkpoint_size = $2, checkpoint_root = $3,
               checkpoint_note = $4, ledger_index = $5
             WHERE id = $6",
        )
        .bind(actions.to_string())
        .bind(size)
        .bind(checkpoint.map(|c| c.root.as_str()))
        .bind(checkpoint.map(|c| c.note.as_str()))
        .bind(to_i64(opened_index)?)
        .bind(id))
    }

    /// Places `hold`, an incident's legal hold over its evidence (with its `legal_hold_placed`
    /// entry); released like any other, by two humans.
    pub fn hold_write(hold: &LegalHoldRecord) -> Result<Write, StoreError> {
        Ok(Write::new(
            "INSERT INTO legal_holds (id, from_idx, to_idx, reason, placed_by, placed_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&hold.id)
        .bind(to_i64(hold.from_index)?)
        .bind(to_i64(hold.to_index)?)
        .bind(&hold.reason)
        .bind(&hold.placed_by)
        .bind(hold.placed_at_ms))
    }

    /// Closes incident `id` by `by` for `reason` at `at_ms` (with its `incident_closed` entry),
    /// as a guard: it changes one row only if the incident is open. Closing changes nothing
    /// the incident did: its stops stay in force and its holds stay placed.
    pub fn close_write(id: &str, by: &str, reason: &str, at_ms: i64) -> Write {
        Write::new(
            "UPDATE incidents SET state = 'closed', closed_by = $1, closed_at_ms = $2, close_reason = $3
             WHERE id = $4 AND state = 'open'",
        )
        .bind(by)
        .bind(at_ms)
        .bind(reason)
        .bind(id)
    }
}

impl Store {
    /// Notes the index of closed incident `id`'s `incident_closed` entry, once it is durable
    /// (the close itself committed with the entry). Returns whether the incident exists.
    pub async fn set_incident_closed_index(&self, id: &str, index: u64) -> Result<bool, StoreError> {
        let updated = with_pool!(self, pool => {
            sqlx::query("UPDATE incidents SET closed_ledger_index = $1 WHERE id = $2 AND state = 'closed'")
                .bind(to_i64(index)?)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(updated == 1)
    }

    /// One incident.
    pub async fn incident(&self, id: &str) -> Result<Option<IncidentRecord>, StoreError> {
        let row: Option<IncidentRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!("SELECT ", incident_columns!(), " FROM incidents WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.map(IncidentRecord::try_from).transpose()
    }

    /// Incidents, newest first, at most `limit`; only those in `state` if given.
    pub async fn incidents(
        &self,
        state: Option<IncidentState>,
        limit: u32,
    ) -> Result<Vec<IncidentRecord>, StoreError> {
        let rows: Vec<IncidentRow> = with_pool!(self, pool => {
            sqlx::query_as(concat!(
                "SELECT ",
                incident_columns!(),
                " FROM incidents WHERE ($1 IS NULL OR state = $1) ORDER BY opened_at_ms DESC, id DESC LIMIT $2"
            ))
                .bind(state.map(IncidentState::as_str))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?
        });
        rows.into_iter().map(IncidentRecord::try_from).collect()
    }
}
