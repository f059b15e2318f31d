-- Every delivery row is inserted once and updated twice (claimed, settled), and each of those
-- updates touches every index whose predicate its status change crosses: an index that no query
-- needs is paid for three times per delivery.
-- deliveries_run: the unique (run_id, recipient_key) index serves every lookup by run.
-- deliveries_retry_due: retries are found by publish_after (deliveries_publish_due), like lost messages.
DROP INDEX IF EXISTS deliveries_run;
DROP INDEX IF EXISTS deliveries_retry_due;
