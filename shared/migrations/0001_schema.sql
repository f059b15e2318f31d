-- Punctual's schema. Every tenant row carries organization_id; timestamps are timestamptz (UTC).

CREATE TABLE organizations (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_tokens (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            text NOT NULL DEFAULT 'default' CHECK (length(name) BETWEEN 1 AND 255),
    token_hash      bytea NOT NULL UNIQUE,          -- sha256 of the token; the token itself is never stored
    token_prefix    text NOT NULL,                  -- first characters, to recognise a token in a list
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX api_tokens_org ON api_tokens (organization_id);

CREATE TABLE users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    kind            text NOT NULL DEFAULT 'member' CHECK (kind IN ('member', 'email_only')),
    email           text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    name            text CHECK (length(name) <= 255),
    timezone        text NOT NULL DEFAULT 'UTC',
    attributes      jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(attributes) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id)
);
CREATE UNIQUE INDEX users_org_email ON users (organization_id, lower(email));

CREATE TABLE user_attributes (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]{0,62}$'),
    type            text NOT NULL CHECK (type IN ('string', 'number', 'boolean')),
    multi_value     boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);

CREATE TABLE commands (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    -- http, sql and template ship with Punctual; third-party kinds come from entry points.
    kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,62}$'),
    config          jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
    config_secret   bytea,                          -- encrypted with PUNCTUAL_SECRET_KEY
    filter_keys     text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    UNIQUE (organization_id, id)
);
CREATE INDEX commands_org_created ON commands (organization_id, created_at, id) WHERE deleted_at IS NULL;

CREATE TABLE schedules (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id         uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    command_id              uuid,
    name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    kind                    text NOT NULL DEFAULT 'cron' CHECK (kind IN ('cron', 'one_shot')),
    cron_expression         text,
    execute_at              timestamptz,
    timezone                text NOT NULL DEFAULT 'UTC',
    enabled                 boolean NOT NULL DEFAULT true,
    paused_at               timestamptz,
    system_disabled_at      timestamptz,
    system_disabled_reason  text,
    run_mode                text NOT NULL DEFAULT 'per_subscriber'
                                CHECK (run_mode IN ('per_subscriber', 'once_distribute')),
    fan_out                 boolean NOT NULL DEFAULT false,
    destination_type        text NOT NULL CHECK (destination_type IN ('email', 'sftp', 'webhook', 'slack')),
    destination             jsonb NOT NULL DEFAULT '{}'::jsonb,  -- public part; secrets live below
    destination_secret      bytea,                                -- encrypted with PUNCTUAL_SECRET_KEY
    format                  text NOT NULL DEFAULT 'json' CHECK (format IN ('json', 'csv', 'xlsx', 'html', 'text')),
    format_options          jsonb NOT NULL DEFAULT '{}'::jsonb,
    filters                 jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(filters) = 'object'),
    alert_condition         text CHECK (alert_condition IN ('results_present', 'results_changed')),
    misfire_policy          text NOT NULL DEFAULT 'run_once' CHECK (misfire_policy IN ('run_once', 'skip', 'run_all')),
    retry_max_attempts      integer NOT NULL DEFAULT 5 CHECK (retry_max_attempts BETWEEN 1 AND 100),
    retry_base_delay_s      double precision NOT NULL DEFAULT 30 CHECK (retry_base_delay_s >= 0),
    retry_max_delay_s       double precision NOT NULL DEFAULT 3600 CHECK (retry_max_delay_s >= 0),
    next_run_at             timestamptz,
    last_run_at             timestamptz,
    last_status             text CHECK (last_status IN ('complete', 'error_delivered', 'failed', 'skipped')),
    last_completed_at       timestamptz,
    last_artifact_sha256    text,
    consecutive_failures    integer NOT NULL DEFAULT 0,
    skipped_slots           bigint NOT NULL DEFAULT 0,
    done_at                 timestamptz,                          -- a one-shot that has fired
    created_by_user_id      uuid,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    deleted_at              timestamptz,
    UNIQUE (organization_id, id),
    FOREIGN KEY (organization_id, command_id) REFERENCES commands (organization_id, id),
    FOREIGN KEY (organization_id, created_by_user_id) REFERENCES users (organization_id, id),
    CHECK ((kind = 'cron' AND cron_expression IS NOT NULL) OR (kind = 'one_shot' AND execute_at IS NOT NULL))
);
-- Beat's hot path: due schedules by next_run_at. Only fireable rows are in it, so its size
-- (and beat's cost per tick) follows the number of due schedules, not the total.
CREATE INDEX schedules_due ON schedules (next_run_at)
    WHERE enabled AND paused_at IS NULL AND system_disabled_at IS NULL
      AND deleted_at IS NULL AND next_run_at IS NOT NULL;
CREATE INDEX schedules_org_created ON schedules (organization_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX schedules_org_name ON schedules (organization_id, name, id) WHERE deleted_at IS NULL;
CREATE INDEX schedules_command ON schedules (command_id);

CREATE TABLE schedule_subscribers (
    schedule_id     uuid NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, user_id)
);
CREATE INDEX schedule_subscribers_user ON schedule_subscribers (user_id);

CREATE TABLE runs (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id         uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    schedule_id             uuid NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    scheduled_for           timestamptz NOT NULL,
    trigger                 text NOT NULL DEFAULT 'schedule'
                                CHECK (trigger IN ('schedule', 'catch_up', 'manual', 'test', 'one_shot')),
    is_test                 boolean NOT NULL DEFAULT false,
    status                  text NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'published', 'running', 'complete',
                                                  'error_delivered', 'failed', 'skipped')),
    publish_count           integer NOT NULL DEFAULT 0,
    deliveries_total        integer NOT NULL DEFAULT 0,
    deliveries_delivered    integer NOT NULL DEFAULT 0,
    deliveries_failed       integer NOT NULL DEFAULT 0,
    created_at              timestamptz NOT NULL DEFAULT now(),
    published_at            timestamptz,
    started_at              timestamptz,
    finished_at             timestamptz,
    error                   text,
    -- One run per slot, whoever (and however many beats) tries to insert it.
    UNIQUE (schedule_id, scheduled_for)
);
CREATE INDEX runs_schedule_slot ON runs (schedule_id, scheduled_for DESC, id);
-- The outbox: runs not yet in the broker, and runs published but never started.
CREATE INDEX runs_pending ON runs (created_at) WHERE status = 'pending';
CREATE INDEX runs_published ON runs (published_at) WHERE status = 'published';

CREATE TABLE artifacts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    run_id          uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    user_id         uuid REFERENCES users(id) ON DELETE SET NULL,  -- set for per-subscriber artifacts
    content_type    text NOT NULL,
    filename        text NOT NULL,
    sha256          text NOT NULL,
    size_bytes      bigint NOT NULL,
    row_count       integer,
    body            bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX artifacts_run_user ON artifacts (run_id, coalesce(user_id, '00000000-0000-0000-0000-000000000000'::uuid));

CREATE TABLE deliveries (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id     uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    run_id              uuid NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    schedule_id         uuid NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    recipient_key       text NOT NULL,          -- user id, email address or the destination itself
    user_id             uuid REFERENCES users(id) ON DELETE SET NULL,
    destination_type    text NOT NULL CHECK (destination_type IN ('email', 'sftp', 'webhook', 'slack')),
    artifact_id         uuid REFERENCES artifacts(id) ON DELETE SET NULL,
    status              text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'sending', 'retrying', 'delivered', 'failed', 'cancelled')),
    attempts            integer NOT NULL DEFAULT 0,
    max_attempts        integer NOT NULL DEFAULT 5,
    next_attempt_at     timestamptz,
    last_error          text,
    last_response_code  integer,
    receipt             jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    delivered_at        timestamptz,
    -- A redelivered run message must never duplicate a delivery.
    UNIQUE (run_id, recipient_key)
);
CREATE INDEX deliveries_run ON deliveries (run_id);
CREATE INDEX deliveries_retry_due ON deliveries (next_attempt_at) WHERE status = 'retrying';

CREATE TABLE delivery_attempts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    delivery_id     uuid NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempt_number  integer NOT NULL CHECK (attempt_number >= 1),
    started_at      timestamptz NOT NULL DEFAULT now(),
    duration_ms     integer,
    outcome         text NOT NULL DEFAULT 'sending' CHECK (outcome IN ('sending', 'delivered', 'retry', 'failed')),
    error           text,
    response_code   integer,
    UNIQUE (delivery_id, attempt_number)
);

CREATE TABLE contact_lists (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, id)
);

CREATE TABLE contact_list_members (
    contact_list_id uuid NOT NULL REFERENCES contact_lists(id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (contact_list_id, user_id)
);

CREATE TABLE campaigns (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    contact_list_id uuid NOT NULL,
    schedule_id     uuid REFERENCES schedules(id) ON DELETE SET NULL,  -- the one-shot that sends it
    message         text NOT NULL,
    status          text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'sent', 'cancelled')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (organization_id, contact_list_id) REFERENCES contact_lists (organization_id, id)
);

-- One row per beat process: /v1/health reads the newest.
CREATE TABLE beat_heartbeats (
    beat_id             text PRIMARY KEY,
    hostname            text NOT NULL,
    pid                 integer NOT NULL,
    started_at          timestamptz NOT NULL DEFAULT now(),
    last_tick_at        timestamptz NOT NULL DEFAULT now(),
    runs_published      bigint NOT NULL DEFAULT 0,
    last_tick_published integer NOT NULL DEFAULT 0
);
