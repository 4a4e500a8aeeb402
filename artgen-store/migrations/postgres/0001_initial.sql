-- The Postgres schema: the same rows as the SQLite one, shared by every replica.
-- Money is integer micro-dollars; times are Unix milliseconds (bigint), as in SQLite.

-- One row per request that reached the upstream, partitioned by month of `created_at_ms`
-- (declarative range partitioning), so old months can be detached or dropped whole and
-- listings of recent usage touch only recent partitions. A partitioned table's unique keys
-- must hold the partition key, so `usage_request_ids` below is what makes `request_id`
-- unique across months. Rows hold no image data and nothing copied from the catalogue.
CREATE SEQUENCE usage_seq;

CREATE TABLE usage (
    request_id            text     NOT NULL,
    user_id               text     NOT NULL,
    operation             text     NOT NULL,
    model                 text     NOT NULL,
    provider              text     NOT NULL,
    n                     bigint   NOT NULL CHECK (n >= 0),
    size                  text     NOT NULL,
    quality               text     NOT NULL,
    status                text     NOT NULL
        CHECK (status IN ('started', 'succeeded', 'failed', 'unknown')),
    error_code            text,
    images                bigint   NOT NULL CHECK (images >= 0),
    input_text_tokens     bigint   NOT NULL CHECK (input_text_tokens >= 0),
    input_image_tokens    bigint   NOT NULL CHECK (input_image_tokens >= 0),
    output_image_tokens   bigint   NOT NULL CHECK (output_image_tokens >= 0),
    output_text_tokens    bigint   NOT NULL CHECK (output_text_tokens >= 0),
    svg_input_tokens      bigint   NOT NULL CHECK (svg_input_tokens >= 0),
    svg_output_tokens     bigint   NOT NULL CHECK (svg_output_tokens >= 0),
    estimated_cost_micros bigint   NOT NULL CHECK (estimated_cost_micros >= 0),
    cost_micros           bigint   NOT NULL CHECK (cost_micros >= 0),
    latency_ms            bigint   NOT NULL CHECK (latency_ms >= 0),
    upstream_latency_ms   bigint   NOT NULL CHECK (upstream_latency_ms >= 0),
    prompt                text     NOT NULL,
    created_at_ms         bigint   NOT NULL,
    unpriced              boolean  NOT NULL DEFAULT false,
    forwarded_params      text,
    -- Insertion order, to break ties of `created_at_ms` in listings (SQLite's rowid).
    seq                   bigint   NOT NULL DEFAULT nextval('usage_seq'),
    PRIMARY KEY (request_id, created_at_ms)
) PARTITION BY RANGE (created_at_ms);

-- Rows of months without their own partition (not created yet, or times outside the
-- calendar). `artgen_ensure_usage_partition` moves them into a month's partition when it
-- creates it, so a write never fails for lack of a partition.
CREATE TABLE usage_default PARTITION OF usage DEFAULT;

-- Per-user history and the admin listing, newest first.
CREATE INDEX usage_user_created_idx ON usage (user_id, created_at_ms);
CREATE INDEX usage_created_idx ON usage (created_at_ms);
-- Recovery of rows left `started` by a crash: only the rows in flight.
CREATE INDEX usage_started_idx ON usage (created_at_ms) WHERE status = 'started';

-- The idempotency key of usage writes: one row per request id, whatever its month. A write
-- inserts here first (ON CONFLICT DO NOTHING) and writes the usage row only when that
-- inserted, in the same statement, so a retried write never counts twice.
CREATE TABLE usage_request_ids (
    request_id    text   NOT NULL PRIMARY KEY,
    created_at_ms bigint NOT NULL
);

-- Daily roll-up of usage by user and model (UTC days), recomputed by housekeeping for the
-- last days; it keeps the counts and money when old partitions are dropped.
CREATE TABLE usage_daily (
    day                   date   NOT NULL,
    user_id               text   NOT NULL,
    model                 text   NOT NULL,
    requests              bigint NOT NULL,
    succeeded             bigint NOT NULL,
    failed                bigint NOT NULL,
    unfinished            bigint NOT NULL,
    images                bigint NOT NULL,
    input_tokens          bigint NOT NULL,
    output_tokens         bigint NOT NULL,
    estimated_cost_micros bigint NOT NULL,
    cost_micros           bigint NOT NULL,
    PRIMARY KEY (day, user_id, model)
);

-- Creates the partition of the month holding `at_ms` (UTC) unless it exists, moving rows
-- the default partition holds for that month into it; returns its name. Safe to call from
-- several replicas at once (an advisory lock serialises them).
CREATE FUNCTION artgen_ensure_usage_partition(at_ms bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    month_start timestamp := date_trunc('month', to_timestamp(at_ms / 1000.0) AT TIME ZONE 'UTC');
    from_ms bigint := (extract(epoch FROM month_start AT TIME ZONE 'UTC') * 1000)::bigint;
    to_ms bigint := (extract(epoch FROM (month_start + interval '1 month') AT TIME ZONE 'UTC') * 1000)::bigint;
    part text := 'usage_' || to_char(month_start, '"y"YYYY"m"MM');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('artgen_usage_partitions'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    CREATE TEMP TABLE artgen_moved_usage ON COMMIT DROP AS
        SELECT * FROM usage_default WHERE created_at_ms >= from_ms AND created_at_ms < to_ms;
    DELETE FROM usage_default WHERE created_at_ms >= from_ms AND created_at_ms < to_ms;
    EXECUTE format('CREATE TABLE %I PARTITION OF usage FOR VALUES FROM (%s) TO (%s)',
        part, from_ms, to_ms);
    INSERT INTO usage SELECT * FROM artgen_moved_usage;
    DROP TABLE artgen_moved_usage;
    RETURN part;
END
$$;

-- API keys. Only the SHA-256 of the full key is stored; `public_id` (prefix plus the first
-- eight body characters) finds the row and `last_four` is for display.
CREATE TABLE api_keys (
    public_id       text   NOT NULL PRIMARY KEY,
    user_id         text   NOT NULL,
    role            text   NOT NULL CHECK (role IN ('user', 'admin')),
    key_hash        bytea  NOT NULL CHECK (length(key_hash) = 32),
    last_four       text   NOT NULL,
    created_at_ms   bigint NOT NULL,
    revoked_at_ms   bigint,
    last_used_at_ms bigint
);

CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at_ms);

-- Idempotency records, as in SQLite: a claim (`in_progress`) or a kept answer (`done`), whose
-- `body` holds no image bytes (`images` lists where the stored images go back, as JSON).
CREATE TABLE idempotency (
    user_id         text    NOT NULL,
    idem_key        text    NOT NULL,
    fingerprint     bytea   NOT NULL CHECK (length(fingerprint) = 32),
    state           text    NOT NULL CHECK (state IN ('in_progress', 'done')),
    status          integer,
    content_type    text,
    body            bytea,
    images          text,
    completed_at_ms bigint,
    created_at_ms   bigint  NOT NULL,
    expires_at_ms   bigint  NOT NULL,
    PRIMARY KEY (user_id, idem_key),
    CHECK ((state = 'done') = (status IS NOT NULL AND content_type IS NOT NULL
        AND body IS NOT NULL AND completed_at_ms IS NOT NULL))
);

CREATE INDEX idempotency_expires_idx ON idempotency (expires_at_ms);
