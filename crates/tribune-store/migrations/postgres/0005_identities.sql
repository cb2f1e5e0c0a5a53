-- Non-human identities and their credentials (postgres dialect; keep in step with
-- ../sqlite/0005_identities.sql).

-- Agents and services. `id` is `agent:NAME` or `service:NAME`, prefixed by its kind. `scopes`
-- is a JSON array of tool ids (empty: the class's whole reach). `generation` counts issued
-- registration secrets: rotation bumps it, and credentials of an older generation are revoked.
-- Identities are never deleted: `decommissioned` is terminal and keeps the record for audit.
CREATE TABLE identities (
    id                   TEXT    NOT NULL PRIMARY KEY,
    kind                 TEXT    NOT NULL CHECK (kind IN ('agent', 'service')),
    class                TEXT,
    owner                TEXT    NOT NULL,
    scopes               TEXT    NOT NULL,
    origin               TEXT    NOT NULL CHECK (origin IN ('bundle', 'runtime')),
    state                TEXT    NOT NULL CHECK (state IN ('pending', 'active', 'suspended', 'decommissioned')),
    state_reason         TEXT,
    state_changed_at_ms  BIGINT  NOT NULL,
    state_changed_by     TEXT,
    generation           BIGINT  NOT NULL CHECK (generation BETWEEN 1 AND 4294967295),
    created_at_ms        BIGINT  NOT NULL,
    created_by           TEXT    NOT NULL,
    approved_at_ms       BIGINT,
    approved_by          TEXT,
    last_used_at_ms      BIGINT,
    last_reviewed_at_ms  BIGINT,
    reviewed_by          TEXT,
    secret_rotated_at_ms BIGINT  NOT NULL,
    -- The id names its kind: `agent:...` or `service:...`, with a non-empty name.
    CHECK (substr(id, 1, length(kind) + 1) = kind || ':' AND length(id) > length(kind) + 1),
    -- Only agents have a class.
    CHECK (kind = 'agent' OR class IS NULL),
    CHECK ((approved_at_ms IS NULL) = (approved_by IS NULL)),
    CHECK ((last_reviewed_at_ms IS NULL) = (reviewed_by IS NULL))
);

CREATE INDEX identities_owner ON identities (owner);

-- Every short-lived credential issued to an identity. `parent_jti` names the credential it was
-- delegated from, and `actor` the delegate. `parent_jti` is deliberately not a foreign key:
-- housekeeping purges expired credentials in any order. Revoking a credential revokes its
-- descendants (the store follows `parent_jti`).
CREATE TABLE credentials (
    jti            TEXT    NOT NULL PRIMARY KEY,
    identity       TEXT    NOT NULL REFERENCES identities (id),
    parent_jti     TEXT,
    actor          TEXT,
    scopes         TEXT    NOT NULL,
    audience       TEXT    NOT NULL,
    generation     BIGINT  NOT NULL CHECK (generation BETWEEN 1 AND 4294967295),
    issued_at_ms   BIGINT  NOT NULL,
    expires_at_ms  BIGINT  NOT NULL,
    revoked_at_ms  BIGINT,
    revoked_reason TEXT,
    CHECK (parent_jti IS NULL OR parent_jti <> jti),
    CHECK (expires_at_ms > issued_at_ms),
    CHECK ((revoked_at_ms IS NULL) = (revoked_reason IS NULL))
);

CREATE INDEX credentials_identity ON credentials (identity, expires_at_ms);
CREATE INDEX credentials_expires ON credentials (expires_at_ms);
CREATE INDEX credentials_parent ON credentials (parent_jti) WHERE parent_jti IS NOT NULL;
-- The revocation list the server keeps in memory: revoked and not yet expired.
CREATE INDEX credentials_revoked ON credentials (expires_at_ms) WHERE revoked_at_ms IS NOT NULL;
