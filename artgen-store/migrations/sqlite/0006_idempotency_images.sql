-- Kept answers no longer hold their images: `body` is the answer with each inline image's text
-- cut out, and `images` lists where each goes back and which stored image it is, as JSON
-- `[{"offset": 123, "image_id": "img_..."}, ...]` (NULL: none). Rows kept before this change
-- hold whole bodies and no `images`, and replay as they are until they expire.
ALTER TABLE idempotency ADD COLUMN images TEXT;
