-- Which images name a blob: DELETE /images/{id} removes the blob only when no row names it.
CREATE INDEX IF NOT EXISTS images_sha256 ON images (sha256);
