"""TREE/LDES pages: one page's RDF (rendered in Rust) with its HTTP cache metadata."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, SupportsIndex, TypeAlias, cast

from arro3.core.types import ArrowArrayExportable, ArrowStreamExportable

from ldesfrag import _ldesfrag
from ldesfrag._formats import CONTENT_TYPES, FILE_EXTENSIONS, RdfFormat, rdf_format
from ldesfrag._view import View
from ldesfrag.exceptions import LdesfragError

__all__ = [
    "CONTENT_TYPES",
    "FILE_EXTENSIONS",
    "IMMUTABLE_CACHE_CONTROL",
    "MUTABLE_CACHE_CONTROL",
    "RdfFormat",
    "RelationsLike",
    "RenderedPage",
    "cache_control",
    "etag",
    "if_none_match",
    "render_page",
]

IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
#: How long a mutable node may be cached by default, in seconds.
MUTABLE_MAX_AGE = 60
MUTABLE_CACHE_CONTROL = f"public, max-age={MUTABLE_MAX_AGE}"

#: Relations: an Arrow table (``type``, ``node``, ``path``, ``value``, ``datatype``, optional
#: ``remaining_items``) or a sequence of mappings with those keys.
RelationsLike: TypeAlias = (
    ArrowArrayExportable | ArrowStreamExportable | Sequence[Mapping[str, Any]]
)

_RELATION_KEYS = frozenset({"type", "node", "path", "value", "datatype", "remaining_items"})


@dataclass(frozen=True)
class RenderedPage:
    """A page's bytes and the headers to serve them with."""

    body: bytes
    content_type: str
    etag: str
    cache_control: str


def etag(body: bytes) -> str:
    """A strong ETag of a body: ``"`` + the first 32 hex digits of its BLAKE3 hash + ``"``.

    :func:`render_page` computes the same in Rust, with the body.
    """
    return _ldesfrag.etag(body)


def cache_control(immutable: bool, max_age: int = MUTABLE_MAX_AGE) -> str:
    """``Cache-Control`` for a node: ``public, max-age=31536000, immutable`` for an immutable
    one (it never changes), else ``public, max-age={max_age}`` (default one minute: how long a
    client may reuse a page that can still gain members). What :func:`render_page`,
    ``publish`` and ``serve`` send."""
    if not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0:
        raise LdesfragError(f"max_age: a number of seconds from 0, not {max_age!r}")
    if immutable:
        return IMMUTABLE_CACHE_CONTROL
    return MUTABLE_CACHE_CONTROL if max_age == MUTABLE_MAX_AGE else f"public, max-age={max_age}"


def _entity_tags(header: str) -> list[str] | None:
    """The opaque tags of an ``#entity-tag`` list (RFC 9110 §8.8.3), ``W/`` dropped; None when
    the list is malformed. A tag may hold a comma, so the list is scanned, not split."""
    tags: list[str] = []
    i, n = 0, len(header)
    while True:
        while i < n and header[i] in " \t,":
            i += 1
        if i == n:
            return tags
        if header.startswith("W/", i):
            i += 2
        if i == n or header[i] != '"':
            return None
        end = header.find('"', i + 1)
        if end < 0:
            return None
        tags.append(header[i : end + 1])
        i = end + 1
        if i < n and header[i] not in " \t,":
            return None


def if_none_match(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header matches a representation's ``etag``, so a GET or
    HEAD is answered ``304 Not Modified`` (RFC 9110 §13.1.2).

    ``*`` matches any representation; otherwise the header is a list of entity tags, compared
    weakly (``W/"x"`` matches ``"x"`` and the other way round). No header, an empty one, or a
    malformed one (so the full response is sent, never a wrong 304) does not match.
    """
    if header is None:
        return False
    if header.strip(" \t") == "*":
        return True
    mine = _entity_tags(etag)
    tags = _entity_tags(header)
    if not mine or len(mine) != 1 or tags is None:
        return False
    return mine[0] in tags


def _relation_rows(
    relations: Sequence[Mapping[str, Any]],
) -> list[tuple[str, str, str | None, str | None, str | None, int | None]]:
    rows = []
    for i, r in enumerate(relations):
        if not isinstance(r, Mapping):
            raise LdesfragError(f"relation {i} is a {type(r).__name__}, not a mapping")
        unknown = set(r) - _RELATION_KEYS
        if unknown:
            raise LdesfragError(f"relation {i}: unknown keys {sorted(unknown)}")
        if r.get("type") is None or r.get("node") is None:
            raise LdesfragError(f"relation {i}: 'type' and 'node' are required")
        remaining = r.get("remaining_items")
        if remaining is not None and (
            isinstance(remaining, bool)
            or not isinstance(remaining, SupportsIndex)
            or not 0 <= operator.index(remaining) < 2**64
        ):
            raise LdesfragError(
                f"relation {i}: remaining_items must be an int in 0..2**64, not {remaining!r}"
            )
        remaining = None if remaining is None else operator.index(remaining)

        def opt(key: str, r: Mapping[str, Any] = r) -> str | None:
            v = r.get(key)
            return None if v is None else str(v)

        rows.append(
            (str(r["type"]), str(r["node"]), opt("path"), opt("value"), opt("datatype"), remaining)
        )
    return rows


def render_page(
    node: str,
    *,
    stream: str,
    members: ArrowArrayExportable | ArrowStreamExportable | None = None,
    relations: RelationsLike | None = None,
    immutable: bool = False,
    root: bool = False,
    view: View | Mapping[str, Any] | None = None,
    timestamp_path: str | None = None,
    version_of_path: str | None = None,
    shape: str | None = None,
    format: RdfFormat = "turtle",
) -> RenderedPage:
    """Renders one TREE node of an LDES (docs/ldes-rules.md, "Node shapes").

    ``node`` is the page's absolute IRI, written verbatim as its subject (use the very same
    string in the relations that link to it); ``stream`` is the event stream's IRI.

    ``members`` is an Arrow table with ``id`` (member IRI), ``payload`` (its description as
    N-Triples lines, blank nodes labelled per member: they are relabelled apart in the page)
    and optionally ``timestamp`` (Arrow timestamps or xsd:dateTime strings). Members are
    written in chronological order (stable; unknown or unparseable timestamps last), each as
    ``<stream> tree:member <id>`` plus its description. A malformed payload line or member IRI
    raises :class:`~ldesfrag.InvalidMemberError` (``row`` is the member's input row).

    Members that are not Arrow data, or whose ``id`` or ``payload`` is missing or not a string
    column (a column of nulls only, typed ``null``, included), raise
    :class:`~ldesfrag.ColumnError` naming the column.

    ``relations`` become ``<node> tree:relation [ a type; tree:node node; tree:path path;
    tree:value value; tree:remainingItems n ]``; a value typed ``xsd:anyURI`` is written as an
    IRI, any other as a typed literal (a plain string without a datatype).

    ``root=True`` makes the page the view node (entry document): ``<stream> a
    ldes:EventStream; tree:view <node>``, the stream's ``timestamp_path``,
    ``version_of_path`` and ``shape`` (an IRI; describe the shape in the page's members or the
    npm client fetches it), and, from ``view`` (a :class:`View` or its mapping, see
    :meth:`View.coerce`), ``<node> tree:viewDescription <node#description>``
    with the fragmentation strategy list and ``tree:pageSize``, in the vocabulary of the
    reference server's admin API. A root page is never immutable: ``root`` with
    ``immutable`` raises :class:`~ldesfrag.LdesfragError`. Other pages get
    ``dct:isPartOf <stream>``; ``immutable=True`` adds ``<node> ldes:immutable true``.

    ``format`` is one of ``turtle`` (the default), ``ntriples``, ``nquads``, ``trig`` or
    ``jsonld``; ``ttl``, ``nt``, ``nq`` and ``json-ld`` are accepted for the same. Another
    value raises :class:`~ldesfrag.RdfError`.

    Every IRI must be absolute and free of spaces, control characters and ``<>"{}|^`\\``;
    literals are escaped as each syntax requires.
    """
    fmt = rdf_format(format)
    for name, value, optional in (
        ("node", node, False),
        ("stream", stream, False),
        ("timestamp_path", timestamp_path, True),
        ("version_of_path", version_of_path, True),
        ("shape", shape, True),
    ):
        if not (isinstance(value, str) or (optional and value is None)):
            raise LdesfragError(f"{name} must be an IRI string, not {type(value).__name__}")
    arrow_relations: ArrowArrayExportable | ArrowStreamExportable | None = None
    rows = None
    if relations is not None:
        if hasattr(relations, "__arrow_c_stream__") or hasattr(relations, "__arrow_c_array__"):
            arrow_relations = cast(ArrowArrayExportable | ArrowStreamExportable, relations)
        elif isinstance(relations, Sequence) and not isinstance(relations, str | bytes):
            rows = _relation_rows(relations)
        else:
            raise LdesfragError(
                "relations must be an Arrow table or a sequence of mappings, "
                f"not {type(relations).__name__}"
            )
    body, tag = _ldesfrag.render_page(
        node,
        stream=stream,
        members=members,
        relations=arrow_relations,
        relation_rows=rows,
        immutable=bool(immutable),
        root=bool(root),
        view_json=None if view is None else View.coerce(view).to_json(),
        timestamp_path=timestamp_path,
        version_of_path=version_of_path,
        shape=shape,
        format=fmt,
    )
    return RenderedPage(
        body=body,
        content_type=CONTENT_TYPES[fmt],
        etag=tag,
        cache_control=cache_control(immutable),
    )
