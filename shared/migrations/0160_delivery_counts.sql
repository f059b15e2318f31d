-- Deliveries made per organization and minute, for PUNCTUAL_QUOTA_DELIVERIES_PER_HOUR. Counting the
-- deliveries rows of the last hour cost each run batch a scan as long as the organization's hour
-- (tens of milliseconds at 100,000); summing at most 60 minutes of tallies costs the same at any volume.
-- Written by shared/sql/deliveries.py in the statement that inserts the deliveries; `shard` is the
-- writer's backend pid modulo 16, so concurrent batches of one organization rarely wait on one row.
CREATE TABLE delivery_counts (
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    minute timestamptz NOT NULL,
    shard smallint NOT NULL,
    deliveries bigint NOT NULL,
    PRIMARY KEY (organization_id, minute, shard)
);
-- The sweep deletes tallies past the window.
CREATE INDEX delivery_counts_minute ON delivery_counts (minute);
-- The hour before this migration, so a quota is not reset by the upgrade.
INSERT INTO delivery_counts (organization_id, minute, shard, deliveries)
SELECT organization_id, date_trunc('minute', created_at), 0, count(*) FROM deliveries
WHERE created_at > now() - interval '1 hour' GROUP BY 1, 2;
