//! Activity reviews: a named human's review of the ledger's activity, resting on the signed
//! checkpoint they verified the ledger against. A review is written only with its ledger entry
//! ([`crate::SideRecord::ActivityReview`]), so a stored review is always a recorded one.

use crate::error::StoreError;
use crate::store::{Store, with_pool};

/// One activity review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityReviewRecord {
    /// Id.
    pub id: String,
    /// Who reviewed (`human:ID`).
    pub reviewed_by: String,
    /// When the review was recorded.
    pub reviewed_at_ms: i64,
    /// The size of the signed checkpoint the reviewer verified the ledger against.
    pub checkpoint_size: i64,
    /// That checkpoint's root hash (base64, as the API shows checkpoints).
    pub checkpoint_root: String,
    /// What the reviewer noted.
    pub note: String,
}

type Row = (String, String, i64, i64, String, String);

fn record(row: Row) -> ActivityReviewRecord {
    let (id, reviewed_by, reviewed_at_ms, checkpoint_size, checkpoint_root, note) = row;
    ActivityReviewRecord {
        id,
        reviewed_by,
        reviewed_at_ms,
        checkpoint_size,
        checkpoint_root,
        note,
    }
}

/// The insert of one review, run inside the ledger's transaction.
macro_rules! insert_review {
    ($r:expr) => {
        sqlx::query(
            "INSERT INTO activity_reviews
               (id, reviewed_by, reviewed_at_ms, checkpoint_size, checkpoint_root, note)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&$r.id)
        .bind(&$r.reviewed_by)
        .bind($r.reviewed_at_ms)
        .bind($r.checkpoint_size)
        .bind(&$r.checkpoint_root)
        .bind(&$r.note)
    };
}
pub(crate) use insert_review;

impl Store {
    /// The activity reviews, newest first, at most `limit`.
    pub async fn activity_reviews(&self, limit: u32) -> Result<Vec<ActivityReviewRecord>, StoreError> {
        let rows: Vec<Row> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT id, reviewed_by, reviewed_at_ms, checkpoint_size, checkpoint_root, note
                 FROM activity_reviews ORDER BY reviewed_at_ms DESC, id DESC LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(record).collect())
    }
}
