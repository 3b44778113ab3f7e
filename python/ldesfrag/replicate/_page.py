"""One fetched page → its members and its TREE/LDES hypermedia (relations, views, the
stream's ``ldes:timestampPath``).

The page is read once by the Rust reader in ``subject`` mode (every IRI subject with its
description: members, the node with its relations, the stream with its ``tree:member`` and
``tree:view`` statements), with the GIL released. Only the few rows that are not members are
read in Python, line by line: they are canonical N-Triples. Members described only inside a
named graph (TriG, N-Quads) are read by a second pass in ``tree-member`` mode.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from posixpath import splitext
from typing import Any
from urllib.parse import urlsplit

from arro3.core import Table

from ldesfrag._rdf import MemberReader
from ldesfrag._view import View
from ldesfrag.exceptions import LdesfragError, ReplicationError

TREE = "https://w3id.org/tree#"
LDES = "https://w3id.org/ldes#"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
TREE_MEMBER = TREE + "member"
TREE_RELATION = TREE + "relation"
TREE_VIEW = TREE + "view"
TREE_VIEW_DESCRIPTION = TREE + "viewDescription"
TIMESTAMP_PATH = LDES + "timestampPath"
EVENT_STREAM = LDES + "EventStream"

#: Content type (without parameters) → the reader's format.
MEDIA_FORMATS = {
    "text/turtle": "turtle",
    "application/x-turtle": "turtle",
    "application/n-triples": "ntriples",
    "application/n-quads": "nquads",
    "application/trig": "trig",
    "application/ld+json": "jsonld",
    "application/json": "jsonld",
}
EXTENSION_FORMATS = {
    ".ttl": "turtle",
    ".nt": "ntriples",
    ".nq": "nquads",
    ".trig": "trig",
    ".jsonld": "jsonld",
    ".json": "jsonld",
}

_TERM = re.compile(r'<[^>]*>|_:\S+|"(?:[^"\\]|\\.)*"(?:@[A-Za-z0-9-]+|\^\^<[^>]*>)?')
_MEMBER_LINE = re.compile(r"^\S+ <https://w3id\.org/tree#member> <([^>]*)> \.$", re.M)
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)")
_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class Term:
    """An N-Triples term: ``kind`` is ``iri``, ``blank`` or ``literal``."""

    kind: str
    value: str  # the IRI, the blank label, or the literal's lexical form (unescaped)
    datatype: str | None = None


@dataclass
class Relation:
    types: list[str] = field(default_factory=list)
    node: str | None = None
    path: Term | None = None
    values: list[Term] = field(default_factory=list)
    remaining: int | None = None


@dataclass
class Page:
    url: str
    members: Table  # id, payload, timestamp (string) — members only, page order
    member_ids: list[str]  # tree:member objects, with or without a description here
    relations: list[Relation]
    views: list[str]  # tree:view objects
    view_descriptions: list[str]
    timestamp_path: str | None
    streams: list[str]  # subjects of tree:member/tree:view, or typed ldes:EventStream


def _unescape(s: str) -> str:
    def one(m: re.Match[str]) -> str:
        e = m.group(1)
        if e[0] in "uU" and len(e) > 1:
            return chr(int(e[1:], 16))
        return _ESCAPES.get(e, e)

    return _ESCAPE.sub(one, s) if "\\" in s else s


def _term(t: str) -> Term:
    if t.startswith("<"):
        return Term("iri", t[1:-1])
    if t.startswith("_:"):
        return Term("blank", t[2:])
    end = t.rindex('"')
    datatype = t[end + 3 : -1] if t[end + 1 : end + 3] == "^^" else None
    return Term("literal", _unescape(t[1:end]), datatype)


def triples(payload: str) -> list[tuple[Term, str, Term]]:
    """The triples of a canonical N-Triples payload (one statement a line)."""
    out = []
    for line in payload.splitlines():
        if TREE_MEMBER in line:  # read by parse_page, and the bulk of a stream's lines
            continue
        terms = _TERM.findall(line)
        if len(terms) >= 3 and terms[1].startswith("<"):
            out.append((_term(terms[0]), terms[1][1:-1], _term(terms[2])))
    return out


def page_format(url: str, content_type: str | None) -> str:
    """The page's RDF format: by ``Content-Type``, else by the URL's extension, else Turtle
    (which also reads N-Triples)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in MEDIA_FORMATS:
        return MEDIA_FORMATS[media]
    ext = splitext(urlsplit(url).path)[1].lower()
    return EXTENSION_FORMATS.get(ext, "turtle")


def _read(body: bytes, fmt: str, url: str, mode: str, timestamp_path: str | None) -> Table:
    try:
        reader = MemberReader(
            data=body,
            view=View(),
            member=mode,  # type: ignore[arg-type]
            format=fmt,  # type: ignore[arg-type]
            base_iri=url,
            timestamp_path=timestamp_path,
        )
        batches = [b for t in reader for b in t.to_batches()]
        table = Table.from_batches(batches) if batches else reader.empty()
        problems = reader.problems()
    except LdesfragError as e:
        raise ReplicationError(url, f"unparsable {fmt} page: {e}") from e
    dropped = [i for i, d in enumerate(problems["dropped"].to_pylist()) if d]
    if dropped:
        row = dropped[0]
        line = problems["line"][row].as_py()
        reason = problems["reason"][row].as_py()
        where = f"line {line}: " if line is not None else ""
        raise ReplicationError(
            url, f"unparsable {fmt} page ({len(dropped)} problem(s)); first: {where}{reason}"
        )
    return table


def parse_page(body: bytes, url: str, content_type: str | None, timestamp_path: str | None) -> Page:
    """The members and hypermedia of one page (``url``: the final URL, the base of relative
    IRIs). Raises :class:`ReplicationError` when the page cannot be read whole."""
    fmt = page_format(url, content_type)
    table = _read(body, fmt, url, "subject", timestamp_path)
    ids = table["id"].to_pylist()
    payloads = table["payload"].to_pylist()
    rows: dict[str, int] = {}
    for i, iri in enumerate(ids):
        rows.setdefault(iri, i)
    # Members are the objects of tree:member; the hypermedia sits on the other subjects.
    member_ids: list[str] = []
    for p in payloads:
        if TREE_MEMBER in p:
            member_ids += _MEMBER_LINE.findall(p)
    member_ids = list(dict.fromkeys(member_ids))
    member_set = set(member_ids)
    relations: list[Relation] = []
    views: list[str] = []
    descriptions: list[str] = []
    streams: list[str] = []
    tpath: str | None = None
    for i, iri in enumerate(ids):
        if iri in member_set:
            continue
        payload = payloads[i]
        if TREE_MEMBER in payload:
            streams.append(iri)
        if not (TREE in payload or EVENT_STREAM in payload or TIMESTAMP_PATH in payload):
            continue
        ts = triples(payload)
        blanks: dict[str, list[tuple[str, Term]]] = {}
        for s, p, o in ts:
            if s.kind == "blank":
                blanks.setdefault(s.value, []).append((p, o))
        for s, p, o in ts:
            if s.kind != "iri":
                continue
            if p == TREE_RELATION and o.kind == "blank":
                relations.append(_relation(blanks.get(o.value, [])))
            elif p == TREE_VIEW and o.kind == "iri":
                views.append(o.value)
                streams.append(s.value)
            elif p == TREE_VIEW_DESCRIPTION and o.kind == "iri":
                descriptions.append(o.value)
            elif p == TIMESTAMP_PATH and o.kind == "iri":
                tpath = tpath or o.value
            elif p == RDF_TYPE and o.value == EVENT_STREAM:
                streams.append(s.value)
    members = _members(table, rows, member_ids, body, fmt, url, timestamp_path)
    return Page(
        url=url,
        members=members,
        member_ids=member_ids,
        relations=relations,
        views=views,
        view_descriptions=descriptions,
        timestamp_path=tpath,
        streams=list(dict.fromkeys(streams)),
    )


def _relation(props: list[tuple[str, Term]]) -> Relation:
    r = Relation()
    for p, o in props:
        if p == RDF_TYPE and o.kind == "iri":
            r.types.append(o.value)
        elif p == TREE + "node" and o.kind == "iri":
            r.node = o.value
        elif p == TREE + "path":
            r.path = o
        elif p == TREE + "value":
            r.values.append(o)
        elif p == TREE + "remainingItems" and o.kind == "literal":
            with contextlib.suppress(ValueError):
                r.remaining = int(o.value)
    return r


def _members(
    table: Table,
    rows: dict[str, int],
    member_ids: list[str],
    body: bytes,
    fmt: str,
    url: str,
    timestamp_path: str | None,
) -> Table:
    """The members' rows, in ``member_ids`` order. A member described only in its named
    graph comes from a ``tree-member`` read; one described nowhere on the page gets an empty
    payload (its IRI is all the page says of it)."""
    from arro3.core import Array, DataType

    missing = [m for m in member_ids if m not in rows]
    extra: dict[str, tuple[str, str | None]] = {}
    if missing:
        named = _read(body, fmt, url, "tree-member", timestamp_path)
        ts_col = named["timestamp"].to_pylist() if timestamp_path else None
        for k, (iri, payload) in enumerate(
            zip(named["id"].to_pylist(), named["payload"].to_pylist(), strict=True)
        ):
            if iri not in rows and iri not in extra:
                extra[iri] = (payload, ts_col[k] if ts_col is not None else None)
    if not missing:
        # The members' rows as zero-copy slices of the table (runs of consecutive rows).
        idx = sorted(rows[m] for m in member_ids)
        slices = []
        start = prev = idx[0] if idx else 0
        for i in idx[1:]:
            if i != prev + 1:
                slices.append((start, prev + 1 - start))
                start = i
            prev = i
        if idx:
            slices.append((start, prev + 1 - start))
        batches = [b for off, n in slices for b in table.slice(off, n).to_batches()]
        return Table.from_batches(batches, schema=table.schema)
    payloads = table["payload"].to_pylist()
    stamps = table["timestamp"].to_pylist() if timestamp_path else None
    out_p: list[str] = []
    out_t: list[str | None] = []
    for m in member_ids:
        row = rows.get(m)
        if row is not None:
            out_p.append(payloads[row])
            out_t.append(stamps[row] if stamps is not None else None)
        else:
            p, t = extra.get(m, ("", None))
            out_p.append(p)
            out_t.append(t)
    cols: dict[str, Any] = {
        "id": Array(member_ids, DataType.string()),
        "payload": Array(out_p, DataType.string()),
    }
    if timestamp_path:
        cols["timestamp"] = Array(out_t, DataType.string())
    return Table.from_pydict(cols)
