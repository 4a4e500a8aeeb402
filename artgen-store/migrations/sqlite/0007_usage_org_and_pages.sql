-- Usage summaries group by organisation (issue "many replicas on shared state"), so a row keeps
-- the organisation its principal named (NULL when the credential names none).
ALTER TABLE usage ADD COLUMN org TEXT;

-- Listings page by keyset: newest first by (created_at_ms, request_id). The indexes carry
-- request_id so a page resumes inside a run of rows sharing one millisecond without a sort.
DROP INDEX usage_user_created_idx;
CREATE INDEX usage_user_created_idx ON usage (user_id, created_at_ms, request_id);
DROP INDEX usage_created_idx;
CREATE INDEX usage_created_idx ON usage (created_at_ms, request_id);
