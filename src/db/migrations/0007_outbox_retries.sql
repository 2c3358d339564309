-- What the relay keeps about an event the bus did not store (issue 8, item 2). A refused event
-- waits until next_attempt_at before it is tried again, so it never holds back the events behind
-- it; one refused for a reason retrying cannot fix (too large, an invalid subject) is moved to
-- failed_events (consumer 'outbox-relay') after HODEI_RELAY_MAX_ATTEMPTS tries and marked
-- dead_lettered_at: it leaves the outbox's queue and is never claimed again. While the bus as a
-- whole is away, nothing is dead-lettered: the events wait here, their attempts counted.
ALTER TABLE outbox_events
  ADD COLUMN next_attempt_at  timestamptz,
  ADD COLUMN dead_lettered_at timestamptz;

-- The claim reads the rows still to send, oldest first; dead letters are not among them.
DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_unpublished_idx ON outbox_events (seq)
  WHERE published_at IS NULL AND dead_lettered_at IS NULL;
