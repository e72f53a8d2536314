-- Issue 10: revocable sessions, disabled accounts, one-use WebSocket tickets, login limits.

ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- Every token names one row here (claim `sid`); it is checked on each request and connection.
CREATE TABLE sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz,
  revoked_reason text,
  last_seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_user_live_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- Short-lived, one-use tickets for WebSocket URLs; only the SHA-256 of the ticket is stored.
CREATE TABLE live_tickets (
  ticket_hash text PRIMARY KEY,
  session_id uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  expires_at timestamptz NOT NULL
);
CREATE INDEX live_tickets_expires_idx ON live_tickets (expires_at);
-- Login limits keep their counters in rate_limits (migration 070), beside the other limiters.
