-- The bus on PostgreSQL tables (used when no NATS server is configured): the stored messages, the
-- durable consumers, and one delivery row per message per consumer whose filter matches.

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
  -- The NATS-style filter as an anchored regular expression (`subject ~ filter_regex`).
  filter_regex   text NOT NULL,
  ack_wait_ms    integer NOT NULL,
  max_deliver    integer NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- state: pending (may be delivered, again or for the first time), final (its last allowed
-- delivery is out: never claimed again), acked, terminated.
CREATE TABLE bus_deliveries (
  consumer       text NOT NULL REFERENCES bus_consumers (name) ON DELETE CASCADE,
  seq            bigint NOT NULL REFERENCES bus_messages (seq) ON DELETE CASCADE,
  state          text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'final', 'acked', 'terminated')),
  delivery_count integer NOT NULL DEFAULT 0,
  -- Invisible until then: the lease of the delivery in flight, or a nak's delay.
  visible_at     timestamptz NOT NULL DEFAULT now(),
  settled_at     timestamptz,
  PRIMARY KEY (consumer, seq)
);
-- The claim reads "pending, visible now, oldest first" per consumer, and the redelivery timer
-- "earliest pending": this partial index is in that order, so settled rows piling up cost nothing.
CREATE INDEX bus_deliveries_claim_idx ON bus_deliveries (consumer, visible_at, seq)
  WHERE state = 'pending';
