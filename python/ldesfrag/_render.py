"""TREE/LDES pages: one page's RDF (rendered in Rust) with its HTTP cache metadata."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, SupportsIndex, TypeAlias, cast

from arro3.core import Table
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
    "NodeUrlFunction",
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
#: ``remaining_items``; or the fragmenter's ``child``, ``child_page`` instead of ``node``) or
#: a sequence of mappings with those keys.
RelationsLike: TypeAlias = (
    ArrowArrayExportable | ArrowStreamExportable | Sequence[Mapping[str, Any]]
)

#: ``(bucket, page) -> IRI`` of a node (``page`` None: the bucket's own node), such as
#: ``functools.partial(ldesfrag.node_url, base)``.
NodeUrlFunction: TypeAlias = Callable[[str, int | None], str]

_RELATION_KEYS = frozenset({"type", "node", "path", "value", "datatype", "remaining_items"})
#: The columns of Fragmenter.relations() and changes() besides those above.
_FRAGMENTER_KEYS = frozenset({"parent", "parent_page", "child", "child_page"})


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


class _Targets:
    """The IRIs of relation targets given as (``child``, ``child_page``), by ``node_url``
    (once per target: a time bucket's two bounds link to the same child)."""

    def __init__(self, node_url: NodeUrlFunction | None) -> None:
        if node_url is not None and not callable(node_url):
            raise LdesfragError(
                f"node_url must be a callable (bucket, page) -> IRI, not {type(node_url).__name__}"
            )
        self.node_url = node_url
        self.known: dict[tuple[Any, Any], str] = {}

    def iri(self, i: int, child: Any, page: Any) -> str:
        known = self.known.get((child, page))
        if known is not None:
            return known
        if self.node_url is None:
            raise LdesfragError(
                f"relation {i} names its target by 'child' (a bucket id) and 'child_page': "
                "pass node_url, e.g. functools.partial(ldesfrag.node_url, base), to make its IRI"
            )
        call = f"node_url({child!r}, {page!r})"
        try:
            iri = self.node_url(child, page)
        except Exception as e:
            raise LdesfragError(f"relation {i}: {call} raised {type(e).__name__}: {e}") from e
        if not isinstance(iri, str):
            raise LdesfragError(
                f"relation {i}: {call} returned a {type(iri).__name__}, not an IRI string"
            )
        self.known[(child, page)] = iri
        return iri


def _relation_rows(
    relations: Sequence[Mapping[str, Any]], targets: _Targets
) -> list[tuple[str, str, str | None, str | None, str | None, int | None]]:
    rows = []
    for i, r in enumerate(relations):
        if not isinstance(r, Mapping):
            raise LdesfragError(f"relation {i} is a {type(r).__name__}, not a mapping")
        unknown = set(r) - _RELATION_KEYS - _FRAGMENTER_KEYS
        if unknown:
            raise LdesfragError(f"relation {i}: unknown keys {sorted(unknown)}")
        node, child = r.get("node"), r.get("child")
        if node is not None and child is not None:
            raise LdesfragError(f"relation {i}: 'node' and 'child' name the target twice")
        if r.get("type") is None or (node is None and child is None):
            raise LdesfragError(f"relation {i}: 'type' and 'node' (or 'child') are required")
        if node is None:
            node = targets.iri(i, child, r.get("child_page"))
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
            (str(r["type"]), str(node), opt("path"), opt("value"), opt("datatype"), remaining)
        )
    return rows


def render_page(
    node: str,
    *,
    stream: str,
    members: ArrowArrayExportable | ArrowStreamExportable | None = None,
    relations: RelationsLike | None = None,
    node_url: NodeUrlFunction | None = None,
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

    The rows of :meth:`Fragmenter.relations` and :meth:`Fragmenter.changes` (those whose
    ``parent``, ``parent_page`` is this node) are accepted as they are: their target is
    ``child`` (a bucket id) and ``child_page`` (None: the bucket's own node) instead of
    ``node``, and ``node_url(child, child_page)`` gives its IRI, e.g.
    ``functools.partial(ldesfrag.node_url, base)``; ``parent`` and ``parent_page`` are not
    read. Such rows without ``node_url``, a row with both ``node`` and ``child``, and a
    ``node_url`` that raises or returns anything but a string raise
    :class:`~ldesfrag.LdesfragError` (the callable's exception as its cause).

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
    targets = _Targets(node_url)
    if relations is not None:
        if hasattr(relations, "__arrow_c_stream__") or hasattr(relations, "__arrow_c_array__"):
            arrow_relations = cast(ArrowArrayExportable | ArrowStreamExportable, relations)
            try:
                table = Table.from_arrow(arrow_relations)
            except Exception:  # not a table: the native side says why, naming the argument
                table = None
            if table is not None:
                arrow_relations = table
                if "child" in table.column_names:
                    # Fragmenter rows: their targets are made IRIs here, row by row (other
                    # columns are ignored, as the native side ignores them).
                    known = _RELATION_KEYS | _FRAGMENTER_KEYS
                    names = [n for n in table.column_names if n in known]
                    columns = [table.column(n).to_pylist() for n in names]
                    by_row = zip(*columns, strict=True)
                    mappings = [dict(zip(names, row, strict=True)) for row in by_row]
                    rows, arrow_relations = _relation_rows(mappings, targets), None
        elif isinstance(relations, Sequence) and not isinstance(relations, str | bytes):
            rows = _relation_rows(relations, targets)
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
