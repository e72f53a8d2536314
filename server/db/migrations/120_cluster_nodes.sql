-- The cluster seam (server/cluster) owns the node table the live feed's presence started: every
-- node heartbeats its row; a node not seen within the TTL is dead (its presence rows are swept).
ALTER TABLE live_nodes RENAME TO cluster_nodes;
ALTER TABLE cluster_nodes ADD COLUMN transport text NOT NULL DEFAULT 'single-node';
ALTER TABLE cluster_nodes ADD COLUMN host text;
ALTER TABLE cluster_nodes ADD COLUMN pid integer;
