-- A job that already ran and was taken off its worker (a lost worker, a failed dispatch) goes
-- ahead of the jobs queued behind it: sagas waiting for the same thing (a free worker) are woken
-- by priority first, then oldest first. The chaos suite measured a killed worker's job waiting
-- behind the whole backlog (p50 18 s with 60 jobs queued) before it.
ALTER TABLE saga_instances ADD COLUMN priority integer NOT NULL DEFAULT 0;
DROP INDEX saga_waiting_idx;
CREATE INDEX saga_waiting_idx ON saga_instances (wait_key, priority DESC, created_at)
  WHERE state = 'WAITING';
