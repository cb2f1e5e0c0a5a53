//! Provider vetting records (history kept: the newest row is current) and the pinned
//! description of each tool, quarantined when the gateway reports a different one.

use crate::error::StoreError;
use crate::store::{Store, with_pool};
use crate::writes::Write;

/// One vetting of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VettingRecord {
    /// Its place in the history (assigned by the database; 0 before it is stored).
    pub seq: i64,
    /// The provider's id.
    pub provider: String,
    /// `approved`, `probation` or `rejected`.
    pub status: String,
    /// Who vetted (`human:ID`).
    pub reviewer: String,
    /// When.
    pub vetted_at_ms: i64,
    /// When the vetting lapses.
    pub expires_at_ms: i64,
    /// The reviewer's notes.
    pub notes: String,
}

/// The pinned description of one tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolPinRecord {
    /// The tool's id.
    pub tool: String,
    /// Its provider's id.
    pub provider: String,
    /// SHA-256 (hex) of the RFC 8785 JSON of `description`.
    pub hash: String,
    /// The pinned `{name, description, inputSchema}` as JSON text.
    pub description: String,
    /// When it was pinned.
    pub pinned_at_ms: i64,
    /// Who pinned it (`human:ID`).
    pub pinned_by: String,
    /// `observed` (reported, not pinned yet), `pinned` or `quarantined`.
    pub state: String,
    /// The hash of the differing description that quarantined it.
    pub observed_hash: Option<String>,
    /// That description, as JSON text.
    pub observed_description: Option<String>,
}

const UPSERT_PIN: &str = "INSERT INTO tool_pins
      (tool, provider, hash, description, pinned_at_ms, pinned_by, state, observed_hash, observed_description)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
      ON CONFLICT (tool) DO UPDATE SET provider = excluded.provider, hash = excluded.hash,
        description = excluded.description, pinned_at_ms = excluded.pinned_at_ms,
        pinned_by = excluded.pinned_by, state = excluded.state, observed_hash = excluded.observed_hash,
        observed_description = excluded.observed_description";

const QUARANTINE: &str =
    "UPDATE tool_pins SET state = 'quarantined', observed_hash = $1, observed_description = $3
      WHERE tool = $2 AND hash <> $1
        AND (state = 'pinned' OR (state = 'quarantined' AND observed_hash <> $1))";

type VettingRow = (i64, String, String, String, i64, i64, String);
type PinRow = (
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn vetting(row: VettingRow) -> VettingRecord {
    let (seq, provider, status, reviewer, vetted_at_ms, expires_at_ms, notes) = row;
    VettingRecord {
        seq,
        provider,
        status,
        reviewer,
        vetted_at_ms,
        expires_at_ms,
        notes,
    }
}

fn pin(row: PinRow) -> ToolPinRecord {
    let (
        tool,
        provider,
        hash,
        description,
        pinned_at_ms,
        pinned_by,
        state,
        observed_hash,
        observed_description,
    ) = row;
    ToolPinRecord {
        tool,
        provider,
        hash,
        description,
        pinned_at_ms,
        pinned_by,
        state,
        observed_hash,
        observed_description,
    }
}

impl VettingRecord {
    /// Records this vetting (with its `provider_vetted` entry); the database assigns its `seq`.
    pub fn insert_write(&self) -> Write {
        Write::new(
            "INSERT INTO provider_vettings (provider, status, reviewer, vetted_at_ms, expires_at_ms, notes)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&self.provider)
        .bind(&self.status)
        .bind(&self.reviewer)
        .bind(self.vetted_at_ms)
        .bind(self.expires_at_ms)
        .bind(&self.notes)
    }
}

impl ToolPinRecord {
    /// Pins this description, replacing an earlier pin of the tool and lifting any quarantine
    /// (with the `provider_vetted` or `tool_pinned` entry).
    pub fn upsert_write(&self) -> Write {
        Write::new(UPSERT_PIN)
            .bind(&self.tool)
            .bind(&self.provider)
            .bind(&self.hash)
            .bind(&self.description)
            .bind(self.pinned_at_ms)
            .bind(&self.pinned_by)
            .bind(&self.state)
            .bind(&self.observed_hash)
            .bind(&self.observed_description)
    }

    /// Quarantines pinned tool `tool` for a description (`description`, JSON text) hashing to
    /// `observed` (with its `tool_quarantined` entry), as a guard: it changes one row only when
    /// the tool is pinned to another hash, or quarantined for another observed one.
    pub fn quarantine_write(tool: &str, observed: &str, description: &str) -> Write {
        Write::new(QUARANTINE).bind(observed).bind(tool).bind(description)
    }
}

impl Store {
    /// Records `observed` as the reported description of a tool that is not pinned: inserted,
    /// or replacing an earlier `observed` row; a pinned or quarantined row is left alone.
    pub async fn observe_tool(&self, observed: &ToolPinRecord) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO tool_pins (tool, provider, hash, description, pinned_at_ms, pinned_by, state)
                 VALUES ($1, $2, $3, $4, $5, $6, 'observed')
                 ON CONFLICT (tool) DO UPDATE SET hash = excluded.hash, description = excluded.description,
                   pinned_at_ms = excluded.pinned_at_ms, pinned_by = excluded.pinned_by
                 WHERE tool_pins.state = 'observed'",
            )
            .bind(&observed.tool)
            .bind(&observed.provider)
            .bind(&observed.hash)
            .bind(&observed.description)
            .bind(observed.pinned_at_ms)
            .bind(&observed.pinned_by)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every vetting, oldest first (the last of a provider's is its current one).
    pub async fn vettings(&self) -> Result<Vec<VettingRecord>, StoreError> {
        let rows: Vec<VettingRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT seq, provider, status, reviewer, vetted_at_ms, expires_at_ms, notes
                 FROM provider_vettings ORDER BY seq",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(vetting).collect())
    }

    /// Every tool pin, by tool.
    pub async fn tool_pins(&self) -> Result<Vec<ToolPinRecord>, StoreError> {
        let rows: Vec<PinRow> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT tool, provider, hash, description, pinned_at_ms, pinned_by, state, observed_hash,
                   observed_description FROM tool_pins ORDER BY tool",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(pin).collect())
    }
}
