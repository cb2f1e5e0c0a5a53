-- Trust scores (sqlite dialect; keep in step with ../postgres/0007_trust.sql).

-- Every event that moved a subject's trust score. `subject` is `agent:ID`, `service:ID` or
-- `provider:ID`; `delta` is the whole row's weight (`count` events of `kind` together, as
-- allowed calls are recorded: aggregated in memory and written a few seconds at a time);
-- `reference` names what it is about (a decision id, an approval request, an incident).
-- `seq` orders the rows for the replicas that read them; scores are recomputed from here.
CREATE TABLE trust_events (
    seq       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    subject   TEXT    NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('allowed', 'forbidden', 'dlp', 'approval_refused', 'redteam_failure', 'incident')),
    delta     INTEGER NOT NULL,
    count     INTEGER NOT NULL CHECK (count >= 1),
    at_ms     INTEGER NOT NULL,
    reference TEXT,
    CHECK (substr(subject, 1, 6) = 'agent:' OR substr(subject, 1, 8) = 'service:' OR substr(subject, 1, 9) = 'provider:')
);

CREATE INDEX trust_events_subject ON trust_events (subject, seq);
CREATE INDEX trust_events_at ON trust_events (at_ms);

-- The band each subject's score was last recorded in (`normal` when absent): changed only by
-- compare-and-set, so the replica that wins records the crossing in the ledger once. `seq` is
-- the newest event that replica had read, so a replica that has read less does not undo it.
CREATE TABLE trust_bands (
    subject       TEXT    NOT NULL PRIMARY KEY,
    band          TEXT    NOT NULL CHECK (band IN ('normal', 'review', 'blocked')),
    changed_at_ms INTEGER NOT NULL,
    seq           INTEGER NOT NULL
);
