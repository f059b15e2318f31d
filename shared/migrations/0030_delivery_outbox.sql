-- Workers: the run's fan-out progress, per-subscriber chunks, and the delivery outbox.
--
-- Retry timing lives here, not in the broker: a Celery countdown on Redis sits unacknowledged
-- in a worker's memory until due and is re-delivered after the visibility timeout, so a long
-- backoff either races the timeout or is lost with the worker. Instead a delivery keeps
-- `next_attempt_at` and `publish_after`, and every worker sweeps due rows and publishes them.

ALTER TABLE runs
    ADD COLUMN planned_at  timestamptz,   -- per_subscriber: its chunks are recorded
    ADD COLUMN expanded_at timestamptz,   -- every delivery of the run exists; it may now finish
    ADD COLUMN chunks_total integer NOT NULL DEFAULT 0;
CREATE INDEX runs_running ON runs (started_at) WHERE status = 'running' AND expanded_at IS NULL;

ALTER TABLE deliveries
    ADD COLUMN recipients    text[] NOT NULL DEFAULT '{}',  -- email addresses of this message
    ADD COLUMN publish_after timestamptz;                   -- when the sweep (re)publishes it
CREATE INDEX deliveries_publish_due ON deliveries (publish_after) WHERE publish_after IS NOT NULL;
-- "Is anything of this run still open?" is asked after every settled delivery: O(1), not O(run).
CREATE INDEX deliveries_run_open ON deliveries (run_id) WHERE status IN ('pending', 'sending', 'retrying');
-- results_changed compares with the last delivered artifact of the schedule (and subscriber).
CREATE INDEX deliveries_schedule_delivered ON deliveries (schedule_id, delivered_at DESC)
    WHERE status = 'delivered';

-- per_subscriber runs spread over workers: one task per chunk of subscribers.
CREATE TABLE run_chunks (
    run_id          uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    chunk_no        integer NOT NULL,
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    user_ids        uuid[] NOT NULL,
    publish_after   timestamptz,
    done_at         timestamptz,
    PRIMARY KEY (run_id, chunk_no)
);
CREATE INDEX run_chunks_publish_due ON run_chunks (publish_after) WHERE done_at IS NULL;
