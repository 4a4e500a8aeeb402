-- Users' and organisations' own limits and whether a user is disabled, set by admins. A user
-- needs no row to sign in: a missing row is a user with the server's defaults. Money is
-- integer micro-dollars; times are Unix milliseconds.
CREATE TABLE users (
    id                  TEXT    NOT NULL PRIMARY KEY,
    org_id              TEXT,
    budget_usd_micros   INTEGER CHECK (budget_usd_micros >= 0),
    budget_tokens       INTEGER CHECK (budget_tokens >= 0),
    rate_per_minute     INTEGER CHECK (rate_per_minute >= 0),
    rate_burst          INTEGER CHECK (rate_burst >= 0),
    disabled            INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL
);

CREATE TABLE orgs (
    id                  TEXT    NOT NULL PRIMARY KEY,
    budget_usd_micros   INTEGER CHECK (budget_usd_micros >= 0),
    budget_tokens       INTEGER CHECK (budget_tokens >= 0),
    updated_at_ms       INTEGER NOT NULL
);

-- The audit trail of admin actions, append-only. `detail` is JSON text and never holds a
-- secret; `seq` orders entries of the same millisecond.
CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms           INTEGER NOT NULL,
    actor           TEXT    NOT NULL,
    credential_id   TEXT,
    action          TEXT    NOT NULL,
    target          TEXT    NOT NULL,
    detail          TEXT    NOT NULL
);

CREATE INDEX audit_log_at_idx ON audit_log (at_ms);
CREATE INDEX audit_log_target_idx ON audit_log (target, at_ms);
