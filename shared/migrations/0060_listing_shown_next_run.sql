-- The listing sorts by the next run time the API shows: none (last) while a schedule is paused,
-- disabled or system-disabled (shared/sql/schedule_listing.py SHOWN_NEXT_RUN_AT). The index's
-- expression must match SORT_EXPRESSIONS["next_run_time"] there exactly for the planner to use it.
DROP INDEX IF EXISTS schedules_org_next_run;
CREATE INDEX schedules_org_next_run ON schedules
    (organization_id,
     coalesce(CASE WHEN enabled AND paused_at IS NULL AND system_disabled_at IS NULL THEN next_run_at END,
              '9999-12-31 00:00:00+00'::timestamptz),
     id)
    WHERE deleted_at IS NULL;
