-- Artifacts, deliveries and attempts carry their run's organization_id so that every query of them is
-- scoped to the caller's organization; they belong to it through their run (runs.organization_id
-- references organizations ON DELETE CASCADE, and they cascade from their run, or from their delivery).
-- Their own foreign keys to organizations added a check and a row lock on the organization to each of
-- the three inserts of every delivered run, and had no index behind their cascade. They go; so does
-- deliveries_org_created, which only the deliveries quota read (now delivery_counts): one index entry
-- fewer on each of a delivery's three row versions.
ALTER TABLE artifacts DROP CONSTRAINT IF EXISTS artifacts_organization_id_fkey;
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_organization_id_fkey;
ALTER TABLE delivery_attempts DROP CONSTRAINT IF EXISTS delivery_attempts_organization_id_fkey;
DROP INDEX IF EXISTS deliveries_org_created;
