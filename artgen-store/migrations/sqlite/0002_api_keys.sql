-- API keys. Only the SHA-256 of the full key is stored; `public_id` (prefix plus the first
-- eight body characters) finds the row and `last_four` is for display.
CREATE TABLE api_keys (
    public_id       TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL,
    role            TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    key_hash        BLOB    NOT NULL CHECK (length(key_hash) = 32),
    last_four       TEXT    NOT NULL,
    created_at_ms   INTEGER NOT NULL,
    revoked_at_ms   INTEGER,
    last_used_at_ms INTEGER
);

CREATE INDEX api_keys_user_idx ON api_keys (user_id, created_at_ms);
