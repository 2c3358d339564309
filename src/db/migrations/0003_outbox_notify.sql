-- The outbox wakes the relays itself: every statement that adds events raises one NOTIFY on
-- hodei_outbox (delivered at commit, dropped on rollback), so writers spend no round trip of
-- their own on it and a state change with its events can be a single statement.
CREATE FUNCTION hodei_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM added) THEN
    PERFORM pg_notify('hodei_outbox', '');
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
  REFERENCING NEW TABLE AS added
  FOR EACH STATEMENT EXECUTE FUNCTION hodei_outbox_notify();
