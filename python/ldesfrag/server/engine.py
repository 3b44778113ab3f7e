"""The live streams: configuration, ingest with group commit, rendering of changed nodes.

Every write runs in one writer thread (a one-thread pool): admin changes, and ingest batches.
Ingest bodies are parsed in the request's own thread; the parsed members wait in an asyncio
queue, and the writer task takes everything queued at once — the requests that arrived while the
previous commit ran — as one batch: one duplicate check, one ``assign`` per view, one rendering
of the changed bucket nodes and newly immutable pages (mutable pages are held in memory and
rendered when fetched) and one transaction. So a commit's cost is shared by the requests it
carries, and throughput grows with concurrency. A request is answered once its transaction has
committed (a 2xx is durable). When a batch's commit fails, its fragmenters are restored from the
store and each request is committed alone, so one request cannot fail another.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
from arro3.core import Table

from ldesfrag import _ldesfrag
from ldesfrag._fragmenter import Assignment, Fragmenter
from ldesfrag._rdf import CreateVersions, MemberReader, describe_problem
from ldesfrag._render import RenderedPage, render_page
from ldesfrag._urls import node_url
from ldesfrag._view import PROV_GENERATED_AT_TIME, View
from ldesfrag.exceptions import LdesfragError
from ldesfrag.server.config import (
    StreamConfig,
    ViewConfig,
    extraction_view,
    reading_views,
)
from ldesfrag.server.store import (
    MemberRow,
    NodeRow,
    RenderedRow,
    Store,
    StoreBusy,
    StoreError,
    Transaction,
)

__all__ = [
    "Engine",
    "IngestError",
    "LiveStream",
    "LiveView",
    "load_fragmenter",
    "render_node",
    "save_fragmenter",
]

log = logging.getLogger("ldesfrag.server")
T = TypeVar("T")
#: Members one commit takes at most (the requests after wait for the next).
MAX_BATCH_MEMBERS = 20_000
#: Report rows shown per request (the counts are always whole).
_SHOWN = 100
#: Members read back per chunk when a view is added to a stream that has members.
_BACKFILL_CHUNK = 5_000
#: Journal bytes below which a view's fragmenter is never saved whole again.
_MIN_COMPACT_BYTES = 1 << 20
#: Members of mutable pages held in memory per view: beyond it, the pages changed least
#: recently are let go (and read back from the store when they change again).
OPEN_ROWS = 100_000


# ---- the fragmenter's persistence: these two functions only ---------------------------------
def save_fragmenter(tx: Transaction, v: LiveView, *, whole: bool = False) -> None:
    """Saves a view's fragmenter with the commit's other writes: the journal entry of what
    changed (``Fragmenter.commit``, bytes that follow the change), or the whole state when
    ``whole`` or when the entries since the last whole state add up to its size (compaction:
    the store holds at most about twice the state, and each byte of a whole state written is
    paid for by as many journal bytes). Updates ``v``'s counts; after a failed transaction the
    caller reloads ``v`` (``load_fragmenter``)."""
    f = v.fragmenter
    if whole or v.journal_bytes >= max(v.base_bytes, _MIN_COMPACT_BYTES):
        f.commit()  # the new base holds everything so far
        state = f.state()
        tx.set_fragmenter(v.id, state)
        v.base_bytes, v.journal_bytes = len(state), 0
        return
    entry = f.commit()
    if entry:
        tx.append_fragmenter_journal(v.id, entry)
        v.journal_bytes += len(entry)


def load_fragmenter(store: Store, view_id: int, view: View) -> tuple[Fragmenter, int, int]:
    """The view's fragmenter as last committed (a new one when none was saved), with the bytes
    of its base and of its journal."""
    state, journal = store.fragmenter(view_id)
    if state is None:
        return Fragmenter(view), 0, 0
    f = Fragmenter.from_state(view, state, journal=journal)
    return f, len(state), sum(map(len, journal))


# ---- live state ---------------------------------------------------------------------------
@dataclass
class LiveView:
    id: int
    name: str
    config: str  # Turtle
    view: View  # as configured
    fragmenter: Fragmenter  # of extraction_view(view)
    url: str
    #: Bytes of the fragmenter's saved base state and of the journal entries after it.
    base_bytes: int = 0
    journal_bytes: int = 0
    open: OpenPages = field(default_factory=lambda: OpenPages(OPEN_ROWS))
    #: Relation targets' IRIs by (bucket, page): most are linked to again and again.
    iris: dict[tuple[str, int | None], str] = field(default_factory=dict)

    def node_iri(self, bucket: str, page: int | None) -> str:
        iri = self.iris.get((bucket, page))
        if iri is None:
            if len(self.iris) >= OPEN_ROWS:
                self.iris.clear()
            iri = self.iris[(bucket, page)] = node_url(self.url, bucket, page, "query")
        return iri


@dataclass
class LiveStream:
    id: int
    name: str
    config: str  # Turtle, without views
    settings: dict[str, Any]
    closed: bool
    next_seq: int
    url: str
    views: dict[str, LiveView] = field(default_factory=dict)
    #: Changes when the views change: a body parsed for another generation is parsed again.
    generation: int = 0
    reading: list[View] = field(default_factory=lambda: [View()])

    def views_changed(self) -> None:
        self.generation += 1
        self.reading = reading_views([v.fragmenter.view for v in self.views.values()])

    @property
    def timestamp_path(self) -> str | None:
        ts: str | None = self.settings["timestamp_path"]
        if ts is None and self.settings["create_versions"]:
            return PROV_GENERATED_AT_TIME
        return ts


class IngestError(LdesfragError):
    """A request answered with ``status`` and a report, nothing of it stored."""

    def __init__(self, status: int, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.report: dict[str, Any] = {"error": message}
        if problems:
            self.report["problems"] = problems[:_SHOWN]
            self.report["problem_count"] = len(problems)


@dataclass
class Parsed:
    """An ingest body read for one generation of its stream's views."""

    stream: str
    generation: int
    members: pa.Table
    warnings: list[str]
    body: bytes
    format: str
    stamp: datetime


def _read(
    s: LiveStream, body: bytes, fmt: str, stamp: datetime, *, member: str | None = None
) -> tuple[pa.Table, list[str]]:
    """The body's members with every column the stream's views need; (problems that dropped
    something raise :class:`IngestError`) and the other problems."""
    settings = s.settings
    versions = None
    if settings["create_versions"] and member is None:
        versions = CreateVersions(
            delimiter=settings["version_delimiter"],
            timestamp=stamp,
            version_of_path=settings["version_of_path"],
            timestamp_path=s.timestamp_path or PROV_GENERATED_AT_TIME,
        )
    table: pa.Table | None = None
    warnings: list[str] = []
    for view in s.reading:
        try:
            reader = MemberReader(
                data=body,
                view=view,
                format=fmt,  # type: ignore[arg-type]
                member=member,  # type: ignore[arg-type]
                version_of_path=settings["version_of_path"],
                timestamp_path=s.timestamp_path,
                versions=versions,
            )
            batches = [b for t in reader for b in t.to_batches()]
            got = pa.table(Table.from_batches(batches) if batches else reader.empty())
            problems = pa.table(reader.problems()).to_pylist()
        except LdesfragError as e:
            raise IngestError(400, str(e)) from None
        dropped = [
            describe_problem(p["file"], p["line"], p["member"], p["reason"])
            for p in problems
            if p["dropped"]
        ]
        if dropped:
            raise IngestError(
                400, "the body has statements or members that cannot be read", dropped
            )
        if table is None:
            warnings = [
                describe_problem(p["file"], p["line"], p["member"], p["reason"]) for p in problems
            ]
            table = got
            continue
        if got["id"] != table["id"]:  # the same reader on the same body: cannot happen
            raise IngestError(500, "the body read differently for two views")
        for name in got.column_names:
            if name not in table.column_names:
                table = table.append_column(name, got[name])
    assert table is not None
    return table, warnings


def assign_batch(
    tx: Transaction, v: LiveView, table: pa.Table, base: int
) -> tuple[Assignment, pa.Table, pa.ChunkedArray]:
    """Assigns a batch of members, the stream's numbers ``base`` on, in view ``v`` and adds the
    assignment rows to ``tx``: the call's report, its assignments, and each one's member
    number (ingest and the bulk load)."""
    got = v.fragmenter.assign_with_report(table)
    assigned = pa.table(got.assigned)
    seqs = pc.add(assigned["row"], pa.scalar(base, pa.uint64()))
    tx.add_assignments(
        v.id,
        list(
            zip(
                assigned["bucket"].to_pylist(),
                assigned["page"].to_pylist(),
                seqs.to_pylist(),
                strict=True,
            )
        ),
    )
    return got, assigned, seqs


# ---- rendering ----------------------------------------------------------------------------
def render_rows(
    s: LiveStream,
    v: LiveView,
    formats: Sequence[str],
    pages: pa.Table,
    members: pa.Table,
    order: Any,
    relations: pa.Table,
    rows: Sequence[NodeRow],
) -> list[RenderedRow]:
    """The stored renderings of ``rows`` (one per row of ``pages``, as ``render_pages`` takes
    them: each node's members by ``order``, its relations by ``page``), in every format."""
    out: list[RenderedRow] = []
    for fmt in formats:
        bodies, etags = _ldesfrag.render_pages(
            pages,
            stream=s.url,
            members=members.select(["id", "payload", "timestamp"]),
            order=order,
            relations=relations,
            view_json=v.view.to_json(),
            timestamp_path=s.timestamp_path,
            version_of_path=s.settings["version_of_path"],
            shape=s.settings["shape"],
            format=fmt,
        )
        out += [
            RenderedRow(n.bucket, n.page, fmt, body, tag, n.immutable)
            for n, body, tag in zip(rows, bodies, etags, strict=True)
        ]
    return out


def render_node(
    s: LiveStream,
    v: LiveView,
    bucket: str,
    page: int | None,
    immutable: bool,
    relations: list[dict[str, Any]],
    members: list[MemberRow],
    fmt: str,
) -> RenderedPage:
    root = bucket == "" and page is None
    table = None
    if members:
        table = pa.table(
            {
                "id": pa.array([m.iri for m in members], pa.string()),
                "payload": pa.array([m.payload for m in members], pa.string()),
                "timestamp": pa.array([m.timestamp for m in members], pa.string()),
            }
        )
    return render_page(
        node_url(v.url, bucket, page, "query"),
        stream=s.url,
        members=table,
        relations=relations,
        immutable=immutable and not root,
        root=root,
        view=v.view if root else None,
        timestamp_path=s.timestamp_path if root else None,
        version_of_path=s.settings["version_of_path"] if root else None,
        shape=s.settings["shape"] if root else None,
        format=fmt,  # type: ignore[arg-type]
    )


#: A page's members as held and rendered: ``key`` (bucket and page joined by a newline, the
#: page 0 for a bucket's own node), ``seq`` (arrival), ``id``, ``payload`` and ``timestamp``
#: (as stored).
_ROWS = pa.schema(
    [
        ("key", pa.string()),
        ("seq", pa.uint64()),
        ("id", pa.string()),
        ("payload", pa.string()),
        ("timestamp", pa.string()),
    ]
)


#: The relations of ``render_pages``: ``page``, the row of the node they start from.
_RELATIONS = pa.schema(
    [
        ("page", pa.uint32()),
        ("type", pa.string()),
        ("node", pa.string()),
        ("path", pa.string()),
        ("value", pa.string()),
        ("datatype", pa.string()),
    ]
)
#: (A Python string argument costs pyarrow a failed import per call.)
_NL = pa.scalar("\n")


def _key(bucket: str, page: int | None) -> str:
    return f"{bucket}\n{page or 0}"


def _rows(key: str, members: list[MemberRow]) -> pa.Table:
    return pa.table(
        {
            "key": pa.array([key] * len(members), pa.string()),
            "seq": pa.array([m.seq for m in members], pa.uint64()),
            "id": pa.array([m.iri for m in members], pa.string()),
            "payload": pa.array([m.payload for m in members], pa.string()),
            "timestamp": pa.array([m.timestamp for m in members], pa.string()),
        },
        schema=_ROWS,
    )


@dataclass(frozen=True)
class OpenPage:
    """A mutable page as last committed: its members (``_ROWS``, in arrival order) and its
    relations (``{type, node, path, value, datatype}``)."""

    rows: pa.Table
    relations: list[dict[str, Any]]
    #: Its renderings by format, made when first fetched (dropped with this version).
    rendered: dict[str, RenderedPage] = field(default_factory=dict)


class OpenPages:
    """A view's mutable pages as committed, by page key. A commit renders a page only once it
    is immutable (then stored); a mutable one is rendered when fetched, from here, once per
    commit that changed it. So a member costs its commit O(change), not a rendering (and a
    write) of its whole page.

    Filled by commits and at start (from the store, up to ``limit`` rows); a page not held is
    read from the store when it changes (or is fetched). Pages are let go when they become
    immutable, and the least recently changed ones when more than ``limit`` rows are held.
    Changed only after a commit (:meth:`apply`), so a failed one leaves it as it was; read by
    fetches in other threads (each entry is replaced whole).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pages: OrderedDict[str, OpenPage] = OrderedDict()
        self.rows = 0

    def get(self, key: str, count: int | None = None) -> OpenPage | None:
        """The page as held (and holding ``count`` members when given), or None."""
        held = self.pages.get(key)
        if held is None or (count is not None and held.rows.num_rows != count):
            return None
        return held

    def apply(self, staged: dict[str, OpenPage | None]) -> None:
        """Holds each staged page (None: lets it go)."""
        for key, page in staged.items():
            old = self.pages.pop(key, None)
            if old is not None:
                self.rows -= old.rows.num_rows
            if page is not None:
                self.pages[key] = page
                self.rows += page.rows.num_rows
        while self.rows > self.limit and self.pages:
            self.rows -= self.pages.popitem(last=False)[1].rows.num_rows


class _LazyCache:
    """Renderings in the formats not stored, by (view, node, format, stored ETag)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[tuple[Any, ...], RenderedPage] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> RenderedPage | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], page: RenderedPage) -> None:
        with self.lock:
            self.items[key] = page
            while len(self.items) > self.size:
                self.items.popitem(last=False)


class _ImmutablePages:
    """Immutable pages' bodies by (view, bucket, page, format), up to ``max_bytes`` of bodies,
    least recently fetched first out: their GET is answered on the event loop, without a worker
    thread or the store. An immutable page never changes; it only goes (retention, a deleted
    view), and then the view's entries go too. A fetch that read the store before such a drop
    does not put what it read (``epoch``). Not used on a shared store, where another process's
    retention can drop a page."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.items: OrderedDict[tuple[int, str, int, str], tuple[bytes, str]] = OrderedDict()
        self.bytes = 0
        self.epoch = 0
        self.lock = threading.Lock()

    def get(self, key: tuple[int, str, int, str]) -> tuple[bytes, str] | None:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple[int, str, int, str], body: bytes, tag: str, epoch: int) -> None:
        if len(body) > self.max_bytes // 8:
            return
        with self.lock:
            if epoch != self.epoch or key in self.items:
                return
            self.items[key] = (body, tag)
            self.bytes += len(body)
            while self.bytes > self.max_bytes:
                self.bytes -= len(self.items.popitem(last=False)[1][0])

    def forget_view(self, view_id: int) -> None:
        with self.lock:
            self.epoch += 1
            for key in [k for k in self.items if k[0] == view_id]:
                self.bytes -= len(self.items.pop(key)[0])


# ---- the engine ---------------------------------------------------------------------------
@dataclass
class _Pending:
    parsed: Parsed
    future: asyncio.Future[tuple[int, dict[str, Any]]]


class Engine:
    """The live streams of one store, served under ``base_url``.

    ``formats``: the formats the bucket nodes and immutable pages are rendered in and stored
    at their commit (a GET in one of them is a key lookup); the others are rendered on the
    first GET of each node version and kept in memory. Mutable pages are rendered on their
    first GET after each change, from memory (:class:`OpenPages`). ``page_cache``: the bytes
    of immutable pages' bodies held in memory (:meth:`fetch_held`).
    """

    def __init__(
        self,
        store: Store,
        base_url: str,
        *,
        formats: tuple[str, ...] = ("turtle",),
        lazy_cache: int = 1024,
        page_cache: int = 64 << 20,
    ) -> None:
        if not base_url.endswith("/"):
            base_url += "/"
        if not formats:
            raise LdesfragError("formats: at least one")
        self.store = store
        self.base_url = base_url
        self.formats = formats
        self.streams: dict[str, LiveStream] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._queue: asyncio.Queue[_Pending | None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._lazy = _LazyCache(lazy_cache)
        self._immutable = _ImmutablePages(0 if store.shared else page_cache)

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ldesfrag-writer")
        await self.write(self._load)
        for s in self.streams.values():
            self.check_base_url(s)
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._writer())

    async def stop(self) -> None:
        if self._queue is not None and self._task is not None:
            await self._queue.put(None)
            await self._task
        if self._pool is not None:
            await self.write(self.store.close)
            self._pool.shutdown()
            self._pool = None

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs ``fn`` in the writer thread, after the writes before it."""
        assert self._pool is not None, "the engine is not started"
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, fn, *args)

    def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        finally:
            self.store.release()  # the streams claimed by fn (_claim)

    def check_base_url(self, s: LiveStream) -> None:
        """Raises :class:`StoreError` when the stream's stored pages were rendered under another
        base URL: serving (or loading) them under this one would mix two sets of IRIs."""
        for v in s.views.values():
            root = self.store.rendered(v.id, "", 0, self.formats[0])
            if root is not None and f"<{v.url}>".encode() not in root.body:
                raise StoreError(
                    f"collection {s.name!r}: its pages were rendered for another base URL than "
                    f"{self.base_url!r}: start with the base URL the store was made with"
                )

    def _load(self) -> None:
        """The streams as committed (at start; when another process changed them: _claim,
        refresh)."""
        old, streams = self.streams, {}
        for rec in self.store.streams():
            s = LiveStream(
                rec.id,
                rec.name,
                rec.config,
                rec.settings,
                rec.closed,
                rec.next_seq,
                self.base_url + rec.name,
            )
            for vr in rec.views:
                view = View.from_json(vr.view_json)
                f, base, journal = load_fragmenter(self.store, vr.id, extraction_view(view))
                v = LiveView(
                    vr.id, vr.name, vr.config, view, f, self._url(s, vr.name), base, journal
                )
                if self.store.shared:
                    v.open.limit = 0
                self._hold_open_pages(s, v)
                s.views[vr.name] = v
            if rec.name in old:  # a body parsed for the views before is parsed again
                s.generation = old[rec.name].generation + 1
            s.views_changed()
            streams[s.name] = s
        self.streams = streams

    def refresh(self) -> None:
        """Reloads the streams when another process made, deleted or closed one, or made or
        deleted a view (writer thread; docs/architecture.md, "Several processes")."""
        if self.store.catalog_changed():
            self._load()

    def _claim(self, s: LiveStream) -> LiveStream | None:
        """The stream as committed, with this process its only writer until the writer call
        ends (``Store.claim``; raises StoreBusy); None when it is gone."""
        if not self.store.claim(s.id):
            return s
        self._load()  # another process wrote it
        now = self.streams.get(s.name)
        if now is None or now.id == s.id:
            return now
        self.store.release()  # deleted and made again: the new one
        return self._claim(now)

    def _hold_open_pages(self, s: LiveStream, v: LiveView) -> None:
        """Holds the view's mutable pages as stored, up to the view's bound (the others are
        read from the store when they change or are fetched)."""
        pages = pa.table(v.fragmenter.pages())
        pages = pages.filter(pc.invert(pages["immutable"]))
        staged: dict[str, OpenPage | None] = {}
        rows = 0
        for bucket, page, count in zip(
            *(pages[c].to_pylist() for c in ("bucket", "page", "members")), strict=True
        ):
            if rows + count > v.open.limit:
                break
            found = self.store.node(s.id, v.id, bucket, page)
            if found is None or len(found[1]) != count:
                continue
            key = _key(bucket, page)
            staged[key] = OpenPage(_rows(key, found[1]), json.loads(found[0].relations))
            rows += count
        v.open.apply(staged)

    def _url(self, s: LiveStream, view: str) -> str:
        return f"{s.url}/{view}"

    # ---- admin (writer thread) --------------------------------------------------------------
    def create_stream(self, config: StreamConfig) -> LiveStream:
        if config.name in self.streams:
            raise StoreError(f"event stream {config.name!r} exists")
        with self.store.transaction() as tx:
            sid = tx.create_stream(config.name, config.turtle, config.settings())
            s = LiveStream(
                sid,
                config.name,
                config.turtle,
                config.settings(),
                False,
                0,
                self.base_url + config.name,
            )
            for vc in config.views:
                self._add_view(tx, s, vc)
        s.views_changed()
        self.streams[s.name] = s
        return s

    def delete_stream(self, name: str) -> None:
        s = self._stream(name)
        with self.store.transaction() as tx:
            tx.delete_stream(s.id)
        del self.streams[name]
        for v in s.views.values():
            self._immutable.forget_view(v.id)

    def close_stream(self, name: str) -> None:
        s = self._stream(name)
        if s.closed:
            return
        staged = {}
        try:
            with self.store.transaction() as tx:
                tx.close_stream(s.id)
                for v in s.views.values():
                    v.fragmenter.close()
                    staged[v.name] = self._render_changes(tx, s, v)
                    save_fragmenter(tx, v)
        except BaseException:
            self._reload(s)
            raise
        s.closed = True
        for v in s.views.values():
            v.open.apply(staged[v.name])

    def drop_pages(self, stream: str, through: dict[str, list[tuple[str, int]]]) -> int:
        """Retention (``ldesfrag.server.retention``): drops, for each view, its pages through
        each ``(bucket, page)`` (``Fragmenter.drop_pages``: immutable pages only, from the front
        of a bucket's chain) in one transaction: their assignments and renderings go (they
        answer 410), the bucket nodes are rendered again, the fragmenters saved, and the
        members no view has any more are forgotten. How many pages were dropped."""
        s = self._stream(stream)
        count, seqs = 0, set[int]()
        try:
            with self.store.transaction() as tx:
                for name, pairs in through.items():
                    v = s.views[name]
                    gone = pa.table(v.fragmenter.drop_pages(pairs)).to_pydict()
                    pages = list(zip(gone["bucket"], gone["page"], strict=True))
                    for bucket, page in pages:
                        seqs.update(m.seq for m in tx.node_members(s.id, v.id, bucket, page))
                    tx.drop_pages(v.id, pages)
                    self._render_changes(tx, s, v)
                    save_fragmenter(tx, v)
                    count += len(pages)
                tx.forget_members(s.id, sorted(seqs))
        except BaseException:
            self._reload(s)
            raise
        for name in through:
            self._immutable.forget_view(s.views[name].id)
        return count

    def add_view(self, stream: str, config: ViewConfig) -> LiveView:
        s = self._stream(stream)
        if config.name in s.views:
            raise StoreError(f"view {config.name!r} of {stream!r} exists")
        with self.store.transaction() as tx:
            v = self._add_view(tx, s, config)
        s.views_changed()
        return v

    def delete_view(self, stream: str, name: str) -> None:
        s = self._stream(stream)
        v = s.views.get(name)
        if v is None:
            raise KeyError(name)
        with self.store.transaction() as tx:
            tx.delete_view(v.id)
        del s.views[name]
        self._immutable.forget_view(v.id)
        s.views_changed()

    def _stream(self, name: str) -> LiveStream:
        s = self.streams.get(name)
        if s is not None:
            s = self._claim(s)
        if s is None:
            raise KeyError(name)
        return s

    def _add_view(self, tx: Transaction, s: LiveStream, config: ViewConfig) -> LiveView:
        vid = tx.create_view(s.id, config.name, config.turtle, config.view.to_json())
        f = Fragmenter(extraction_view(config.view))
        v = LiveView(vid, config.name, config.turtle, config.view, f, self._url(s, config.name))
        if self.store.shared:
            v.open.limit = 0
        if s.next_seq:
            self._backfill(tx, s, v)
        if s.closed:
            f.close()
        # Held at once: the view is new, so it is used only once this transaction commits.
        v.open.apply(self._render_changes(tx, s, v))
        save_fragmenter(tx, v, whole=True)
        s.views[config.name] = v
        return v

    def _backfill(self, tx: Transaction, s: LiveStream, v: LiveView) -> None:
        """A new view of a stream with members fragments them all, from their stored
        descriptions, in their order."""
        reading = reading_views([v.fragmenter.view])
        probe = LiveStream(s.id, s.name, s.config, s.settings, False, 0, s.url, reading=reading)
        after = -1
        while rows := self.store.members(s.id, after, _BACKFILL_CHUNK):
            after = rows[-1].seq
            # Each payload labels its blank nodes _:b0, _:b1, …: made apart per member.
            text = "".join(_relabel(r.payload, i) for i, r in enumerate(rows))
            table, _ = _read(
                probe, text.encode(), "ntriples", datetime.now(UTC), member="version-of"
            )
            seq_of = {r.iri: r.seq for r in rows}
            ids = table["id"].to_pylist()
            if set(ids) != set(seq_of):
                raise LdesfragError(
                    f"view {v.name}: {len(set(seq_of) - set(ids))} stored members could not be "
                    "read again"
                )
            order = sorted(range(len(ids)), key=lambda i: seq_of[ids[i]])
            table = table.take(pa.array(order))
            seqs = [seq_of[i] for i in table["id"].to_pylist()]
            assigned = pa.table(v.fragmenter.assign(table)).to_pydict()
            tx.add_assignments(
                v.id,
                [
                    (b, p, seqs[r])
                    for r, b, p in zip(
                        assigned["row"], assigned["bucket"], assigned["page"], strict=True
                    )
                ],
            )

    def _reload(self, s: LiveStream) -> None:
        """After a failed commit: the stream's fragmenters as committed."""
        for v in s.views.values():
            v.fragmenter, v.base_bytes, v.journal_bytes = load_fragmenter(
                self.store, v.id, v.fragmenter.view
            )

    # ---- ingest -----------------------------------------------------------------------------
    def parse(self, name: str, body: bytes, fmt: str) -> Parsed:
        """Reads an ingest body (in the request's thread)."""
        s = self.streams.get(name)
        if s is None:
            raise IngestError(404, f"no event stream {name!r}")
        stamp = datetime.now(UTC)
        generation = s.generation
        table, warnings = _read(s, body, fmt, stamp)
        if not table.num_rows:
            what = (
                "an IRI subject (a state object)"
                if s.settings["create_versions"]
                else f"a subject with <{s.settings['version_of_path']}>"
            )
            raise IngestError(400, f"no member in the body: a member is {what}")
        return Parsed(name, generation, table, warnings, body, fmt, stamp)

    async def ingest(self, parsed: Parsed) -> tuple[int, dict[str, Any]]:
        """Queues parsed members for the next commit; (status, report) once it committed."""
        assert self._queue is not None, "the engine is not started"
        future: asyncio.Future[tuple[int, dict[str, Any]]] = (
            asyncio.get_running_loop().create_future()
        )
        await self._queue.put(_Pending(parsed, future))
        return await future

    async def _writer(self) -> None:
        assert self._queue is not None
        queue = self._queue
        stopping = False
        while not stopping:
            first = await queue.get()
            if first is None:
                break
            batch = [first]
            rows = first.parsed.members.num_rows
            while rows < MAX_BATCH_MEMBERS and not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
                rows += item.parsed.members.num_rows
            try:
                results = await self.write(self._commit_batch, [p.parsed for p in batch])
            except BaseException as e:  # the writer thread itself failed: answer, go on
                log.exception("ingest batch failed")
                results = [(500, {"error": f"internal error: {e}"})] * len(batch)
            for p, result in zip(batch, results, strict=True):
                if not p.future.done():
                    p.future.set_result(result)

    def _commit_batch(self, batch: list[Parsed]) -> list[tuple[int, dict[str, Any]]]:
        results: list[tuple[int, dict[str, Any]] | None] = [None] * len(batch)
        by_stream: dict[str, list[int]] = {}
        for i, p in enumerate(batch):
            by_stream.setdefault(p.stream, []).append(i)
        for name, indexes in by_stream.items():
            self.store.release()  # one stream claimed at a time (the last: by _run)
            s = self.streams.get(name)
            items: list[tuple[int, Parsed]] = []
            try:
                s = None if s is None else self._claim(s)
            except StoreBusy as e:
                for i in indexes:
                    results[i] = (503, {"error": str(e)})
                continue
            for i in indexes:
                p = batch[i]
                if s is None:
                    results[i] = (404, {"error": f"no event stream {name!r}"})
                elif s.closed:
                    results[i] = (409, {"error": f"event stream {name!r} is closed"})
                elif p.generation != s.generation:  # the views changed meanwhile
                    try:
                        table, warnings = _read(s, p.body, p.format, p.stamp)
                        p.members, p.warnings, p.generation = table, warnings, s.generation
                        items.append((i, p))
                    except IngestError as e:
                        results[i] = (e.status, e.report)
                else:
                    items.append((i, p))
            if s is None or not items:
                continue
            try:
                done = self._commit(s, [p for _, p in items])
            except Exception:
                log.exception("a commit of %d requests failed; each is tried alone", len(items))
                self._reload(s)
                done = []
                for _, p in items:
                    try:
                        done += self._commit(s, [p])
                    except Exception as e:
                        self._reload(s)
                        log.exception("an ingest request failed")
                        status = 400 if isinstance(e, LdesfragError) else 500
                        done.append((status, {"error": str(e)}))
            for (i, _), result in zip(items, done, strict=True):
                results[i] = result
        return [r if r is not None else (500, {"error": "not committed"}) for r in results]

    def _commit(self, s: LiveStream, items: list[Parsed]) -> list[tuple[int, dict[str, Any]]]:
        """One transaction for ``items`` (all of one stream and generation)."""
        all_ids = [i for p in items for i in p.members["id"].to_pylist()]
        seen = self.store.known_iris(s.id, all_ids)
        keep_tables, reports = [], []
        for p in items:
            ids = p.members["id"].to_pylist()
            mask, repeated = [], []
            for iri in ids:
                new = iri not in seen
                mask.append(new)
                if new:
                    seen.add(iri)
                else:
                    repeated.append(iri)
            kept = p.members.filter(pa.array(mask, pa.bool_()))
            keep_tables.append(kept)
            report: dict[str, Any] = {"members": kept.num_rows, "ignored": len(repeated)}
            if repeated:
                report["ignored_members"] = repeated[:_SHOWN]
                report["ignored_reason"] = "a member with this IRI is in the stream already"
            if p.warnings:
                report["warnings"] = p.warnings[:_SHOWN]
            reports.append(report)
        table = pa.concat_tables(keep_tables, promote_options="permissive")
        if table.num_rows:
            self._store(s, table, reports, [t.num_rows for t in keep_tables])
        return [(201 if r["members"] else 200, r) for r in reports]

    def _store(
        self, s: LiveStream, table: pa.Table, reports: list[dict[str, Any]], sizes: list[int]
    ) -> None:
        base = s.next_seq
        ids = table["id"].to_pylist()
        payloads = table["payload"].to_pylist()
        stamps = (
            pc.cast(table["timestamp"], pa.string())
            if "timestamp" in table.column_names
            else pa.nulls(table.num_rows, pa.string())
        )
        staged: dict[str, dict[str, OpenPage | None]] = {}
        try:
            with self.store.transaction() as tx:
                tx.add_members(
                    s.id,
                    [
                        MemberRow(base + i, iri, payload, ts)
                        for i, (iri, payload, ts) in enumerate(
                            zip(ids, payloads, stamps.to_pylist(), strict=True)
                        )
                    ],
                )
                for v in s.views.values():
                    got, assigned, seqs = assign_batch(tx, v, table, base)
                    rows = assigned["row"]
                    if got.invalid.num_rows:
                        self._report_invalid(v, got.invalid, ids, reports, sizes)
                    new = pa.table(
                        {
                            "key": pc.binary_join_element_wise(
                                assigned["bucket"], pc.cast(assigned["page"], pa.string()), _NL
                            ),
                            "seq": seqs,
                            "id": pc.take(table["id"], rows),
                            "payload": pc.take(table["payload"], rows),
                            "timestamp": pc.take(stamps, rows),
                        },
                        schema=_ROWS,
                    )
                    staged[v.name] = self._render_changes(tx, s, v, new)
                    save_fragmenter(tx, v)
        except BaseException:
            self._reload(s)
            raise
        s.next_seq = base + len(ids)
        for v in s.views.values():
            v.open.apply(staged[v.name])

    @staticmethod
    def _report_invalid(
        v: LiveView, invalid: Any, ids: list[str], reports: list[dict[str, Any]], sizes: list[int]
    ) -> None:
        """Adds the members a view could not place to their requests' reports."""
        owner = [i for i, n in enumerate(sizes) for _ in range(n)]  # the request of each row
        for row in pa.table(invalid).to_pylist():
            report = reports[owner[row["row"]]]
            unknown = report.setdefault("unknown_buckets", [])
            report["unknown_bucket_count"] = report.get("unknown_bucket_count", 0) + 1
            if len(unknown) < _SHOWN:
                unknown.append(
                    {
                        "member": ids[row["row"]],
                        "view": v.name,
                        # The column is named "{kind} {path}" (extraction_view).
                        "path": row["column"].partition(" ")[2],
                        "reason": row["reason"],
                    }
                )

    def _render_changes(
        self, tx: Transaction, s: LiveStream, v: LiveView, new: pa.Table | None = None
    ) -> dict[str, OpenPage | None]:
        """Stores the nodes the view's fragmenter changed: each node's relations; the bodies of
        the bucket nodes and of the pages that became immutable, rendered in one native call
        per format. ``new``: the rows this commit assigned (``_ROWS``). A page is rendered
        from its rows held in memory and its new ones (read from the store when not held).
        Returns the mutable pages to hold once the transaction commits (rendered when
        fetched) and the immutable ones to let go."""
        nodes, rels = (pa.table(t) for t in v.fragmenter.changes())
        if not nodes.num_rows:
            return {}
        buckets = nodes["bucket"].to_pylist()
        page_numbers = nodes["page"].to_pylist()
        counts = nodes["members"].to_pylist()
        frozen = nodes["immutable"].to_pylist()
        keys = [_key(b, p) for b, p in zip(buckets, page_numbers, strict=True)]
        new_rows = new if new is not None else _ROWS.empty_table()
        fresh: dict[str, int] = {}
        if new_rows.num_rows:
            for k in pc.value_counts(new_rows["key"]).to_pylist():
                fresh[k["values"]] = k["counts"]
        sources = [new_rows]
        for key, bucket, page, count in zip(keys, buckets, page_numbers, counts, strict=True):
            before = count - fresh.get(key, 0)
            if page is None or before <= 0:
                continue
            held = v.open.get(key, before)
            if held is None:  # not held (or not as counted): read back, with the new rows
                rows = _rows(key, tx.node_members(s.id, v.id, bucket, page))
                sources[0] = sources[0].filter(pc.not_equal(sources[0]["key"], key))
            else:
                rows = held.rows
            sources.append(rows)
        # One chunk: each held page is taken from it (a take from many chunks joins them first).
        members = pa.concat_tables(sources).combine_chunks()
        want = pa.array(keys, pa.string())
        order, starts, lengths = (
            pa.array(a) for a in _ldesfrag.page_rows(members.select(["key", "seq"]), want)
        )

        # Each node's relations, the targets named by their IRIs.
        by_parent: dict[str, list[dict[str, Any]]] = {}
        if rels.num_rows:
            parents = zip(rels["parent"].to_pylist(), rels["parent_page"].to_pylist(), strict=True)
            children = zip(rels["child"].to_pylist(), rels["child_page"].to_pylist(), strict=True)
            targets = pa.array([v.node_iri(*c) for c in children], pa.string())
            rows_of = pa.table(
                {
                    "type": rels["type"],
                    "node": targets,
                    "path": rels["path"],
                    "value": rels["value"],
                    "datatype": rels["datatype"],
                }
            ).to_pylist()
            for parent, r in zip(parents, rows_of, strict=True):
                by_parent.setdefault(_key(*parent), []).append(r)
        node_rows = [
            NodeRow(b, p or 0, bool(f), json.dumps(by_parent.get(k, [])))
            for k, b, p, f in zip(keys, buckets, page_numbers, frozen, strict=True)
        ]
        tx.put_nodes(v.id, node_rows)

        # Rendered now: the bucket nodes and the pages that will not change again.
        now = [
            i for i, (p, f) in enumerate(zip(page_numbers, frozen, strict=True)) if p is None or f
        ]
        if now:
            roots = [buckets[i] == "" and page_numbers[i] is None for i in now]
            pick = pa.array(now, pa.uint32())
            relations = [(j, r) for j, i in enumerate(now) for r in by_parent.get(keys[i], [])]
            pages = pa.table(
                {
                    "node": pa.array(
                        [v.node_iri(buckets[i], page_numbers[i]) for i in now], pa.string()
                    ),
                    "start": starts.take(pick),
                    "count": lengths.take(pick),
                    "immutable": pa.array(
                        [bool(frozen[i]) and not r for i, r in zip(now, roots, strict=True)],
                        pa.bool_(),
                    ),
                    "root": pa.array(roots, pa.bool_()),
                }
            )
            relation_table = pa.Table.from_pylist(
                [{"page": j, **r} for j, r in relations], schema=_RELATIONS
            )
            rows = [node_rows[i] for i in now]
            rendered = render_rows(s, v, self.formats, pages, members, order, relation_table, rows)
            tx.put_rendered(v.id, rendered)

        staged: dict[str, OpenPage | None] = {}
        for i, (key, page, f) in enumerate(zip(keys, page_numbers, frozen, strict=True)):
            if page is None:
                continue
            if f:
                staged[key] = None
            else:
                rows = members.take(order.slice(starts[i].as_py(), lengths[i].as_py()))
                staged[key] = OpenPage(rows, by_parent.get(key, []))
        return staged

    # ---- fetch (any thread) -----------------------------------------------------------------
    def fetch_held(
        self, v: LiveView, bucket: str, page: int | None, fmt: str
    ) -> tuple[bytes, str, bool] | None:
        """A page's (body, ETag, immutable) when this process holds its rendering in memory
        (an immutable page fetched before, a mutable page rendered since its last change), else
        None: no I/O and no rendering, so the event loop can answer it at once."""
        if page is None:
            return None
        hit = self._immutable.get((v.id, bucket, page, fmt))
        if hit is not None:
            return hit[0], hit[1], True
        held = v.open.get(_key(bucket, page))
        rendered = None if held is None else held.rendered.get(fmt)
        return None if rendered is None else (rendered.body, rendered.etag, False)

    def fetch(
        self, s: LiveStream, v: LiveView, bucket: str, page: int | None, fmt: str
    ) -> tuple[bytes, str, bool] | None:
        """A node's (body, ETag, immutable) in ``fmt``, or None when there is no such node.

        A mutable page is rendered from memory once per version and format (or from the
        store when not held); the other nodes were rendered and stored by their commit.
        Immutable pages are then held for :meth:`fetch_held`."""
        epoch = self._immutable.epoch
        found = self._fetch(s, v, bucket, page, fmt)
        if found is not None and found[2] and page is not None:
            self._immutable.put((v.id, bucket, page, fmt), found[0], found[1], epoch)
        return found

    def _fetch(
        self, s: LiveStream, v: LiveView, bucket: str, page: int | None, fmt: str
    ) -> tuple[bytes, str, bool] | None:
        key = page or 0
        if page is not None:
            held = v.open.get(_key(bucket, page))
            if held is not None:
                hit = held.rendered.get(fmt)
                if hit is None:
                    hit = held.rendered[fmt] = render_page(
                        v.node_iri(bucket, page),
                        stream=s.url,
                        members=held.rows.select(["id", "payload", "timestamp"]),
                        relations=held.relations,
                        format=fmt,  # type: ignore[arg-type]
                    )
                return hit.body, hit.etag, False
        stored = self.store.rendered(v.id, bucket, key, self.formats[0])
        if stored is not None and (stored.immutable or page is None):
            if fmt == stored.format:
                return stored.body, stored.etag, stored.immutable
            if fmt in self.formats:
                other = self.store.rendered(v.id, bucket, key, fmt)
                if other is not None:
                    return other.body, other.etag, other.immutable
        # A format not stored, or a mutable page not held (the pages of a view added since
        # the start, pages let go): rendered from the store.
        cache_key = (v.id, bucket, key, fmt, stored.etag) if stored is not None else None
        hit = self._lazy.get(cache_key) if cache_key is not None else None
        if hit is None:
            found = self.store.node(s.id, v.id, bucket, key)
            if found is None:
                return None
            node, members = found
            hit = render_node(
                s, v, bucket, page, node.immutable, json.loads(node.relations), members, fmt
            )
            if cache_key is not None and (node.immutable or page is None):
                self._lazy.put(cache_key, hit)
            return hit.body, hit.etag, node.immutable
        return hit.body, hit.etag, stored is not None and stored.immutable


def _relabel(payload: str, n: int) -> str:
    """A member's N-Triples with its blank nodes ``_:bK`` renamed ``_:mNbK`` (labels only
    start a line or end one, before `` .``: never inside a literal)."""
    out = []
    for line in payload.splitlines():
        if line.startswith("_:"):
            line = f"_:m{n}" + line[2:]
        if line.endswith(" .") and " _:" in line[-40:]:
            head, _, tail = line[:-2].rpartition(" _:")
            if tail and " " not in tail and '"' not in tail:
                line = f"{head} _:m{n}{tail} ."
        out.append(line + "\n")
    return "".join(out)
