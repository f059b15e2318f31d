-- API tokens can expire, and can act for one member user of their organization: schedules created
-- with such a token are owned by that user. Deleting a user keeps the history of their revoked or
-- expired tokens without them (the API refuses to delete a user who still has an active token).
ALTER TABLE api_tokens
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN user_id uuid,
    ADD CONSTRAINT api_tokens_user_fkey FOREIGN KEY (organization_id, user_id)
        REFERENCES users (organization_id, id) ON DELETE SET NULL (user_id);
CREATE INDEX api_tokens_user ON api_tokens (user_id) WHERE user_id IS NOT NULL;

-- A deleted user's schedules stay, without an owner (the constraint of 0001 refused the delete).
ALTER TABLE schedules DROP CONSTRAINT schedules_organization_id_created_by_user_id_fkey;
ALTER TABLE schedules ADD CONSTRAINT schedules_created_by_user_fkey FOREIGN KEY (organization_id, created_by_user_id)
    REFERENCES users (organization_id, id) ON DELETE SET NULL (created_by_user_id);

-- Quotas count an organization's runs triggered by hand and its deliveries over the last hour.
CREATE INDEX runs_org_triggered ON runs (organization_id, created_at) WHERE trigger IN ('manual', 'test');
CREATE INDEX deliveries_org_created ON deliveries (organization_id, created_at);
