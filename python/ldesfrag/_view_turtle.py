"""Views from the reference server's RDF view description (docs/ldes-rules.md, "View descriptions").

```turtle
<view> tree:viewDescription [
    tree:fragmentationStrategy (
        [ a tree:GeospatialFragmentation ; tree:maxZoom "15" ;
          tree:fragmentationPath "http://www.opengis.net/ont/geosparql#asWKT" ]
        [ a tree:HierarchicalTimeBasedFragmentation ; tree:maxGranularity "day" ;
          tree:fragmentationPath prov:generatedAtTime ] ) ;
    tree:pageSize "100"^^xsd:int ] .
```

Like the reference server, the properties of a fragmentation are matched by their local name, so
any namespace works; ``fragmentationPath`` may be an IRI or a string. rdflib parses the text; it
is imported only here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ldesfrag.exceptions import ViewError

if TYPE_CHECKING:
    from rdflib import Graph
    from rdflib.term import Node

__all__ = ["view_dict_from_description", "view_dict_from_rdf"]

_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_TYPES = {
    "GeospatialFragmentation": "Geospatial",
    "HierarchicalTimeBasedFragmentation": "HierarchicalTime",
    "ReferenceFragmentation": "Reference",
}
# Properties of each fragmentation: local name → (our field, converter).
_PROPS: dict[str, dict[str, tuple[str, str]]] = {
    "Geospatial": {"maxZoom": ("max_zoom", "int"), "fragmentationPath": ("path", "iri")},
    "HierarchicalTime": {
        "maxGranularity": ("max_granularity", "str"),
        "fragmentationPath": ("path", "iri"),
        "timezone": ("timezone", "str"),
    },
    "Reference": {"fragmentationPath": ("path", "iri"), "fragmentationKey": ("key", "str")},
}
# Reference server properties that do not change the buckets when they have these values.
_NEUTRAL = {
    "fragmenterSubjectFilter": ".*",
    "fragmentationSubjectFilter": ".*",
    "linearTimeCachingEnabled": None,  # a v2 caching hint, any value
}


def _local(iri: str) -> str:
    return iri.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _parse(text: str, fmt: str, base: str | None) -> Graph:
    try:
        import rdflib
    except ImportError:  # pragma: no cover - depends on the environment
        raise ViewError(
            "an RDF view description is read with rdflib: pip install 'ldesfrag[cli]'"
        ) from None
    g = rdflib.Graph()
    try:
        g.parse(data=text, format=fmt, publicID=base)
    except Exception as e:  # rdflib raises many unrelated types for syntax errors
        raise ViewError(f"invalid RDF ({fmt}): {e}") from None
    return g


def _objects(g: Graph, s: Node, local: str) -> list[Node]:
    return [o for p, o in g.predicate_objects(s) if _local(str(p)) == local]


def _one(g: Graph, s: Node, local: str, what: str) -> Node | None:
    values = _objects(g, s, local)
    if len(values) > 1:
        raise ViewError(f"{what}: {len(values)} values of {local}, expected one")
    return values[0] if values else None


def _list(g: Graph, head: Node, what: str) -> Iterator[Node]:
    from rdflib import RDF, BNode, URIRef

    seen = set()
    node: Node = head
    while node != RDF.nil:
        if node in seen or not isinstance(node, BNode | URIRef):
            raise ViewError(f"{what}: not a well-formed RDF list")
        seen.add(node)
        first = list(g.objects(node, RDF.first))
        rest = list(g.objects(node, RDF.rest))
        if len(first) != 1 or len(rest) != 1:
            raise ViewError(f"{what}: not a well-formed RDF list")
        yield first[0]
        node = rest[0]


def _convert(value: Node, kind: str, what: str) -> Any:
    from rdflib import Literal, URIRef

    if kind == "iri":
        if isinstance(value, URIRef) or (isinstance(value, Literal) and ":" in str(value)):
            return str(value)
        raise ViewError(f"{what}: expected an IRI, got {value.n3()}")
    if not isinstance(value, Literal):
        raise ViewError(f"{what}: expected a literal, got {value.n3()}")
    text = str(value).strip()
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ViewError(f"{what}: expected an integer, got {text!r}") from None
    return text


def _fragmentation(g: Graph, node: Node, i: int) -> dict[str, Any]:
    from rdflib import RDF

    types = [_local(str(t)) for t in g.objects(node, RDF.type)]
    if "PaginationFragmentation" in types:
        raise ViewError(
            f"fragmentation {i}: PaginationFragmentation is not a fragmentation here: every view "
            "is paginated; give the page size as tree:pageSize on the view description"
        )
    known = [t for t in types if t in _TYPES]
    if len(known) != 1:
        shown = ", ".join(types) or "none"
        raise ViewError(f"fragmentation {i}: expected one type of {sorted(_TYPES)}, got {shown}")
    kind = _TYPES[known[0]]
    out: dict[str, Any] = {"type": kind}
    for p, o in g.predicate_objects(node):
        name = _local(str(p))
        what = f"fragmentation {i} ({known[0]}) {name}"
        if p == RDF.type:
            continue
        if name in _PROPS[kind]:
            field, conv = _PROPS[kind][name]
            if field in out:
                raise ViewError(f"{what}: several values")
            out[field] = _convert(o, conv, what)
        elif name in _NEUTRAL:
            neutral = _NEUTRAL[name]
            if neutral is not None and str(o) != neutral:
                raise ViewError(f"{what}: only {neutral!r} is supported, got {str(o)!r}")
        else:
            raise ViewError(f"{what}: unknown property {p}")
    return out


def view_dict_from_rdf(
    text: str, *, format: str = "turtle", base: str | None = None
) -> dict[str, Any]:
    """The view (in :meth:`View.from_dict` form) of the one view description in ``text``: the
    subject of ``tree:fragmentationStrategy`` (or of ``tree:pageSize`` when there is no
    fragmentation)."""
    g = _parse(text, format, base)
    described = {s for s, p, _ in g if _local(str(p)) in ("fragmentationStrategy", "pageSize")}
    if not described:
        raise ViewError(
            "no view description: nothing has a tree:fragmentationStrategy or tree:pageSize"
        )
    if len(described) > 1:
        shown = ", ".join(sorted(n.n3() for n in described))
        raise ViewError(f"{len(described)} view descriptions ({shown}); keep one per file")
    (desc,) = described
    return view_dict_from_description(g, desc)


def view_dict_from_description(g: Graph, desc: Node) -> dict[str, Any]:
    """The view (in :meth:`View.from_dict` form) of the view description ``desc`` in the
    rdflib graph ``g``: its ``tree:fragmentationStrategy`` list and ``tree:pageSize``. For a
    document with several descriptions (an event stream's configuration with its views)."""
    out: dict[str, Any] = {"fragmentations": []}
    strategy = _one(g, desc, "fragmentationStrategy", "view description")
    if strategy is not None:
        out["fragmentations"] = [
            _fragmentation(g, node, i)
            for i, node in enumerate(_list(g, strategy, "tree:fragmentationStrategy"))
        ]
    size = _one(g, desc, "pageSize", "view description")
    if size is not None:
        out["page_size"] = _convert(size, "int", "tree:pageSize")
    return out
