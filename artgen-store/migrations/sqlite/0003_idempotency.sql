-- Idempotency records: the first answer to a request sent with an `Idempotency-Key`, scoped by
-- user. A row is either a claim (`in_progress`, no answer yet) or a kept answer (`done`).
-- A row whose `expires_at_ms` has passed counts as absent: a claim lapses after its lease, an
-- answer after the retention (24 h by default). The adapter claims with one upsert that only
-- replaces expired rows, so two replicas cannot both start the same request.
CREATE TABLE idempotency (
    user_id         TEXT    NOT NULL,
    idem_key        TEXT    NOT NULL,
    fingerprint     BLOB    NOT NULL CHECK (length(fingerprint) = 32),
    state           TEXT    NOT NULL CHECK (state IN ('in_progress', 'done')),
    status          INTEGER,
    content_type    TEXT,
    body            BLOB,
    completed_at_ms INTEGER,
    created_at_ms   INTEGER NOT NULL,
    expires_at_ms   INTEGER NOT NULL,
    PRIMARY KEY (user_id, idem_key),
    CHECK ((state = 'done') = (status IS NOT NULL AND content_type IS NOT NULL
        AND body IS NOT NULL AND completed_at_ms IS NOT NULL))
);

-- Purging expired rows.
CREATE INDEX idempotency_expires_idx ON idempotency (expires_at_ms);
