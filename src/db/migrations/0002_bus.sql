-- The bus on PostgreSQL tables (used when no NATS server is configured).

CREATE TABLE bus_messages (
  seq          bigserial PRIMARY KEY,
  id           text NOT NULL UNIQUE,
  subject      text NOT NULL,
  data         bytea NOT NULL,
  headers      jsonb NOT NULL DEFAULT '{}',
  published_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE bus_consumers (
  name           text PRIMARY KEY,
  filter_subject text NOT NULL,
  filter_regex   text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per message per consumer until it is acked or terminated.
CREATE TABLE bus_deliveries (
  consumer       text NOT NULL REFERENCES bus_consumers (name) ON DELETE CASCADE,
  seq            bigint NOT NULL REFERENCES bus_messages (seq) ON DELETE CASCADE,
  delivery_count integer NOT NULL DEFAULT 0,
  visible_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, seq)
);
-- The claim reads "visible now, oldest first" per consumer: this index is in that order.
CREATE INDEX bus_deliveries_claim_idx ON bus_deliveries (consumer, visible_at, seq);
