"""Member identity: which member IRIs a stream has admitted, with a log to persist it by."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import NamedTuple

from arro3.core import Array, ChunkedArray, DataType

from ldesfrag import _ldesfrag
from ldesfrag._kernels import ArrayLike
from ldesfrag.exceptions import ColumnError, InvalidMemberError, LdesfragError

__all__ = ["Admission", "MemberIds"]


class Admission(NamedTuple):
    """What :meth:`MemberIds.admit` returns.

    ``first``: per id, whether it is the first occurrence of its IRI in the stream (a boolean
    ``arro3.core.Array`` without nulls, to filter the members by). ``segment``: the log segment
    of the ids admitted, to persist with them (empty bytes when none was admitted).
    """

    first: Array
    segment: bytes


def _log_bytes(log: object) -> bytes:
    if isinstance(log, bytes):
        return log
    if isinstance(log, bytearray | memoryview):
        return bytes(log)
    raise LdesfragError(f"a member-id log is bytes, not {type(log).__name__}")


def _ids(ids: object) -> ChunkedArray:
    """The ids as one chunked string array; a null id raises (a member without an IRI has no
    identity to admit, and must not pass as a first occurrence)."""
    if isinstance(ids, Sequence) and not isinstance(ids, str | bytes | bytearray):
        for i, iri in enumerate(ids):
            if iri is not None and not isinstance(iri, str):
                raise ColumnError(f"ids: {i}: expected a string IRI, not {type(iri).__name__}")
        ids = Array(ids, DataType.string())
    try:
        chunked = ChunkedArray.from_arrow(ids)  # type: ignore[arg-type]
    except Exception as e:  # not Arrow data: say which argument
        raise ColumnError(f"ids: expected an Arrow string array or a list of str ({e})") from e
    if chunked.null_count:
        row = list(chunked.to_pylist()).index(None)
        raise InvalidMemberError(f"ids: {row}: the member IRI is null", row, "null id")
    return chunked


class MemberIds:
    """The set of member IRIs a stream has admitted: each IRI is published once.

    A stream's members are unique by IRI; a later member under an IRI already published would
    be lost to clients without a word (they keep the first description they see), so a server
    admits each IRI once and refuses the repeats, as the reference server does.

    The set holds a 128-bit BLAKE3 digest per IRI (16 bytes a member). It is persisted as a
    log of checksummed segments: :meth:`admit` returns the segment of the ids it admitted (its
    size follows the new ids, not the set), to be stored in the same transaction as the
    members; :meth:`from_log` of the segments concatenated in any order restores the set, and
    :meth:`log` gives the whole set as one segment, to replace them (compaction).

    One set may be shared by threads: every method holds a lock, so :meth:`admit` calls run one
    at a time, each whole.
    """

    def __init__(self) -> None:
        self._inner = _ldesfrag.SeenIds()
        self._lock = threading.Lock()

    @classmethod
    def from_log(cls, log: bytes | bytearray | memoryview) -> MemberIds:
        """The set of a log: segments of :meth:`admit` and :meth:`log`, concatenated.

        A changed, added, lost or cut byte raises :class:`~ldesfrag.StateError` (a log cut
        between two segments reads as the segments before the cut: each segment is meant to
        be stored whole, atomically).
        """
        ids = cls()
        ids._inner.load_segments(_log_bytes(log))
        return ids

    def admit(self, ids: ArrayLike | Sequence[str]) -> Admission:
        """Admits member IRIs in order: ``first`` is true for the first occurrence of an IRI,
        false for a repeat of an earlier call or of an earlier row of this call.

        ``ids`` is an Arrow string array (or stream, chunked array; pyarrow, polars, arro3) or
        a list of ``str``. A null id raises :class:`~ldesfrag.InvalidMemberError` (``row`` is
        its index) and admits nothing; other types raise :class:`~ldesfrag.ColumnError`.
        """
        chunked = _ids(ids)
        with self._lock:
            first, segment = self._inner.admit(chunked)
        return Admission(first, segment)

    def log(self) -> bytes:
        """The whole set as one segment (sorted digests: the same set gives the same bytes);
        empty bytes for an empty set."""
        with self._lock:
            return self._inner.records()

    def __len__(self) -> int:
        with self._lock:
            return len(self._inner)

    def __contains__(self, iri: object) -> bool:
        if not isinstance(iri, str):
            return False
        with self._lock:
            return iri in self._inner

    def __repr__(self) -> str:
        return f"MemberIds({len(self)} ids)"
