-- Human-in-the-loop approvals (postgres dialect; keep in step with ../sqlite/0003_approvals.sql).

-- Approval requests. `body` is the whole request as the server's approvals core serializes it
-- (its votes, assignees, MFA records), stored verbatim; the other columns are copies of its
-- fields for the queue's queries. Every update is a compare-and-set on `revision`, which the
-- request itself increments on each change. `usable_until_ms` is set exactly while an approval
-- is waiting to be used (approved, not yet used): the end of its validity.
CREATE TABLE approval_requests (
    id              TEXT    NOT NULL PRIMARY KEY,
    revision        BIGINT  NOT NULL CHECK (revision >= 0),
    decision_id     TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
    principal       TEXT    NOT NULL,
    pool            TEXT    NOT NULL,
    tool            TEXT    NOT NULL,
    arguments_hash  TEXT    NOT NULL,
    tier_rank       BIGINT  NOT NULL,
    class_rank      BIGINT,
    trust           BIGINT,
    created_at_ms   BIGINT  NOT NULL,
    expires_at_ms   BIGINT  NOT NULL,
    usable_until_ms BIGINT,
    resolved_at_ms  BIGINT,
    body            TEXT    NOT NULL,
    CHECK ((usable_until_ms IS NULL) OR (state = 'approved')),
    CHECK ((resolved_at_ms IS NULL) = (state = 'pending'))
);

CREATE INDEX approval_requests_state ON approval_requests (state, expires_at_ms);
CREATE INDEX approval_requests_call ON approval_requests (principal, tool, arguments_hash, state);
CREATE INDEX approval_requests_principal ON approval_requests (principal, state);
CREATE INDEX approval_requests_pool ON approval_requests (pool, created_at_ms);

-- The reviewers each request was assigned to when it was admitted (any pool member may vote).
CREATE TABLE approval_assignments (
    request_id TEXT NOT NULL REFERENCES approval_requests (id),
    human      TEXT NOT NULL,
    PRIMARY KEY (request_id, human)
);

CREATE INDEX approval_assignments_human ON approval_assignments (human);

-- One row whose lock serializes admission: every server process sharing the database takes it
-- (`SELECT ... FOR UPDATE`) before checking the workload limits and inserting the request, so
-- concurrent holds cannot overshoot the caps.
CREATE TABLE approval_admission (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1)
);

INSERT INTO approval_admission (id) VALUES (1);

-- TOTP enrolments (RFC 6238), one per human. `secret` is the shared secret in base32: this
-- table must be protected like the database's backups. `id` names the enrolment, so a code is
-- only ever checked off against the enrolment it was verified with; `last_used_step` only
-- grows, which is what refuses a replayed code.
CREATE TABLE mfa_enrollments (
    human          TEXT    NOT NULL PRIMARY KEY,
    id             TEXT    NOT NULL,
    secret         TEXT    NOT NULL,
    algorithm      TEXT    NOT NULL,
    digits         BIGINT  NOT NULL CHECK (digits IN (6, 8)),
    enrolled_at_ms BIGINT  NOT NULL,
    last_used_step BIGINT  CHECK (last_used_step >= 0)
);
