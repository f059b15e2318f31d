-- Beat's heartbeat also says what its last ticks did and how old the oldest unpublished run is,
-- so an operator can tell "beat alive but the broker is down" from "beat alive and idle".
ALTER TABLE beat_heartbeats
    ADD COLUMN last_tick_claimed     integer NOT NULL DEFAULT 0,
    ADD COLUMN last_lag_s            double precision NOT NULL DEFAULT 0,
    ADD COLUMN oldest_pending_run_at timestamptz;
