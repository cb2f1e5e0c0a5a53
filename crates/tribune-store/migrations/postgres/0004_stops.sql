-- Emergency stops: a scope halted by a human with stop authority, resumed by two others.
CREATE TABLE stops (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    reason TEXT NOT NULL,
    stopped_by TEXT NOT NULL,
    stopped_at_ms BIGINT NOT NULL,
    resume_requested_by TEXT,
    resume_requested_at_ms BIGINT,
    resumed_by TEXT,
    resumed_at_ms BIGINT
);
CREATE INDEX stops_active ON stops (resumed_at_ms);
