"""The SQLite store: one file, WAL, one writer connection (the writer thread's), a reader
connection per reading thread. ``synchronous="full"`` (the default): a commit is on disk when
it returns; ``"normal"``: a commit survives a crash of the process at once and a power loss once
the next checkpoint synced it (docs/architecture.md, "Durability")."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ldesfrag.server.store import (
    MemberRow,
    NodeRow,
    RenderedRow,
    Store,
    StoreError,
    StreamRecord,
    Transaction,
    ViewRecord,
)

__all__ = ["SQLiteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL,
    settings TEXT NOT NULL,
    closed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS views (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    view_json TEXT NOT NULL,
    fragmenter BLOB,
    UNIQUE (stream_id, name)
);
CREATE TABLE IF NOT EXISTS fragmenter_journal (
    view_id INTEGER NOT NULL REFERENCES views(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    entry BLOB NOT NULL,
    PRIMARY KEY (view_id, n)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    stream_id INTEGER NOT NULL REFERENCES streams(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    iri TEXT NOT NULL,
    payload TEXT NOT NULL,
    timestamp TEXT,
    PRIMARY KEY (stream_id, seq),
    UNIQUE (stream_id, iri)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS assignments (
    view_id INTEGER NOT NULL REFERENCES views(id) ON DELETE CASCADE,
    bucket TEXT NOT NULL,
    page INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (view_id, bucket, page, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (
    view_id INTEGER NOT NULL REFERENCES views(id) ON DELETE CASCADE,
    bucket TEXT NOT NULL,
    page INTEGER NOT NULL,
    immutable INTEGER NOT NULL,
    relations TEXT NOT NULL,
    PRIMARY KEY (view_id, bucket, page)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rendered (
    view_id INTEGER NOT NULL REFERENCES views(id) ON DELETE CASCADE,
    bucket TEXT NOT NULL,
    page INTEGER NOT NULL,
    format TEXT NOT NULL,
    body BLOB NOT NULL,
    etag TEXT NOT NULL,
    immutable INTEGER NOT NULL,
    PRIMARY KEY (view_id, bucket, page, format)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dropped (
    view_id INTEGER NOT NULL REFERENCES views(id) ON DELETE CASCADE,
    bucket TEXT NOT NULL,
    through INTEGER NOT NULL,
    PRIMARY KEY (view_id, bucket)
) WITHOUT ROWID;
"""
#: Bound parameters per statement, below SQLite's smallest limit (999).
_CHUNK = 900


#: The values of the store's ``synchronous`` option (SQLite's PRAGMA of that name).
SYNCHRONOUS = ("full", "normal")


def _connect(path: str, synchronous: str = "full") -> sqlite3.Connection:
    # Each connection is used by one thread at a time (the writer's by the writer thread only),
    # but may be closed from another at shutdown.
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    return conn


class _Tx(Transaction):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.c = conn

    def create_stream(self, name: str, config: str, settings: dict[str, Any]) -> int:
        try:
            cur = self.c.execute(
                "INSERT INTO streams (name, config, settings) VALUES (?, ?, ?)",
                (name, config, json.dumps(settings)),
            )
        except sqlite3.IntegrityError:
            raise StoreError(f"event stream {name!r} exists") from None
        return int(cur.lastrowid or 0)

    def delete_stream(self, stream_id: int) -> None:
        self.c.execute("DELETE FROM streams WHERE id = ?", (stream_id,))

    def close_stream(self, stream_id: int) -> None:
        self.c.execute("UPDATE streams SET closed = 1 WHERE id = ?", (stream_id,))

    def create_view(self, stream_id: int, name: str, config: str, view_json: str) -> int:
        try:
            cur = self.c.execute(
                "INSERT INTO views (stream_id, name, config, view_json) VALUES (?, ?, ?, ?)",
                (stream_id, name, config, view_json),
            )
        except sqlite3.IntegrityError:
            raise StoreError(f"view {name!r} exists") from None
        return int(cur.lastrowid or 0)

    def delete_view(self, view_id: int) -> None:
        self.c.execute("DELETE FROM views WHERE id = ?", (view_id,))

    def add_members(self, stream_id: int, rows: Sequence[MemberRow]) -> None:
        self.c.executemany(
            "INSERT INTO members (stream_id, seq, iri, payload, timestamp) VALUES (?, ?, ?, ?, ?)",
            [(stream_id, r.seq, r.iri, r.payload, r.timestamp) for r in rows],
        )

    def add_assignments(self, view_id: int, rows: Sequence[tuple[str, int, int]]) -> None:
        self.c.executemany(
            "INSERT INTO assignments (view_id, bucket, page, seq) VALUES (?, ?, ?, ?)",
            [(view_id, *r) for r in rows],
        )

    def put_nodes(self, view_id: int, rows: Sequence[NodeRow]) -> None:
        self.c.executemany(
            "INSERT OR REPLACE INTO nodes (view_id, bucket, page, immutable, relations) "
            "VALUES (?, ?, ?, ?, ?)",
            [(view_id, r.bucket, r.page, int(r.immutable), r.relations) for r in rows],
        )

    def put_rendered(self, view_id: int, rows: Sequence[RenderedRow]) -> None:
        self.c.executemany(
            "INSERT OR REPLACE INTO rendered "
            "(view_id, bucket, page, format, body, etag, immutable) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(view_id, r.bucket, r.page, r.format, r.body, r.etag, int(r.immutable)) for r in rows],
        )

    def set_fragmenter(self, view_id: int, state: bytes) -> None:
        self.c.execute("UPDATE views SET fragmenter = ? WHERE id = ?", (state, view_id))
        self.c.execute("DELETE FROM fragmenter_journal WHERE view_id = ?", (view_id,))

    def append_fragmenter_journal(self, view_id: int, entry: bytes) -> None:
        self.c.execute(
            "INSERT INTO fragmenter_journal (view_id, n, entry) VALUES (?, "
            "(SELECT COALESCE(MAX(n), 0) + 1 FROM fragmenter_journal WHERE view_id = ?), ?)",
            (view_id, view_id, entry),
        )

    def node_members(self, stream_id: int, view_id: int, bucket: str, page: int) -> list[MemberRow]:
        return _node_members(self.c, stream_id, view_id, bucket, page)

    def drop_pages(self, view_id: int, pages: Sequence[tuple[str, int]]) -> None:
        through: dict[str, int] = {}
        for bucket, page in pages:
            for table in ("assignments", "nodes", "rendered"):
                self.c.execute(
                    f"DELETE FROM {table} WHERE view_id = ? AND bucket = ? AND page = ?",
                    (view_id, bucket, page),
                )
            through[bucket] = max(page, through.get(bucket, 0))
        self.c.executemany(
            "INSERT INTO dropped (view_id, bucket, through) VALUES (?, ?, ?) "
            "ON CONFLICT (view_id, bucket) DO UPDATE SET through = MAX(through, excluded.through)",
            [(view_id, b, p) for b, p in through.items()],
        )

    def forget_members(self, stream_id: int, seqs: Sequence[int]) -> int:
        if not seqs:
            return 0
        # One pass over the stream's views' assignments (no index by member: ingest stays lean).
        self.c.execute("CREATE TEMP TABLE IF NOT EXISTS forget (seq INTEGER PRIMARY KEY)")
        self.c.execute("DELETE FROM forget")
        self.c.executemany("INSERT OR IGNORE INTO forget (seq) VALUES (?)", [(s,) for s in seqs])
        self.c.execute(
            "DELETE FROM forget WHERE seq IN (SELECT a.seq FROM assignments a "
            "JOIN views v ON v.id = a.view_id WHERE v.stream_id = ? "
            "AND a.seq IN (SELECT seq FROM forget))",
            (stream_id,),
        )
        cur = self.c.execute(
            "UPDATE members SET payload = '', timestamp = NULL "
            "WHERE stream_id = ? AND seq IN (SELECT seq FROM forget) AND payload != ''",
            (stream_id,),
        )
        self.c.execute("DELETE FROM forget")
        return cur.rowcount


def _node_members(
    c: sqlite3.Connection, stream_id: int, view_id: int, bucket: str, page: int
) -> list[MemberRow]:
    rows = c.execute(
        "SELECT m.seq, m.iri, m.payload, m.timestamp FROM assignments a "
        "JOIN members m ON m.stream_id = ? AND m.seq = a.seq "
        "WHERE a.view_id = ? AND a.bucket = ? AND a.page = ? ORDER BY a.seq",
        (stream_id, view_id, bucket, page),
    ).fetchall()
    return [MemberRow(*r) for r in rows]


class SQLiteStore(Store):
    def __init__(self, path: str | Path, *, synchronous: str = "full") -> None:
        self.path = str(path)
        if synchronous not in SYNCHRONOUS:
            raise StoreError(
                f"store {self.path!r}: synchronous must be one of {', '.join(SYNCHRONOUS)}, "
                f"not {synchronous!r}"
            )
        self.synchronous = synchronous
        if self.path != ":memory:" and not Path(self.path).parent.is_dir():
            raise StoreError(f"store {self.path!r}: no such directory")
        try:
            setup = _connect(self.path)
            mode = setup.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            setup.executescript(_SCHEMA)
            setup.close()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"store {self.path!r}: {e}") from None
        if mode != "wal":
            raise StoreError(f"store {self.path!r}: WAL is not available ({mode})")
        self._writer: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    # ---- the writer thread ----------------------------------------------------------------
    def _w(self) -> sqlite3.Connection:
        # Made by the first write; the engine writes from one thread only.
        if self._writer is None:
            self._writer = _connect(self.path, self.synchronous)
            # The unique index of the members' IRIs is probed and grown at random places.
            self._writer.execute("PRAGMA cache_size = -65536")
        return self._writer

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        c = self._w()
        c.execute("BEGIN IMMEDIATE")
        try:
            yield _Tx(c)
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def streams(self) -> list[StreamRecord]:
        c = self._w()
        views: dict[int, list[ViewRecord]] = {}
        for vid, sid, name, config, view_json in c.execute(
            "SELECT id, stream_id, name, config, view_json FROM views ORDER BY id"
        ):
            views.setdefault(sid, []).append(ViewRecord(vid, name, config, view_json))
        out = []
        for sid, name, config, settings, closed, top in c.execute(
            "SELECT s.id, s.name, s.config, s.settings, s.closed, "
            "(SELECT MAX(seq) FROM members m WHERE m.stream_id = s.id) FROM streams s ORDER BY id"
        ):
            out.append(
                StreamRecord(
                    sid,
                    name,
                    config,
                    json.loads(settings),
                    bool(closed),
                    0 if top is None else top + 1,
                    views.get(sid, []),
                )
            )
        return out

    def fragmenter(self, view_id: int) -> tuple[bytes | None, list[bytes]]:
        c = self._w()
        row = c.execute("SELECT fragmenter FROM views WHERE id = ?", (view_id,)).fetchone()
        journal = c.execute(
            "SELECT entry FROM fragmenter_journal WHERE view_id = ? ORDER BY n", (view_id,)
        ).fetchall()
        return (None if row is None else row[0]), [bytes(e) for (e,) in journal]

    def known_iris(self, stream_id: int, iris: Sequence[str]) -> set[str]:
        c = self._w()
        found: set[str] = set()
        for i in range(0, len(iris), _CHUNK):
            chunk = iris[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            found.update(
                r[0]
                for r in c.execute(
                    f"SELECT iri FROM members WHERE stream_id = ? AND iri IN ({marks})",
                    (stream_id, *chunk),
                )
            )
        return found

    def members(self, stream_id: int, after_seq: int, limit: int) -> list[MemberRow]:
        rows = self._w().execute(
            "SELECT seq, iri, payload, timestamp FROM members WHERE stream_id = ? AND seq > ? "
            "AND payload != '' ORDER BY seq LIMIT ?",
            (stream_id, after_seq, limit),
        )
        return [MemberRow(*r) for r in rows]

    # ---- any thread -----------------------------------------------------------------------
    def _r(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    def rendered(self, view_id: int, bucket: str, page: int, format: str) -> RenderedRow | None:
        row = (
            self._r()
            .execute(
                "SELECT body, etag, immutable FROM rendered "
                "WHERE view_id = ? AND bucket = ? AND page = ? AND format = ?",
                (view_id, bucket, page, format),
            )
            .fetchone()
        )
        if row is None:
            return None
        return RenderedRow(bucket, page, format, bytes(row[0]), row[1], bool(row[2]))

    def node(
        self, stream_id: int, view_id: int, bucket: str, page: int
    ) -> tuple[NodeRow, list[MemberRow]] | None:
        c = self._r()
        c.execute("BEGIN")  # one snapshot for the node and its members
        try:
            row = c.execute(
                "SELECT immutable, relations FROM nodes WHERE view_id = ? AND bucket = ? "
                "AND page = ?",
                (view_id, bucket, page),
            ).fetchone()
            if row is None:
                return None
            members = _node_members(c, stream_id, view_id, bucket, page)
        finally:
            c.execute("COMMIT")
        return NodeRow(bucket, page, bool(row[0]), row[1]), members

    def dropped(self, view_id: int, bucket: str, page: int) -> bool:
        row = (
            self._r()
            .execute(
                "SELECT through FROM dropped WHERE view_id = ? AND bucket = ?", (view_id, bucket)
            )
            .fetchone()
        )
        return row is not None and 0 < page <= row[0]

    def close(self) -> None:
        with self._lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
