-- The display name of the actor at the time of each entry (王芳), beside the username. Part of the
-- hashed entry when present; entries written before it have none, so their hashes stand.
ALTER TABLE incident_events ADD COLUMN actor_display_name text;
