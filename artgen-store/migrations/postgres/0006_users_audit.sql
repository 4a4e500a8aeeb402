-- Users' and organisations' own limits and whether a user is disabled, as in SQLite. A user
-- needs no row to sign in: a missing row is a user with the server's defaults.
CREATE TABLE users (
    id                  text    NOT NULL PRIMARY KEY,
    org_id              text,
    budget_usd_micros   bigint  CHECK (budget_usd_micros >= 0),
    budget_tokens       bigint  CHECK (budget_tokens >= 0),
    rate_per_minute     bigint  CHECK (rate_per_minute >= 0),
    rate_burst          bigint  CHECK (rate_burst >= 0),
    disabled            boolean NOT NULL DEFAULT false,
    created_at_ms       bigint  NOT NULL,
    updated_at_ms       bigint  NOT NULL
);

CREATE TABLE orgs (
    id                  text    NOT NULL PRIMARY KEY,
    budget_usd_micros   bigint  CHECK (budget_usd_micros >= 0),
    budget_tokens       bigint  CHECK (budget_tokens >= 0),
    updated_at_ms       bigint  NOT NULL
);

-- The audit trail of admin actions, append-only; `detail` is JSON and never holds a secret.
CREATE TABLE audit_log (
    seq             bigserial PRIMARY KEY,
    at_ms           bigint    NOT NULL,
    actor           text      NOT NULL,
    credential_id   text,
    action          text      NOT NULL,
    target          text      NOT NULL,
    detail          jsonb     NOT NULL
);

CREATE INDEX audit_log_at_idx ON audit_log (at_ms);
CREATE INDEX audit_log_target_idx ON audit_log (target, at_ms);
