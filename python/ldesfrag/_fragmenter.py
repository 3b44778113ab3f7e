"""The fragmenter: members in, (row, bucket, page) out, plus relations and page state."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Literal, NamedTuple, TypeAlias, cast

from arro3.core import Table
from arro3.core.types import ArrowArrayExportable, ArrowStreamExportable

from ldesfrag import _ldesfrag
from ldesfrag._kernels import DEFAULT_MAX_TILES, _count
from ldesfrag._view import View
from ldesfrag.exceptions import LdesfragError

__all__ = ["Assignment", "ChangedRelations", "Changes", "Fragmenter", "MembersLike", "OnInvalid"]

#: A table, record batch or stream of members (pyarrow, polars, arro3, duckdb, …).
MembersLike: TypeAlias = ArrowArrayExportable | ArrowStreamExportable
OnInvalid: TypeAlias = Literal["unknown", "reject", "raise"]
#: Which relations :meth:`Fragmenter.changes` gives: every relation from each changed node, or
#: only those made since the last call.
ChangedRelations: TypeAlias = Literal["from_changed", "new"]


class Changes(NamedTuple):
    """What :meth:`Fragmenter.changes` reports: the nodes to render again and their relations.

    ``nodes``: ``{bucket, page, members, immutable}``, sorted by (bucket, page); a null page is
    the bucket's own node (no members, never immutable). ``relations``: as in
    :meth:`Fragmenter.relations` (same columns, same order), either every relation *from*
    those nodes or only the relations made since the last call (see
    :meth:`Fragmenter.changes`).
    """

    nodes: Table
    relations: Table


class Assignment(NamedTuple):
    """What :meth:`Fragmenter.assign_with_report` returns: one call's result, whole.

    ``assigned``: ``{row: uint64, bucket: string, page: uint32}``, as :meth:`Fragmenter.assign`
    returns. ``invalid``: the members of this call with a missing or invalid value,
    ``{row: uint64, column: string, reason: string, rejected: bool}`` (``rejected`` false: sent
    to an unknown bucket). ``rejected``: the members of this call left out, ``{row: uint64,
    reason: string}`` (the reason prefixed with its column). ``row`` is always the member's
    index in the call's input.
    """

    assigned: Table
    invalid: Table
    rejected: Table


class Fragmenter:
    """Assigns members of one view to buckets and pages, incrementally and deterministically.

    Splitting the same members into any number of :meth:`assign` calls — with a
    :meth:`state` / :meth:`from_state` round trip between any two — gives the same buckets and
    pages as one call.

    A server saves the state incrementally: a whole :meth:`state` once (the base), then after
    each change the bytes of :meth:`commit` (a journal entry: only what changed since the last
    commit). ``Fragmenter.from_state(view, base, journal=entries)`` continues exactly where the
    last entry was made; ``.state()`` of that is the compacted base for the entries that follow.

    ``on_invalid`` decides what happens to a member whose timestamp, geometry or reference is
    missing or invalid: ``"unknown"`` puts it in the level's ``…=unknown`` bucket, ``"reject"``
    leaves it out, ``"raise"`` fails the call with :class:`~ldesfrag.InvalidMemberError` and
    assigns nothing. Either way the row and the reason are reported:
    :meth:`assign_with_report` returns them with the assignments. A member without an ``id`` is
    always left out (reported, or raised).

    ``max_tiles`` caps the tiles of one geometry, as in :func:`~ldesfrag.cover`: a geometry
    that would cover more goes to ``tile=unknown`` with the reason; 0 tiles nothing (every
    member, points included, goes to ``tile=unknown``). Both options are saved with
    :meth:`state`.

    One fragmenter may be shared by threads (a server's request handlers): every method holds
    one lock around the native object, so calls run one at a time, each whole, in the order
    they get the lock; a reader never sees half an :meth:`assign`.

    An :meth:`assign` (or :meth:`assign_with_report`) that raises
    :class:`~ldesfrag.InvalidMemberError` or :class:`~ldesfrag.StreamClosedError` leaves the
    fragmenter as it was: the same :meth:`state`, :meth:`pages` and :meth:`relations`, and
    nothing new for :meth:`changes`; the caller may go on with it.

    If an :meth:`assign` fails inside the Rust core (an ``LdesfragError`` saying "internal
    error", a bug to report), the fragmenter may be half-updated: every later call raises
    :class:`~ldesfrag.LdesfragError`; continue from a state saved before.
    """

    def __init__(
        self,
        view: View,
        *,
        on_invalid: OnInvalid = "unknown",
        max_tiles: int = DEFAULT_MAX_TILES,
    ) -> None:
        self._view = view = View.coerce(view)
        self._inner = _ldesfrag.Fragmenter(
            view.to_json(), on_invalid=on_invalid, max_tiles=_count("max_tiles", max_tiles)
        )
        # Every use of the native object holds it: the native object may not be used by two
        # threads at once, and an assign's report is read before another assign comes in.
        self._lock = threading.Lock()

    @classmethod
    def from_state(
        cls,
        view: View,
        state: bytes,
        *,
        journal: Iterable[bytes] = (),
        on_invalid: OnInvalid | None = None,
    ) -> Fragmenter:
        """Continues from :meth:`state`, with the options it was saved with, and then from
        each :meth:`commit` entry of ``journal``, in order (empty entries are skipped).

        Raises :class:`~ldesfrag.StateError` when the state or an entry is corrupt (any
        changed, added or lost byte), was made by another view, or, when ``on_invalid`` is
        given, with another ``on_invalid``; and when an entry does not continue the state it
        is applied to: an entry lost, repeated or out of order, a base saved with changes
        not yet committed, or another fork of the stream. The check compares a digest of the
        structure, so it holds whatever the history; nothing is counted twice or lost.

        A state saved by an ldesfrag before the checksum (state version 1) is still read,
        with every other check, and does not say its ``on_invalid``: then ``on_invalid``
        (default ``"unknown"``) is taken; :meth:`state` writes the current version."""
        entries = [bytes(e) for e in journal]
        self = cls.__new__(cls)
        self._view = view = View.coerce(view)
        self._inner = _ldesfrag.Fragmenter.from_state(
            view.to_json(), bytes(state), journal=entries, on_invalid=on_invalid
        )
        self._lock = threading.Lock()
        return self

    @property
    def view(self) -> View:
        return self._view

    @property
    def on_invalid(self) -> OnInvalid:
        with self._lock:
            return cast(OnInvalid, self._inner.on_invalid)

    @property
    def max_tiles(self) -> int:
        with self._lock:
            return self._inner.max_tiles

    @property
    def closed(self) -> bool:
        with self._lock:
            return self._inner.closed

    def assign(self, members: MembersLike) -> Table:
        """Assigns members; returns ``{row: uint64, bucket: string, page: uint32}``.

        One row per (member, leaf bucket): a member in three tiles gives three rows. ``row`` is
        the member's index in this call's input; ``bucket`` is the canonical bucket id
        (``tile=15/16882/10975&year=2023&month=05&day=12``); ``page`` counts from 1. Members
        are taken in arrival order, or ``(timestamp, id)`` order when the view asks for it.

        :meth:`assign_with_report` does the same and also returns the call's invalid and
        rejected members.
        """
        with self._lock:
            return self._inner.assign(members)

    def assign_with_report(self, members: MembersLike) -> Assignment:
        """Assigns members as :meth:`assign` does; returns the assignments together with this
        call's invalid and rejected members, as an :class:`Assignment`
        ``(assigned, invalid, rejected)``.

        The report belongs to this call, also when other threads assign with the same
        fragmenter.
        """
        with self._lock:
            assigned = self._inner.assign(members)
            return Assignment(assigned, self._inner.invalid(), self._inner.rejected())

    def invalid(self) -> Table:
        """Members of the last :meth:`assign` call (of any thread) with a missing or invalid
        value: ``{row, column, reason, rejected}`` (``rejected`` false: sent to an unknown
        bucket). Kept for compatibility: :meth:`assign_with_report` returns this with the
        call's assignments."""
        with self._lock:
            return self._inner.invalid()

    def rejected(self) -> Table:
        """Members of the last :meth:`assign` call (of any thread) that were left out:
        ``{row: uint64, reason: string}``. Kept for compatibility: :meth:`assign_with_report`
        returns this with the call's assignments."""
        with self._lock:
            return self._inner.rejected()

    def relations(self) -> Table:
        """Every relation of the structure: ``{parent, parent_page, child, child_page, type,
        path, value, datatype}``; a null page is the bucket's own (number-less) node."""
        with self._lock:
            return self._inner.relations()

    def changes(self, relations: ChangedRelations = "from_changed") -> Changes:
        """The nodes whose rendering changed since the last call (or since this fragmenter
        was made or restored; a new one reports its root), with their relations.

        A node changes when it is new, when a page gains members or becomes immutable, and
        when a node gains a relation (a new child bucket, a bucket's first page, a page's
        successor). A server that renders exactly these after each :meth:`assign` (and
        :meth:`close`) keeps every node current, at a cost that follows the change, not the
        structure. A restored fragmenter starts with nothing changed: its nodes were rendered
        when its state was saved.

        ``relations="from_changed"`` (the default) gives every relation from the changed
        nodes: what renders them. ``relations="new"`` gives only the relations made since the
        last call (a relation never changes once made), in O(change): what a server that
        keeps relations as rows adds, rendering each node from its stored rows. The nodes
        cost O(change) either way (a :meth:`close`: one node per bucket).
        """
        if relations not in ("from_changed", "new"):
            raise LdesfragError(f"relations must be 'from_changed' or 'new', not {relations!r}")
        with self._lock:
            nodes, rows = self._inner.changes(relations)
        return Changes(nodes, rows)

    def commit(self) -> bytes:
        """What changed since the last commit (or since this fragmenter was made or
        restored) as one journal entry for :meth:`from_state`; empty bytes when nothing did.

        Its size follows the change: the buckets and references made since, and the new
        member count of each older bucket that gained members (tens of bytes for a member
        into an existing bucket, whatever the size of the structure). Save the entry in the
        same transaction as the members it accounts for; an entry lost while later ones are
        kept makes :meth:`from_state` refuse the journal instead of silently dropping
        members.
        """
        with self._lock:
            return self._inner.commit()

    def drop_pages(self, through: Iterable[tuple[str, int]] | MembersLike) -> Table:
        """Retention: drops, for each ``(bucket, page)``, the bucket's pages from its first
        remaining one through ``page``; returns the pages dropped now as ``{bucket, page,
        members, immutable}`` (pages dropped before are skipped).

        ``through`` is a sequence of ``(bucket id, page)`` pairs or a table with ``bucket``
        and ``page`` columns. Which pages have expired is the caller's to say (it has the
        members' timestamps and versions; docs/semantics.md, "Retention"). Only immutable
        pages are dropped, so no page a client may have cached ever changes: a page that is
        its bucket's last (while the stream is open) raises :class:`~ldesfrag.LdesfragError`,
        as does an unknown bucket, and then nothing is dropped. Afterwards :meth:`pages` and
        :meth:`relations` leave the dropped pages out, the bucket's own node links to its first
        remaining page (reported by :meth:`changes`), page numbers go on, and the state and the
        next :meth:`commit` keep the drop.
        """
        if hasattr(through, "__arrow_c_stream__") or hasattr(through, "__arrow_c_array__"):
            table = Table.from_arrow(cast(MembersLike, through))
            if not {"bucket", "page"} <= set(table.column_names):
                raise LdesfragError("drop_pages: a table needs 'bucket' and 'page' columns")
            pairs = list(zip(table["bucket"].to_pylist(), table["page"].to_pylist(), strict=True))
        else:
            pairs = [(str(b), int(p)) for b, p in cast(Iterable[tuple[str, int]], through)]
        with self._lock:
            return self._inner.drop_pages(pairs)

    def pages(self) -> Table:
        """Every page: ``{bucket, page, members, immutable}``. A page is immutable once a later
        page of its bucket exists, or when the stream is closed. Pages dropped by
        :meth:`drop_pages` are left out."""
        with self._lock:
            return self._inner.pages()

    def close(self) -> None:
        """Closes the stream: every page becomes immutable; further members are refused."""
        with self._lock:
            self._inner.close()

    def state(self) -> bytes:
        """The state as bytes, for :meth:`from_state`."""
        with self._lock:
            return self._inner.state()
