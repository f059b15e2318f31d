-- Sends: a scheduled message (or a campaign) is carried out by a hidden one-shot schedule that beat
-- fires like any other. `owner` says whose it is (NULL: a user's schedule, the only kind the
-- schedules routes, listings and quota see). Its content (text, or a template and variables, and
-- attachment URLs) and its target (user ids, a contact list, or addresses) are stored on it; the
-- worker renders the content and resolves the target when the run executes, not before.
ALTER TABLE schedules
    ADD COLUMN owner text CHECK (owner IN ('message', 'campaign')),
    ADD COLUMN send_content jsonb CHECK (jsonb_typeof(send_content) = 'object'),
    ADD COLUMN send_target jsonb CHECK (jsonb_typeof(send_target) = 'object'),
    ADD COLUMN cancelled_at timestamptz,
    ADD CONSTRAINT schedules_send_shape CHECK (
        (owner IS NULL AND send_content IS NULL AND send_target IS NULL AND cancelled_at IS NULL)
        OR (owner IS NOT NULL AND kind = 'one_shot' AND send_content IS NOT NULL AND send_target IS NOT NULL));
-- Listings and the quota count only users' schedules; their indexes keep serving them.
CREATE INDEX schedules_org_sends ON schedules (organization_id, owner, created_at, id)
    WHERE owner IS NOT NULL;

-- A delivery to a phone number goes to the organization's message gateway (a signed webhook).
ALTER TABLE deliveries DROP CONSTRAINT deliveries_destination_type_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_destination_type_check
    CHECK (destination_type IN ('email', 'sftp', 'webhook', 'slack', 'gateway'));

-- The organization's message gateway: its URL, and its signing secret encrypted with PUNCTUAL_SECRET_KEY.
ALTER TABLE organizations
    ADD COLUMN message_gateway_url text CHECK (length(message_gateway_url) BETWEEN 1 AND 2048),
    ADD COLUMN message_gateway_secret bytea,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- Contact lists: named sets of users, resolved when a send runs. Soft-deleted, so a campaign that
-- names one keeps its reference (and finds no members).
ALTER TABLE contact_lists
    ADD COLUMN description text CHECK (length(description) <= 2000),
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN deleted_at timestamptz;
CREATE INDEX contact_lists_org_created ON contact_lists (organization_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX contact_list_members_list ON contact_list_members (contact_list_id, user_id);
CREATE INDEX contact_list_members_user ON contact_list_members (user_id);

-- Scheduled messages: the caller's view of a send. local_id is the client's own id: the same one
-- again finds the message instead of sending twice (request_sha256 tells a replay from a clash).
CREATE TABLE scheduled_messages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    schedule_id     uuid NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    local_id        text CHECK (length(local_id) BETWEEN 1 AND 255),
    request_sha256  text NOT NULL,
    sender_user_id  uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id),
    CONSTRAINT scheduled_messages_local_id UNIQUE (organization_id, local_id),
    FOREIGN KEY (organization_id, sender_user_id) REFERENCES users (organization_id, id)
        ON DELETE SET NULL (sender_user_id)
);
CREATE UNIQUE INDEX scheduled_messages_schedule ON scheduled_messages (schedule_id);
CREATE INDEX scheduled_messages_org_created ON scheduled_messages (organization_id, created_at, id);
