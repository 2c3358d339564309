-- Job output is bytes, stored in chunks per attempt (DESIGN §10): a chunk is what the agent read
-- from one of the job's pipes, byte for byte, so a 27 MB line or output that is not UTF-8 comes
-- back exactly. Lines are a view computed when reading. Rows of job_logs (one per line) move over
-- with their newline put back.
CREATE TABLE job_output (
  job_id          uuid NOT NULL,
  seq             bigserial,
  attempt         integer NOT NULL,
  -- The chunk's place in its attempt (0, 1, …), numbered by the server: storing it again (a retry
  -- after a lost reply) changes nothing.
  part            integer NOT NULL,
  stream          text NOT NULL CHECK (stream IN ('stdout', 'stderr')),
  data            bytea NOT NULL,
  -- The worker that sent the chunk; NULL for a line the platform wrote (the dropped-output marker).
  worker_id       uuid,
  correlation_id  text NOT NULL,
  at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, seq)
);
CREATE UNIQUE INDEX job_output_part_idx ON job_output (job_id, attempt, part);
-- pglz, the default, cost about half the insert time of 27 MB of output on this machine; lz4 is
-- as fast as no compression and still shrinks text logs. Builds without lz4 keep the default.
DO $$
BEGIN
  ALTER TABLE job_output ALTER COLUMN data SET COMPRESSION lz4;
EXCEPTION WHEN OTHERS THEN
  NULL;
END
$$;

INSERT INTO job_output (job_id, seq, attempt, part, stream, data, correlation_id, at)
SELECT job_id, seq, attempt, row_number() OVER (PARTITION BY job_id, attempt ORDER BY seq) - 1,
       stream, convert_to(line || E'\n', 'UTF8'), correlation_id, at
FROM job_logs ORDER BY job_id, seq;
SELECT setval(pg_get_serial_sequence('job_output', 'seq'),
              COALESCE((SELECT max(seq) FROM job_output), 0) + 1, false);
DROP TABLE job_logs;

-- A worker's one-time password expires (default 60 s after the worker row is made).
ALTER TABLE workers ADD COLUMN otp_expires_at timestamptz;
