-- Image metadata moves out of per-image `meta/<id>.json` files (and objects) into rows written
-- in the same transaction as the request's finished usage row (issue 8): a gallery lists
-- without touching blobs, ownership is checked before bytes are read, and each image costs one
-- file or object (its blob). Not partitioned: rows stay until their image is deleted.
CREATE TABLE images (
    id text PRIMARY KEY,
    owner text NOT NULL,
    org text,
    request_id text NOT NULL,
    prompt text NOT NULL,
    model text NOT NULL,
    format text NOT NULL,
    width bigint NOT NULL,
    height bigint NOT NULL,
    sha256 text NOT NULL,
    len bigint NOT NULL,
    created_at_ms bigint NOT NULL
);

-- The gallery: an owner's images newest first, paged by keyset on (created_at_ms, id).
CREATE INDEX images_owner_created_idx ON images (owner, created_at_ms DESC, id DESC);
