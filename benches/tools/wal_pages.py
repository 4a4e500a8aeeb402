#!/usr/bin/env python3
"""WAL pages per request of the usage writer's commits, by B-tree, for schema variants.

A model of the SQLite write path (docs/performance.md, "where a small request's write path
goes"): it applies artgen-store's SQLite migrations to a scratch database, fills it with
WARM requests, then commits REQUESTS more, each as the three writes the server makes (the
started row, the small image's blob row, the finished row with its image row), interleaved
as under concurrency and committed GROUP writes to a transaction. It counts the WAL frames
(pages) those commits append and says which table or index each page belongs to (`dbstat`).

Usage: wal_pages.py [VARIANT ...]   (default: base)
Variants (joined with '+'): base, asc (the gallery index ascending, as migration 0014 made
it), desc (as before 0014), seqblob (blobs keyed by a sequence, a unique index on the hash),
norowid (usage and images WITHOUT ROWID).
"""

import collections
import glob
import hashlib
import os
import random
import sqlite3
import string
import struct
import sys
import tempfile

MIGRATIONS = sorted(
    glob.glob(os.path.join(os.path.dirname(__file__), "../../artgen-store/migrations/sqlite/*.sql"))
)
WARM, REQUESTS, PAGE = 20_000, 3_000, 4096
GROUPS = (1, 3, 6, 12)


def new_id(prefix, ms):
    return f"{prefix}{ms:012d}" + "".join(random.choice(string.ascii_letters) for _ in range(16))


def apply_variant(conn, variant):
    if "desc" in variant:
        conn.execute("DROP INDEX images_owner_created_idx")
        conn.execute(
            "CREATE INDEX images_owner_created_idx ON images (owner, created_at_ms DESC, id DESC)"
        )
    if "seqblob" in variant:
        conn.executescript(
            "DROP TABLE blobs; CREATE TABLE blobs (id INTEGER PRIMARY KEY, "
            "sha256 TEXT NOT NULL UNIQUE, bytes BLOB NOT NULL);"
        )
    if "norowid" in variant:
        for table in ("usage", "images"):
            create = conn.execute("SELECT sql FROM sqlite_schema WHERE name = ?", (table,)).fetchone()[0]
            indexes = [
                row[0]
                for row in conn.execute(
                    "SELECT sql FROM sqlite_schema WHERE tbl_name = ? AND type = 'index' "
                    "AND sql IS NOT NULL",
                    (table,),
                )
            ]
            conn.execute(create.replace(f"CREATE TABLE {table}", f"CREATE TABLE {table}_new", 1) + " WITHOUT ROWID")
            conn.execute(f"DROP TABLE {table}")
            conn.execute(f"ALTER TABLE {table}_new RENAME TO {table}")
            for index in indexes:
                conn.execute(index)


def request_writes(variant, ms):
    """The three writes of one request: lists of (sql, params)."""
    request, image = new_id("req_", ms), new_id("img_", ms)
    blob = os.urandom(850)
    sha = hashlib.sha256(blob).hexdigest()
    row = dict(
        request_id=request, user_id="bench", operation="generate", model="gpt-image-1.5",
        provider="openai", n=1, size="1024x1024", quality="low", status="started",
        error_code=None, images=0, input_text_tokens=0, input_image_tokens=0,
        output_image_tokens=0, output_text_tokens=0, estimated_cost_micros=11000,
        cost_micros=0, latency_ms=0, upstream_latency_ms=0,
        prompt="a lighthouse at dawn, watercolour", created_at_ms=ms, unpriced=0,
        forwarded_params=None, svg_input_tokens=0, svg_output_tokens=0, org=None,
    )
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    start = f"INSERT INTO usage ({columns}) VALUES ({marks}) ON CONFLICT (request_id) DO NOTHING"
    finish = (
        f"INSERT INTO usage ({columns}) VALUES ({marks}) ON CONFLICT (request_id) DO UPDATE SET "
        "status = excluded.status, images = excluded.images, cost_micros = excluded.cost_micros, "
        "latency_ms = excluded.latency_ms"
    )
    if "seqblob" in variant:
        put_blob = ("INSERT INTO blobs (sha256, bytes) VALUES (?, ?) ON CONFLICT (sha256) DO NOTHING", [sha, blob])
    else:
        slot = int.from_bytes(bytes.fromhex(sha[:16]), "big", signed=True)
        put_blob = ("INSERT INTO blobs (id, sha256, bytes) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING", [slot, sha, blob])
    done = dict(row, status="ok", images=1, cost_micros=11000, latency_ms=3)
    image_row = (
        "INSERT INTO images (id, owner, org, request_id, prompt, model, format, width, height, "
        "sha256, len, created_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [image, "bench", None, request, row["prompt"], "gpt-image-1.5", "png", 1024, 1024, sha, 850, ms],
    )
    return [[(start, list(row.values()))], [put_blob], [(finish, list(done.values())), image_row]]


def interleaved(variant, count, t0_ms):
    """Writes in the order they reach the writer when requests overlap: step s carries the
    first write of request s, the second of s-1 and the third of s-2."""
    writes = [request_writes(variant, t0_ms + i // 5) for i in range(count)]
    return [writes[step - k][k] for step in range(count + 2) for k in range(3) if 0 <= step - k < count]


def frames(wal):
    out, offset = [], 32
    while offset + 24 <= len(wal):
        out.append(struct.unpack(">I", wal[offset : offset + 4])[0])
        offset += 24 + PAGE
    return out


def run(variant, group, folder):
    path = os.path.join(folder, f"{variant}-{group}.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    for migration in MIGRATIONS:
        conn.executescript(open(migration).read())
    apply_variant(conn, variant)
    conn.execute("BEGIN")
    for write in interleaved(variant, WARM, 1_700_000_000_000):
        for sql, params in write:
            conn.execute(sql, params)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    sequence = interleaved(variant, REQUESTS, 1_700_000_100_000)
    commits = 0
    for first in range(0, len(sequence), group):
        conn.execute("BEGIN")
        for write in sequence[first : first + group]:
            for sql, params in write:
                conn.execute(sql, params)
        conn.execute("COMMIT")
        commits += 1
    with open(path + "-wal", "rb") as wal:
        pages = frames(wal.read())
    owner = {page: name for name, page in conn.execute("SELECT name, pageno FROM dbstat")}
    by_tree = collections.Counter(owner.get(page, "(new or free page)") for page in pages)
    conn.close()
    print(
        f"{variant:22s} writes per commit {group:2d}: {len(pages) / REQUESTS:5.2f} pages per request, "
        f"{len(pages) / commits:5.2f} per commit"
    )
    return by_tree


def main():
    variants = sys.argv[1:] or ["base"]
    with tempfile.TemporaryDirectory() as folder:
        for variant in variants:
            for group in GROUPS:
                by_tree = run(variant, group, folder)
                if group == 1:
                    top = ", ".join(f"{name} {n / REQUESTS:.1f}" for name, n in by_tree.most_common(6))
                    print(f"{'':22s}   by B-tree: {top}")


if __name__ == "__main__":
    main()
