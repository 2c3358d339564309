-- Dead letters an operator works with: a dead letter is PENDING until it is replayed (replayed_at)
-- or discarded (discarded_at, with the operator's reason), each at most once. replay_count keeps
-- how many times it was replayed: a replayed event that fails again comes back PENDING on the same
-- row, and each replay is published under its own bus message id, derived from the row and this
-- count (the event id inside stays the same).
ALTER TABLE failed_events
  ADD COLUMN discarded_at   timestamptz,
  ADD COLUMN discard_reason text NOT NULL DEFAULT '',
  ADD COLUMN replay_count   integer NOT NULL DEFAULT 0;

-- The default listing and the hodei_failed_events gauge read only the PENDING ones.
CREATE INDEX failed_events_pending_idx ON failed_events (id)
  WHERE replayed_at IS NULL AND discarded_at IS NULL;
