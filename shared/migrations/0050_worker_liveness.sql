-- Work is held by a live worker, not by a lease. Each worker process records a heartbeat; a run,
-- chunk or delivery it claimed names it in claimed_by. What a worker silent for
-- PUNCTUAL_WORKER_DEAD_AFTER seconds held is taken up by another; a slow worker that still
-- heartbeats is never doubled, however long its task takes.
CREATE TABLE worker_heartbeats (
    worker_id    text PRIMARY KEY,
    hostname     text NOT NULL,
    pid          integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE runs ADD COLUMN claimed_by text;
ALTER TABLE run_chunks ADD COLUMN claimed_by text;
ALTER TABLE deliveries ADD COLUMN claimed_by text;

-- What the sweep looks at when a worker died: work in progress is few rows, wherever it is.
CREATE INDEX deliveries_sending ON deliveries (claimed_by) WHERE status = 'sending';
CREATE INDEX runs_in_progress ON runs (claimed_by) WHERE status = 'running';
DROP INDEX IF EXISTS runs_running;

-- An attempt whose worker died mid-send is closed as interrupted when the delivery is taken up.
ALTER TABLE delivery_attempts DROP CONSTRAINT delivery_attempts_outcome_check;
ALTER TABLE delivery_attempts ADD CONSTRAINT delivery_attempts_outcome_check
    CHECK (outcome IN ('sending', 'delivered', 'retry', 'failed', 'interrupted'));
