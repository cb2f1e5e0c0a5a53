-- Tribune's initial schema, SQLite dialect. Keep in step with ../postgres/0001_initial.sql:
-- the two differ only in column types (BLOB/INTEGER here, BYTEA/BIGINT there) and in how the
-- activation sequence is generated.

-- Bearer tokens of API callers. Only the SHA-256 of the secret is stored.
CREATE TABLE tokens (
    id            TEXT    NOT NULL PRIMARY KEY,
    hash          BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    kind          TEXT    NOT NULL CHECK (kind IN ('agent', 'service', 'human', 'admin')),
    subject       TEXT,
    label         TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER,
    -- An admin token speaks for no one in particular; every other kind names its subject.
    CHECK ((kind = 'admin') = (subject IS NULL))
);

-- Every decision the decision API made. `body` is the full decision as JSON text, stored
-- verbatim so that it reads back exactly as written.
CREATE TABLE decisions (
    id             TEXT    NOT NULL PRIMARY KEY,
    created_at_ms  INTEGER NOT NULL,
    principal      TEXT    NOT NULL,
    tool           TEXT    NOT NULL,
    outcome        TEXT    NOT NULL CHECK (outcome IN ('allow', 'deny', 'hold')),
    arguments_hash TEXT    NOT NULL,
    bundle_hash    TEXT    NOT NULL,
    body           TEXT    NOT NULL
);

CREATE INDEX decisions_created_at_ms ON decisions (created_at_ms);

-- What happened when an allowed call ran: at most one report per decision.
CREATE TABLE outcomes (
    decision_id    TEXT    NOT NULL PRIMARY KEY REFERENCES decisions (id),
    recorded_at_ms INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    body           TEXT    NOT NULL
);

-- Every policy bundle that was made active, in the order it happened.
CREATE TABLE activations (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    bundle_hash     TEXT    NOT NULL,
    version         TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    activated_at_ms INTEGER NOT NULL
);
