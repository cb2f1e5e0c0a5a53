-- Incidents (sqlite dialect; keep in step with ../postgres/0008_incidents.sql).

-- Every incident a bundle trigger opened: what fired it, the ledger range of the evidence and
-- the signed checkpoint that covers it, the containment run and its results (JSON text, as
-- written), and who closed it and why.
CREATE TABLE incidents (
    id              TEXT    NOT NULL PRIMARY KEY,
    trigger_id      TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    -- `agent:ID`, `service:ID`, or what else the trigger is about (`drill:ID`).
    subject         TEXT    NOT NULL,
    detail          TEXT    NOT NULL,
    opened_at_ms    INTEGER NOT NULL,
    evidence_from   INTEGER CHECK (evidence_from IS NULL OR evidence_from >= 0),
    evidence_to     INTEGER CHECK (evidence_to IS NULL OR evidence_to >= evidence_from),
    checkpoint_size INTEGER CHECK (checkpoint_size IS NULL OR checkpoint_size > 0),
    checkpoint_root TEXT,
    checkpoint_note TEXT,
    actions         TEXT    NOT NULL,
    -- The ledger entry that records the opening, once written.
    ledger_index    INTEGER,
    state           TEXT    NOT NULL CHECK (state IN ('open', 'closed')),
    closed_by       TEXT,
    closed_at_ms    INTEGER,
    close_reason    TEXT,
    CHECK ((evidence_from IS NULL) = (evidence_to IS NULL)),
    CHECK ((state = 'closed') = (closed_by IS NOT NULL AND closed_at_ms IS NOT NULL AND close_reason IS NOT NULL))
);

-- One open incident per trigger and subject: a trigger that fires again, on this replica or
-- another, while its incident is open adds nothing (the insert is refused).
CREATE UNIQUE INDEX incidents_one_open ON incidents (trigger_id, subject) WHERE state = 'open';
CREATE INDEX incidents_opened ON incidents (opened_at_ms);
