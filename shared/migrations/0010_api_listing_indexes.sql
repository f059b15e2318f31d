-- Indexes for the API's schedule listing: keyset pagination on (sort value, id) per organization,
-- so that page 500 costs what page 1 costs, and a trigram index for `q` where pg_trgm exists.

-- NULL times sort last behind a far-future stand-in (shared/sql/schedule_listing.py); the
-- expressions here must match SORT_EXPRESSIONS there exactly for the planner to use them.
CREATE INDEX schedules_org_next_run ON schedules
    (organization_id, coalesce(next_run_at, '9999-12-31 00:00:00+00'::timestamptz), id)
    WHERE deleted_at IS NULL;
CREATE INDEX schedules_org_last_run ON schedules
    (organization_id, coalesce(last_run_at, '9999-12-31 00:00:00+00'::timestamptz), id)
    WHERE deleted_at IS NULL;
CREATE INDEX schedules_org_owner ON schedules (organization_id, created_by_user_id) WHERE deleted_at IS NULL;
CREATE INDEX users_org_created ON users (organization_id, created_at, id);

-- pg_trgm is a contrib extension: present in most PostgreSQL installs but not in every embedded
-- build. Without it `q` still works (ILIKE), only without an index.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX schedules_name_trgm ON schedules USING gin (name gin_trgm_ops) WHERE deleted_at IS NULL;
    END IF;
END
$$;
