"""The live server's storage: one small interface, one class per backend (SQLite, PostgreSQL).

Writes happen in one writer thread only, each through one :class:`Transaction` (a 2xx means
its transaction committed); reads come from any thread, each on its own connection, and see
whole transactions only. A GET is a key lookup in the rendered nodes.

What is stored (``docs/architecture.md``, "The live server"): event streams (name,
configuration, settings, closed), views (stream, name, configuration, view JSON, the fragmenter's
state and journal), members (stream, sequence number, IRI unique per stream, N-Triples payload,
timestamp), assignments (view, bucket, page, member), nodes (view, bucket, page, immutable,
relations as JSON), rendered nodes (view, bucket, page, format, body, ETag, immutable) and the
pages retention dropped (view, bucket, last page dropped: a bucket's pages go from its front).
A page is 0 for a bucket's own (number-less) node.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from ldesfrag.exceptions import LdesfragError

__all__ = [
    "MemberRow",
    "NodeRow",
    "RenderedRow",
    "Store",
    "StoreBusy",
    "StoreError",
    "StreamRecord",
    "Transaction",
    "ViewRecord",
    "open_store",
]


class StoreError(LdesfragError):
    """A store URL that cannot be opened, or a name that is taken."""


class StoreBusy(LdesfragError):
    """Another process is writing the stream (answered 503 with ``Retry-After``)."""

    retry_after = 1  # seconds


@dataclass(frozen=True)
class ViewRecord:
    id: int
    name: str
    config: str  # Turtle
    view_json: str


@dataclass(frozen=True)
class StreamRecord:
    id: int
    name: str
    config: str  # Turtle, without the views
    settings: dict[str, Any]
    closed: bool
    next_seq: int
    views: list[ViewRecord] = field(default_factory=list)


@dataclass(frozen=True)
class MemberRow:
    seq: int
    iri: str
    payload: str
    timestamp: str | None


@dataclass(frozen=True)
class NodeRow:
    bucket: str
    page: int  # 0: the bucket's own node
    immutable: bool
    relations: str  # JSON: [{type, node, path, value, datatype}, …]


@dataclass(frozen=True)
class RenderedRow:
    bucket: str
    page: int
    format: str
    body: bytes
    etag: str
    immutable: bool


class Transaction(ABC):
    """The writes of one commit; all or nothing."""

    @abstractmethod
    def create_stream(self, name: str, config: str, settings: dict[str, Any]) -> int:
        """A new stream's id; :class:`StoreError` when the name is taken."""

    @abstractmethod
    def delete_stream(self, stream_id: int) -> None: ...

    @abstractmethod
    def close_stream(self, stream_id: int) -> None: ...

    @abstractmethod
    def create_view(self, stream_id: int, name: str, config: str, view_json: str) -> int:
        """A new view's id; :class:`StoreError` when the stream has a view of that name."""

    @abstractmethod
    def delete_view(self, view_id: int) -> None: ...

    @abstractmethod
    def add_members(self, stream_id: int, rows: Sequence[MemberRow]) -> None: ...

    @abstractmethod
    def add_assignments(self, view_id: int, rows: Sequence[tuple[str, int, int]]) -> None:
        """Rows of (bucket, page, member seq)."""

    @abstractmethod
    def put_nodes(self, view_id: int, rows: Sequence[NodeRow]) -> None: ...

    @abstractmethod
    def put_rendered(self, view_id: int, rows: Sequence[RenderedRow]) -> None: ...

    @abstractmethod
    def set_fragmenter(self, view_id: int, state: bytes) -> None:
        """Replaces the view's saved fragmenter (and drops its journal)."""

    @abstractmethod
    def append_fragmenter_journal(self, view_id: int, entry: bytes) -> None:
        """Adds one journal entry after the saved fragmenter."""

    @abstractmethod
    def node_members(self, stream_id: int, view_id: int, bucket: str, page: int) -> list[MemberRow]:
        """As :meth:`Store.node_members`, seeing this transaction's writes."""

    @abstractmethod
    def drop_pages(self, view_id: int, pages: Sequence[tuple[str, int]]) -> None:
        """Retention: deletes the pages' assignments, node rows and renderings, and keeps
        that each bucket's pages up to the highest one given are gone (:meth:`Store.dropped`)."""

    @abstractmethod
    def forget_members(self, stream_id: int, seqs: Sequence[int]) -> int:
        """Retention: deletes the descriptions of those of ``seqs`` that no view of the stream
        has in a page any more (their IRIs stay, so they are never admitted again; they are
        left out of :meth:`Store.members`); how many."""


class Store(ABC):
    """A backend. :meth:`transaction`, :meth:`streams`, :meth:`fragmenter`,
    :meth:`known_iris` and :meth:`members` are called from the writer thread only;
    :meth:`rendered` and :meth:`node` from any thread."""

    #: Whether other server processes may write to the store too: then a process holds no
    #: open page in memory (another may change it) and reads every mutable page from the store.
    shared = False

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """Commits when the block ends, rolls back when it raises."""

    @abstractmethod
    def streams(self) -> list[StreamRecord]: ...

    @abstractmethod
    def fragmenter(self, view_id: int) -> tuple[bytes | None, list[bytes]]:
        """The view's saved fragmenter (None: never saved) and the journal after it."""

    @abstractmethod
    def known_iris(self, stream_id: int, iris: Sequence[str]) -> set[str]:
        """Which of ``iris`` the stream has."""

    @abstractmethod
    def members(self, stream_id: int, after_seq: int, limit: int) -> list[MemberRow]:
        """The stream's members in order, from ``after_seq`` (exclusive), at most ``limit``
        (not those retention forgot)."""

    @abstractmethod
    def rendered(self, view_id: int, bucket: str, page: int, format: str) -> RenderedRow | None:
        """A rendered node, or None (no such node, or not rendered in that format)."""

    @abstractmethod
    def node(
        self, stream_id: int, view_id: int, bucket: str, page: int
    ) -> tuple[NodeRow, list[MemberRow]] | None:
        """A node and its members in page order, read together (one snapshot)."""

    @abstractmethod
    def dropped(self, view_id: int, bucket: str, page: int) -> bool:
        """Whether retention dropped that page (any thread)."""

    @abstractmethod
    def close(self) -> None: ...

    # ---- several processes on one store (docs/architecture.md, "Several processes") ----------
    # A store that one process only opens (SQLite) keeps these defaults.
    def claim(self, stream_id: int) -> bool:
        """Makes this process the stream's only writer until :meth:`release` (writer thread);
        True when the stream changed since this process last read it with :meth:`streams` or
        wrote it (or is gone): the caller reloads it. Raises :class:`StoreBusy` when another
        process keeps it too long."""
        return False

    def release(self) -> None:
        """Ends this process's claims (writer thread)."""
        return None

    def catalog_changed(self) -> bool:
        """Whether another process made, deleted or closed a stream, or made or deleted a view,
        since this process's last :meth:`streams` (writer thread)."""
        return False


def open_store(url: str) -> Store:
    """A store from its URL: ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or a plain
    path (SQLite); ``postgresql://user@host:port/database`` (or ``postgres://``: PostgreSQL,
    any libpq connection URL).

    Durability (docs/architecture.md, "Durability"): ``sqlite:///ldes.db?synchronous=normal``
    (SQLite; the default is ``full``), ``postgresql://…?options=-c%20synchronous_commit%3Doff``
    (PostgreSQL's own setting, passed to the server by libpq)."""
    if url.startswith(("postgresql://", "postgres://")):
        from ldesfrag.server.postgres import PostgresStore

        return PostgresStore(url)
    options: dict[str, list[str]] = {}
    if url.startswith("sqlite://"):
        path, _, query = url[len("sqlite://") :].partition("?")
        if not path.startswith("/"):
            raise StoreError(f"store {url!r}: write sqlite:///file.db (three slashes)")
        path = path[1:]
        options = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    elif "://" in url:
        raise StoreError(f"store {url!r}: use sqlite:///FILE.db or postgresql://…")
    else:
        path = url
    if not path:
        raise StoreError(f"store {url!r}: no file name")
    unknown = sorted(set(options) - {"synchronous"})
    if unknown:
        raise StoreError(f"store {url!r}: unknown option {unknown[0]!r} (known: synchronous)")
    from ldesfrag.server.sqlite import SQLiteStore

    return SQLiteStore(path, synchronous=options.get("synchronous", ["full"])[-1].lower())
