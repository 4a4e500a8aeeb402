-- The catalogue became data (issue 6): a request may be served unpriced (the operator allows
-- models without a known price; `cost_micros` is then 0 and must not be read as free), may
-- forward parameters ArtGen does not know, and may produce SVG, whose authoring tokens are
-- billed apart from rendering.
ALTER TABLE usage ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0 CHECK (unpriced IN (0, 1));
ALTER TABLE usage ADD COLUMN forwarded_params TEXT;
ALTER TABLE usage ADD COLUMN svg_input_tokens INTEGER NOT NULL DEFAULT 0 CHECK (svg_input_tokens >= 0);
ALTER TABLE usage ADD COLUMN svg_output_tokens INTEGER NOT NULL DEFAULT 0 CHECK (svg_output_tokens >= 0);
