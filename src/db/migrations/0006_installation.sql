-- The installation's identity: one row, written by the first server to start (not here, so that
-- databases copied from a migrated template each get their own). Servers mark the worker
-- infrastructure they create with it, so the safety nets destroy only what is their own and never
-- another installation's workers on the same machine (src/safety/installation-sql.ts).
CREATE TABLE installation (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  id         uuid NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
