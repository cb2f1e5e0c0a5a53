-- Provider vetting and tool description pins (sqlite dialect; keep in step with ../postgres/0009_providers.sql).

-- Every vetting of a provider, kept as history: the row with the highest `seq` is the current
-- one. `reviewer` is the human who vetted (`human:ID`); `expires_at_ms` ends it.
CREATE TABLE provider_vettings (
    seq           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    provider      TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('approved', 'probation', 'rejected')),
    reviewer      TEXT    NOT NULL,
    vetted_at_ms  INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    notes         TEXT    NOT NULL
);

CREATE INDEX provider_vettings_provider ON provider_vettings (provider, seq);

-- The description of each tool: `hash` is the SHA-256 (hex) of the RFC 8785 JSON of
-- {name, description, inputSchema}, `description` that JSON. `observed` rows hold what the
-- gateway reported for a tool not pinned yet (vetting pins it); `pinned` rows the approved
-- description; a different description reported for a pinned tool sets `quarantined` and
-- keeps what was seen in `observed_hash`/`observed_description` until the tool is pinned again.
CREATE TABLE tool_pins (
    tool          TEXT    NOT NULL PRIMARY KEY,
    provider      TEXT    NOT NULL,
    hash          TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    pinned_at_ms  INTEGER NOT NULL,
    pinned_by     TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('observed', 'pinned', 'quarantined')),
    observed_hash TEXT,
    observed_description TEXT
);
