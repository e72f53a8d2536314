-- Live checklist (Yjs) of each incident: a compacted snapshot plus the updates stored since.
-- The doc row is also the seeding lock: seeding and reconciliation run under SELECT … FOR UPDATE on it.

CREATE TABLE checklist_docs (
  incident_id uuid PRIMARY KEY REFERENCES incidents(id),
  -- Yjs state (encodeStateAsUpdate) of every update folded in by compaction; NULL before the first compaction.
  snapshot bytea,
  -- The level the doc was last reconciled to (seeded, escalated, de-escalated).
  reconciled_level text,
  compacted_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Every accepted Yjs update, written before it is relayed. Compaction folds rows into the
-- snapshot and deletes exactly the rows it folded (ids are not ordered by commit time).
CREATE TABLE checklist_updates (
  id bigserial PRIMARY KEY,
  incident_id uuid NOT NULL REFERENCES incidents(id),
  update bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX checklist_updates_incident_idx ON checklist_updates (incident_id, id);
