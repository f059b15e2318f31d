-- runs_schedule_slot (schedule_id, scheduled_for DESC, id) repeats the unique index on
-- (schedule_id, scheduled_for): a slot is unique per schedule, so the unique index read backwards
-- serves a schedule's runs newest first (the id tiebreak of the keyset sorts groups of one row).
-- Every run is written five times on its way (inserted, published, claimed, expanded, finished),
-- each a new row version with an entry in every index: one index fewer is one write fewer each time.
DROP INDEX IF EXISTS runs_schedule_slot;
