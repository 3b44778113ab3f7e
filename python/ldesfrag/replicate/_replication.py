"""The crawl: discovery, the frontier, exactly-once emission, ordering, state and follow.

Worker threads (``concurrency`` of them) fetch and parse pages (network I/O and the Rust
reader both release the GIL); the consuming thread alone owns the frontier, the member-id set
and the output, so none of those needs a lock and no race can end a crawl early: the crawl
ends only when no node is queued and no fetch is in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import sys
import threading
import time
from collections import deque
from collections.abc import Generator, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urldefrag, urlsplit

from arro3.core import Array, ChunkedArray, DataType, Field, RecordBatch, Schema, Table

from ldesfrag._kernels import parse_datetime
from ldesfrag._member_ids import MemberIds
from ldesfrag.exceptions import ReplicationError
from ldesfrag.replicate._bounds import (
    Bounds,
    excluded,
    member_in_box,
    parse_instant,
    relation_bounds,
)
from ldesfrag.replicate._http import Fetcher, Response
from ldesfrag.replicate._page import Page, Relation, parse_page
from ldesfrag.replicate._state import StateDir

__all__ = ["Replication", "ReplicationStats", "replicate"]

#: The columns of every batch.
SCHEMA = Schema(
    [
        Field("id", DataType.string(), nullable=False),
        Field("timestamp", DataType.timestamp("us", tz="UTC"), nullable=True),
        Field("payload", DataType.string(), nullable=False),
        Field("page", DataType.string(), nullable=False),
    ]
)
#: How long a mutable page is fresh without ``Cache-Control: max-age`` or ``poll_interval``.
DEFAULT_MAX_AGE = 60.0
_INF = float("inf")


@dataclass
class ReplicationStats:
    """Counters of a replication (so far)."""

    members: int = 0  # members emitted
    pages: int = 0  # pages fetched and read (200)
    not_modified: int = 0  # conditional fetches answered 304
    retries: int = 0  # fetch attempts repeated after a transient failure
    bytes: int = 0  # page bytes read (decoded)
    duplicates: int = 0  # members read again on another page (or again), not emitted
    filtered: int = 0  # members outside after/before/bbox
    pruned: int = 0  # relations not followed: their bounds exclude the window or the box


@dataclass
class _Node:
    url: str
    bounds: Bounds
    state: str = "queued"  # queued | inflight | visited
    etag: str | None = None
    immutable: bool = False
    expires: float = 0.0  # wall clock: when a mutable node may be polled again
    meta: bool = False  # fetched only to learn the stream's description


@dataclass
class _Result:
    node: _Node
    response: Response
    page: Page | None
    timestamp_path: str | None


@dataclass(order=True)
class _Pending:
    ts: float
    id: str
    payload: str = field(compare=False)
    stamp: str | None = field(compare=False)
    page: str = field(compare=False)


def _bbox(bbox: object) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    if isinstance(bbox, str):
        bbox = bbox.split(",")
    try:
        w, s, e, n = (float(v) for v in bbox)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise ValueError(f"bbox: (W, S, E, N) in WGS84 degrees, not {bbox!r}") from None
    if not (w <= e and s <= n):
        raise ValueError(f"bbox: W ≤ E and S ≤ N, not {bbox!r}")
    return (w, s, e, n)


def _cache(headers: Mapping[str, str]) -> tuple[bool, float | None]:
    immutable, max_age = False, None
    for part in headers.get("cache-control", "").lower().split(","):
        name, _, value = part.strip().partition("=")
        if name == "immutable":
            immutable = True
        elif name == "max-age":
            with contextlib.suppress(ValueError):
                max_age = float(value.strip('"'))
        elif name in ("no-cache", "no-store"):
            max_age = 0.0
    return immutable, max_age


class Replication:
    """The members of a stream, as Arrow tables, exactly once: see :func:`replicate`.

    An iterator and an async iterator of ``arro3.core.Table`` batches with the columns
    ``id``, ``timestamp``, ``payload`` and ``page``. :meth:`stop` (from any thread) ends it
    cleanly after the fetches in flight; :meth:`close` ends it at once.
    """

    def __init__(
        self,
        url: str,
        *,
        state: str | None = None,
        follow: bool = False,
        poll_interval: float | None = None,
        after: datetime | str | None = None,
        before: datetime | str | None = None,
        bbox: object = None,
        order: Literal["none", "ascending"] = "none",
        concurrency: int = 8,
        timeout: float = 30.0,
        retries: int = 5,
        batch_size: int = 10_000,
        headers: Mapping[str, str] | None = None,
        backoff: float = 0.5,
        progress: bool = False,
    ) -> None:
        if order not in ("none", "ascending"):
            raise ValueError(f"order: 'none' or 'ascending', not {order!r}")
        if int(concurrency) < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        if int(retries) < 0:
            raise ValueError(f"retries must be at least 0, not {retries}")
        self.url = urldefrag(str(url))[0]
        self.follow = bool(follow)
        self.poll_interval = None if poll_interval is None else float(poll_interval)
        self.after = None if after is None else parse_instant(after, "after")
        self.before = None if before is None else parse_instant(before, "before")
        self.bbox = _bbox(bbox)
        self.order = order
        self.concurrency = int(concurrency)
        self.batch_size = int(batch_size)
        self.progress = progress
        self.stats = ReplicationStats()
        self._fetcher = Fetcher(timeout=timeout, retries=retries, backoff=backoff, headers=headers)
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="ldesfrag-fetch")
        self._stop = threading.Event()
        self._closed = False
        self._nodes: dict[str, _Node] = {}
        self._queue: deque[_Node] = deque()
        self._inflight: dict[Future[_Result], _Node] = {}
        self._seen = MemberIds()  # every member read (admitted)
        self._timestamp_path: str | None = None
        self._entered = False  # discovery of the view from the entry URL is done
        self._meta_tried: set[str] = set()
        self._buffer: list[tuple[Table, str]] = []  # (members, page), order "none"
        self._buffered = 0
        self._heap: list[_Pending] = []  # order "ascending"
        self._started = time.monotonic()
        self._pending_commit: ChunkedArray | None = None
        self._abandon = False
        self._last_progress = 0.0
        #: Set by the CLI: called with each batch's commit extras before the state is saved.
        self.output_state: dict[str, Any] = {}
        self._state = None if state is None else StateDir(state)
        self._emitted = MemberIds()  # persisted: the members handed out
        if self._state is not None:
            saved, self._emitted = self._state.load()
            if saved is not None:
                self._restore(saved)
        self._iter = self._run()

    # ---- public ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Table]:
        return self

    def __next__(self) -> Table:
        return next(self._iter)

    def __aiter__(self) -> Replication:
        return self

    async def __anext__(self) -> Table:
        batch = await asyncio.to_thread(self._next_or_none)
        if batch is None:
            raise StopAsyncIteration
        return batch

    def _next_or_none(self) -> Table | None:
        return next(self._iter, None)

    def __enter__(self) -> Replication:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:  # the batch in hand was not handled: a resume gives it again
            self._pending_commit = None
            self._abandon = True
        self.close()

    def stop(self) -> None:
        """Ends the replication cleanly: no new fetches; what is in flight is read, the last
        batch is emitted and the state saved. Safe from a signal handler or another thread."""
        self._stop.set()

    def close(self) -> None:
        """Ends at once, from any thread: fetches in flight are abandoned and nothing more is
        emitted. The batches handed out count as handled (their commit is saved), unless the
        ``with`` block ends with an exception: then the last one is given again on resume.
        An iteration running in another thread ends (its next batch is the end) within about
        half a second."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        try:
            self._iter.close()
        except ValueError:  # running in another thread: it sees _closed and returns
            return
        if not self._abandon and self._pending_commit is not None:
            self.commit()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._fetcher.close()

    @property
    def timestamp_path(self) -> str | None:
        """The stream's ``ldes:timestampPath``, once a page named it."""
        return self._timestamp_path

    # ---- state -----------------------------------------------------------------------

    def _restore(self, saved: dict[str, Any]) -> None:
        if saved.get("url") != self.url:
            from ldesfrag.exceptions import StateError

            raise StateError(
                f"the state directory replicates {saved.get('url')!r}, not {self.url!r}"
            )
        self._timestamp_path = saved.get("timestamp_path")
        self._entered = bool(saved.get("entered"))
        self.output_state = dict(saved.get("output", {}))
        self.stats.members = int(saved.get("members", 0))
        self._seen = MemberIds.from_log(self._emitted.log())
        for url, (st, etag, immutable, expires, bounds) in saved["nodes"].items():
            node = _Node(url, Bounds.from_json(bounds), st, etag, immutable, expires)
            self._nodes[url] = node
            if st == "queued":
                self._queue.append(node)
        if not self._entered and self.url not in self._nodes:
            self._queue.append(self._nodes.setdefault(self.url, _Node(self.url, Bounds())))
        if not self.follow:
            # A rerun synchronises once: every mutable page read before is polled again.
            for node in self._nodes.values():
                if node.state == "visited" and not node.immutable:
                    node.state = "queued"
                    self._queue.append(node)

    def _commit(self, emitted_ids: ChunkedArray | None) -> None:
        if self._state is None:
            return
        size = self._state.log_size()
        if emitted_ids is not None and len(emitted_ids):
            segment = self._emitted.admit(emitted_ids).segment
            if segment:
                size = self._state.append_log(segment)
        pending = {p.page for p in self._heap}
        nodes: dict[str, list[Any]] = {}
        for url, n in self._nodes.items():
            if n.meta:
                continue
            st = n.state
            if st == "inflight" or url in pending:
                st, etag = "queued", None  # read again on resume: not all of it is out
            else:
                etag = n.etag
            nodes[url] = [st, etag, n.immutable, n.expires, n.bounds.to_json()]
        self._state.commit(
            {
                "url": self.url,
                "timestamp_path": self._timestamp_path,
                "entered": self._entered,
                "log_bytes": size,
                "members": self.stats.members,
                "nodes": nodes,
                "output": self.output_state,
            }
        )

    # ---- the crawl -------------------------------------------------------------------

    def _run(self) -> Generator[Table, None, None]:
        if not self._nodes:
            self._nodes[self.url] = node = _Node(self.url, Bounds())
            self._queue.append(node)
        try:
            while not self._closed:
                while self._queue and len(self._inflight) < self.concurrency:
                    if self._stop.is_set():
                        break
                    self._submit(self._queue.popleft())
                if not self._inflight:
                    if self._queue and not self._stop.is_set():
                        continue
                    batch = self._flush()
                    if batch is not None:
                        yield batch
                        if self._pending_commit is not None:  # not committed by the caller
                            self.commit()
                    if not self.follow or self._stop.is_set():
                        break
                    self._wait_for_polls()
                    continue
                done, _ = wait(list(self._inflight), timeout=0.5, return_when=FIRST_COMPLETED)
                if self._closed:
                    return
                for fut in done:
                    node = self._inflight.pop(fut)
                    try:
                        result = fut.result()
                    except ReplicationError:
                        if node.meta:  # only a hint; the crawl does not need it
                            continue
                        raise
                    self._handle(node, result)
                self._show_progress()
                if self._buffered >= self.batch_size or len(self._heap) >= self.batch_size:
                    batch = self._flush()
                    if batch is not None:
                        yield batch
                        if self._pending_commit is not None:  # not committed by the caller
                            self.commit()
            if not self._closed:
                self.commit()
        finally:
            self._show_progress(done=True)
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._fetcher.close()

    def _submit(self, node: _Node) -> None:
        node.state = "inflight"
        etag = node.etag if node.etag and not node.meta else None
        tp = self._timestamp_path
        self._inflight[self._pool.submit(self._fetch, node, etag, tp)] = node

    def _fetch(self, node: _Node, etag: str | None, tp: str | None) -> _Result:
        # The stream's description is only a hint: one attempt.
        resp = self._fetcher.get(node.url, etag, retries=0 if node.meta else None)
        if resp.status == 304:
            return _Result(node, resp, None, tp)
        page = parse_page(resp.body, resp.url, resp.headers.get("content-type"), tp)
        return _Result(node, resp, page, tp)

    def _wait_for_polls(self) -> None:
        mutable = [n for n in self._nodes.values() if n.state == "visited" and not n.immutable]
        if not mutable:
            self._stop.wait(1.0)  # nothing can change; wait for stop
            return
        due = min(n.expires for n in mutable)
        delay = max(0.0, due - time.time())
        if delay > 0 and self._stop.wait(delay):
            return
        now = time.time()
        for n in mutable:
            if n.expires <= now:
                n.state = "queued"
                self._queue.append(n)

    def _handle(self, node: _Node, result: _Result) -> None:
        resp = result.response
        self.stats.retries += resp.retries
        immutable, max_age = _cache(resp.headers)
        node.state = "visited"
        node.immutable = node.immutable or immutable
        age = self.poll_interval if self.poll_interval is not None else max_age
        node.expires = time.time() + (DEFAULT_MAX_AGE if age is None else age)
        if resp.status == 304:
            self.stats.not_modified += 1
            return
        page = result.page
        assert page is not None
        node.etag = resp.headers.get("etag")
        self.stats.pages += 1
        self.stats.bytes += len(resp.body)
        final = urldefrag(resp.url)[0]
        if final != node.url:
            self._nodes.setdefault(final, node)
        if page.timestamp_path and self._timestamp_path is None:
            self._timestamp_path = page.timestamp_path
        if self._timestamp_path is not None and result.timestamp_path != self._timestamp_path:
            # read before the stream's timestamp path was known: read its timestamps now
            page = parse_page(
                resp.body, resp.url, resp.headers.get("content-type"), self._timestamp_path
            )
        if node.meta:
            return
        entry = not self._entered
        self._entered = True
        self._follow_relations(node, page.relations)
        if entry and not page.relations:
            # The stream (or a view description): crawl its first view.
            others = [v for v in page.views if urldefrag(v)[0] not in (node.url, final)]
            if others:
                self._add(urldefrag(others[0])[0], node.bounds)
        if self._timestamp_path is None:
            origin = urlsplit(self.url)[:2]
            for s in page.streams:
                u = urldefrag(s)[0]
                if urlsplit(u)[:2] != origin:
                    continue  # only the server replicated from is asked
                if u not in self._nodes and u not in self._meta_tried:
                    self._meta_tried.add(u)
                    meta = _Node(u, Bounds(), meta=True)
                    self._queue.appendleft(meta)
        self._take_members(page, final)

    def _follow_relations(self, parent: _Node, relations: list[Relation]) -> None:
        by_node: dict[str, list[Relation]] = {}
        for r in relations:
            if r.node is not None:
                by_node.setdefault(urldefrag(r.node)[0], []).append(r)
        for url, rels in by_node.items():
            if url in self._nodes:
                continue
            bounds = relation_bounds(parent.bounds, rels, self._timestamp_path)
            if excluded(bounds, self.after, self.before, self.bbox):
                self.stats.pruned += 1
                continue
            self._add(url, bounds)

    def _add(self, url: str, bounds: Bounds) -> None:
        if url not in self._nodes:
            node = self._nodes[url] = _Node(url, bounds)
            self._queue.append(node)

    def _take_members(self, page: Page, url: str) -> None:
        members = page.members
        n = members.num_rows
        if n == 0:
            return
        first: list[bool] = list(self._seen.admit(members["id"]).first.to_pylist())
        keep = first
        fresh = sum(first)
        self.stats.duplicates += n - fresh
        filtering = self.after is not None or self.before is not None or self.bbox is not None
        stamps: list[int | None] | None = None
        if filtering or self.order == "ascending":
            if "timestamp" in members.column_names:
                stamps = list(
                    parse_datetime(members["timestamp"]).cast(DataType.int64()).to_pylist()
                )
            else:
                stamps = [None] * n
        if filtering:
            assert stamps is not None
            payloads = members["payload"].to_pylist()
            keep = []
            for i, f in enumerate(first):
                ok = f
                if ok and (self.after is not None or self.before is not None):
                    t = stamps[i]
                    ok = (
                        t is not None
                        and (self.after is None or t > self.after)
                        and (self.before is None or t < self.before)
                    )
                if ok and self.bbox is not None:
                    ok = member_in_box(payloads[i], self.bbox)
                if f and not ok:
                    self.stats.filtered += 1
                keep.append(ok)
        if self.order == "ascending":
            assert stamps is not None
            ids = members["id"].to_pylist()
            payloads = members["payload"].to_pylist()
            raw = (
                members["timestamp"].to_pylist()
                if "timestamp" in members.column_names
                else [None] * n
            )
            for i, k in enumerate(keep):
                if k:
                    t = stamps[i]
                    heapq.heappush(
                        self._heap,
                        _Pending(_INF if t is None else t, ids[i], payloads[i], raw[i], url),
                    )
            return
        if not all(keep):
            idx = [i for i, k in enumerate(keep) if k]
            if not idx:
                return
            members = _take(members, idx)
        self._buffer.append((members, url))
        self._buffered += members.num_rows

    # ---- output ----------------------------------------------------------------------

    def _watermark(self) -> float:
        """No member below an unvisited node is earlier than this (µs)."""
        low = _INF
        for n in (*self._queue, *self._inflight.values()):
            if n.meta:
                continue
            if n.bounds.lo is None:
                return -_INF
            low = min(low, n.bounds.lo)
        return low

    def _flush(self) -> Table | None:
        if self.order == "ascending":
            # Nothing unvisited: everything may go (members without a timestamp last).
            idle = not self._queue and not any(not n.meta for n in self._inflight.values())
            limit = _INF if idle else self._watermark()
            out: list[_Pending] = []
            while self._heap and (self._heap[0].ts <= limit or idle):
                out.append(heapq.heappop(self._heap))
            if not out:
                return None
            table = _table(
                [p.id for p in out],
                [p.stamp for p in out],
                [p.payload for p in out],
                [p.page for p in out],
            )
        else:
            if not self._buffer:
                return None
            # Each page's rows as they are (no copy of the payloads): one batch per slice.
            parts = [b for members, url in self._buffer for b in _output_batches(members, url)]
            self._buffer.clear()
            self._buffered = 0
            table = Table.from_batches(parts, schema=SCHEMA)
        self.stats.members += table.num_rows
        self._pending_commit = table["id"]
        return table

    def commit(self) -> None:
        """Saves the state (with ``state=``): every batch handed out so far counts as
        handled. The CLI calls it after each batch file is written; a Python caller whose
        loop body must finish first calls it at the end of the body (it is also done before
        the next batch is read and at the end)."""
        ids, self._pending_commit = self._pending_commit, None
        self._commit(ids)

    def _show_progress(self, done: bool = False) -> None:
        if not self.progress:
            return
        now = time.monotonic()
        if not done and now - self._last_progress < 0.25:
            return
        self._last_progress = now
        members = self.stats.members + self._buffered + len(self._heap)
        rate = members / max(now - self._started, 1e-9)
        sys.stderr.write(
            f"\r{members:,} members, {self.stats.pages:,} pages "
            f"({self.stats.not_modified:,} not modified), {rate:,.0f} members/s"
            + ("\n" if done else "")
        )
        sys.stderr.flush()


def _take(members: Table, idx: list[int]) -> Table:
    cols: dict[str, Any] = {}
    for name in members.column_names:
        values = members[name].to_pylist()
        cols[name] = Array([values[i] for i in idx], DataType.string())
    return Table.from_pydict(cols)


def _output_batches(members: Table, url: str) -> list[RecordBatch]:
    """A page's member rows (``id``, ``payload``, maybe ``timestamp`` as text) in the output
    schema, batch by batch (a page's rows may be several slices)."""
    out = []
    for b in members.to_batches():
        n = b.num_rows
        stamps = (
            b["timestamp"]
            if "timestamp" in members.column_names
            else Array([None] * n, DataType.string())
        )
        arrays: list[Any] = [
            b["id"],
            parse_datetime(stamps),
            b["payload"],
            Array([url] * n, DataType.string()),
        ]
        out.append(RecordBatch.from_arrays(arrays, schema=SCHEMA))
    return out


def _table(
    ids: list[str], stamps: list[str | None], payloads: list[str], pages: list[str]
) -> Table:
    arrays = [
        Array(ids, DataType.string()),
        parse_datetime(Array(stamps, DataType.string())),
        Array(payloads, DataType.string()),
        Array(pages, DataType.string()),
    ]
    return Table.from_arrays(arrays, schema=SCHEMA)


def replicate(
    url: str,
    *,
    state: str | None = None,
    follow: bool = False,
    poll_interval: float | None = None,
    after: datetime | str | None = None,
    before: datetime | str | None = None,
    bbox: object = None,
    order: Literal["none", "ascending"] = "none",
    concurrency: int = 8,
    timeout: float = 30.0,
    retries: int = 5,
    batch_size: int = 10_000,
    headers: Mapping[str, str] | None = None,
    backoff: float = 0.5,
    progress: bool = False,
) -> Replication:
    """Replicates the LDES at ``url`` (the event stream, a view, or any node): every member
    once, as Arrow tables (``id``, ``timestamp`` (``timestamp[us, UTC]``), ``payload`` (the
    member's triples as canonical N-Triples), ``page`` (where it was first read)).

    See ``docs/replication.md`` for the rules (discovery, exactly-once, pruning, order, state,
    follow). A page answering 4xx, one that cannot be parsed, or one still failing after
    ``retries`` (5xx, timeouts, resets; backoff from ``backoff`` seconds, doubling, with
    jitter) raises :class:`~ldesfrag.ReplicationError`.
    """
    return Replication(
        url,
        state=state,
        follow=follow,
        poll_interval=poll_interval,
        after=after,
        before=before,
        bbox=bbox,
        order=order,
        concurrency=concurrency,
        timeout=timeout,
        retries=retries,
        batch_size=batch_size,
        headers=headers,
        backoff=backoff,
        progress=progress,
    )
