-- API tokens (issue 9): who may call the API, and with which scopes. Only a SHA-256 hash of each
-- token is kept; the token itself is shown once, when it is made. Names are unique for good (a
-- revoked token keeps its row and its name), so a job's queued_by/cancelled_by always names one
-- token, and a new token cannot inherit the jobs of a revoked one.
CREATE TABLE api_tokens (
  name text PRIMARY KEY,
  scopes text[] NOT NULL,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now(),
  revoked_at timestamptz,
  last_used_at timestamptz
);

-- The token that queued and the one that cancelled a job (NULL when auth was off).
ALTER TABLE jobs ADD COLUMN queued_by text;
ALTER TABLE jobs ADD COLUMN cancelled_by text;
CREATE INDEX jobs_queued_by ON jobs (queued_by, created_at) WHERE queued_by IS NOT NULL;
