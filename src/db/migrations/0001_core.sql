-- Core schema: jobs, workers, outbox, sagas, logs and dead letters.

CREATE TABLE jobs (
  id              uuid PRIMARY KEY,
  name            text NOT NULL DEFAULT '',
  command         text NOT NULL,
  args            jsonb NOT NULL DEFAULT '[]',
  env             jsonb NOT NULL DEFAULT '{}',
  working_dir     text NOT NULL DEFAULT '',
  timeout_ms      bigint NOT NULL DEFAULT 0,
  max_attempts    integer NOT NULL DEFAULT 3,
  attempt         integer NOT NULL DEFAULT 1,
  labels          jsonb NOT NULL DEFAULT '{}',
  provider        text NOT NULL DEFAULT '',
  idempotency_key text UNIQUE,
  correlation_id  text NOT NULL,
  state           text NOT NULL,
  exit_code       integer,
  error           text NOT NULL DEFAULT '',
  worker_id       uuid,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  assigned_at     timestamptz,
  started_at      timestamptz,
  finished_at     timestamptz,
  last_heartbeat_at timestamptz
);
CREATE INDEX jobs_state_created_idx ON jobs (state, created_at, id);
CREATE INDEX jobs_created_idx ON jobs (created_at, id);

CREATE TABLE workers (
  id              uuid PRIMARY KEY,
  provider        text NOT NULL,
  external_id     text NOT NULL DEFAULT '',
  state           text NOT NULL,
  current_job_id  uuid,
  otp_hash        text NOT NULL,
  otp_used        boolean NOT NULL DEFAULT false,
  correlation_id  text NOT NULL DEFAULT '',
  jobs_run        integer NOT NULL DEFAULT 0,
  created_at      timestamptz NOT NULL DEFAULT now(),
  registered_at   timestamptz,
  last_heartbeat_at timestamptz,
  ready_since     timestamptz,
  terminated_at   timestamptz,
  termination_reason text NOT NULL DEFAULT ''
);
CREATE INDEX workers_state_idx ON workers (state, ready_since);

CREATE TABLE outbox_events (
  seq             bigserial PRIMARY KEY,
  event_id        uuid NOT NULL UNIQUE,
  event_type      text NOT NULL,
  subject         text NOT NULL,
  aggregate_type  text NOT NULL,
  aggregate_id    text NOT NULL,
  correlation_id  text NOT NULL,
  traceparent     text NOT NULL DEFAULT '',
  payload         jsonb NOT NULL,
  occurred_at     timestamptz NOT NULL DEFAULT now(),
  published_at    timestamptz,
  delivery_attempts integer NOT NULL DEFAULT 0,
  last_error      text NOT NULL DEFAULT ''
);
-- The relay's claim is "unpublished, oldest first": a partial index in that order keeps it fast
-- however many published rows pile up.
CREATE INDEX outbox_unpublished_idx ON outbox_events (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_correlation_idx ON outbox_events (correlation_id);

CREATE TABLE saga_instances (
  id              uuid PRIMARY KEY,
  saga_type       text NOT NULL,
  state           text NOT NULL,
  correlation_id  text NOT NULL,
  context         jsonb NOT NULL DEFAULT '{}',
  current_step    integer NOT NULL DEFAULT 0,
  wait_key        text,
  wait_deadline   timestamptz,
  error           text NOT NULL DEFAULT '',
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz
);
CREATE INDEX saga_waiting_idx ON saga_instances (wait_key, created_at) WHERE state = 'WAITING';
CREATE INDEX saga_active_idx ON saga_instances (state) WHERE state IN ('IN_PROGRESS', 'COMPENSATING', 'WAITING');
CREATE INDEX saga_correlation_idx ON saga_instances (correlation_id);

CREATE TABLE saga_steps (
  saga_id         uuid NOT NULL REFERENCES saga_instances (id) ON DELETE CASCADE,
  step_index      integer NOT NULL,
  name            text NOT NULL,
  state           text NOT NULL,
  correlation_id  text NOT NULL,
  output          jsonb,
  error           text NOT NULL DEFAULT '',
  started_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz,
  PRIMARY KEY (saga_id, step_index)
);

CREATE TABLE job_logs (
  job_id          uuid NOT NULL,
  seq             bigserial,
  attempt         integer NOT NULL,
  stream          text NOT NULL,
  line            text NOT NULL,
  correlation_id  text NOT NULL,
  at              timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, seq)
);

CREATE TABLE failed_events (
  id              bigserial PRIMARY KEY,
  event_id        text NOT NULL,
  consumer        text NOT NULL,
  subject         text NOT NULL,
  correlation_id  text NOT NULL DEFAULT '',
  headers         jsonb NOT NULL DEFAULT '{}',
  payload         text NOT NULL,
  error           text NOT NULL,
  delivery_count  integer NOT NULL,
  failed_at       timestamptz NOT NULL DEFAULT now(),
  replayed_at     timestamptz,
  UNIQUE (consumer, event_id)
);
