-- Resources: dispatch orders (任务单), material allocations (物资调拨) and stock-watch alerts.

ALTER TABLE teams ADD CONSTRAINT teams_status_check
  CHECK (status IN ('available', 'dispatched', 'acknowledged', 'en_route', 'on_scene', 'released'));

CREATE TABLE dispatches (
  id uuid PRIMARY KEY,
  incident_id uuid NOT NULL REFERENCES incidents(id),
  team_id text NOT NULL REFERENCES teams(id),
  task text NOT NULL,
  location_lat double precision NOT NULL,
  location_lon double precision NOT NULL,
  location_address text,
  contact_name text NOT NULL,
  contact_phone text NOT NULL,
  status text NOT NULL CHECK (status IN ('dispatched', 'acknowledged', 'en_route', 'on_scene', 'released', 'returned', 'cancelled')),
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid NOT NULL REFERENCES users(id),
  acknowledged_at timestamptz,
  en_route_at timestamptz,
  on_scene_at timestamptz,
  released_at timestamptz,
  returned_at timestamptz,
  cancelled_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dispatches_incident_idx ON dispatches (incident_id, created_at);
CREATE INDEX dispatches_team_idx ON dispatches (team_id, created_at DESC);
-- The database, not the server process, guarantees a team works one incident at a time (every node).
CREATE UNIQUE INDEX dispatches_one_active_per_team ON dispatches (team_id)
  WHERE status IN ('dispatched', 'acknowledged', 'en_route', 'on_scene');

CREATE TABLE allocations (
  id uuid PRIMARY KEY,
  incident_id uuid NOT NULL REFERENCES incidents(id),
  stock_line_id uuid NOT NULL REFERENCES stock_lines(id),
  item text NOT NULL,
  quantity numeric(14, 3) NOT NULL CHECK (quantity > 0),
  returned_quantity numeric(14, 3) NOT NULL DEFAULT 0 CHECK (returned_quantity >= 0),
  unit text NOT NULL,
  status text NOT NULL CHECK (status IN ('reserved', 'issued', 'delivered', 'returned', 'cancelled')),
  note text,
  created_at timestamptz NOT NULL DEFAULT now(),
  created_by uuid NOT NULL REFERENCES users(id),
  issued_at timestamptz,
  delivered_at timestamptz,
  closed_at timestamptz,
  CHECK (returned_quantity <= quantity)
);
CREATE INDEX allocations_incident_idx ON allocations (incident_id, created_at);
CREATE INDEX allocations_stock_line_idx ON allocations (stock_line_id);

-- What the stock watch has already reported; a row disappears when its condition clears, so it can alert again later.
CREATE TABLE stock_alerts (
  stock_line_id uuid NOT NULL REFERENCES stock_lines(id) ON DELETE CASCADE,
  kind text NOT NULL CHECK (kind IN ('expiry', 'low')),
  quantity numeric(14, 3) NOT NULL,
  min_quantity numeric(14, 3),
  expires_on date,
  raised_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stock_line_id, kind)
);

-- The dispatch whose status the team currently shows (a released team may be re-tasked before it is back).
ALTER TABLE teams ADD COLUMN current_dispatch_id uuid;
