-- Warnings (预警): drafts, approval, CAP alerts, recipients, push subscriptions,
-- broadcast endpoints, the delivery outbox and the built-in sink.

CREATE TABLE warnings (
  id uuid PRIMARY KEY,
  incident_id uuid NOT NULL REFERENCES incidents(id),
  mode text NOT NULL CHECK (mode IN ('actual', 'exercise')),
  status text NOT NULL CHECK (status IN ('draft', 'sent', 'superseded', 'cancelled')),
  msg_type text NOT NULL CHECK (msg_type IN ('Alert', 'Update', 'Cancel')),
  references_id uuid REFERENCES warnings(id),
  template_id text,
  fields jsonb NOT NULL,
  identifier text UNIQUE,
  cap_sent text,
  cap_xml text,
  author_id uuid NOT NULL REFERENCES users(id),
  approver_id uuid REFERENCES users(id),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  approved_at timestamptz,
  audience_size integer
);
CREATE INDEX warnings_incident_idx ON warnings (incident_id, created_at);
CREATE INDEX warnings_feed_idx ON warnings (status, mode, approved_at DESC);

-- People and public subscribers who get SMS: groups by role and team, public lists by area.
CREATE TABLE warning_recipients (
  id uuid PRIMARY KEY,
  list text NOT NULL,
  kind text NOT NULL CHECK (kind IN ('responder', 'public')),
  name text,
  phone text NOT NULL,
  role text,
  team_id text,
  lat double precision,
  lon double precision,
  -- Drill recipients may receive exercise warnings; nobody else ever does.
  drill boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (list, phone)
);
CREATE INDEX warning_recipients_role_idx ON warning_recipients (role);
CREATE INDEX warning_recipients_team_idx ON warning_recipients (team_id);

CREATE TABLE push_subscriptions (
  id uuid PRIMARY KEY,
  endpoint text NOT NULL UNIQUE,
  p256dh text NOT NULL,
  auth text NOT NULL,
  user_id uuid REFERENCES users(id),
  lat double precision,
  lon double precision,
  drill boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE broadcast_endpoints (
  id text PRIMARY KEY,
  name text NOT NULL,
  -- NULL url: the built-in sink that records what would have been sent.
  url text UNIQUE,
  secret text,
  exercise boolean NOT NULL DEFAULT false,
  source text NOT NULL CHECK (source IN ('env', 'api', 'builtin')),
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO broadcast_endpoints (id, name, url, secret, exercise, source) VALUES ('sink', 'Built-in recording sink', NULL, NULL, false, 'builtin');

-- The outbox: one row per recipient × channel, written in the approving transaction.
CREATE TABLE warning_deliveries (
  id bigserial PRIMARY KEY,
  warning_id uuid NOT NULL REFERENCES warnings(id),
  channel text NOT NULL CHECK (channel IN ('sms', 'push', 'broadcast')),
  -- recipient id, push subscription id, endpoint id or 'exercise-number:<phone>'
  target_id text NOT NULL,
  address text,
  exercise boolean NOT NULL,
  status text NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'unknown', 'blocked', 'cancelled')),
  attempts integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  claimed_by text,
  claimed_at timestamptz,
  provider_id text,
  last_error text,
  receipt jsonb,
  segments integer,
  sent_at timestamptz,
  delivered_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (warning_id, channel, target_id)
);
CREATE INDEX warning_deliveries_due_idx ON warning_deliveries (channel, next_attempt_at) WHERE status = 'queued';
CREATE INDEX warning_deliveries_sending_idx ON warning_deliveries (claimed_at) WHERE status = 'sending';
-- (warning_id, channel, …) lookups use the unique key; few indexes keep a 100,000-row enqueue fast.

-- What the built-in sink "sent": exactly one row per delivery.
CREATE TABLE warning_sink_messages (
  id bigserial PRIMARY KEY,
  delivery_id bigint NOT NULL UNIQUE REFERENCES warning_deliveries(id),
  warning_id uuid NOT NULL REFERENCES warnings(id),
  channel text NOT NULL,
  address text,
  body text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX warning_sink_messages_warning_idx ON warning_sink_messages (warning_id);
