-- The cluster seam (server/cluster) owns the node table the live feed's presence started: every
-- node heartbeats its row; a node not seen within the TTL is dead (its presence rows are swept).
ALTER TABLE live_nodes RENAME TO cluster_nodes;
ALTER TABLE cluster_nodes ADD COLUMN transport text NOT NULL DEFAULT 'single-node';
ALTER TABLE cluster_nodes ADD COLUMN host text;
ALTER TABLE cluster_nodes ADD COLUMN pid integer;

-- Connection limits across nodes (server/cluster/connection-limits.ts): one lease per open
-- connection, counted only while its node is alive, so a killed node's connections stop counting
-- after the TTL without anyone cleaning up first.
CREATE TABLE connection_leases (
  lease_id uuid PRIMARY KEY,
  node_id uuid NOT NULL,
  kind text NOT NULL,
  user_id uuid,
  incident_id uuid,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connection_leases_user ON connection_leases (kind, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX connection_leases_incident ON connection_leases (kind, incident_id) WHERE incident_id IS NOT NULL;
CREATE INDEX connection_leases_node ON connection_leases (node_id);
