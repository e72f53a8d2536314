-- Issue 15: 叫应 (acknowledgement and escalation) and the GB/T 35965.1-2018 message format.

-- GB/T 35965.1 identifiers: ZZZZZZDDDUUUXX_YYYYMMDDhhmmss_N. N (0–9) counts the messages of one
-- issuing unit in one second; the row is locked by the approving transaction (upsert), so two
-- nodes approving in the same second get different digits.
CREATE TABLE gbt35965_sequences (
  unit_code text NOT NULL,
  entry_time text NOT NULL,
  last_n integer NOT NULL CHECK (last_n BETWEEN 0 AND 9),
  PRIMARY KEY (unit_code, entry_time)
);
ALTER TABLE warnings ADD COLUMN gbt_identifier text UNIQUE;
ALTER TABLE warnings ADD COLUMN gbt_xml text;

-- Each broadcast head-end speaks one format.
ALTER TABLE broadcast_endpoints ADD COLUMN format text NOT NULL DEFAULT 'cap' CHECK (format IN ('cap', 'gbt35965'));

-- Who must answer (责任人) and whom to alert when they do not (their superior).
ALTER TABLE warning_recipients ADD COLUMN responsible boolean NOT NULL DEFAULT false;
ALTER TABLE warning_recipients ADD COLUMN escalation_name text;
ALTER TABLE warning_recipients ADD COLUMN escalation_phone text;
-- The person's own account (username), whose push subscriptions carry their acknowledge action.
ALTER TABLE warning_recipients ADD COLUMN account text;

-- One row per responsible person who must answer a warning, written in the approving transaction.
CREATE TABLE warning_acks (
  id bigserial PRIMARY KEY,
  warning_id uuid NOT NULL REFERENCES warnings(id),
  incident_id uuid NOT NULL REFERENCES incidents(id),
  recipient_id uuid NOT NULL REFERENCES warning_recipients(id),
  name text,
  phone text NOT NULL,
  escalation_name text,
  escalation_phone text,
  -- the personal one-tap link's secret (base64url, 32 bytes of randomness)
  token text NOT NULL UNIQUE,
  due_at timestamptz NOT NULL,
  acked_at timestamptz,
  via text CHECK (via IN ('sms', 'push', 'link')),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (warning_id, phone)
);
CREATE INDEX warning_acks_phone_open_idx ON warning_acks (phone, created_at DESC) WHERE acked_at IS NULL;

-- The one escalation scheduler's work: every step (resend, voice call, superior alerted, …) is a
-- row claimed with FOR UPDATE SKIP LOCKED; a step found `sending` after a crash is never sent
-- blindly again (`unknown`) unless it went to the built-in sink.
CREATE TABLE escalation_steps (
  id bigserial PRIMARY KEY,
  incident_id uuid NOT NULL REFERENCES incidents(id),
  subject text NOT NULL,
  subject_id text NOT NULL,
  step text NOT NULL,
  exercise boolean NOT NULL,
  due_at timestamptz NOT NULL,
  status text NOT NULL CHECK (status IN ('queued', 'sending', 'done', 'cancelled', 'unknown', 'blocked', 'failed')),
  claimed_by text,
  claimed_at timestamptz,
  attempts integer NOT NULL DEFAULT 0,
  provider_id text,
  address text,
  body text,
  last_error text,
  done_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (subject, subject_id, step)
);
CREATE INDEX escalation_steps_due_idx ON escalation_steps (due_at) WHERE status = 'queued';
CREATE INDEX escalation_steps_sending_idx ON escalation_steps (claimed_at) WHERE status = 'sending';

-- Who answers for a team when its dispatch order (任务单) is not acknowledged: leader, then deputy.
ALTER TABLE teams ADD COLUMN leader_name text;
ALTER TABLE teams ADD COLUMN leader_phone text;
ALTER TABLE teams ADD COLUMN deputy_name text;
ALTER TABLE teams ADD COLUMN deputy_phone text;

-- Incidents (and levels) whose overdue-checklist steps are planned, so the planner does each once.
CREATE TABLE checklist_step_plans (
  incident_id uuid NOT NULL REFERENCES incidents(id),
  level text NOT NULL,
  planned_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (incident_id, level)
);
