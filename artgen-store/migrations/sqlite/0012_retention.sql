-- Retention: the purge finds the prompts still kept, and the images past their time, without
-- scanning every old row on each run.
CREATE INDEX usage_prompt_kept_idx ON usage (created_at_ms) WHERE prompt <> '';
CREATE INDEX images_created_idx ON images (created_at_ms, id);
