//! Provider vetting records (history kept: the newest row is current) and the pinned
//! description of each tool, quarantined when the gateway reports a different one.

use crate::error::{Entity, StoreError};
use crate::store::{Store, with_pool};

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

impl Store {
    /// Records a vetting and pins `pins` (replacing earlier pins of those tools) in one
    /// transaction; returns the vetting's `seq`.
    pub async fn insert_vetting(&self, v: &VettingRecord, pins: &[ToolPinRecord]) -> Result<i64, StoreError> {
        let seq = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let (seq,): (i64,) = sqlx::query_as(
                "INSERT INTO provider_vettings (provider, status, reviewer, vetted_at_ms, expires_at_ms, notes)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq",
            )
            .bind(&v.provider)
            .bind(&v.status)
            .bind(&v.reviewer)
            .bind(v.vetted_at_ms)
            .bind(v.expires_at_ms)
            .bind(&v.notes)
            .fetch_one(&mut *tx)
            .await
            .map_err(|err| StoreError::on_insert(err, Entity::Vetting, &v.provider))?;
            for p in pins {
                sqlx::query(
                    UPSERT_PIN,
                )
                .bind(&p.tool)
                .bind(&p.provider)
                .bind(&p.hash)
                .bind(&p.description)
                .bind(p.pinned_at_ms)
                .bind(&p.pinned_by)
                .bind(&p.state)
                .bind(&p.observed_hash)
                .bind(&p.observed_description)
                .execute(&mut *tx)
                .await
                .map_err(|err| StoreError::on_insert(err, Entity::ToolPin, &p.tool))?;
            }
            tx.commit().await?;
            seq
        });
        Ok(seq)
    }

    /// Pins `pins` (replacing earlier pins of those tools, lifting any quarantine).
    pub async fn upsert_pins(&self, pins: &[ToolPinRecord]) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            for p in pins {
                sqlx::query(
                    UPSERT_PIN,
                )
                .bind(&p.tool)
                .bind(&p.provider)
                .bind(&p.hash)
                .bind(&p.description)
                .bind(p.pinned_at_ms)
                .bind(&p.pinned_by)
                .bind(&p.state)
                .bind(&p.observed_hash)
                .bind(&p.observed_description)
                .execute(&mut *tx)
                .await
                .map_err(|err| StoreError::on_insert(err, Entity::ToolPin, &p.tool))?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

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

    /// Quarantines pinned tool `tool` for a description (`description`, JSON text) hashing to
    /// `observed`. Returns whether this call changed it (false when it was already quarantined
    /// for that hash, or is not pinned).
    pub async fn quarantine_tool(
        &self,
        tool: &str,
        observed: &str,
        description: &str,
    ) -> Result<bool, StoreError> {
        let done = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE tool_pins SET state = 'quarantined', observed_hash = $1, observed_description = $3
                 WHERE tool = $2 AND hash <> $1
                   AND (state = 'pinned' OR (state = 'quarantined' AND observed_hash <> $1))",
            )
            .bind(observed)
            .bind(tool)
            .bind(description)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done > 0)
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
