-- The tamper-evident ledger (postgres dialect; keep in step with the other dialect).

-- One row per entry, in log order. `payload` is the entry's canonical JSON; retention sets it
-- to NULL (and `pruned_at_ms`) but keeps `leaf_hash`, so the Merkle tree still verifies.
CREATE TABLE ledger_entries (
    idx             BIGINT    NOT NULL PRIMARY KEY CHECK (idx >= 0),
    leaf_hash       BYTEA    NOT NULL CHECK (octet_length(leaf_hash) = 32),
    payload         BYTEA,
    event_class     TEXT  NOT NULL,
    classification  TEXT,
    correlation_uid TEXT,
    created_at_ms   BIGINT    NOT NULL,
    pruned_at_ms    BIGINT,
    CHECK ((payload IS NULL) = (pruned_at_ms IS NOT NULL))
);

CREATE INDEX ledger_entries_correlation ON ledger_entries (correlation_uid);
CREATE INDEX ledger_entries_retention ON ledger_entries (event_class, created_at_ms);

-- The log's head: its size and compact range (one 32-byte hash per set bit of the size,
-- largest subtree first). Every append locks and rewrites this single row, which is what
-- serializes appends from several server processes into one tree.
CREATE TABLE ledger_head (
    id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    size     BIGINT      NOT NULL CHECK (size >= 0),
    frontier BYTEA      NOT NULL
);

INSERT INTO ledger_head (id, size, frontier) VALUES (1, 0, ''::bytea);

-- Signed checkpoints (C2SP signed notes), one per tree size at most.
CREATE TABLE ledger_checkpoints (
    size          BIGINT   NOT NULL PRIMARY KEY CHECK (size >= 0),
    note          TEXT NOT NULL,
    created_at_ms BIGINT   NOT NULL
);

-- Legal holds: ranges of the log that retention must not prune until released.
CREATE TABLE legal_holds (
    id              TEXT NOT NULL PRIMARY KEY,
    from_idx        BIGINT   NOT NULL CHECK (from_idx >= 0),
    to_idx          BIGINT   NOT NULL,
    reason          TEXT NOT NULL,
    placed_by       TEXT NOT NULL,
    placed_at_ms    BIGINT   NOT NULL,
    release_requested_by    TEXT,
    release_requested_at_ms BIGINT,
    released_at_ms  BIGINT,
    released_by     TEXT,
    CHECK (to_idx >= from_idx)
);
