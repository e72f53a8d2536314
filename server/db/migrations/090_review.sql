-- After-action review (issue 12): improvement items (整改事项) and the checklist's update history.

-- A finding of a review, owned by a responsible unit, moved open → in_progress → done with evidence.
-- Every change is also an event in the incident's log (improvement.*).
CREATE TABLE improvement_items (
  id uuid PRIMARY KEY,
  incident_id uuid NOT NULL REFERENCES incidents(id),
  plan_id text NOT NULL,
  -- The plan's checklist item it concerns (an id in the plan), or NULL for the plan as a whole.
  plan_item_id text,
  problem text NOT NULL,
  unit text NOT NULL,
  due_date date NOT NULL,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'done')),
  evidence text,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid NOT NULL REFERENCES users(id),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX improvement_items_plan_idx ON improvement_items (plan_id, status);
CREATE INDEX improvement_items_incident_idx ON improvement_items (incident_id);

-- What compaction folds into the snapshot, kept for replay (GET /api/incidents/:id/checklist?at=):
-- the updates of one second merged into one row (Y.mergeUpdates), written in the compaction's
-- own transaction, so the history plus the live checklist_updates rows are every update ever stored.
CREATE TABLE checklist_update_history (
  id bigserial PRIMARY KEY,
  incident_id uuid NOT NULL REFERENCES incidents(id),
  -- The latest created_at of the updates merged into this row.
  at timestamptz NOT NULL,
  update bytea NOT NULL
);
CREATE INDEX checklist_update_history_incident_idx ON checklist_update_history (incident_id, at);

-- Replay asks which updates were stored by a time: the statement's clock, not its transaction's start.
ALTER TABLE checklist_updates ALTER COLUMN created_at SET DEFAULT clock_timestamp();
