"""render_page against rdflib: every format parsed back and compared graph to graph."""

from __future__ import annotations

import functools
from pathlib import Path

import blake3
import polars as pl
import pyarrow as pa
import pytest
from arro3.core import Table
from hypothesis import given
from hypothesis import strategies as st
from rdflib import BNode, Dataset, Graph, Literal, Namespace, URIRef
from rdflib.collection import Collection
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, PROV, RDF, XSD

import ldesfrag
from ldesfrag import (
    ColumnError,
    Geospatial,
    HierarchicalTime,
    InvalidMemberError,
    LdesfragError,
    Reference,
    View,
    render_page,
)

TREE = Namespace("https://w3id.org/tree#")
LDES = Namespace("https://w3id.org/ldes#")
GEO = Namespace("http://www.opengis.net/ont/geosparql#")
LDESFRAG = Namespace("https://w3id.org/ldesfrag#")

EXAMPLES = Path(__file__).parent / "data" / "examples"

# rdflib 7 warns about its own use of deprecated Dataset APIs while parsing.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FORMATS = ["turtle", "ntriples", "nquads", "trig", "jsonld"]
ALIASES = {"ttl": "turtle", "nt": "ntriples", "nq": "nquads", "json-ld": "jsonld"}
STREAM = "http://localhost:8080/observations"
NODE = "http://localhost:8080/observations/by-loc?tile=15/16882/10975&pageNumber=1"


def parse(body: bytes, fmt: str) -> Graph:
    """The default graph of a rendered page, read by rdflib."""
    if fmt in ("nquads", "trig"):
        ds = Dataset()
        ds.parse(data=body, format=fmt)
        named = [g for g in ds.graphs() if g.identifier != ds.default_graph.identifier and len(g)]
        assert not named, "everything is in the default graph"
        g = Graph()
        for t in ds.default_graph:
            g.add(t)
        return g
    g = Graph()
    g.parse(data=body, format={"turtle": "turtle", "ntriples": "nt", "jsonld": "json-ld"}[fmt])
    return g


def nt(g: Graph) -> str:
    return g.serialize(format="nt")


def payload_graph(payload: str) -> Graph:
    g = Graph()
    g.parse(data=payload, format="nt")
    return g


def members_table(rows: list[tuple[str, str, str | None]]) -> pa.Table:
    return pa.table(
        {
            "id": [r[0] for r in rows],
            "payload": [r[1] for r in rows],
            "timestamp": pa.array([r[2] for r in rows], pa.string()),
        }
    )


def member_rows(n: int) -> list[tuple[str, str, str | None]]:
    """Members whose descriptions each hold two blank nodes labelled _:b0 and _:b1."""
    rows = []
    for i in range(n):
        m = f"http://example.org/obs/{i}"
        stamp = f"2023-05-{10 + i % 9:02d}T14:00:00Z"
        payload = (
            f"<{m}> <{DCTERMS.isVersionOf}> <http://example.org/thing/{i % 3}> .\n"
            f'<{m}> <{PROV.generatedAtTime}> "{stamp}"^^<{XSD.dateTime}> .\n'
            f"<{m}> <http://example.org/geometry> _:b0 .\n"
            f'_:b0 <{GEO.asWKT}> "POINT (5.{i} 50.9)"^^<{GEO.wktLiteral}> .\n'
            f"_:b0 <http://example.org/meta> _:b1 .\n"
            f'_:b1 <http://example.org/label> "member {i}"@en .\n'
        )
        rows.append((m, payload, stamp))
    return rows


def expected_leaf(rows, *, node=NODE, stream=STREAM, immutable=False) -> Graph:
    """The leaf page built with rdflib from the same inputs (each payload parsed apart)."""
    g = Graph()
    n, s = URIRef(node), URIRef(stream)
    g.add((n, RDF.type, TREE.Node))
    g.add((n, DCTERMS.isPartOf, s))
    g.add((s, RDF.type, LDES.EventStream))
    if immutable:
        g.add((n, LDES.immutable, Literal(True)))
    for mid, payload, _ in rows:
        g.add((s, TREE.member, URIRef(mid)))
        g += payload_graph(payload)
    return g


# ---- leaf pages ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("immutable", [False, True])
def test_leaf_page_is_the_expected_graph(fmt, immutable):
    rows = member_rows(7)
    page = render_page(
        NODE, stream=STREAM, members=members_table(rows), immutable=immutable, format=fmt
    )
    g = parse(page.body, fmt)
    assert isomorphic(g, expected_leaf(rows, immutable=immutable))
    assert set(g.objects(URIRef(STREAM), TREE.member)) == {URIRef(r[0]) for r in rows}
    assert ((URIRef(NODE), LDES.immutable, Literal(True)) in g) == immutable
    assert not list(g.triples((None, LDES.immutable, Literal(False))))
    assert not list(g.triples((None, TREE.view, None)))
    assert page.content_type == ldesfrag.CONTENT_TYPES[fmt]
    assert page.cache_control == (
        "public, max-age=31536000, immutable" if immutable else "public, max-age=60"
    )


def test_blank_nodes_of_different_members_stay_apart():
    rows = member_rows(3)
    g = parse(render_page(NODE, stream=STREAM, members=members_table(rows)).body, "turtle")
    geometries = set(g.objects(None, URIRef("http://example.org/geometry")))
    assert len(geometries) == 3
    assert all(isinstance(b, BNode) for b in geometries)
    assert len(set(g.subjects(URIRef("http://example.org/label"), None))) == 3


@pytest.mark.parametrize("fmt", ["turtle", "ntriples"])
def test_members_in_chronological_order(fmt):
    stamps = [
        "2023-05-12T14:00:00+02:00",  # 12:00Z
        None,
        "2023-05-12T11:00:00Z",
        "not a time",
        "2023-05-12T12:00:00Z",  # ties with the first: input order kept
        "2021-01-01T00:00:00",  # no zone: read as UTC
    ]
    rows = [
        (f"http://example.org/m/{i}", f'<http://example.org/m/{i}> <{RDF.value}> "{i}" .', t)
        for i, t in enumerate(stamps)
    ]
    text = render_page(NODE, stream=STREAM, members=members_table(rows), format=fmt).body.decode()
    expected = [5, 2, 0, 4, 1, 3]

    def first(i: int, suffix: str) -> int:
        return text.index(f"<http://example.org/m/{i}>{suffix}")

    described = [
        first(i, f" <{RDF.value}>" if fmt == "ntriples" else " rdf:value") for i in expected
    ]
    assert described == sorted(described)
    linked = [text.index(f"<http://example.org/m/{i}>") for i in expected]
    assert linked == sorted(linked)


@pytest.mark.parametrize(
    "timestamps",
    [
        pa.array([3_000, 1_000, None, 2_000], pa.timestamp("ms", tz="UTC")),
        pa.array([3, 1, None, 2], pa.timestamp("s")),
        pa.array([3_000_000_000, 1_000_000_000, None, 2_000_000_000], pa.timestamp("ns")),
        pa.array(
            ["1970-01-01T00:00:03Z", "1970-01-01T00:00:01Z", None, "1970-01-01T01:00:02+01:00"]
        ),
    ],
)
def test_timestamp_column_types(timestamps):
    ids = [f"http://example.org/m/{i}" for i in range(4)]
    table = pa.table(
        {
            "id": ids,
            "payload": [f'<{m}> <{RDF.value}> "{m}" .' for m in ids],
            "timestamp": timestamps,
        }
    )
    text = render_page(NODE, stream=STREAM, members=table, format="ntriples").body.decode()
    order = [text.index(f'"{ids[i]}"') for i in (1, 3, 0, 2)]
    assert order == sorted(order)


def test_any_arrow_producer_gives_the_same_page():
    rows = member_rows(4)
    table = members_table(rows)
    reference = render_page(NODE, stream=STREAM, members=table).body
    assert render_page(NODE, stream=STREAM, members=pl.from_arrow(table)).body == reference
    assert render_page(NODE, stream=STREAM, members=Table.from_arrow(table)).body == reference
    assert render_page(NODE, stream=STREAM, members=table.to_batches()[0]).body == reference
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=1))
    assert render_page(NODE, stream=STREAM, members=chunked).body == reference
    large = table.cast(
        pa.schema(
            [("id", pa.large_string()), ("payload", pa.string_view()), ("timestamp", pa.string())]
        )
    )
    assert render_page(NODE, stream=STREAM, members=large).body == reference


def test_empty_page_and_members_without_timestamp_column():
    g = parse(render_page(NODE, stream=STREAM).body, "turtle")
    assert isomorphic(g, expected_leaf([]))
    rows = member_rows(2)
    table = pa.table({"id": [r[0] for r in rows], "payload": [r[1] for r in rows]})
    g = parse(render_page(NODE, stream=STREAM, members=table, format="ntriples").body, "ntriples")
    assert isomorphic(g, expected_leaf(rows))


# ---- relations -------------------------------------------------------------------------------

RELATIONS = [
    {
        "type": str(TREE.GreaterThanOrEqualToRelation),
        "node": "http://localhost:8080/observations/by-time?year=2023",
        "path": str(PROV.generatedAtTime),
        "value": "2023-01-01T00:00:00Z",
        "datatype": str(XSD.dateTime),
        "remaining_items": 1200,
    },
    {
        "type": str(TREE.LessThanRelation),
        "node": "http://localhost:8080/observations/by-time?year=2023",
        "path": str(PROV.generatedAtTime),
        "value": "2024-01-01T00:00:00Z",
        "datatype": str(XSD.dateTime),
        "remaining_items": None,
    },
    {
        "type": str(TREE.EqualToRelation),
        "node": "http://localhost:8080/observations/by-ref?reference=http%3A%2F%2Fex.org%2FT",
        "path": str(RDF.type),
        "value": "http://ex.org/T",
        "datatype": str(XSD.anyURI),
        "remaining_items": None,
    },
    {
        "type": str(TREE.Relation),
        "node": "http://localhost:8080/observations/by-loc?tile=unknown",
        "path": None,
        "value": None,
        "datatype": None,
        "remaining_items": None,
    },
    {
        "type": str(TREE.PrefixRelation),
        "node": "http://localhost:8080/observations/by-name?p=a",
        "path": "http://ex.org/name",
        "value": 'a "quoted" \\ name\n',
        "datatype": None,
        "remaining_items": 0,
    },
]


def expected_relation(r) -> tuple:
    value = None
    if r["value"] is not None:
        if r["datatype"] == str(XSD.anyURI):
            value = URIRef(r["value"])
        elif r["datatype"] is not None:
            value = Literal(r["value"], datatype=URIRef(r["datatype"]))
        else:
            value = Literal(r["value"])
    return (
        URIRef(r["type"]),
        URIRef(r["node"]),
        URIRef(r["path"]) if r["path"] else None,
        value,
        r["remaining_items"],
    )


def relations_of(g: Graph, node: str) -> list[tuple]:
    out = []
    for rel in g.objects(URIRef(node), TREE.relation):
        assert isinstance(rel, BNode)
        remaining = g.value(rel, TREE.remainingItems)
        out.append(
            (
                g.value(rel, RDF.type),
                g.value(rel, TREE.node),
                g.value(rel, TREE.path),
                g.value(rel, TREE.value),
                None if remaining is None else remaining.toPython(),
            )
        )
    return sorted(out, key=repr)


@pytest.mark.parametrize("fmt", FORMATS)
def test_relations(fmt):
    arrow = pa.Table.from_pylist(
        RELATIONS,
        schema=pa.schema(
            [
                ("type", pa.string()),
                ("node", pa.string()),
                ("path", pa.string()),
                ("value", pa.string()),
                ("datatype", pa.string()),
                ("remaining_items", pa.uint64()),
            ]
        ),
    )
    expected = sorted((expected_relation(r) for r in RELATIONS), key=repr)
    for rels in (RELATIONS, arrow):
        g = parse(render_page(NODE, stream=STREAM, relations=rels, format=fmt).body, fmt)
        assert relations_of(g, NODE) == expected
    assert (
        render_page(NODE, stream=STREAM, relations=RELATIONS, format=fmt).body
        == render_page(NODE, stream=STREAM, relations=arrow, format=fmt).body
    )


def test_relations_without_optional_columns():
    table = pa.table({"type": [str(TREE.Relation)], "node": ["http://ex.org/p2"]})
    g = parse(render_page(NODE, stream=STREAM, relations=table).body, "turtle")
    assert relations_of(g, NODE) == [(TREE.Relation, URIRef("http://ex.org/p2"), None, None, None)]


# ---- relations as the fragmenter gives them (child, child_page + node_url) -------------------

BASE = "https://ex.org/ldes/"
GEO_TIME = View([Geospatial(14), HierarchicalTime("day")], page_size=2)


def fragmenter_relations() -> pa.Table:
    """The relations of a geospatial-by-time view over members in two tiles and two days, with
    a full page (so every kind of relation occurs: hub → tile, tile → time bounds, bucket →
    first page, page → next page)."""
    f = ldesfrag.Fragmenter(GEO_TIME)
    f.assign(
        pa.table(
            {
                "id": [f"http://ex.org/m/{i}" for i in range(6)],
                "lon": [4.35, 4.35, 4.35, 5.47, 4.35, 4.35],
                "lat": [50.85, 50.85, 50.85, 50.96, 50.85, 50.85],
                "timestamp": [
                    "2023-05-12T10:00:00Z",
                    "2023-05-12T11:00:00Z",
                    "2023-05-12T12:00:00Z",
                    "2023-05-12T13:00:00Z",
                    "2023-06-01T00:00:00Z",
                    "2023-06-01T00:00:01Z",
                ],
            }
        )
    )
    return pa.table(f.relations())


def own_relations(rel: pa.Table, bucket: str, page: int | None) -> pa.Table:
    mask = [
        b == bucket and p == page
        for b, p in zip(rel["parent"].to_pylist(), rel["parent_page"].to_pylist(), strict=True)
    ]
    return rel.filter(pa.array(mask))


def test_fragmenter_relations_render_as_hand_made_node_relations():
    rel = fragmenter_relations()
    node_of = functools.partial(ldesfrag.node_url, BASE)
    kinds = set(rel["type"].to_pylist())
    assert {str(TREE.GeospatiallyContainsRelation), str(TREE.LessThanRelation)} <= kinds
    parents = sorted(
        set(zip(rel["parent"].to_pylist(), rel["parent_page"].to_pylist(), strict=True)),
        key=repr,
    )
    assert len(parents) > 5
    for bucket, page in parents:
        own = own_relations(rel, bucket, page)
        node = node_of(bucket, page)
        hand_made = [
            {
                "type": r["type"],
                "node": node_of(r["child"], r["child_page"]),
                "path": r["path"],
                "value": r["value"],
                "datatype": r["datatype"],
            }
            for r in own.to_pylist()
        ]
        expected = parse(render_page(node, stream=STREAM, relations=hand_made).body, "turtle")
        assert len(relations_of(expected, node)) == own.num_rows
        keyed = own.append_column("key", pa.array(["x"] * own.num_rows))  # ignored
        for given_rows in (
            own,
            own.to_pylist(),
            pl.from_arrow(own),
            Table.from_arrow(own),
            keyed.to_reader(),
        ):
            got = render_page(node, stream=STREAM, relations=given_rows, node_url=node_of)
            assert isomorphic(parse(got.body, "turtle"), expected), (bucket, page)


def test_fragmenter_relations_and_node_relations_mix():
    rel = fragmenter_relations()
    own = own_relations(rel, "", None).to_pylist()
    assert own
    extra = {"type": str(TREE.Relation), "node": "https://ex.org/elsewhere"}
    page = render_page(
        BASE, stream=STREAM, relations=[*own, extra], node_url=lambda b, p: BASE + "n/" + b
    )
    targets = {str(r[1]) for r in relations_of(parse(page.body, "turtle"), BASE)}
    assert targets == {"https://ex.org/elsewhere"} | {BASE + "n/" + r["child"] for r in own}


def test_fragmenter_relations_need_a_working_node_url():
    rel = own_relations(fragmenter_relations(), "tile=0/0/0", None)
    rows = rel.to_pylist()
    for given_rows in (rel, rows):
        with pytest.raises(LdesfragError, match="node_url"):
            render_page(BASE, stream=STREAM, relations=given_rows)
    with pytest.raises(LdesfragError, match="returned a bytes, not an IRI string"):
        render_page(BASE, stream=STREAM, relations=rel, node_url=lambda b, p: b.encode())
    with pytest.raises(LdesfragError, match="raised KeyError") as e:
        render_page(BASE, stream=STREAM, relations=rows, node_url=lambda b, p: {}[b])
    assert isinstance(e.value.__cause__, KeyError)
    # node_url's own errors are wrapped too, saying which relation
    bad_base = functools.partial(ldesfrag.node_url, "not a url")
    with pytest.raises(LdesfragError, match=r"relation 0: node_url\('tile=") as e:
        render_page(BASE, stream=STREAM, relations=rows, node_url=bad_base)
    assert isinstance(e.value.__cause__, ldesfrag.NodeUrlError)
    with pytest.raises(LdesfragError, match="must be a callable"):
        render_page(BASE, stream=STREAM, relations=rows, node_url="https://ex.org/")  # type: ignore[arg-type]
    both = [{**rows[0], "node": "https://ex.org/x"}]
    with pytest.raises(LdesfragError, match="'node' and 'child'"):
        render_page(BASE, stream=STREAM, relations=both, node_url=str)
    neither = [{"type": rows[0]["type"], "child_page": 1}]
    with pytest.raises(LdesfragError, match="'type' and 'node' \\(or 'child'\\) are required"):
        render_page(BASE, stream=STREAM, relations=neither, node_url=str)


# ---- root pages and the view description ---------------------------------------------------

VIEWS = [
    View(),
    View([Geospatial(15)], page_size=100),
    View(
        [
            Geospatial(15),
            HierarchicalTime("day", path="http://purl.org/dc/terms/created"),
            Reference(path="http://ex.org/kind", key="kind"),
        ],
        page_size=250,
    ),
    View([HierarchicalTime("hour", timezone="Europe/Brussels"), Geospatial(9)], page_size=7),
]


def view_from_graph(g: Graph, node: URIRef) -> View:
    """Reads a view description back, the way the reference server's admin API does."""
    descriptions = list(g.objects(node, TREE.viewDescription))
    assert len(descriptions) == 1
    desc = descriptions[0]
    assert (desc, RDF.type, TREE.ViewDescription) in g
    frags = []
    for f in Collection(g, g.value(desc, TREE.fragmentationStrategy)):
        kind = g.value(f, RDF.type)
        path = str(g.value(f, TREE.fragmentationPath))
        if kind == TREE.GeospatialFragmentation:
            frags.append(Geospatial(g.value(f, TREE.maxZoom).toPython(), path=path))
        elif kind == TREE.HierarchicalTimeBasedFragmentation:
            tz = g.value(f, LDESFRAG.timezone)
            frags.append(
                HierarchicalTime(
                    str(g.value(f, TREE.maxGranularity)),
                    path=path,
                    timezone="UTC" if tz is None else str(tz),
                )
            )
        else:
            assert kind == TREE.ReferenceFragmentation
            frags.append(Reference(path=path, key=str(g.value(f, TREE.fragmentationKey))))
    return View(frags, page_size=g.value(desc, TREE.pageSize).toPython())


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("view", VIEWS, ids=range(len(VIEWS)))
def test_root_page(fmt, view):
    node = "http://localhost:8080/observations/by-loc"
    shape = "http://localhost:8080/observations/shape"
    page = render_page(
        node,
        stream=STREAM,
        root=True,
        view=view,
        timestamp_path=str(PROV.generatedAtTime),
        version_of_path=str(DCTERMS.isVersionOf),
        shape=shape,
        relations=RELATIONS[3:4],
        format=fmt,
    )
    g = parse(page.body, fmt)
    assert list(g.triples((None, TREE.view, None))) == [(URIRef(STREAM), TREE.view, URIRef(node))]
    s = URIRef(STREAM)
    assert (s, RDF.type, LDES.EventStream) in g
    assert g.value(s, LDES.timestampPath) == PROV.generatedAtTime
    assert g.value(s, LDES.versionOfPath) == DCTERMS.isVersionOf
    assert g.value(s, TREE.shape) == URIRef(shape)
    assert (URIRef(node), DCTERMS.isPartOf, None) not in g
    assert (None, LDES.immutable, None) not in g
    assert view_from_graph(g, URIRef(node)) == view
    assert page.cache_control == "public, max-age=60"


def test_root_page_is_never_immutable():
    with pytest.raises(LdesfragError, match="never immutable"):
        render_page(NODE, stream=STREAM, root=True, immutable=True)


def test_root_without_context_has_only_the_view_link():
    g = parse(render_page(NODE, stream=STREAM, root=True).body, "turtle")
    expected = Graph()
    expected.add((URIRef(STREAM), RDF.type, LDES.EventStream))
    expected.add((URIRef(STREAM), TREE.view, URIRef(NODE)))
    expected.add((URIRef(NODE), RDF.type, TREE.Node))
    assert isomorphic(g, expected)


# ---- the reference server's shapes (docs/ldes-rules.md, "Page shape test vectors") ---------

PREFIXES = """@prefix tree: <https://w3id.org/tree#> . @prefix ldes: <https://w3id.org/ldes#> .
@prefix dct: <http://purl.org/dc/terms/> . @prefix prov: <http://www.w3.org/ns/prov#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix geo: <http://www.opengis.net/ont/geosparql#> .
"""

VECTOR_B = """<http://localhost:8080/observations/by-loc?tile=0/0/0> a tree:Node ;
    dct:isPartOf <http://localhost:8080/observations> ;
    tree:relation [ a tree:GeospatiallyContainsRelation ;
        tree:path geo:asWKT ;
        tree:node <http://localhost:8080/observations/by-loc?tile=15%2F16882%2F10975> ;
        tree:value "<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POLYGON ((5.482177734375 50.9653463216377, 5.482177734375 50.95842672335991, 5.47119140625 50.95842672335991, 5.47119140625 50.9653463216377, 5.482177734375 50.9653463216377))"^^geo:wktLiteral ] .
<http://localhost:8080/observations> a ldes:EventStream .
"""  # noqa: E501

VECTOR_C = """<http://localhost:8080/observations/by-loc?tile=15/16882/10975&pageNumber=1> a tree:Node ;
    dct:isPartOf <http://localhost:8080/observations> .
<http://localhost:8080/observations> a ldes:EventStream ;
    tree:member <http://example.org/obs/1/2023-05-12T14:00:00Z> .
<http://example.org/obs/1/2023-05-12T14:00:00Z> dct:isVersionOf <http://example.org/obs/1> ;
    prov:generatedAtTime "2023-05-12T14:00:00Z"^^xsd:dateTime ;
    geo:asWKT "POINT (5.47236 50.9642)"^^geo:wktLiteral .
"""  # noqa: E501


@pytest.mark.parametrize("fmt", FORMATS)
def test_reference_server_tile_root_page(fmt):
    expected = Graph().parse(data=PREFIXES + VECTOR_B, format="turtle")
    rel = {
        "type": str(TREE.GeospatiallyContainsRelation),
        "node": "http://localhost:8080/observations/by-loc?tile=15%2F16882%2F10975",
        "path": str(GEO.asWKT),
        "value": str(next(expected.objects(None, TREE.value))),
        "datatype": str(GEO.wktLiteral),
    }
    page = render_page(
        "http://localhost:8080/observations/by-loc?tile=0/0/0",
        stream=STREAM,
        relations=[rel],
        format=fmt,
    )
    assert isomorphic(parse(page.body, fmt), expected)


@pytest.mark.parametrize("fmt", FORMATS)
def test_reference_server_leaf_page(fmt):
    expected = Graph().parse(data=PREFIXES + VECTOR_C, format="turtle")
    m = URIRef("http://example.org/obs/1/2023-05-12T14:00:00Z")
    description = Graph()
    for t in expected.triples((m, None, None)):
        description.add(t)
    rows = [(str(m), nt(description), "2023-05-12T14:00:00Z")]
    page = render_page(NODE, stream=STREAM, members=members_table(rows), format=fmt)
    assert isomorphic(parse(page.body, fmt), expected)


# ---- real members, all formats ----------------------------------------------------------------


def example_members() -> list[tuple[str, str, str | None]]:
    rows = []
    for path in sorted(EXAMPLES.glob("E2E_0*.ttl")) + sorted(
        EXAMPLES.glob("E2E_*first-member.ttl")
    ):
        g = Graph().parse(path, format="turtle")
        objects = set(g.objects())
        roots = [s for s in set(g.subjects()) if isinstance(s, URIRef) and s not in objects]
        assert len(roots) == 1, path
        stamp = g.value(roots[0], PROV.generatedAtTime) or g.value(roots[0], DCTERMS.created)
        rows.append((str(roots[0]), nt(g), None if stamp is None else str(stamp)))
    return rows


def test_real_members_in_every_format_give_one_graph():
    rows = example_members()
    assert len(rows) == 5
    table = members_table(rows)
    view = VIEWS[2]
    graphs = {}
    for fmt in FORMATS:
        leaf = render_page(NODE, stream=STREAM, members=table, immutable=True, format=fmt)
        graphs[fmt] = parse(leaf.body, fmt)
        root = render_page(
            "http://localhost:8080/observations/by-loc",
            stream=STREAM,
            members=table,
            relations=RELATIONS,
            root=True,
            view=view,
            timestamp_path=str(PROV.generatedAtTime),
            format=fmt,
        )
        graphs[fmt + "-root"] = parse(root.body, fmt)
    assert isomorphic(graphs["turtle"], expected_leaf(rows, immutable=True))
    for fmt in FORMATS:
        assert isomorphic(graphs[fmt], graphs["turtle"]), fmt
        assert isomorphic(graphs[fmt + "-root"], graphs["turtle-root"]), fmt


# ---- escaping ----------------------------------------------------------------------------------

texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
# Characters an IRI may hold as written between < and > (plus non-ASCII ones).
iri_chars = st.sampled_from([*"abcXYZ019-._~!$&'()*+,;=:@/?#%[]", "é", "ß", "中", "😀"])


@given(value=texts, label=texts, fmt=st.sampled_from(FORMATS))
def test_literals_round_trip(value, label, fmt):
    m = "http://example.org/m"
    description = Graph()
    description.add((URIRef(m), RDF.value, Literal(label)))
    description.add((URIRef(m), DCTERMS.title, Literal(label, lang="nl-BE")))
    rows = [(m, nt(description), None)]
    rel = {"type": str(TREE.PrefixRelation), "node": "http://example.org/p", "value": value}
    rel2 = {**rel, "node": "http://example.org/q", "datatype": "http://example.org/dt"}
    page = render_page(
        NODE, stream=STREAM, members=members_table(rows), relations=[rel, rel2], format=fmt
    )
    g = parse(page.body, fmt)
    values = {g.value(r, TREE.node): g.value(r, TREE.value) for r in g.objects(None, TREE.relation)}
    assert values[URIRef("http://example.org/p")] == Literal(value)
    assert values[URIRef("http://example.org/q")] == Literal(
        value, datatype=URIRef("http://example.org/dt")
    )
    assert g.value(URIRef(m), RDF.value) == Literal(label)
    assert g.value(URIRef(m), DCTERMS.title) == Literal(label, lang="nl-BE")


@given(path=st.text(iri_chars, max_size=30), fmt=st.sampled_from(FORMATS))
def test_unusual_iris_round_trip(path, fmt):
    node = "http://example.org/" + path
    target = "urn:x-test:" + path + "/next"
    member = "http://example.org/m/" + path
    description = Graph()
    description.add((URIRef(member), URIRef("http://example.org/p/" + path), URIRef(target)))
    rows = [(member, nt(description), None)]
    page = render_page(
        node,
        stream=STREAM,
        members=members_table(rows),
        relations=[{"type": str(TREE.Relation), "node": target}],
        format=fmt,
    )
    g = parse(page.body, fmt)
    assert (URIRef(node), RDF.type, TREE.Node) in g
    rel = g.value(URIRef(node), TREE.relation)
    assert g.value(rel, TREE.node) == URIRef(target)
    assert (URIRef(STREAM), TREE.member, URIRef(member)) in g
    assert isomorphic(g, expected_leaf(rows, node=node) + _relation_graph(node, target))


def _relation_graph(node: str, target: str) -> Graph:
    g = Graph()
    rel = BNode()
    g.add((URIRef(node), TREE.relation, rel))
    g.add((rel, RDF.type, TREE.Relation))
    g.add((rel, TREE.node, URIRef(target)))
    return g


def test_payload_unicode_escapes_are_decoded_in_json_ld():
    payload = (
        '<http://example.org/caf\\u00E9> <http://example.org/p> "caf\\u00e9 \\U0001F600\\t\\"" .'
    )
    rows = [("http://example.org/café", payload, None)]
    graphs = [
        parse(render_page(NODE, stream=STREAM, members=members_table(rows), format=f).body, f)
        for f in FORMATS
    ]
    for g in graphs:
        assert g.value(
            URIRef("http://example.org/café"), URIRef("http://example.org/p")
        ) == Literal('café 😀\t"')


# ---- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        '<http://ex.org/a> <http://ex.org/p> "x"',
        '<http://ex.org/a> <http://ex.org/p> "x\\q" .',
        '<http://ex.org/a b> <http://ex.org/p> "x" .',
        '<a> <http://ex.org/p> "x" .',
        '<http://ex.org/a> <http://ex.org/p> "x"^^xsd:string .',
        "<http://ex.org/a> <http://ex.org/p> <http://ex.org/o> <http://ex.org/g> .",
        "@prefix ex: <http://ex.org/> .",
        '<http://ex.org/a> <http://ex.org/p> """x""" .',
    ],
)
def test_malformed_payload_raises_with_the_row(payload):
    rows = [*member_rows(2), ("http://ex.org/a", payload, "2000-01-01T00:00:00Z")]
    with pytest.raises(InvalidMemberError, match="payload line 1") as e:
        render_page(NODE, stream=STREAM, members=members_table(rows))
    assert e.value.row == 2


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"stream": "not an IRI"}, LdesfragError),
        ({"stream": "http://ex.org/a b"}, LdesfragError),
        ({"relations": [{"type": str(TREE.Relation), "node": "http://ex.org/<x>"}]}, LdesfragError),
        ({"relations": [{"type": str(TREE.Relation)}]}, LdesfragError),
        (
            {"relations": [{"type": str(TREE.Relation), "node": "http://x", "nod": 1}]},
            LdesfragError,
        ),
        ({"relations": "http://x"}, LdesfragError),
        ({"members": pa.table({"id": ["http://ex.org/a"]})}, ColumnError),
        ({"members": pa.table({"id": [1], "payload": [""]})}, ColumnError),
        (
            {"members": pa.table({"id": ["http://ex.org/a"], "payload": [""], "timestamp": [1.5]})},
            ColumnError,
        ),
        ({"members": pa.table({"id": ["relative"], "payload": [""]})}, InvalidMemberError),
        (
            {"members": pa.table({"id": pa.array([None], pa.string()), "payload": [""]})},
            InvalidMemberError,
        ),
        ({"format": "rdfxml"}, LdesfragError),
    ],
)
def test_bad_arguments_raise(kwargs, error):
    kwargs = {"stream": STREAM, **kwargs}
    with pytest.raises(error):
        render_page(NODE, **kwargs)


REL = str(TREE.Relation)


@pytest.mark.parametrize(
    ("kwargs", "column"),
    [
        # pyarrow types a column of None only as `null`: no longer a panic.
        ({"members": pa.table({"id": [None], "payload": [None]})}, "id"),
        ({"members": pa.table({"id": ["http://ex.org/a"], "payload": pa.nulls(1)})}, "payload"),
        (
            {"members": pa.RecordBatch.from_pydict({"id": pa.nulls(0), "payload": pa.nulls(0)})},
            "id",
        ),
        ({"relations": pa.table({"type": pa.nulls(1), "node": ["http://ex.org/p2"]})}, "type"),
        ({"relations": pa.table({"type": [REL], "node": pa.nulls(1)})}, "node"),
        (
            {"relations": pa.RecordBatch.from_pydict({"type": pa.nulls(0), "node": ["x"][:0]})},
            "type",
        ),
        (
            {
                "members": pa.table(
                    {"id": pa.array(["http://ex.org/a"]).dictionary_encode(), "payload": [""]}
                )
            },
            "id",
        ),
        ({"members": pa.table({"id": ["http://ex.org/a"], "payload": [b"x"]})}, "payload"),
        ({"relations": pa.table({"type": [REL], "node": ["http://x/"], "value": [1]})}, "value"),
        (
            {
                "relations": pa.table(
                    {"type": [REL], "node": ["http://x/"], "remaining_items": ["1"]}
                )
            },
            "remaining_items",
        ),
    ],
)
def test_unreadable_column_types_are_a_column_error_naming_the_column(kwargs, column):
    with pytest.raises(ColumnError, match=f'column "{column}" has type') as e:
        render_page(NODE, stream=STREAM, **kwargs)
    assert "internal error" not in str(e.value)


def test_every_string_layout_and_integer_width_gives_the_same_page():
    members = members_table(member_rows(3))
    relations = pa.table(
        {"type": [REL], "node": ["http://ex.org/p2"], "remaining_items": pa.array([7], pa.uint64())}
    )
    expected = render_page(NODE, stream=STREAM, members=members, relations=relations).body
    for layout in (pa.large_string(), pa.string_view()):
        cast = members.cast(
            pa.schema(
                [pa.field(f.name, layout) if f.name != "timestamp" else f for f in members.schema]
            )
        )
        assert render_page(NODE, stream=STREAM, members=cast, relations=relations).body == expected
    for width in (
        pa.uint8(),
        pa.uint16(),
        pa.uint32(),
        pa.int8(),
        pa.int16(),
        pa.int32(),
        pa.int64(),
    ):
        narrow = relations.set_column(
            2, "remaining_items", relations["remaining_items"].cast(width)
        )
        assert render_page(NODE, stream=STREAM, members=members, relations=narrow).body == expected
    rows = [{"type": REL, "node": "http://ex.org/p2", "remaining_items": 7}]
    assert render_page(NODE, stream=STREAM, members=members, relations=rows).body == expected


def test_one_set_of_format_names():
    """Every format has one name, used by every API; reading supports a subset."""
    from typing import get_args

    assert list(get_args(ldesfrag.RdfFormat)) == FORMATS
    assert list(get_args(ldesfrag.RdfInputFormat)) == FORMATS[:4]  # JSON-LD is not read
    assert list(ldesfrag.CONTENT_TYPES) == list(ldesfrag.FILE_EXTENSIONS) == FORMATS


@pytest.mark.parametrize(("alias", "fmt"), ALIASES.items())
def test_the_old_spellings_render_the_same_page(alias, fmt):
    rows = [
        ("http://ex.org/a", '<http://ex.org/a> <http://ex.org/p> "x" .', "2023-05-12T10:00:00Z")
    ]
    kwargs = {"stream": STREAM, "members": members_table(rows), "relations": RELATIONS}
    assert render_page(NODE, format=alias, **kwargs) == render_page(NODE, format=fmt, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"members": [{"id": "http://ex.org/a", "payload": ""}]}, ColumnError, "members: expected"),
        ({"members": "http://ex.org/a"}, ColumnError, "members: expected an Arrow table"),
        ({"relations": pa.array([1])}, ColumnError, "relations"),
        ({"view": "x"}, ldesfrag.ViewError, "view must be a View"),
        ({"view": {"page_size": 0}}, ldesfrag.ViewError, "page_size"),
        ({"stream": None}, LdesfragError, "stream must be an IRI string"),
        ({"shape": 5}, LdesfragError, "shape must be an IRI string"),
        ({"format": ["turtle"]}, LdesfragError, "format must be one of"),
        ({"format": "rdfxml"}, ldesfrag.RdfError, "format must be one of 'turtle', 'ntriples'"),
        ({"format": "TTL"}, ldesfrag.RdfError, "or 'ttl' for 'turtle'"),
        (
            {"relations": [{"type": REL, "node": "http://x/", "remaining_items": 2**64}]},
            LdesfragError,
            "remaining_items",
        ),
        (
            {"relations": [{"type": REL, "node": "http://x/", "remaining_items": True}]},
            LdesfragError,
            "remaining_items",
        ),
    ],
)
def test_arguments_of_the_wrong_kind_are_clear_errors(kwargs, error, match):
    kwargs = {"stream": STREAM, **kwargs}
    with pytest.raises(error, match=match):
        render_page(NODE, **kwargs)


def test_a_view_given_as_a_mapping_is_used_as_that_view():
    view = View([Geospatial(15)], page_size=100)
    as_mapping = render_page(NODE, stream=STREAM, root=True, view=view.to_dict()).body
    assert as_mapping == render_page(NODE, stream=STREAM, root=True, view=view).body


# ---- cache metadata ------------------------------------------------------------------------------


def test_etag_is_strong_and_follows_the_body():
    rows = member_rows(3)
    a = render_page(NODE, stream=STREAM, members=members_table(rows))
    b = render_page(NODE, stream=STREAM, members=members_table(rows))
    c = render_page(NODE, stream=STREAM, members=members_table(rows[:2]))
    d = render_page(NODE, stream=STREAM, members=members_table(rows), format="ntriples")
    assert a.body == b.body
    assert a.etag == b.etag
    assert len({a.etag, c.etag, d.etag}) == 3
    for page in (a, c, d):
        assert page.etag == '"' + blake3.blake3(page.body).hexdigest()[:32] + '"'
        assert page.etag == ldesfrag._render.etag(page.body)
    assert not a.etag.startswith("W/")
    with pytest.raises(AttributeError):
        a.etag = "x"  # type: ignore[misc]


@given(body=st.binary(max_size=5000))
def test_etag_is_blake3_of_any_body(body):
    assert ldesfrag._render.etag(body) == '"' + blake3.blake3(body).hexdigest()[:32] + '"'


@given(
    sizes=st.lists(st.integers(0, 5), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
    fmt=st.sampled_from(FORMATS),
)
def test_render_pages_gives_each_page_as_render_page_does(sizes, seed, fmt):
    """The batch renderer of `publish`: pages over one shuffled members table through `order`."""
    import random

    rows = member_rows(sum(sizes))
    shuffled = list(range(len(rows)))
    random.Random(seed).shuffle(shuffled)
    table = members_table([rows[i] for i in shuffled])
    order = [shuffled.index(i) for i in range(len(rows))]  # page order → row in `table`
    nodes = [f"{NODE}&p={k}" for k in range(len(sizes))]
    starts = [sum(sizes[:k]) for k in range(len(sizes))]
    relations = pa.table(
        {
            "page": pa.array([0, len(sizes) - 1], pa.uint32()),
            **{
                k: [r[k] for r in RELATIONS[:2]]
                for k in ("type", "node", "path", "value", "datatype")
            },
        }
    )
    pages = pa.table(
        {
            "node": nodes,
            "start": pa.array(starts, pa.uint64()),
            "count": pa.array(sizes, pa.uint64()),
            "immutable": [k % 2 == 0 for k in range(len(sizes))],
        }
    )
    bodies, etags = ldesfrag._ldesfrag.render_pages(
        pages,
        stream=STREAM,
        members=table,
        order=pa.array(order, pa.uint64()),
        relations=relations,
        format=fmt,
    )
    for k, node in enumerate(nodes):
        own = ([RELATIONS[0]] if k == 0 else []) + ([RELATIONS[1]] if k == len(sizes) - 1 else [])
        expected = render_page(
            node,
            stream=STREAM,
            members=members_table(rows[starts[k] : starts[k] + sizes[k]]),
            relations=[{key: r[key] for key in r if key != "remaining_items"} for r in own],
            immutable=k % 2 == 0,
            format=fmt,
        )
        assert bodies[k] == expected.body
        assert etags[k] == expected.etag


def test_render_pages_names_a_bad_members_row_in_the_given_table():
    rows = member_rows(3)
    bad = (rows[1][0], "not n-triples\n", rows[1][2])
    table = members_table([rows[2], bad, rows[0]])
    pages = pa.table({"node": [NODE], "start": pa.array([0], pa.uint64()), "count": [3]})
    with pytest.raises(InvalidMemberError) as e:
        ldesfrag._ldesfrag.render_pages(
            pages, stream=STREAM, members=table, order=pa.array([2, 1, 0], pa.uint64())
        )
    assert e.value.row == 1


@given(
    chunks=st.lists(
        st.lists(st.tuples(st.sampled_from(["a\n1", "a\n2", "b\n1", "c\n0"]), st.integers(0, 50))),
        max_size=4,
    ),
    keys=st.lists(st.sampled_from(["a\n1", "a\n2", "b\n1", "c\n0", "d\n1"]), max_size=6),
)
def test_page_rows_lists_each_pages_rows_by_arrival(chunks, keys):
    """`publish` finds a batch's pages' members with page_rows: checked against a Python twin
    over a chunked table (row numbers run across chunks), absent and repeated keys."""
    # seq is unique per row, as in publish (a member's arrival number on its page).
    seqs = iter(range(10**6, 0, -7))
    chunks = [[(k, next(seqs) + s) for k, s in chunk] for chunk in chunks]
    schema = pa.schema([("key", pa.string()), ("seq", pa.uint64())])
    table = pa.Table.from_batches(
        [
            pa.record_batch(
                [[k for k, _ in c], pa.array([s for _, s in c], pa.uint64())], schema=schema
            )
            for c in chunks
        ],
        schema=schema,
    )
    order, start, count = ldesfrag._ldesfrag.page_rows(table, pa.array(keys, pa.string()))
    order, start, count = (pa.array(a).to_pylist() for a in (order, start, count))
    rows = [r for c in chunks for r in c]
    expected: list[int] = []
    for i, key in enumerate(keys):
        mine = (
            [] if key in keys[:i] else sorted((s, r) for r, (k, s) in enumerate(rows) if k == key)
        )
        assert start[i] == len(expected)
        assert count[i] == len(mine)
        expected += [r for _, r in mine]
    assert order == expected


def test_page_rows_wants_a_uint64_seq():
    table = pa.table({"key": ["a\n1"], "seq": pa.array([1], pa.int64())})
    with pytest.raises(ldesfrag.ColumnError, match="seq"):
        ldesfrag._ldesfrag.page_rows(table, pa.array(["a\n1"]))
