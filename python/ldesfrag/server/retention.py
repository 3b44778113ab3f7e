"""Retention for the live server: each view's ``ldes:retentionPolicy`` applied by dropping whole
immutable pages (``docs/semantics.md``, "Retention").

A pass walks, per view with policies, each bucket's pages from its first remaining one and
stops at the first page that is mutable or has a member some policy keeps; the pages before it
are dropped with ``Engine.drop_pages`` (one transaction per stream, in the writer thread, so a
pass never races an ingest commit). An immutable page is never changed: a page with one member
still kept stays whole, and so do the pages after it in its bucket. A dropped page answers
``410 Gone``; a member no view has in a page any more is forgotten (its description deleted).

:func:`run_retention` runs one pass (``now`` injectable); :func:`retention_loop` runs one every
``interval`` seconds (started by ``create_app``).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from datetime import UTC, datetime
from functools import lru_cache

import pyarrow as pa

from ldesfrag.server.config import RetentionPolicy, retention_of
from ldesfrag.server.engine import Engine, LiveStream, LiveView
from ldesfrag.server.store import MemberRow

__all__ = ["retention_loop", "retention_pass", "run_retention"]

log = logging.getLogger("ldesfrag.server")
#: Members read per chunk when version ranks are counted.
_CHUNK = 5_000
#: Rank of a member that is not among the newest versions any policy keeps.
_OLD = 1 << 62


@lru_cache(maxsize=256)
def _policies(turtle: str) -> tuple[RetentionPolicy, ...]:
    return retention_of(turtle)


def _time(text: str | None) -> datetime | None:
    """A stored timestamp (the member's ``ldes:timestampPath`` literal); None when unreadable."""
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _version_of(m: MemberRow, path: str) -> str:
    """The object of the member's ``<iri> <path> …`` statement (the member itself when none)."""
    head = f"<{m.iri}> <{path}> "
    for line in m.payload.splitlines():
        if line.startswith(head):
            return line[len(head) :].removesuffix(" .")
    return m.iri


def _version_ranks(engine: Engine, s: LiveStream, newest: int) -> dict[int, int]:
    """For the ``newest`` latest versions of each entity (by timestamp, then arrival), their
    rank (0: the latest); other members are left out. One read of the stream's members."""
    heaps: dict[str, list[tuple[datetime, int]]] = {}
    floor = datetime.min.replace(tzinfo=UTC)
    after = -1
    path = s.settings["version_of_path"]
    while rows := engine.store.members(s.id, after, _CHUNK):
        after = rows[-1].seq
        for m in rows:
            heap = heaps.setdefault(_version_of(m, path), [])
            item = (_time(m.timestamp) or floor, m.seq)
            if len(heap) < newest:
                heapq.heappush(heap, item)
            elif item > heap[0]:
                heapq.heapreplace(heap, item)
    ranks: dict[int, int] = {}
    for heap in heaps.values():
        for rank, (_, seq) in enumerate(sorted(heap, reverse=True)):
            ranks[seq] = rank
    return ranks


class _Verdict:
    """Whether a member is kept by any of a view's policies at ``now``."""

    def __init__(
        self, policies: tuple[RetentionPolicy, ...], now: datetime, ranks: dict[int, int]
    ) -> None:
        self.rules = [
            (
                p,
                p.full_log.before(now) if p.full_log else None,
                p.version_duration.before(now) if p.version_duration else None,
            )
            for p in policies
        ]
        self.ranks = ranks

    def kept(self, m: MemberRow) -> bool:
        ts = _time(m.timestamp)
        rank = self.ranks.get(m.seq, _OLD)
        return any(
            self._keeps(p, log_from, versions_from, ts, rank)
            for p, log_from, versions_from in self.rules
        )

    @staticmethod
    def _keeps(
        p: RetentionPolicy,
        log_from: datetime | None,
        versions_from: datetime | None,
        ts: datetime | None,
        rank: int,
    ) -> bool:
        # A member without a (readable) timestamp is within every window.
        if p.nothing:
            return False
        if p.starting_from is not None and ts is not None and ts < p.starting_from:
            return False
        if p.full_log is None and p.version_amount is None:
            return True
        if log_from is not None and (ts is None or ts >= log_from):
            return True
        return (
            p.version_amount is not None
            and rank < p.version_amount
            and (versions_from is None or ts is None or ts >= versions_from)
        )


def _expired(
    engine: Engine, s: LiveStream, v: LiveView, verdict: _Verdict
) -> list[tuple[str, int]]:
    """``(bucket, last page to drop)`` for each bucket whose front pages have expired."""
    pages = pa.table(v.fragmenter.pages()).to_pydict()
    by_bucket: dict[str, list[tuple[int, bool]]] = {}
    for bucket, page, immutable in zip(
        pages["bucket"], pages["page"], pages["immutable"], strict=True
    ):
        by_bucket.setdefault(bucket, []).append((page, immutable))
    through = []
    for bucket, chain in by_bucket.items():
        last = None
        for page, immutable in sorted(chain):
            if not immutable:
                break
            found = engine.store.node(s.id, v.id, bucket, page)
            if found is None or any(verdict.kept(m) for m in found[1]):
                break
            last = page
        if last is not None:
            through.append((bucket, last))
    return through


def retention_pass(engine: Engine, now: datetime) -> dict[str, int]:
    """One retention pass over every stream (call it in the writer thread:
    ``engine.write(retention_pass, engine, now)``); the pages dropped per stream."""
    dropped: dict[str, int] = {}
    for s in list(engine.streams.values()):
        policies = {name: _policies(v.config) for name, v in s.views.items()}
        policies = {name: p for name, p in policies.items() if p}
        if not policies:
            continue
        newest = max((p.version_amount or 0 for ps in policies.values() for p in ps), default=0)
        ranks = _version_ranks(engine, s, newest) if newest else {}
        through = {}
        for name, ps in policies.items():
            found = _expired(engine, s, s.views[name], _Verdict(ps, now, ranks))
            if found:
                through[name] = found
        if through:
            dropped[s.name] = engine.drop_pages(s.name, through)
            log.info("retention: %d pages of %s dropped", dropped[s.name], s.name)
    return dropped


async def run_retention(engine: Engine, now: datetime | None = None) -> dict[str, int]:
    """One retention pass after the writes queued before it; the pages dropped per stream."""
    return await engine.write(retention_pass, engine, now or datetime.now(UTC))


async def retention_loop(engine: Engine, interval: float) -> None:
    """A pass every ``interval`` seconds until cancelled; a failed pass is logged."""
    while True:
        await asyncio.sleep(interval)
        try:
            await run_retention(engine)
        except Exception:
            log.exception("retention pass failed")
