-- Retention (issue 8, item 7): what the retention loop (safety/retention.ts) deletes, in small
-- batches, and the indexes that let each batch find its rows without scanning what is kept.
-- Deleted once old enough: published outbox events (dead letters are kept: failed_events holds
-- them for operators), table-bus messages every consumer has settled, finished sagas with their
-- steps, and the output of finished jobs. Jobs and their attempts are the record and are kept.

-- When the job's output was deleted; GetJobLogs then says so instead of returning nothing.
ALTER TABLE jobs ADD COLUMN output_deleted_at timestamptz;

CREATE INDEX jobs_output_retention_idx ON jobs (finished_at)
  WHERE finished_at IS NOT NULL AND output_deleted_at IS NULL;
CREATE INDEX outbox_retention_idx ON outbox_events (published_at)
  WHERE published_at IS NOT NULL;
CREATE INDEX saga_retention_idx ON saga_instances (finished_at)
  WHERE finished_at IS NOT NULL;
CREATE INDEX bus_messages_published_idx ON bus_messages (published_at);
-- Deleting a message deletes its deliveries (ON DELETE CASCADE), found by seq: the primary key
-- (consumer, seq) cannot, and without this index every deleted message scanned them all.
CREATE INDEX bus_deliveries_seq_idx ON bus_deliveries (seq);
-- "Does any consumer still have this message pending?", asked per message by the batch: the
-- claim index (consumer, visible_at, seq) answers it only by reading all its entries.
CREATE INDEX bus_deliveries_pending_seq_idx ON bus_deliveries (seq) WHERE state = 'pending';
