-- Single-result delivery and row limits (Omni's queryIdentifierMapKey, maxRowLimit, overrideRowLimit).
-- query_key: which named result of the command a schedule delivers (NULL: all of them).
-- max_row_limit: the most rows delivered per result (NULL: the default cap, 10,000, or 1,000,000
-- with override_row_limit; shared/schedule_rules.py).
ALTER TABLE schedules
    ADD COLUMN query_key text CHECK (length(query_key) BETWEEN 1 AND 255),
    ADD COLUMN max_row_limit integer CHECK (max_row_limit BETWEEN 1 AND 1000000),
    -- Schedules saved before this migration delivered every row their command returned: they get
    -- override_row_limit, so an upgrade cuts nothing they sent. Added with DEFAULT true, then the
    -- default turned to false, so existing rows keep true without a rewrite of the table.
    ADD COLUMN override_row_limit boolean NOT NULL DEFAULT true,
    ADD CONSTRAINT schedules_max_row_limit_override
        CHECK (max_row_limit IS NULL OR max_row_limit <= 10000 OR override_row_limit);
ALTER TABLE schedules ALTER COLUMN override_row_limit SET DEFAULT false;
