-- One row per request that reached the upstream. `request_id` is the idempotency key of the
-- write: a retried insert of the same request is ignored (ON CONFLICT DO NOTHING).
-- Money is integer micro-dollars; counts and durations are non-negative integers.
CREATE TABLE usage (
    request_id            TEXT    NOT NULL PRIMARY KEY,
    user_id               TEXT    NOT NULL,
    operation             TEXT    NOT NULL,
    model                 TEXT    NOT NULL,
    provider              TEXT    NOT NULL,
    n                     INTEGER NOT NULL CHECK (n >= 0),
    size                  TEXT    NOT NULL,
    quality               TEXT    NOT NULL,
    status                TEXT    NOT NULL,
    error_code            TEXT,
    images                INTEGER NOT NULL CHECK (images >= 0),
    input_text_tokens     INTEGER NOT NULL CHECK (input_text_tokens >= 0),
    input_image_tokens    INTEGER NOT NULL CHECK (input_image_tokens >= 0),
    output_image_tokens   INTEGER NOT NULL CHECK (output_image_tokens >= 0),
    output_text_tokens    INTEGER NOT NULL CHECK (output_text_tokens >= 0),
    estimated_cost_micros INTEGER NOT NULL CHECK (estimated_cost_micros >= 0),
    cost_micros           INTEGER NOT NULL CHECK (cost_micros >= 0),
    latency_ms            INTEGER NOT NULL CHECK (latency_ms >= 0),
    upstream_latency_ms   INTEGER NOT NULL CHECK (upstream_latency_ms >= 0),
    prompt                TEXT    NOT NULL,
    created_at_ms         INTEGER NOT NULL
);

-- Per-user history, newest first.
CREATE INDEX usage_user_created_idx ON usage (user_id, created_at_ms);
-- Admin listing across users, newest first.
CREATE INDEX usage_created_idx ON usage (created_at_ms);
