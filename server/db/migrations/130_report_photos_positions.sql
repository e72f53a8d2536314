-- Where each team was last seen: the phone's fix sent with a status change or a situation report.
-- fix_at is when the phone took the fix (never in the future), fix_received_at when the server stored it.
ALTER TABLE teams ADD COLUMN fix_lat double precision CHECK (fix_lat BETWEEN -90 AND 90);
ALTER TABLE teams ADD COLUMN fix_lon double precision CHECK (fix_lon BETWEEN -180 AND 180);
ALTER TABLE teams ADD COLUMN fix_accuracy_m double precision CHECK (fix_accuracy_m >= 0);
ALTER TABLE teams ADD COLUMN fix_at timestamptz;
ALTER TABLE teams ADD COLUMN fix_received_at timestamptz;
ALTER TABLE teams ADD CONSTRAINT teams_fix_complete CHECK ((fix_lat IS NULL) = (fix_lon IS NULL) AND (fix_lat IS NULL) = (fix_at IS NULL));

-- The plans' responsible units (ids like drainage, fire) a team works for: the phone's "my items".
ALTER TABLE teams ADD COLUMN plan_units text[] NOT NULL DEFAULT '{}';

-- Photos of situation reports, metadata stripped (re-encoded) before they are stored.
CREATE TABLE report_photos (
  id uuid PRIMARY KEY,
  incident_id uuid NOT NULL REFERENCES incidents(id),
  report_id uuid NOT NULL,
  content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
  bytes bytea NOT NULL,
  byte_size integer NOT NULL CHECK (byte_size > 0),
  width integer NOT NULL,
  height integer NOT NULL,
  created_by uuid NOT NULL REFERENCES users(id),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_photos_report_idx ON report_photos (incident_id, report_id);
