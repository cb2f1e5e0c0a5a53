-- Emergency-stop drills (sqlite dialect; keep in step with ../postgres/0006_drills.sql).

-- A drill's stop is a real stop, in the same table, marked with the drill that made it: only a
-- marked stop may be resumed by the system (at once, by the drill) rather than by two holders.
ALTER TABLE stops ADD COLUMN drill_id TEXT;

-- Every drill: the declared scope stopped, the representative call decided under the stop,
-- the time from the command's start to that decision coming back `stopped`, and the resume.
CREATE TABLE drills (
    id            TEXT    NOT NULL PRIMARY KEY,
    scope         TEXT    NOT NULL,
    drilled_by    TEXT    NOT NULL,
    stop_id       TEXT    NOT NULL,
    principal     TEXT,
    tool          TEXT,
    started_at_ms INTEGER NOT NULL,
    -- Microseconds from the command's start to enforcement; NULL when it was not proven.
    enforced_us   INTEGER CHECK (enforced_us IS NULL OR enforced_us >= 0),
    target_us     INTEGER NOT NULL CHECK (target_us > 0),
    passed        INTEGER NOT NULL CHECK (passed IN (0, 1)),
    failure       TEXT,
    resumed_at_ms INTEGER NOT NULL,
    -- A drill passes only when enforced, within the target, with no failure.
    CHECK (passed = 0 OR (enforced_us IS NOT NULL AND enforced_us < target_us AND failure IS NULL)),
    CHECK (passed = 1 OR failure IS NOT NULL)
);

CREATE INDEX drills_started ON drills (started_at_ms);
CREATE INDEX drills_passed ON drills (passed, started_at_ms);
