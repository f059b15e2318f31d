-- Campaigns as a state machine (shared/campaign_states.py): draft -> scheduled -> sending -> sent,
-- draft or scheduled -> cancelled. The table held no rows before (no route wrote it), so its draft
-- columns are replaced rather than carried over.
-- Stored status is what the API decides (draft, scheduled, cancelled); sending and sent are read
-- from the send that carries a scheduled campaign (schedule_id, a hidden one-shot schedule).
ALTER TABLE campaigns DROP COLUMN message;
ALTER TABLE campaigns RENAME COLUMN contact_list_id TO segment_id;
ALTER TABLE campaigns DROP CONSTRAINT campaigns_status_check;
ALTER TABLE campaigns
    ALTER COLUMN status SET DEFAULT 'draft',
    ADD CONSTRAINT campaigns_status_check CHECK (status IN ('draft', 'scheduled', 'cancelled')),
    ADD COLUMN description text NOT NULL DEFAULT '' CHECK (length(description) <= 5000),
    ADD COLUMN content jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(content) = 'object'),
    ADD COLUMN scheduled_at timestamptz,
    ADD COLUMN cancelled_at timestamptz,
    ADD COLUMN created_by uuid,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT campaigns_org_id UNIQUE (organization_id, id),
    ADD CONSTRAINT campaigns_created_by_fkey FOREIGN KEY (organization_id, created_by)
        REFERENCES users (organization_id, id) ON DELETE SET NULL (created_by),
    ADD CONSTRAINT campaigns_scheduled_has_time CHECK (status <> 'scheduled' OR scheduled_at IS NOT NULL),
    ADD CONSTRAINT campaigns_cancelled_has_time CHECK (status <> 'cancelled' OR cancelled_at IS NOT NULL);
-- GET /v1/campaigns: oldest first, keyset on (created_at, id) within the organization.
CREATE INDEX campaigns_org_created ON campaigns (organization_id, created_at, id);
CREATE INDEX campaigns_segment ON campaigns (segment_id);
