-- Idempotency-Key claims (server/http/idempotency.ts): one row per (user, key). The row is
-- inserted before the request runs (the claim), so a concurrent duplicate finds it and never
-- executes; the stored status and body answer every replay.
CREATE TABLE idempotency_keys (
  user_id uuid NOT NULL,
  key text NOT NULL,
  request_hash text NOT NULL,
  status_code integer,
  response_body jsonb,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_claimed_at ON idempotency_keys (claimed_at);
