"""Event stream and view configurations in the reference server's admin vocabulary.

An event stream (``POST /admin/api/v1/eventstreams``)::

    </observations> a ldes:EventStream ;
        ldes:timestampPath prov:generatedAtTime ;
        ldes:versionOfPath dct:isVersionOf ;
        ldes:createVersions false ;            # true: state objects in, versions made here
        ldes:versionDelimiter "/" ;
        tree:shape <observations/shape> ;
        tree:view </observations/by-time> .    # or ldes:view; views may also come later
    </observations/by-time> tree:viewDescription [
        tree:fragmentationStrategy ( [ a tree:HierarchicalTimeBasedFragmentation ; … ] ) ;
        tree:pageSize "100"^^xsd:int ] .

A view alone (``POST …/eventstreams/{collection}/views``) is the same ``tree:viewDescription``
statement. The collection and view names are the last path segments of their IRIs, as the
reference server takes them. The description is read by ``ldesfrag._view_turtle`` (the same
reader as ``View.from_rdf``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ldesfrag._rdf import DCT_IS_VERSION_OF
from ldesfrag._view import Geospatial, HierarchicalTime, Reference, View
from ldesfrag._view_turtle import view_dict_from_description
from ldesfrag.exceptions import LdesfragError

if TYPE_CHECKING:
    from rdflib import Graph
    from rdflib.term import Node

__all__ = [
    "ConfigError",
    "Duration",
    "RetentionPolicy",
    "StreamConfig",
    "ViewConfig",
    "parse_stream",
    "parse_view",
    "retention_of",
]

LDES = "https://w3id.org/ldes#"
TREE = "https://w3id.org/tree#"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~-]*")
#: Names a collection may not have: its URL would be the admin API's.
_RESERVED = {"admin"}
#: rdflib's parser name of each configuration content type.
_PARSERS = {
    "text/turtle": "turtle",
    "application/n-quads": "nquads",
    "application/n-triples": "nt",
    "application/trig": "trig",
    "application/ld+json": "json-ld",
}


class ConfigError(LdesfragError):
    """A configuration the server cannot use (answered 400)."""


@dataclass(frozen=True)
class Duration:
    """An ``xsd:duration``: calendar months apart (a month has no fixed length)."""

    months: int
    delta: timedelta

    def before(self, t: datetime) -> datetime:
        """``t`` minus this duration (the day of month clamped: 31 March - P1M = 28/29 Feb)."""
        if self.months:
            y, m = divmod(t.year * 12 + t.month - 1 - self.months, 12)
            days = (datetime(y + (m == 11), (m + 1) % 12 + 1, 1) - datetime(y, m + 1, 1)).days
            t = t.replace(year=y, month=m + 1, day=min(t.day, days))
        return t - self.delta


@dataclass(frozen=True)
class RetentionPolicy:
    """One ``ldes:retentionPolicy`` in the LDES terms the legacy classes map to
    (``docs/semantics.md``, "Retention"): ``ldes:DurationAgoPolicy``'s ``tree:value`` is
    ``full_log``, ``ldes:LatestVersionSubset``'s ``ldes:amount`` is ``version_amount``,
    ``ldes:PointInTimePolicy``'s ``ldes:pointInTime`` is ``starting_from``.

    A member is kept when its timestamp is not before ``starting_from`` and it is either
    within ``full_log`` of now, or one of the ``version_amount`` newest versions of its entity
    (and, with ``version_duration``, within that of now); a policy without ``full_log`` and
    ``version_amount`` keeps whatever ``starting_from`` keeps (everything when that is unset
    too, unless ``nothing``: a policy with no statements keeps nothing). A member without a
    timestamp is within every duration."""

    full_log: Duration | None = None
    version_amount: int | None = None
    version_duration: Duration | None = None
    starting_from: datetime | None = None
    nothing: bool = False


@dataclass(frozen=True)
class ViewConfig:
    """One view: its name, what it fragments by, its description as Turtle and its retention
    policies (a member is kept while any of them keeps it)."""

    name: str
    view: View
    turtle: str
    retention: tuple[RetentionPolicy, ...] = ()


@dataclass(frozen=True)
class StreamConfig:
    """One event stream's settings, its configuration as Turtle (without its views), and the
    views it was created with."""

    name: str
    turtle: str
    timestamp_path: str | None = None
    version_of_path: str = DCT_IS_VERSION_OF
    create_versions: bool = False
    version_delimiter: str = "/"
    shape: str | None = None
    views: tuple[ViewConfig, ...] = field(default_factory=tuple)

    def settings(self) -> dict[str, Any]:
        """What is stored besides the Turtle (the views are stored apart)."""
        return {
            "timestamp_path": self.timestamp_path,
            "version_of_path": self.version_of_path,
            "create_versions": self.create_versions,
            "version_delimiter": self.version_delimiter,
            "shape": self.shape,
        }


def parser_of(content_type: str | None) -> str:
    """rdflib's parser for a configuration body's ``Content-Type`` (Turtle when none)."""
    media = (content_type or "text/turtle").split(";")[0].strip().lower()
    if media in ("", "*/*"):
        media = "text/turtle"
    if media not in _PARSERS:
        raise ConfigError(f"unsupported configuration type {media!r}: use {', '.join(_PARSERS)}")
    return _PARSERS[media]


def check_name(name: str, what: str) -> str:
    if not _NAME.fullmatch(name) or name.lower() in _RESERVED:
        raise ConfigError(f"{what} name {name!r}: letters, digits and . _ ~ - only")
    return name


def name_of(iri: str, what: str) -> str:
    """The last path segment of an IRI (``…/observations/`` → ``observations``)."""
    return check_name(iri.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1], what)


def _graph(body: bytes | str, parser: str, base: str) -> Graph:
    import rdflib

    g = rdflib.Graph()
    try:
        g.parse(data=body, format=parser, publicID=base)
    except Exception as e:  # rdflib raises many unrelated types for syntax errors
        raise ConfigError(f"invalid RDF ({parser}): {' '.join(str(e).split())}") from None
    return g


def _cbd(g: Graph, node: Node, out: Graph, skip: set[str] = frozenset()) -> Graph:  # type: ignore[assignment]
    """``node``'s triples, through blank-node objects, into ``out``."""
    from rdflib import BNode

    todo, seen = [node], set()
    while todo:
        s = todo.pop()
        if s in seen:
            continue
        seen.add(s)
        for p, o in g.predicate_objects(s):
            if str(p) in skip:
                continue
            out.add((s, p, o))
            if isinstance(o, BNode):
                todo.append(o)
    return out


def _one(g: Graph, s: Node, p: str, what: str) -> Node | None:
    from rdflib import URIRef

    values = list(g.objects(s, URIRef(p)))
    if len(values) > 1:
        raise ConfigError(f"{what}: {len(values)} values of <{p}>, expected one")
    return values[0] if values else None


def _iri(value: Node | None, what: str) -> str | None:
    from rdflib import Literal, URIRef

    if value is None:
        return None
    if isinstance(value, URIRef) or (isinstance(value, Literal) and ":" in str(value)):
        return str(value)
    raise ConfigError(f"{what}: expected an IRI, got {value.n3()}")


_DURATION = re.compile(
    r"P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?!$)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?"
)


def parse_duration(text: str, what: str) -> Duration:
    """A non-negative ``xsd:duration`` (``P1D``, ``PT10M``, ``P1Y2M``, ``P2W``)."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise ConfigError(f"{what}: {text!r} is not an xsd:duration (e.g. P1D, PT10M, P1Y)")
    y, mo, w, d, h, mi, sec = (float(x) if x else 0.0 for x in found.groups())
    delta = timedelta(weeks=w, days=d, hours=h, minutes=mi, seconds=sec)
    return Duration(int(y) * 12 + int(mo), delta)


def parse_datetime(text: str, what: str) -> datetime:
    """An ``xsd:dateTime``; one without a zone is taken as UTC."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not an xsd:dateTime") from None
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


#: Terms of a retention policy this server reads (anything else in ``ldes:`` is refused).
_POLICY_TERMS = {
    "DurationAgoPolicy",
    "LatestVersionSubset",
    "PointInTimePolicy",
    "RetentionPolicy",
    "amount",
    "pointInTime",
    "fullLogDuration",
    "versionAmount",
    "versionDuration",
    "startingFrom",
}


def _policy(g: Graph, node: Node, what: str) -> RetentionPolicy:
    """One retention policy, legacy classes mapped to the LDES terms (``RetentionPolicy``)."""
    from rdflib import RDF, Literal

    if not any(True for _ in g.predicate_objects(node)):
        return RetentionPolicy(nothing=True)
    types = {str(t) for t in g.objects(node, RDF.type)}
    for p, o in g.predicate_objects(node):
        for term in (str(p), str(o) if p == RDF.type else ""):
            if term.startswith(LDES) and term[len(LDES) :] not in _POLICY_TERMS:
                raise ConfigError(f"{what}: <{term}> is not supported in a retention policy")

    def literal(p: str) -> str | None:
        value = _one(g, node, p, what)
        if value is None:
            return None
        if not isinstance(value, Literal):
            raise ConfigError(f"{what}: <{p}> is a literal, not {value.n3()}")
        return str(value)

    def amount(p: str) -> int | None:
        text = literal(p)
        if text is None:
            return None
        if not text.strip().isdigit() or int(text) < 1:
            raise ConfigError(f"{what}: <{p}> is an integer above 0, not {text!r}")
        return int(text)

    full_log = literal(LDES + "fullLogDuration")
    starting = literal(LDES + "startingFrom")
    versions = amount(LDES + "versionAmount")
    if LDES + "DurationAgoPolicy" in types:
        value = literal(TREE + "value")
        if value is None:
            raise ConfigError(f"{what}: an ldes:DurationAgoPolicy needs a tree:value duration")
        full_log = full_log or value
    if LDES + "LatestVersionSubset" in types:
        versions = versions or amount(LDES + "amount")
        if versions is None:
            raise ConfigError(f"{what}: an ldes:LatestVersionSubset needs an ldes:amount")
    if LDES + "PointInTimePolicy" in types:
        starting = starting or literal(LDES + "pointInTime")
        if starting is None:
            raise ConfigError(f"{what}: an ldes:PointInTimePolicy needs an ldes:pointInTime")
    version_duration = literal(LDES + "versionDuration")
    if version_duration is not None and versions is None:
        raise ConfigError(f"{what}: ldes:versionDuration needs ldes:versionAmount")
    policy = RetentionPolicy(
        full_log=None if full_log is None else parse_duration(full_log, what),
        version_amount=versions,
        version_duration=None
        if version_duration is None
        else parse_duration(version_duration, what),
        starting_from=None if starting is None else parse_datetime(starting, what),
    )
    if policy == RetentionPolicy() and LDES + "RetentionPolicy" not in types:
        raise ConfigError(f"{what}: a retention policy without a term this server reads")
    return policy


def _policies(g: Graph, node: Node, desc: Node, what: str) -> list[Node]:
    """The retention policy nodes of a view (on its root node or its description)."""
    from rdflib import URIRef

    p = URIRef(LDES + "retentionPolicy")
    return [*g.objects(node, p), *g.objects(desc, p)]


def _view(g: Graph, node: Node) -> ViewConfig:
    import rdflib
    from rdflib import URIRef

    if not isinstance(node, URIRef):
        raise ConfigError(f"a view must be an IRI (its name is its last segment), not {node.n3()}")
    name = name_of(str(node), "view")
    desc = _one(g, node, TREE + "viewDescription", f"view {name}")
    if desc is None:
        raise ConfigError(f"view {name}: no tree:viewDescription")
    try:
        view = View.from_dict(view_dict_from_description(g, desc))
    except LdesfragError as e:
        raise ConfigError(f"view {name}: {e}") from None
    out = rdflib.Graph()
    out.add((node, URIRef(TREE + "viewDescription"), desc))
    _cbd(g, desc, out)
    nodes = _policies(g, node, desc, f"view {name}")
    retention = tuple(_policy(g, p, f"view {name}: retention policy") for p in nodes)
    for p in g.objects(node, URIRef(LDES + "retentionPolicy")):
        out.add((node, URIRef(LDES + "retentionPolicy"), p))
        _cbd(g, p, out)
    return ViewConfig(name, view, out.serialize(format="turtle"), retention)


def retention_of(turtle: str) -> tuple[RetentionPolicy, ...]:
    """The retention policies of a view's stored description (``ViewConfig.turtle``)."""
    return parse_view(turtle, "text/turtle", "http://localhost/").retention


def retention_triples(turtle: str, subject: str) -> Graph:
    """The retention policies of a view's stored description, as triples of ``subject``
    (for the event stream document, which describes each view as ``subject``)."""
    import rdflib
    from rdflib import URIRef

    g = _graph(turtle, "turtle", "http://localhost/")
    out = rdflib.Graph()
    for node in set(g.subjects(URIRef(TREE + "viewDescription"), None)):
        for desc in g.objects(node, URIRef(TREE + "viewDescription")):
            for p in _policies(g, node, desc, "view"):
                out.add((URIRef(subject), URIRef(LDES + "retentionPolicy"), p))
                _cbd(g, p, out)
    return out


def parse_view(body: bytes | str, content_type: str | None, base: str) -> ViewConfig:
    """The one view a ``…/views`` body describes (the subject of ``tree:viewDescription``)."""
    from rdflib import URIRef

    g = _graph(body, parser_of(content_type), base)
    views = set(g.subjects(URIRef(TREE + "viewDescription"), None))
    if len(views) != 1:
        raise ConfigError(f"expected one subject of tree:viewDescription, found {len(views)}")
    return _view(g, views.pop())


def parse_stream(body: bytes | str, content_type: str | None, base: str) -> StreamConfig:
    """The one ``ldes:EventStream`` of a configuration, with the views it names."""
    import rdflib
    from rdflib import RDF, Literal, URIRef

    g = _graph(body, parser_of(content_type), base)
    streams = set(g.subjects(RDF.type, URIRef(LDES + "EventStream")))
    if len(streams) != 1:
        raise ConfigError(f"expected one ldes:EventStream, found {len(streams)}")
    es = streams.pop()
    if not isinstance(es, URIRef):
        raise ConfigError("the event stream must be an IRI (its name is its last segment)")
    name = name_of(str(es), "collection")
    what = f"event stream {name}"
    create = _one(g, es, LDES + "createVersions", what)
    if create is not None and not (
        isinstance(create, Literal) and str(create) in ("true", "false")
    ):
        raise ConfigError(f"{what}: ldes:createVersions is true or false, not {create.n3()}")
    delimiter = _one(g, es, LDES + "versionDelimiter", what)
    if delimiter is not None and (not isinstance(delimiter, Literal) or not str(delimiter)):
        raise ConfigError(f"{what}: ldes:versionDelimiter is a non-empty string")
    shape = _one(g, es, TREE + "shape", what)
    view_links = {TREE + "view", LDES + "view"}
    view_nodes = [o for p in view_links for o in g.objects(es, URIRef(p))]
    views = tuple(_view(g, v) for v in view_nodes)
    names = [v.name for v in views]
    if len(set(names)) != len(names):
        raise ConfigError(f"{what}: two views with the same name")
    own = _cbd(g, es, rdflib.Graph(), skip=view_links)
    return StreamConfig(
        name=name,
        turtle=own.serialize(format="turtle"),
        timestamp_path=_iri(_one(g, es, LDES + "timestampPath", what), "ldes:timestampPath"),
        version_of_path=_iri(_one(g, es, LDES + "versionOfPath", what), "ldes:versionOfPath")
        or DCT_IS_VERSION_OF,
        create_versions=create is not None and str(create) == "true",
        version_delimiter="/" if delimiter is None else str(delimiter),
        shape=str(shape) if isinstance(shape, URIRef) else None,
        views=views,
    )


def extraction_view(view: View) -> View:
    """``view`` with each fragmentation reading a column named after its kind and path, so the
    views of one stream share one member table: views that read the same path read the same
    column, and views that read different paths never clash."""
    frags: list[Geospatial | HierarchicalTime | Reference] = []
    for f in view.fragmentations:
        if isinstance(f, Geospatial):
            frags.append(Geospatial(f.max_zoom, f.path, column=f"wkt {f.path}"))
        elif isinstance(f, HierarchicalTime):
            frags.append(
                HierarchicalTime(
                    f.max_granularity, f.path, column=f"time {f.path}", timezone=f.timezone
                )
            )
        else:
            frags.append(Reference(f.path, f.key, column=f"reference {f.path}"))
    return View(frags, page_size=view.page_size, order=view.order)


def reading_views(views: list[View]) -> list[View]:
    """Views whose member reads together give every column the ``views`` need (each from
    :func:`extraction_view`): one, unless two views take tiles or times from different paths
    (a view may not repeat a bucket key, so those columns are read by a second view)."""
    columns: dict[str, Geospatial | HierarchicalTime | Reference] = {}
    for view in views:
        for f in view.fragmentations:
            columns.setdefault(f.column, f)
    groups: list[list[Geospatial | HierarchicalTime | Reference]] = []
    for i, f in enumerate(columns.values()):
        if isinstance(f, Reference):  # the key only names buckets: any unique one reads
            f = Reference(f.path, f"r{i}", column=f.column)
        kind = type(f)
        for group in groups:
            if kind is Reference or not any(type(g) is kind for g in group):
                group.append(f)
                break
        else:
            groups.append([f])
    return [View(g) for g in groups] or [View()]
