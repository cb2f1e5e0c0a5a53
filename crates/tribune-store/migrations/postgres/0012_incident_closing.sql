-- Incident closing (postgres dialect; keep in step with ../sqlite/0012_incident_closing.sql).

-- The ledger entry that records an incident's closing (`incident_closed`), noted once it is
-- durable; the close itself commits with that entry.
ALTER TABLE incidents ADD COLUMN closed_ledger_index BIGINT;
