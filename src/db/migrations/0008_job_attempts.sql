-- Retries with backoff and the record of every attempt (issue 8, item 5).
-- A job's retry policy: how many times a failed command (non-zero exit, timeout) runs again,
-- after a backoff that doubles from retry_backoff_ms up to retry_max_backoff_ms. retries_used
-- counts the retries spent, so `attempt - retries_used` is the number of runs cut short by a lost
-- worker or a failed dispatch, which max_attempts bounds on its own. retry_at holds a PENDING
-- job back until its backoff has passed.
ALTER TABLE jobs
  ADD COLUMN retries              integer NOT NULL DEFAULT 0,
  ADD COLUMN retry_backoff_ms     bigint  NOT NULL DEFAULT 1000,
  ADD COLUMN retry_max_backoff_ms bigint  NOT NULL DEFAULT 300000,
  ADD COLUMN retries_used         integer NOT NULL DEFAULT 0,
  ADD COLUMN retry_at             timestamptz;

-- One row per attempt that has ended, written by the statement that ends it (a result, a
-- requeue after a lost worker or failed dispatch, a cancel), so the record and the job's state
-- never disagree. The job row keeps only its current attempt.
CREATE TABLE job_attempts (
  job_id      uuid NOT NULL,
  attempt     integer NOT NULL,
  outcome     text NOT NULL,
  exit_code   integer,
  error       text NOT NULL DEFAULT '',
  worker_id   uuid,
  assigned_at timestamptz,
  started_at  timestamptz,
  finished_at timestamptz NOT NULL DEFAULT now(),
  retry_at    timestamptz,
  PRIMARY KEY (job_id, attempt)
);
