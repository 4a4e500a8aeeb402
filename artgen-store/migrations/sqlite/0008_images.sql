-- Image metadata moves out of per-image `meta/<id>.json` files into rows written in the same
-- transaction as the request's finished usage row (issue 8): a gallery lists without touching
-- blobs, ownership is checked before bytes are read, and each image costs one file (its blob).
CREATE TABLE images (
    id TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    org TEXT,
    request_id TEXT NOT NULL,
    prompt TEXT NOT NULL,
    model TEXT NOT NULL,
    format TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    len INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL
);

-- The gallery: an owner's images newest first, paged by keyset on (created_at_ms, id).
CREATE INDEX images_owner_created_idx ON images (owner, created_at_ms DESC, id DESC);
