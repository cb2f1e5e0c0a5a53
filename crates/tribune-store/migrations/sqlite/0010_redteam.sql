-- Red-team runs (sqlite dialect; keep in step with ../postgres/0010_redteam.sql).

-- Every red-team run the server replayed: the suite (its name, the SHA-256 of its text, and
-- whether it is the built-in suite for the deployment), the bundle that decided, who asked,
-- the counts, and the whole per-step report (JSON) as the API returned it. Only passed runs of
-- the built-in suite count as evidence for the bundle whose hash they name.
CREATE TABLE redteam_runs (
    id               TEXT    NOT NULL PRIMARY KEY,
    suite            TEXT    NOT NULL,
    suite_sha256     TEXT    NOT NULL CHECK (length(suite_sha256) = 64),
    builtin          INTEGER NOT NULL CHECK (builtin IN (0, 1)),
    bundle_hash      TEXT    NOT NULL,
    run_by           TEXT    NOT NULL,
    ran_at_ms        INTEGER NOT NULL,
    scenarios_total  INTEGER NOT NULL CHECK (scenarios_total > 0),
    scenarios_failed INTEGER NOT NULL CHECK (scenarios_failed >= 0 AND scenarios_failed <= scenarios_total),
    steps_total      INTEGER NOT NULL CHECK (steps_total > 0),
    steps_failed     INTEGER NOT NULL CHECK (steps_failed >= 0 AND steps_failed <= steps_total),
    passed           INTEGER NOT NULL CHECK (passed IN (0, 1)),
    report           TEXT    NOT NULL,
    ledger_index     INTEGER,
    -- A run passes exactly when no step failed.
    CHECK ((passed = 1) = (steps_failed = 0))
);

CREATE INDEX redteam_runs_ran ON redteam_runs (ran_at_ms);
CREATE INDEX redteam_runs_passed ON redteam_runs (passed, ran_at_ms);
CREATE INDEX redteam_runs_evidence ON redteam_runs (bundle_hash, builtin, passed, ran_at_ms);
