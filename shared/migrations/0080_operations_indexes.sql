-- Metrics scrapes and `punctual status` count the runs and deliveries of the last hour by status.
-- BRIN, not B-tree: rows arrive in created_at order, so a few page-range summaries find the last
-- hour, and beat's and the workers' inserts pay almost nothing for it (pages not yet summarized
-- are always read, so the newest rows are never missed).
CREATE INDEX runs_created_brin ON runs USING brin (created_at) WITH (autosummarize = on);
CREATE INDEX deliveries_created_brin ON deliveries USING brin (created_at) WITH (autosummarize = on);
-- System-disabled schedules are counted on every scrape. The predicate's columns are already in
-- schedules_due's predicate, so this index costs no HOT update that was possible before.
CREATE INDEX schedules_system_disabled ON schedules (system_disabled_at)
    WHERE system_disabled_at IS NOT NULL AND deleted_at IS NULL;
