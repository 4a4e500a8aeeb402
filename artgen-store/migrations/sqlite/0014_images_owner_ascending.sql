-- The gallery's index in ascending order. A new image's entry is the newest of its owner's,
-- so in a descending index it went in at the left end of the owner's range, where SQLite's
-- B-tree splits leave half-empty pages (its fast split is for the right end): about two
-- pages written per image instead of one. SQLite reads the ascending index backwards for the
-- gallery's `ORDER BY created_at_ms DESC, id DESC`, as fast.
DROP INDEX images_owner_created_idx;
CREATE INDEX images_owner_created_idx ON images (owner, created_at_ms, id);
