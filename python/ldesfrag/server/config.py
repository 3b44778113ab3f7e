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
from typing import TYPE_CHECKING, Any

from ldesfrag._rdf import DCT_IS_VERSION_OF
from ldesfrag._view import Geospatial, HierarchicalTime, Reference, View
from ldesfrag._view_turtle import view_dict_from_description
from ldesfrag.exceptions import LdesfragError

if TYPE_CHECKING:
    from rdflib import Graph
    from rdflib.term import Node

__all__ = ["ConfigError", "StreamConfig", "ViewConfig", "parse_stream", "parse_view"]

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
class ViewConfig:
    """One view: its name, what it fragments by, and its description as Turtle."""

    name: str
    view: View
    turtle: str


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
    return ViewConfig(name, view, out.serialize(format="turtle"))


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
