-- Requests are recorded before their upstream call (status 'started', cost = the estimate) and
-- finished after it ('succeeded' / 'failed'); rows a crash left 'started' are marked 'unknown'
-- at their estimate when the server starts again. This index keeps that recovery cheap on a
-- large table: it holds only the rows in flight.
CREATE INDEX usage_started_idx ON usage (created_at_ms) WHERE status = 'started';
