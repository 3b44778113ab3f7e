"""The members of the mutable pages, kept between batches: a page is rendered again whenever it
changes, from all its members, and only these pages can change. Immutable pages' rows are dead
and dropped once they are the majority, so memory follows the open pages, not the stream."""

from __future__ import annotations

from typing import Any

__all__ = ["OpenPages", "node_key"]


def node_key(pa: Any, pc: Any, bucket: Any, page: Any) -> Any:
    """Per row, the key of a node: its bucket and page (0 for the bucket's own node), joined by a
    newline."""
    page = pc.fill_null(page, pa.scalar(0, pa.uint32()))
    return pc.binary_join_element_wise(bucket, pc.cast(page, pa.string()), "\n")


class OpenPages:
    """Open members in chunks, each with the set of its page keys (so rendering a batch reads
    only the chunks holding its pages); rows are ``{key, seq, id, payload, timestamp}``."""

    def __init__(self, pa: Any, pc: Any, mutable: dict[str, int]) -> None:
        self.pa, self.pc = pa, pc
        #: The mutable pages (key → members), kept current from the fragmenter's changes.
        self.mutable = mutable
        self.chunks: list[tuple[Any, set[str]]] = []
        self.new: list[Any] = []  # rows added since the last commit (the log's next segment)
        self.logged = 0  # rows in the log

    @property
    def rows(self) -> int:
        """Live rows: the members of the mutable pages."""
        return sum(self.mutable.values())

    def load(self, logged: list[Any]) -> None:
        """Takes the log's segments (tables), keeping the rows of pages still mutable."""
        keys = self.mutable_keys()
        for t in logged:
            self.keep(t.filter(self.pc.is_in(t["key"], value_set=keys)))
        self.logged = sum(t.num_rows for t in logged)

    def keep(self, table: Any) -> None:
        self.chunks.append((table, set(self.pc.unique(table["key"]).to_pylist())))

    def add(self, table: Any) -> None:
        """New rows: kept, and logged by the next commit."""
        self.keep(table)
        self.new.append(table)

    def members(self, keys: set[str] | None = None) -> Any:
        """The open members (of the pages ``keys`` and maybe others), as one table."""
        chunks = [t for t, ks in self.chunks if keys is None or not keys.isdisjoint(ks)]
        return self.pa.concat_tables(chunks) if chunks else self.empty()

    def compact(self) -> Any:
        """Keeps in memory only the rows of mutable pages, as one chunk (returned)."""
        table = self.members()
        table = table.filter(self.pc.is_in(table["key"], value_set=self.mutable_keys()))
        self.chunks = []
        self.keep(table.combine_chunks())
        return self.chunks[0][0]

    def compact_if_mostly_dead(self, batch_size: int) -> None:
        if sum(t.num_rows for t, _ in self.chunks) > 2 * self.rows + batch_size:
            self.compact()

    def segment(self, batch_size: int, max_segments: int, segments: int) -> tuple[Any, bool]:
        """The log's next segment, or None, and whether it replaces the log (compacted: when
        most logged rows are dead or the log has ``max_segments``)."""
        live = self.rows
        if self.logged > 2 * live + batch_size or segments >= max_segments:
            table = self.compact()
            self.logged = table.num_rows
            self.new = []
            return table, True
        if not self.new:
            return None, False
        table = self.pa.concat_tables(self.new)
        self.new = []
        self.logged += table.num_rows
        return table, False

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
