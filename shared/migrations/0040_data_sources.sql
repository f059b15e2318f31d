-- Data sources for sql commands belong to one organization. The URL (with its password) is
-- encrypted with PUNCTUAL_SECRET_KEY and never returned; `display_url` is the same URL without
-- user and password, for listings.
CREATE TABLE data_sources (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_.-]{0,62}$'),
    url_secret      bytea NOT NULL,
    display_url     text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name),
    UNIQUE (organization_id, id)
);
