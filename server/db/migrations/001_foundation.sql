-- Foundation: settings, accounts, the demo organisation, incidents and their event log.

CREATE TABLE settings (
  key text PRIMARY KEY,
  value jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
  id text PRIMARY KEY,
  name_zh text NOT NULL,
  name_en text NOT NULL,
  tier text NOT NULL CHECK (tier IN ('district', 'street', 'social')),
  kind text NOT NULL,
  specialties text[] NOT NULL,
  headcount integer NOT NULL CHECK (headcount > 0),
  base_lat double precision NOT NULL,
  base_lon double precision NOT NULL,
  base_address text NOT NULL,
  contact_name text NOT NULL,
  contact_phone text NOT NULL,
  status text NOT NULL DEFAULT 'available',
  status_since timestamptz NOT NULL DEFAULT now(),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id uuid PRIMARY KEY,
  username text NOT NULL UNIQUE,
  display_name text NOT NULL,
  password_hash text NOT NULL,
  role text NOT NULL CHECK (role IN ('commander', 'staff', 'field', 'controller', 'observer')),
  team_id text REFERENCES teams(id),
  created_at timestamptz NOT NULL DEFAULT now(),
  CHECK ((role = 'field') = (team_id IS NOT NULL))
);

CREATE TABLE warehouses (
  id text PRIMARY KEY,
  name_zh text NOT NULL,
  name_en text NOT NULL,
  tier text NOT NULL CHECK (tier IN ('district', 'street', 'community')),
  area_m2 numeric,
  lat double precision NOT NULL,
  lon double precision NOT NULL,
  address text NOT NULL,
  contact_name text NOT NULL,
  contact_phone text NOT NULL
);

CREATE TABLE stock_lines (
  id uuid PRIMARY KEY,
  warehouse_id text NOT NULL REFERENCES warehouses(id),
  item text NOT NULL,
  category text NOT NULL,
  quantity numeric(14, 3) NOT NULL CHECK (quantity >= 0),
  min_quantity numeric(14, 3),
  unit text NOT NULL,
  batch text NOT NULL,
  expires_on date,
  UNIQUE (warehouse_id, item, batch)
);

CREATE TABLE shelters (
  id text PRIMARY KEY,
  name_zh text NOT NULL,
  name_en text NOT NULL,
  kind text NOT NULL,
  capacity integer NOT NULL CHECK (capacity > 0),
  lat double precision NOT NULL,
  lon double precision NOT NULL,
  address text NOT NULL
);

CREATE TABLE reserve_partners (
  id text PRIMARY KEY,
  name_zh text NOT NULL,
  name_en text NOT NULL,
  kind text NOT NULL,
  lat double precision NOT NULL,
  lon double precision NOT NULL,
  address text NOT NULL,
  contact_name text NOT NULL,
  contact_phone text NOT NULL,
  lead_time_minutes integer NOT NULL CHECK (lead_time_minutes > 0),
  capacity jsonb NOT NULL
);

CREATE TABLE incidents (
  id uuid PRIMARY KEY,
  plan_id text NOT NULL,
  plan_version text NOT NULL,
  -- The whole plan as it was at activation: later edits of the plan file never change a running incident.
  plan jsonb NOT NULL,
  title text NOT NULL,
  mode text NOT NULL CHECK (mode IN ('actual', 'exercise')),
  status text NOT NULL CHECK (status IN ('active', 'closed')),
  level text NOT NULL CHECK (level IN ('I', 'II', 'III', 'IV')),
  location_lat double precision,
  location_lon double precision,
  area jsonb,
  activated_at timestamptz NOT NULL,
  activated_by uuid NOT NULL REFERENCES users(id),
  closed_at timestamptz,
  closed_by uuid REFERENCES users(id),
  last_seq integer NOT NULL DEFAULT 0,
  last_hash text NOT NULL
);
CREATE INDEX incidents_status_idx ON incidents (status, activated_at DESC);

-- Append-only, hash-chained timeline of each incident.
CREATE TABLE incident_events (
  incident_id uuid NOT NULL REFERENCES incidents(id),
  seq integer NOT NULL CHECK (seq > 0),
  type text NOT NULL,
  at timestamptz NOT NULL,
  actor_id uuid,
  actor_name text,
  data jsonb NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  PRIMARY KEY (incident_id, seq)
);
CREATE INDEX incident_events_type_idx ON incident_events (incident_id, type);
