-- `hodei trace` (OpsService.GetTrace) gathers everything under one correlation id: its jobs, the
-- workers provisioned for it and its dead letters, besides the outbox events and sagas already
-- indexed by it (0001).
CREATE INDEX jobs_correlation_idx ON jobs (correlation_id);
CREATE INDEX workers_correlation_idx ON workers (correlation_id);
CREATE INDEX failed_events_correlation_idx ON failed_events (correlation_id);
