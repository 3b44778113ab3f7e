"""Members from RDF: N-Triples, N-Quads, Turtle, TriG files (plain or gzip) or rdflib graphs in,
an Arrow members table out (``id``, the view's columns, ``payload``)."""

from __future__ import annotations

import glob as _glob
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from os import PathLike, fspath
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from arro3.core import Array, DataType, Table

from ldesfrag import _ldesfrag
from ldesfrag._formats import (
    FILE_EXTENSIONS,
    INPUT_FORMATS,
    RdfFormat,
    RdfInputFormat,
    rdf_format,
    rdf_input_format,
)
from ldesfrag._view import PROV_GENERATED_AT_TIME, Geospatial, HierarchicalTime, Reference, View
from ldesfrag.exceptions import RdfError, ViewError

if TYPE_CHECKING:
    import rdflib

__all__ = [
    "DCT_IS_VERSION_OF",
    "CreateVersions",
    "MemberMode",
    "MemberReader",
    "RdfInputFormat",
    "RdfSource",
    "RdfWarning",
    "create_versions",
    "read_members",
]

DCT_IS_VERSION_OF = "http://purl.org/dc/terms/isVersionOf"

MemberMode: TypeAlias = Literal[
    "version-of", "tree-member", "named-graph", "type", "subject", "document"
]
#: A path (globs allowed), an rdflib ``Graph``/``Dataset``/``ConjunctiveGraph``, or a sequence
#: of them.
RdfSource: TypeAlias = (
    "str | PathLike[str] | rdflib.Graph | Sequence[str | PathLike[str] | rdflib.Graph]"
)

#: The name an in-memory body (``data=``) has in problems and errors.
DATA_NAME = "<data>"

_EXTENSIONS: dict[str, RdfInputFormat] = {
    ext: f for f, ext in FILE_EXTENSIONS.items() if f in INPUT_FORMATS
}
_DEFAULT_WINDOW = 65_536
#: The default of ``max_line_bytes`` and ``max_member_bytes``: 64 MiB.
DEFAULT_MAX_BYTES = 64 << 20


class RdfWarning(UserWarning):
    """RDF input read with problems (skipped statements, repaired literals, dropped members).

    A warning, not an error: the rest of the input went through. :meth:`MemberReader.problems`
    lists them all.
    """


@dataclass(frozen=True)
class CreateVersions:
    """State objects → version objects (the reference server's ``ldes:createVersions``, LDIO's
    VersionObjectCreator).

    Each member becomes ``{subject}{delimiter}{timestamp}``; the timestamp is the lexical value
    of ``timestamp_property`` on the subject when it has one, else ``timestamp`` (a ``datetime``
    or an ``xsd:dateTime`` string), else the time of the call in UTC
    (``yyyy-MM-ddTHH:mm:ss.SSSZ``). The subject's triples move to the version IRI, and
    ``<version> version_of_path <subject>`` and ``<version> timestamp_path "…"^^xsd:dateTime``
    are added.
    """

    delimiter: str = "/"
    timestamp_property: str | None = None
    timestamp: datetime | str | None = None
    version_of_path: str = DCT_IS_VERSION_OF
    timestamp_path: str = PROV_GENERATED_AT_TIME


def _format_instant(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _versions_arg(v: CreateVersions | None) -> tuple[str, str | None, str, str, str] | None:
    if v is None:
        return None
    if not isinstance(v, CreateVersions):
        raise RdfError(f"versions must be a CreateVersions, not {type(v).__name__}")
    if isinstance(v.timestamp, datetime):
        ts = _format_instant(v.timestamp)
    elif isinstance(v.timestamp, str):
        parsed = _ldesfrag.parse_datetime(Array([v.timestamp], type=DataType.string()))
        if parsed[0].as_py() is None:
            raise RdfError(f"versions.timestamp is not an xsd:dateTime: {v.timestamp!r}")
        ts = v.timestamp
    elif v.timestamp is None:
        ts = _format_instant(datetime.now(UTC))
    else:
        raise RdfError(f"versions.timestamp must be a datetime or a string, not {v.timestamp!r}")
    return (v.delimiter, v.timestamp_property, ts, v.version_of_path, v.timestamp_path)


def _columns(view: View, timestamp_path: str | None) -> list[tuple[str, str, str]]:
    """(name, kind, path) per output column; one column per name."""
    cols: dict[str, tuple[str, str]] = {}

    def add(name: str, kind: str, path: str, what: str) -> None:
        if name in ("id", "payload"):
            raise ViewError(f"{what}: column {name!r} is reserved for the member table")
        if name in cols and cols[name] != (kind, path):
            raise ViewError(
                f"{what}: column {name!r} would hold both {cols[name][0]} values of "
                f"<{cols[name][1]}> and {kind} values of <{path}>"
            )
        cols[name] = (kind, path)

    for f in view.fragmentations:
        if isinstance(f, Geospatial):
            add(f.column, "wkt", f.path, "Geospatial")
        elif isinstance(f, HierarchicalTime):
            add(f.column, "time", f.path, "HierarchicalTime")
        elif isinstance(f, Reference):
            add(f.column, "reference", f.path, "Reference")
    if timestamp_path is not None:
        add("timestamp", "time", timestamp_path, "timestamp_path")
    return [(name, kind, path) for name, (kind, path) in cols.items()]


def _is_rdflib_graph(obj: object) -> bool:
    return type(obj).__module__.startswith("rdflib") and hasattr(obj, "serialize")


def _format_of(path: str, format: RdfInputFormat | None) -> RdfInputFormat:
    if format is not None:
        return format
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    found = _EXTENSIONS.get(Path(name).suffix)
    if found is None:
        raise RdfError(
            f"{path}: cannot tell the RDF format from the extension "
            "(.nt, .nq, .ttl, .trig, optionally .gz); pass format="
        )
    return found


def _graph_input(graph: Any, n: int) -> tuple[str, str, bytes | None]:
    import rdflib

    if isinstance(graph, rdflib.ConjunctiveGraph):  # Dataset is a ConjunctiveGraph
        # (a dataset's own identifier is deprecated in rdflib 7 and says nothing anyway)
        data = graph.serialize(format="nquads", encoding="utf-8")
        return (f"<rdflib dataset {n}>", "nquads", data)
    name = f"<rdflib graph {n}: {graph.identifier}>"
    return (name, "ntriples", graph.serialize(format="nt", encoding="utf-8"))


def _inputs(source: Any, format: RdfInputFormat | None) -> list[tuple[str, str, bytes | None]]:
    items: Sequence[Any]
    if isinstance(source, str | PathLike) or _is_rdflib_graph(source):
        items = [source]
    elif isinstance(source, Sequence):
        items = source
    else:
        raise RdfError(
            f"source must be a path, a glob, an rdflib graph or a sequence of them, "
            f"not {type(source).__name__}"
        )
    # Checked up front, also when no file is given (an rdflib graph says its own format).
    format = None if format is None else rdf_input_format(format)
    out: list[tuple[str, str, bytes | None]] = []
    for item in items:
        if _is_rdflib_graph(item):
            out.append(_graph_input(item, len(out)))
            continue
        if not isinstance(item, str | PathLike):
            raise RdfError(f"not a path or rdflib graph: {item!r}")
        path = fspath(item)
        if _glob.has_magic(path):
            matches = sorted(_glob.glob(path, recursive=True))
            if not matches:
                raise FileNotFoundError(f"no file matches {path!r}")
        else:
            if not Path(path).is_file():
                raise FileNotFoundError(f"no such file: {path!r}")
            matches = [path]
        out.extend((m, _format_of(m, format), None) for m in matches)
    return out


def _context_documents(contexts: Mapping[str, object] | None) -> dict[str, bytes]:
    """Remote JSON-LD contexts given beforehand: URL → the document (bytes, str, or parsed)."""
    out: dict[str, bytes] = {}
    for url, doc in (contexts or {}).items():
        if isinstance(doc, bytes | bytearray | memoryview):
            out[str(url)] = bytes(doc)
        elif isinstance(doc, str):
            out[str(url)] = doc.encode()
        elif isinstance(doc, Mapping | list):
            out[str(url)] = json.dumps(doc).encode()
        else:
            raise RdfError(f"contexts[{url!r}]: a JSON document, not {type(doc).__name__}")
    return out


def _data_input(
    data: object,
    format: RdfFormat | None,
    base_iri: str | None,
    contexts: Mapping[str, object] | None = None,
) -> list[tuple[str, str, bytes | None]]:
    """An in-memory body as the native reader's input: the bytes themselves, no temp file."""
    if isinstance(data, str):
        body = data.encode()
    elif isinstance(data, bytes | bytearray | memoryview):
        body = bytes(data)
    else:
        raise RdfError(f"data must be bytes or str, not {type(data).__name__}")
    if format is None:
        raise RdfError("data= needs format= (turtle, ntriples, nquads, trig or jsonld)")
    name = rdf_format(format)
    if name != "jsonld":
        if contexts:
            raise RdfError("contexts= is for a JSON-LD body (format='jsonld')")
        return [(DATA_NAME, name, body)]
    # JSON-LD to N-Quads in Rust (never fetching a remote context), then read as N-Quads.
    nquads = _ldesfrag.jsonld_to_nquads(
        body, base_iri=base_iri, contexts=_context_documents(contexts)
    )
    return [(DATA_NAME, "nquads", nquads)]


def _source_inputs(
    source: object,
    data: object,
    format: RdfFormat | None,
    base_iri: str | None,
    contexts: Mapping[str, object] | None = None,
) -> list[tuple[str, str, bytes | None]]:
    if data is not None:
        if source is not None:
            raise RdfError("give either a source or data=, not both")
        return _data_input(data, format, base_iri, contexts)
    if contexts:
        raise RdfError("contexts= is for a JSON-LD body (format='jsonld') given as data=")
    if source is None:
        raise RdfError("give a source (a path, a glob, an rdflib graph) or data=")
    return _inputs(source, None if format is None else rdf_input_format(format))


class MemberReader:
    """Reads members batch by batch, in input order, with bounded memory.

    ``member`` says which nodes are members: ``"version-of"`` (the default without
    ``versions``: non-blank subjects having ``version_of_path`` in the default graph or in their
    own named graph), ``"tree-member"`` (IRI objects of ``tree:member``),
    ``"named-graph"`` (one member per named graph, IRI = graph name), ``"type"`` (subjects of
    ``rdf:type <member_type>``), ``"subject"`` (every IRI subject of the default graph: state
    objects, the default when ``versions`` is given) or ``"document"`` (each input is one
    member, as the reference server ingests one request: the single IRI subject with
    ``version_of_path``, described by *every* statement of the input, nested IRIs included).

    A member's description is its CBD in the default graph (its triples, recursively through
    blank-node objects) plus every quad of the named graph named by the member IRI (as plain
    triples), without ``?s tree:member <m>`` statements. Columns: ``id``; per fragmentation of
    the view, its ``column``: Geospatial → ``list<string>`` of every literal at its ``path``
    (``geo:wktLiteral``, and also plain/``xsd:string`` WKT, which the reference server skips);
    HierarchicalTime → ``string``, the first value at the path that parses as
    ``xsd:dateTime``/``xsd:date``, else the first value (the Fragmenter then reports it), else
    null; Reference → ``list<string>`` (IRIs and literal lexical forms); ``timestamp`` when
    ``timestamp_path`` is given; ``payload``: the description as N-Triples, depth-first from the
    member with each subject's triples sorted by predicate then object, blank nodes relabelled
    ``_:b0``, ``_:b1``, … in order of appearance.

    Streaming rule: each file is parsed in windows of about ``window`` statements. A window is
    cut before the trailing statements of its last subject (or named graph), before the member
    whose description starts last, before statements after the last member out that belong to
    no member yet (unless more than 8 windows back), and never inside a member's description;
    members before the cut come out, the rest is carried into the next window, which grows when
    one member does not fit. So the output does not depend on ``window`` or ``batch_size`` as
    long as each member's statements (its own, its blank nodes', its named graph's) lie
    together within 8 windows, in any order; statements about a member only come from its own
    file. In ``"tree-member"`` mode a ``tree:member`` statement may come any distance before
    its description. ``"document"`` reads each input whole.

    Parsing is lenient and never stops a dump, and a member is published whole or not at all
    (pages are immutable: a member published without part of its description could never be
    corrected, one left out can be fixed and published later). A statement that cannot be read
    (a syntax error, a line longer than ``max_line_bytes``) or cannot be published (an IRI that
    is relative or holds a space, a control character, ``<>"{}|^`\\`` or a Unicode space; a
    language tag that is not ``[A-Za-z]+(-[A-Za-z0-9]+)*``) is reported with its file and line,
    and the member it belongs to (its subject's member, where that can be told) is reported and
    left out; every other member goes through. A member whose description (with the statements
    read together with it) takes more than ``max_member_bytes`` of N-Triples text is reported
    and left out; statements of no member are held back at most that much, so memory stays
    bounded by ``window``, ``max_line_bytes`` and ``max_member_bytes``, not the input. When an
    input breaks off (a truncated ``.gz``), the members read wholly before the break come out
    and the one being read is reported as incomplete. An ``rdf:langString`` literal without a
    language tag is read as ``xsd:string`` and reported. :meth:`problems` lists everything.

    A file's format follows its extension (``.ttl``, ``.nt``, ``.nq``, ``.trig``, each
    optionally ``.gz``) unless ``format`` (``turtle``, ``ntriples``, ``nquads`` or ``trig``;
    ``ttl``, ``nt`` and ``nq`` are accepted for the same) names it for every file. JSON-LD is
    read only from ``data``: ``format="jsonld"`` with a file raises :class:`~ldesfrag.RdfError`.

    ``data`` (``bytes`` or ``str``, instead of ``source``) is one body held in memory, e.g. a
    request a server received; ``format`` is then required. Turtle, N-Triples, N-Quads and
    TriG bodies are read by the same fast reader as files, without a temporary file; a JSON-LD
    body is turned into N-Quads in Rust and read as those. A JSON-LD body is never a reason to
    fetch anything: a remote ``@context`` must be given in ``contexts`` (URL → its document,
    as bytes, str or parsed JSON), or the body raises :class:`~ldesfrag.RdfError`, as does a
    body that is not JSON-LD. Problems name the body ``<data>`` where they name a file.
    """

    def __init__(
        self,
        source: RdfSource | None = None,
        view: View | None = None,
        *,
        data: bytes | str | None = None,
        member: MemberMode | None = None,
        member_type: str | None = None,
        version_of_path: str = DCT_IS_VERSION_OF,
        timestamp_path: str | None = None,
        versions: CreateVersions | None = None,
        format: RdfFormat | None = None,
        base_iri: str | None = None,
        contexts: Mapping[str, object] | None = None,
        batch_size: int = 65_536,
        window: int = _DEFAULT_WINDOW,
        max_line_bytes: int = DEFAULT_MAX_BYTES,
        max_member_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        if not isinstance(view, View):
            raise ViewError(f"view must be a View, not {type(view).__name__}")
        if member is None:
            member = "subject" if versions is not None else "version-of"
        if int(batch_size) < 1:
            raise RdfError(f"batch_size must be at least 1, not {batch_size}")
        if int(window) < 1:
            raise RdfError(f"window must be at least 1, not {window}")
        for name, value in (
            ("max_line_bytes", max_line_bytes),
            ("max_member_bytes", max_member_bytes),
        ):
            if int(value) < 1:
                raise RdfError(f"{name} must be at least 1, not {value}")
        self._inner = _ldesfrag.MemberReader(
            _source_inputs(source, data, format, base_iri, contexts),
            member=member,
            member_type=member_type,
            version_of_path=version_of_path,
            columns=_columns(view, timestamp_path),
            versions=_versions_arg(versions),
            batch_size=int(batch_size),
            window=int(window),
            base_iri=base_iri,
            max_line_bytes=int(max_line_bytes),
            max_member_bytes=int(max_member_bytes),
        )

    def __iter__(self) -> Iterator[Table]:
        while (batch := self._inner.next_batch()) is not None:
            yield batch

    def empty(self) -> Table:
        """A table with no rows and the members schema."""
        return self._inner.empty()

    def problems(self) -> Table:
        """Everything reported so far, in input order within a file: ``{file: string, line:
        uint64 (nullable), member: string (nullable), reason: string, dropped: bool}``
        (``member``: the member the problem belongs to, where known; ``dropped``: a statement
        or member was left out)."""
        return self._inner.problems()


def describe_problem(file: str, line: int | None, member: str | None, reason: str) -> str:
    """One problem row as a sentence: ``file:line: member <m>: reason``."""
    where = file if line is None else f"{file}:{line}"
    return f"{where}: member <{member}>: {reason}" if member else f"{where}: {reason}"


def _warn(problems: Table) -> None:
    n = problems.num_rows
    if n:
        dropped = problems["dropped"].to_pylist()
        members = {
            m
            for m, d in zip(problems["member"].to_pylist(), dropped, strict=True)
            if m is not None and d
        }
        first = describe_problem(
            *(problems[c][0].as_py() for c in ("file", "line", "member", "reason"))
        )
        warnings.warn(
            f"{n} RDF problem(s) ({sum(1 for d in dropped if d)} dropped a statement or member; "
            f"{len(members)} member(s) not published); first: {first}. "
            "MemberReader.problems() lists them all.",
            RdfWarning,
            stacklevel=3,
        )


def read_members(
    source: RdfSource | None = None,
    view: View | None = None,
    *,
    data: bytes | str | None = None,
    member: MemberMode | None = None,
    member_type: str | None = None,
    version_of_path: str = DCT_IS_VERSION_OF,
    timestamp_path: str | None = None,
    versions: CreateVersions | None = None,
    format: RdfFormat | None = None,
    base_iri: str | None = None,
    contexts: Mapping[str, object] | None = None,
    max_line_bytes: int = DEFAULT_MAX_BYTES,
    max_member_bytes: int = DEFAULT_MAX_BYTES,
) -> Table:
    """All members of ``source`` (or of the in-memory body ``data``) as one table (see
    :class:`MemberReader` for the rules).

    Emits one :class:`~ldesfrag.RdfWarning` summarising the problems, when there are any.
    """
    reader = MemberReader(
        source,
        view,
        data=data,
        member=member,
        member_type=member_type,
        version_of_path=version_of_path,
        timestamp_path=timestamp_path,
        versions=versions,
        format=format,
        base_iri=base_iri,
        contexts=contexts,
        max_line_bytes=max_line_bytes,
        max_member_bytes=max_member_bytes,
    )
    batches = [b for t in reader for b in t.to_batches()]
    table = reader.empty() if not batches else Table.from_batches(batches)
    _warn(reader.problems())
    return table


def create_versions(
    graph: rdflib.Graph,
    versions: CreateVersions,
    *,
    member: MemberMode = "subject",
    member_type: str | None = None,
) -> rdflib.Graph:
    """The version objects of the state objects in an rdflib graph, as a new graph."""
    import rdflib

    if not _is_rdflib_graph(graph):
        raise RdfError(f"graph must be an rdflib Graph, not {type(graph).__name__}")
    if not isinstance(versions, CreateVersions):
        raise RdfError(f"versions must be a CreateVersions, not {type(versions).__name__}")
    reader = MemberReader(graph, View(), member=member, member_type=member_type, versions=versions)
    out = rdflib.Graph()
    for table in reader:
        for payload in table["payload"].to_pylist():
            # One parse per payload: each member's `_:b0` is its own blank node.
            out.parse(data=payload, format="nt")
    _warn(reader.problems())
    return out
