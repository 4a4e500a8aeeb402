-- Budget holds: a request's estimate, held against its user's and its organisation's budget
-- from before its upstream call until its usage row is finished (settled, in the same
-- transaction), it is refused locally (released) or its lease ends (swept). What a budget
-- has spent is read from the usage rows themselves; a row whose request still holds a
-- reservation counts through the reservation instead.
CREATE TABLE budget_reservations (
    request_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT,
    org TEXT,
    period_start_ms INTEGER NOT NULL,
    amount_micros INTEGER NOT NULL CHECK (amount_micros >= 0),
    amount_tokens INTEGER NOT NULL CHECK (amount_tokens >= 0),
    expires_at_ms INTEGER NOT NULL
);

CREATE INDEX budget_reservations_user_idx ON budget_reservations (user_id, period_start_ms);
CREATE INDEX budget_reservations_org_idx ON budget_reservations (org, period_start_ms);
CREATE INDEX budget_reservations_expires_idx ON budget_reservations (expires_at_ms);

-- An organisation's spend in a month is summed from its rows.
CREATE INDEX usage_org_created_idx ON usage (org, created_at_ms) WHERE org IS NOT NULL;
