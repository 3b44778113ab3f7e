"""The members of the mutable pages, kept between batches: a page is rendered again whenever it
changes, from all its members, and only these pages can change.

Memory is bounded by a budget (bytes of member rows), not by the number of open pages: past it,
the least recently rendered pages are dropped from memory and read back, when they change again,
from the state's log of open members, which holds every row anyway (docs/architecture.md,
"Memory"). Its segments are Arrow IPC files sorted by page key in record batches of
:data:`BATCH_ROWS` rows; the first and last key of each batch tell which batches to read back.
Immutable pages' rows are dead and dropped once they are the majority (or past the budget)."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BATCH_ROWS", "DEFAULT_OPEN_PAGES_BUDGET", "Landing", "OpenPages", "node_key"]

#: Bytes of open pages' members held in memory by default (publish's ``open_pages_budget``).
DEFAULT_OPEN_PAGES_BUDGET = 256 << 20

#: Rows per record batch of a log segment: what reading back one page reads at least.
BATCH_ROWS = 2048
#: A compacted log: about this many bytes of old segments (or an eighth of the budget) are
#: filtered into one new one.
_GROUP_BYTES = 8 << 20


def node_key(pa: Any, pc: Any, bucket: Any, page: Any) -> Any:
    """Per row, the key of a node: its bucket and page (0 for the bucket's own node), joined by a
    newline."""
    page = pc.fill_null(page, pa.scalar(0, pa.uint32()))
    return pc.binary_join_element_wise(bucket, pc.cast(page, pa.string()), "\n")


class _Chunk:
    """Rows held in memory, the set of their page keys, and the log segment that holds them too
    (None until they are logged)."""

    __slots__ = ("keys", "seg", "table")

    def __init__(self, table: Any, keys: set[str], seg: str | None) -> None:
        self.table, self.keys, self.seg = table, keys, seg


@dataclass
class Landing:
    """What a commit's log segments change once they are on disk (:meth:`OpenPages.land`): the
    key range of each record batch of its new segments, and, for a compaction, which new
    segment holds the live rows of each old one."""

    ranges: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    remap: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


class OpenPages:
    """Open members in chunks, rows ``{key, seq, id, payload, timestamp}``. ``budget``: bytes of
    rows held in memory (None: all, and nothing is read back); ``state_dir``: where the log's
    segments are, to read pages back from."""

    def __init__(
        self,
        pa: Any,
        pc: Any,
        mutable: dict[str, int],
        budget: int | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.pa, self.pc = pa, pc
        #: The mutable pages (key → members), kept current from the fragmenter's changes.
        self.mutable = mutable
        self.budget = budget
        self.state_dir = state_dir
        self.chunks: list[_Chunk] = []
        # Rows added since the last commit (the log's next segment), with the chunk holding them.
        self.new: list[tuple[Any, _Chunk]] = []
        self.logged = 0  # rows in the log
        self.names: list[str] = []  # the log's segments, in order
        self.base = 0  # segments in the log after it was last compacted (or loaded)
        #: Segments on disk → the (first, last) key of each record batch.
        self.segments: dict[str, list[tuple[str, str]]] = {}
        #: Page → the segments holding its rows that are not held in memory.
        self.cold: dict[str, set[str]] = {}
        self.used: dict[str, int] = {}  # page → when last rendered (eviction: oldest first)
        self.tick = 0
        self.row_bytes = 1024.0  # bytes a row, as last measured
        self.evicted = 0  # pages dropped from memory (this run)
        self.read_back = 0  # pages read back from the log (this run)

    @property
    def rows(self) -> int:
        """Live rows: the members of the mutable pages."""
        return sum(self.mutable.values())

    def held_bytes(self) -> int:
        return sum(c.table.nbytes for c in self.chunks)

    # ---- rows in --------------------------------------------------------------------------
    def load(self, names: list[str], read: Callable[[str], Any]) -> None:
        """Takes the log's segments (``read(name)`` → its table, checked), keeping the rows of
        pages still mutable, in memory up to the budget."""
        keys = self.mutable_keys()
        for name in names:
            t = read(name)
            self.segments[name] = [_range(self.pc, b["key"]) for b in t.to_batches()]
            self.logged += t.num_rows
            live = t.filter(self.pc.is_in(t["key"], value_set=keys))
            del t
            if live.num_rows:
                self._hold(live, name)
            self.shrink(0)
        self.names = list(names)
        self.base = len(names)

    def _hold(self, table: Any, seg: str | None) -> _Chunk:
        chunk = _Chunk(table, set(self.pc.unique(table["key"]).to_pylist()), seg)
        self.chunks.append(chunk)
        return chunk

    def keep(self, table: Any) -> None:
        """Rows held in memory, not logged (``ldesfrag.server``'s bulk load)."""
        self._hold(table, None)

    def add(self, table: Any) -> None:
        """New rows: held, and logged by the next commit."""
        if table.num_rows:
            self.row_bytes = table.nbytes / table.num_rows
        self.new.append((table, self._hold(table, None)))

    # ---- rows out -------------------------------------------------------------------------
    def members(self, keys: set[str] | None = None) -> Any:
        """The open members (of the pages ``keys`` and maybe others), as one table; pages not
        held are read back from the log and held again."""
        if self.cold:
            self._read_back(set(self.cold) if keys is None else keys & self.cold.keys())
        tables = [c.table for c in self.chunks if keys is None or not keys.isdisjoint(c.keys)]
        return self.pa.concat_tables(tables) if tables else self.empty()

    def _read_back(self, keys: set[str]) -> None:
        pa, pc = self.pa, self.pc
        by_seg: dict[str, list[str]] = {}
        for k in keys:
            for seg in self.cold.pop(k):
                by_seg.setdefault(seg, []).append(k)
        self.read_back += len(keys)
        for seg, ks in by_seg.items():
            ks.sort()
            want = pa.array(ks, pa.string())
            parts = []
            # Not closed here: a buffer taken without a copy keeps the mapping alive.
            reader = pa.ipc.open_file(pa.memory_map(str(self._path(seg))))
            for i, (first, last) in enumerate(self.segments[seg]):
                j = bisect.bisect_left(ks, first)
                if j < len(ks) and ks[j] <= last:
                    b = reader.get_batch(i)
                    b = b.filter(pc.is_in(b["key"], value_set=want))
                    if b.num_rows:
                        parts.append(b)
            if parts:
                self._hold(pa.Table.from_batches(parts), seg)

    def _path(self, seg: str) -> Path:
        assert self.state_dir is not None, "pages are read back only with a state directory"
        return self.state_dir / seg

    def touch(self, keys: list[str]) -> None:
        """The pages ``keys`` were just rendered (the last to be dropped from memory)."""
        self.tick += 1
        used, tick = self.used, self.tick
        for k in keys:
            used[k] = tick

    def groups(self, keys: list[str], sizes: dict[str, int]) -> list[list[str]]:
        """``keys`` split so that each group's members (``sizes``, or the open counts) fit about
        half the budget: rendered one group at a time."""
        if self.budget is None:
            return [keys]
        limit = max(1.0, self.budget / 2 / self.row_bytes)
        out: list[list[str]] = [[]]
        rows = 0
        for k in keys:
            n = 0 if k.endswith("\n0") else sizes.get(k, self.mutable.get(k, 0))
            if out[-1] and rows + n > limit:
                out.append([])
                rows = 0
            out[-1].append(k)
            rows += n
        return out

    # ---- memory ---------------------------------------------------------------------------
    def compact_if_mostly_dead(self, batch_size: int) -> None:
        """Without a budget: drops the rows of pages no longer mutable once most rows held are
        dead (each chunk filtered on its own: its rows stay those of its log segment)."""
        if sum(c.table.num_rows for c in self.chunks) > 2 * self.rows + batch_size:
            self._drop(self.mutable, set())

    def shrink(self, batch_size: int, pending: frozenset[str] = frozenset()) -> None:
        """Drops dead rows once they are the majority, and past the budget drops the least
        recently rendered pages whose rows are all on disk until half the budget is held.
        ``pending``: pages still to be rendered, live even if no longer mutable."""
        if self.budget is None:
            self.compact_if_mostly_dead(batch_size)
            return
        held = sum(c.table.num_rows for c in self.chunks)
        nbytes = self.held_bytes()
        if nbytes <= self.budget and held <= 2 * self.rows + batch_size:
            return
        pc = self.pc
        mutable: Any = self.mutable.keys() | pending if pending else self.mutable
        evict: set[str] = set()
        if nbytes > self.budget:
            pinned: set[str] = set()
            counts: dict[str, int] = {}
            for c in self.chunks:
                if c.seg is None or c.seg not in self.segments:
                    pinned |= c.keys
                vc = pc.value_counts(c.table["key"])
                for k, n in zip(vc.field(0).to_pylist(), vc.field(1).to_pylist(), strict=True):
                    counts[k] = counts.get(k, 0) + n
            per_row = nbytes / max(held, 1)
            live = sum(n for k, n in counts.items() if k in mutable)
            excess = live * per_row - self.budget / 2
            used = self.used
            order = sorted(
                (k for k in counts if k in mutable and k not in pinned),
                key=lambda k: used.get(k, 0),
            )
            for k in order:
                if excess <= 0:
                    break
                evict.add(k)
                excess -= counts[k] * per_row
        self._drop(mutable, evict)
        self.evicted += len(evict)
        for k in [k for k in self.cold if k not in mutable]:
            del self.cold[k]
        if len(self.used) > 2 * len(self.mutable) + 1000:
            self.used = {k: t for k, t in self.used.items() if k in self.mutable}

    def _drop(self, live: Any, evict: set[str]) -> None:
        """Drops from memory the rows of pages not ``live`` and of the pages ``evict`` (whose
        segments are then remembered, to read them back)."""
        pa, pc = self.pa, self.pc
        chunks = []
        for c in self.chunks:
            drop = {k for k in c.keys if k not in live} | (c.keys & evict)
            for k in c.keys & evict:
                self.cold.setdefault(k, set()).add(c.seg)  # type: ignore[arg-type]
            if not drop:
                chunks.append(c)
            elif drop != c.keys:
                gone = pa.array(sorted(drop), pa.string())
                c.table = c.table.filter(pc.invert(pc.is_in(c.table["key"], value_set=gone)))
                c.keys -= drop
                chunks.append(c)
        self.chunks = chunks

    # ---- the log --------------------------------------------------------------------------
    def compaction_due(self, batch_size: int, max_segments: int) -> bool:
        """Whether the log is to be compacted: most logged rows are dead, or it has grown by
        ``max_segments`` segments since it last was."""
        return (
            self.logged > 2 * self.rows + batch_size or len(self.names) >= self.base + max_segments
        )

    def log(
        self, gen: int, compact: bool, encode: Callable[[Any, list[Any]], Callable[[], bytes]]
    ) -> tuple[list[tuple[str, Callable[[], bytes]]], Landing]:
        """The log's new segments for commit ``gen`` (name → a function making its bytes; a
        compaction replaces the whole log): the rows added since the last commit, or, when
        ``compact``, every live row. ``encode(schema, batches)`` encodes a segment. :attr:`names` is
        then the log. The caller waits for the commit before, and hands the returned
        :class:`Landing` to :meth:`land` once this commit is on disk."""
        landing = Landing()
        if not compact:
            if not self.new:
                return [], landing
            table = self.pa.concat_tables([t for t, _ in self.new])
            name = f"open-{gen}.arrow"
            for _, c in self.new:
                c.seg = name
            self.new = []
            self.logged += table.num_rows
            self.names = [*self.names, name]
            batches, landing.ranges[name] = self._sorted_batches(table)
            return [(name, encode(table.schema, batches))], landing
        # Compaction: the live rows not logged yet → one segment; the live rows of the old
        # segments (held in memory or not), filtered a group of segments at a time → one
        # segment per group. Rows held stay held, without a copy: they are read from disk.
        pa, pc = self.pa, self.pc
        live = self.mutable
        outputs: list[tuple[str, Callable[[], bytes]]] = []
        names: list[str] = []
        refs: dict[str, set[str]] = {}
        for k, segs in self.cold.items():
            if k in live:
                for seg in segs:
                    refs.setdefault(seg, set()).add(k)
        unlogged: list[_Chunk] = []
        for c in self.chunks:
            if c.seg is None or c.seg not in self.segments:
                unlogged.append(c)
            else:
                refs.setdefault(c.seg, set()).update(k for k in c.keys if k in live)
        self.new = []
        if unlogged:
            table = pa.concat_tables([c.table for c in unlogged])
            table = table.filter(pc.is_in(table["key"], value_set=self.mutable_keys()))
            if table.num_rows:
                name = f"open-{gen}-0.arrow"
                for c in unlogged:
                    c.seg = name
                batches, landing.ranges[name] = self._sorted_batches(table)
                outputs.append((name, encode(table.schema, batches)))
                names.append(name)
        refs = {seg: keys for seg, keys in refs.items() if keys}
        limit = max(_GROUP_BYTES, (self.budget or 0) // 8)
        groups: list[list[str]] = []
        group, size = [], 0
        ordered = [s for s in self.names if s in refs]
        for i, seg in enumerate(ordered):
            group.append(seg)
            size += self._path(seg).stat().st_size
            if size >= limit or i == len(ordered) - 1:
                groups.append(group)
                group, size = [], 0
        for i, olds in enumerate(groups, start=1):
            name = f"open-{gen}-{i}.arrow"
            # Each old segment filtered to the live pages whose rows it holds.
            wanted = [(s, sorted(refs[s])) for s in olds]
            outputs.append((name, self._filtered(wanted, name, landing)))
            names.append(name)
            landing.remap.update((s, name) for s in olds)
        landing.dropped = [s for s in self.names if s not in names]
        self.names = names
        self.base = len(names)
        self.logged = self.rows
        return outputs, landing

    def _sorted_batches(self, table: Any) -> tuple[list[Any], list[tuple[str, str]]]:
        """The rows sorted by page (then arrival), in record batches, and each one's key range."""
        pc = self.pc
        order = pc.sort_indices(table, sort_keys=[("key", "ascending"), ("seq", "ascending")])
        table = table.take(order).combine_chunks()
        batches = table.to_batches(max_chunksize=BATCH_ROWS)
        return batches, [_range(pc, b["key"]) for b in batches]

    def _filtered(
        self, wanted: list[tuple[str, list[str]]], name: str, landing: Landing
    ) -> Callable[[], bytes]:
        """A function making the segment ``name``: of each old segment, the rows of its pages
        ``wanted`` (run in the committing thread, which reads them before it removes any).
        One record batch in memory at a time: each old batch is filtered and written as it is
        read (a few filtered batches of one segment joined), so its rows stay sorted by key
        within each new batch, and the new batch's key range is within the old ones'."""
        pa, pc = self.pa, self.pc
        wanted_ = [(self._path(s), pa.array(keys, pa.string())) for s, keys in wanted]

        def make() -> bytes:
            sink = pa.BufferOutputStream()
            options = pa.ipc.IpcWriteOptions(compression="lz4")
            ranges: list[tuple[str, str]] = []
            writer = None
            for path, want in wanted_:
                reader = pa.ipc.open_file(pa.memory_map(str(path)))
                if writer is None:
                    writer = pa.ipc.new_file(sink, reader.schema, options=options)
                parts: list[Any] = []
                rows = 0
                for i in range(reader.num_record_batches):
                    b = reader.get_batch(i)
                    b = b.filter(pc.is_in(b["key"], value_set=want))
                    if b.num_rows:
                        parts.append(b)
                        rows += b.num_rows
                    if parts and (rows >= BATCH_ROWS or i == reader.num_record_batches - 1):
                        joined = pa.Table.from_batches(parts).combine_chunks()
                        for out in joined.to_batches():
                            ranges.append(_range(pc, out["key"]))
                            writer.write_batch(out)
                        parts, rows = [], 0
            assert writer is not None, "a compacted segment has old segments"
            writer.close()
            landing.ranges[name] = ranges
            return bytes(sink.getvalue().to_pybytes())

        return make

    def land(self, landing: Landing) -> None:
        """A commit's segments are on disk: pages can be dropped to them and read back."""
        self.segments.update(landing.ranges)
        if landing.remap:
            remap = landing.remap
            for k, segs in self.cold.items():
                self.cold[k] = {remap.get(s, s) for s in segs}
            for c in self.chunks:
                if c.seg in remap:
                    c.seg = remap[c.seg]
        for s in landing.dropped:
            self.segments.pop(s, None)

    def empty(self) -> Any:
        pa = self.pa
        return pa.table(
            {
                "key": pa.array([], pa.string()),
                "seq": pa.array([], pa.uint64()),
                "id": pa.array([], pa.string()),
                "payload": pa.array([], pa.string()),
                "timestamp": pa.array([], pa.string()),
            }
        )

    def mutable_keys(self) -> Any:
        return self.pa.array(list(self.mutable), self.pa.string())


def _range(pc: Any, keys: Any) -> tuple[str, str]:
    """The first and last key of a record batch (any order: its minimum and maximum)."""
    if not len(keys):
        return ("\uffff", "")  # matches nothing
    mm = pc.min_max(keys)
    return (mm["min"].as_py(), mm["max"].as_py())


def ipc(pa: Any, schema: Any, batches: list[Any]) -> bytes:
    """One segment of a log, LZ4-compressed (payloads are N-Triples text, a fraction of their
    size compressed, at GB/s); a segment is never rewritten, only dropped."""
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.ipc.new_file(sink, schema, options=options) as w:
        for b in batches:
            w.write_batch(b)
    return bytes(sink.getvalue().to_pybytes())
