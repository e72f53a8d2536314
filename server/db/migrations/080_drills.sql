-- Drills (issue 11): scenarios stored and versioned, drills, their inject schedule and observations.

-- The evaluator role (演练评估员): exercises only, reads everything of a drill, changes nothing.
ALTER TABLE users DROP CONSTRAINT IF EXISTS users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('commander', 'staff', 'field', 'controller', 'observer', 'evaluator'));

-- One row per stored version of a scenario; shipped drills/*.yaml are seeded as version 1.
CREATE TABLE drill_scenarios (
  id text NOT NULL,
  version integer NOT NULL CHECK (version > 0),
  body jsonb NOT NULL,
  source text NOT NULL CHECK (source IN ('seed', 'api')),
  -- Restricted scripts (for no-script drills) are listed to controllers only.
  restricted boolean NOT NULL DEFAULT false,
  created_by uuid REFERENCES users(id),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (id, version)
);

CREATE TABLE drills (
  id uuid PRIMARY KEY,
  kind text NOT NULL CHECK (kind IN ('tabletop', 'no-script')),
  status text NOT NULL CHECK (status IN ('ready', 'sealed', 'running', 'paused', 'ended')),
  -- Tabletop: chosen at creation. No-script: drawn by the server at creation, kept sealed.
  scenario_id text NOT NULL,
  scenario_version integer NOT NULL,
  scenario jsonb NOT NULL,
  incident_id uuid REFERENCES incidents(id),
  -- No-script: the window given, the moment drawn inside it, the participants named.
  window_from timestamptz,
  window_to timestamptz,
  fire_at timestamptz,
  participants jsonb,
  started_at timestamptz,
  -- Set while paused; the paused time is added to paused_ms on resume.
  paused_at timestamptz,
  paused_ms bigint NOT NULL DEFAULT 0,
  ended_at timestamptz,
  created_by uuid NOT NULL REFERENCES users(id),
  created_at timestamptz NOT NULL DEFAULT now(),
  FOREIGN KEY (scenario_id, scenario_version) REFERENCES drill_scenarios(id, version)
);
CREATE INDEX drills_sealed_fire_idx ON drills (fire_at) WHERE status = 'sealed';
CREATE UNIQUE INDEX drills_incident_idx ON drills (incident_id) WHERE incident_id IS NOT NULL;

-- The schedule: one row per inject; `released_at` is set by whoever claims the row
-- (FOR UPDATE SKIP LOCKED) in the same transaction as its drill.inject_released event.
CREATE TABLE drill_injects (
  drill_id uuid NOT NULL REFERENCES drills(id) ON DELETE CASCADE,
  inject_id text NOT NULL,
  ord integer NOT NULL,
  offset_seconds integer,
  -- Wall-clock due time of a timed inject of a running drill (NULL while paused, for manual ones, or before start).
  due_at timestamptz,
  released_at timestamptz,
  released_seq integer,
  scheduled_for timestamptz,
  PRIMARY KEY (drill_id, inject_id)
);
CREATE INDEX drill_injects_due_idx ON drill_injects (due_at) WHERE released_at IS NULL AND due_at IS NOT NULL;

CREATE TABLE drill_observations (
  id uuid PRIMARY KEY,
  drill_id uuid NOT NULL REFERENCES drills(id) ON DELETE CASCADE,
  at timestamptz NOT NULL DEFAULT now(),
  inject_id text,
  text text NOT NULL,
  rating integer CHECK (rating BETWEEN 1 AND 5),
  by_user uuid NOT NULL REFERENCES users(id),
  by_name text NOT NULL
);
CREATE INDEX drill_observations_drill_idx ON drill_observations (drill_id, at);

-- The built-in drill sink: what a phone-message inject "sent", to the exercise numbers only
-- (EXERCISE_SMS_NUMBERS, or no address: the recording sink alone). Never a real recipient.
CREATE TABLE drill_sink_messages (
  id bigserial PRIMARY KEY,
  drill_id uuid NOT NULL REFERENCES drills(id) ON DELETE CASCADE,
  inject_id text NOT NULL,
  channel text NOT NULL,
  address text,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (drill_id, inject_id, channel, address)
);
