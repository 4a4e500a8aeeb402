-- Small image blobs kept in the database instead of one file each (see the tiered image
-- store). `id` is the first 8 bytes of the SHA-256 read as a signed integer, so the table
-- is one B-tree keyed by the rowid (no second index); `sha256` says which blob a row holds,
-- and a blob whose 8-byte prefix is taken by another goes to the folder instead.
CREATE TABLE blobs (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL,
    bytes BLOB NOT NULL
);
