-- Live feed presence, shared by every server node: who has which incident room open.
-- Soft state: each node heartbeats its row in live_nodes; rows of a node not seen for the TTL
-- (crashed, killed, stalled) are ignored by readers and swept by any node; a stalled node that comes
-- back re-registers and writes its rows again. No foreign key to live_nodes, so a node's writes never
-- fail while it is (wrongly) considered dead.

CREATE TABLE live_nodes (
  node_id uuid PRIMARY KEY,
  started_at timestamptz NOT NULL DEFAULT now(),
  seen_at timestamptz NOT NULL DEFAULT now()
);

-- One row per (socket, incident). A user with several tabs has several rows and shows once.
-- The user's name, role and team are copied from the token the socket connected with.
CREATE TABLE live_presence (
  node_id uuid NOT NULL,
  socket_id text NOT NULL,
  incident_id uuid NOT NULL,
  user_id uuid NOT NULL,
  username text NOT NULL,
  role text NOT NULL,
  team_id text,
  since timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (node_id, socket_id, incident_id)
);
CREATE INDEX live_presence_incident ON live_presence (incident_id);
