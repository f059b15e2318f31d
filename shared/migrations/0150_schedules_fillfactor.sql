-- A schedule row is written twice per run: beat moves next_run_at (indexed, so a new version with
-- an entry in each of the table's indexes), and the run's finish records last_status and the
-- failure streak (no indexed column, so a heap-only update, without index entries, when the row's
-- page has room for the new version). Pages filled to 80% keep that room. Existing pages are not
-- rewritten; they gain room as VACUUM frees it.
ALTER TABLE schedules SET (fillfactor = 80);
