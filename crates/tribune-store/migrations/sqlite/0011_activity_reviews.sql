-- Activity reviews (sqlite dialect; keep in step with ../postgres/0011_activity_reviews.sql).

-- A named human's review of the ledger's activity: the signed checkpoint they verified the
-- whole ledger against before recording it, and what they noted. Written in the same
-- transaction as its ledger entry.
CREATE TABLE activity_reviews (
    id              TEXT    NOT NULL PRIMARY KEY,
    reviewed_by     TEXT    NOT NULL,
    reviewed_at_ms  INTEGER NOT NULL,
    checkpoint_size INTEGER NOT NULL CHECK (checkpoint_size > 0),
    checkpoint_root TEXT    NOT NULL,
    note            TEXT    NOT NULL
);

CREATE INDEX activity_reviews_at ON activity_reviews (reviewed_at_ms);
