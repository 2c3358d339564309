-- Job secrets (issue 9, item 3): values a job's command sees as environment variables, kept apart
-- from the spec and encrypted at rest. Only the names stay on the job (shown as "***"); the values
-- are one AES-256-GCM ciphertext per job (src/secrets/secret-box.ts) under the server's secrets
-- key, with the job id as associated data, so a row copied onto another job does not open.
ALTER TABLE jobs ADD COLUMN secret_names jsonb NOT NULL DEFAULT '[]';
-- A keyed hash of the idempotency key and the secret values (only for a job queued with a key):
-- a request repeating the key with other values is told apart without decrypting anything.
ALTER TABLE jobs ADD COLUMN secrets_digest text;

-- Written in the transaction that queues the job; deleted by the retention loop once the job has
-- finished (nothing runs it again), and with the job if it is ever deleted.
CREATE TABLE job_secrets (
  job_id     uuid PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
  -- Which key sealed them (a fingerprint, not the key): a server with another key says so.
  key_id     text NOT NULL,
  nonce      bytea NOT NULL,
  ciphertext bytea NOT NULL,
  tag        bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
