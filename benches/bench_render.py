"""Rendering pages: ldesfrag.render_page vs rdflib serialising the same page graph.

rdflib is timed on a graph it already holds (serialisation only); ldesfrag's time includes
reading the members' N-Triples payloads and hashing the body for its ETag. Items are members.
"""

import pyarrow as pa
import pytest
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, PROV, RDF, XSD

import ldesfrag

TREE = Namespace("https://w3id.org/tree#")
LDES = Namespace("https://w3id.org/ldes#")
GEO = Namespace("http://www.opengis.net/ont/geosparql#")
STREAM = "http://localhost:8080/observations"
PAGE_SIZE = 250
BATCH_PAGES, BATCH_PAGE_SIZE = 400, 10


def payload(i: int) -> str:
    """A traffic-count-like version object: 10 triples, two blank nodes."""
    m = f"https://example.org/id/observation/{i}/2023-05-12T14:{i % 60:02d}:00Z"
    return (
        f"<{m}> <{RDF.type}> <https://example.org/ns#Verkeerstelling> .\n"
        f"<{m}> <{DCTERMS.isVersionOf}> <https://example.org/id/observation/{i}> .\n"
        f'<{m}> <{PROV.generatedAtTime}> "2023-05-12T14:{i % 60:02d}:00Z"^^<{XSD.dateTime}> .\n'
        f'<{m}> <https://example.org/ns#count> "{i * 7 % 1000}"^^<{XSD.integer}> .\n'
        f'<{m}> <https://example.org/ns#note> "a \\"quoted\\" note, line\\nbreak, café" .\n'
        f"<{m}> <https://example.org/ns#geometry> _:b0 .\n"
        f"_:b0 <{RDF.type}> <http://www.opengis.net/ont/sf#Point> .\n"
        f'_:b0 <{GEO.asWKT}> "POINT (5.{i:05d} 50.96)"^^<{GEO.wktLiteral}> .\n'
        f"<{m}> <https://example.org/ns#sensor> _:b1 .\n"
        f'_:b1 <https://example.org/ns#label> "sensor {i % 17}"@nl .\n'
    )


def members(start: int, n: int) -> pa.Table:
    ps = [payload(i) for i in range(start, start + n)]
    ids = [p[1 : p.index(">")] for p in ps]
    stamps = [f"2023-05-12T14:{i % 60:02d}:00Z" for i in range(start, start + n)]
    return pa.table({"id": ids, "payload": ps, "timestamp": stamps})


def relations(node: str) -> list[dict]:
    return [
        {"type": str(TREE.Relation), "node": node + "&next=1"},
        {
            "type": str(TREE.GreaterThanOrEqualToRelation),
            "node": node + "&year=2023",
            "path": str(PROV.generatedAtTime),
            "value": "2023-01-01T00:00:00Z",
            "datatype": str(XSD.dateTime),
        },
    ]


def rdflib_page(node: str, table: pa.Table, rels: list[dict]) -> Graph:
    """The same page as an rdflib graph, built with rdflib's API (the reference's input)."""
    g = Graph()
    g.bind("tree", TREE)
    g.bind("ldes", LDES)
    n, s = URIRef(node), URIRef(STREAM)
    g.add((n, RDF.type, TREE.Node))
    g.add((n, DCTERMS.isPartOf, s))
    g.add((n, LDES.immutable, Literal(True)))
    for r in rels:
        b = BNode()
        g.add((n, TREE.relation, b))
        g.add((b, RDF.type, URIRef(r["type"])))
        g.add((b, TREE.node, URIRef(r["node"])))
        if "path" in r:
            g.add((b, TREE.path, URIRef(r["path"])))
            g.add((b, TREE.value, Literal(r["value"], datatype=URIRef(r["datatype"]))))
    g.add((s, RDF.type, LDES.EventStream))
    payloads = []
    for i, (mid, p) in enumerate(
        zip(table["id"].to_pylist(), table["payload"].to_pylist(), strict=True)
    ):
        g.add((s, TREE.member, URIRef(mid)))
        payloads.append(p.replace("_:b", f"_:m{i}b"))  # one parse: keep members' nodes apart
    g.parse(data="".join(payloads), format="nt")
    return g


def node_iri(k: int) -> str:
    return f"http://localhost:8080/observations/by-loc?tile=15/16882/{10975 + k}&pageNumber=1"


@pytest.fixture(scope="module")
def page():
    table = members(0, PAGE_SIZE)
    rels = relations(node_iri(0))
    return table, rels, rdflib_page(node_iri(0), table, rels)


@pytest.fixture(scope="module")
def batch():
    pages = []
    for k in range(BATCH_PAGES):
        table = members(k * BATCH_PAGE_SIZE, BATCH_PAGE_SIZE)
        rels = relations(node_iri(k))
        pages.append((node_iri(k), table, rels, rdflib_page(node_iri(k), table, rels)))
    return pages


def render(table, rels, fmt):
    return ldesfrag.render_page(
        node_iri(0), stream=STREAM, members=table, relations=rels, immutable=True, format=fmt
    )


def render_batch(pages, fmt):
    return [
        ldesfrag.render_page(
            node, stream=STREAM, members=table, relations=rels, immutable=True, format=fmt
        )
        for node, table, rels, _ in pages
    ]


def rdflib_batch(pages, fmt):
    return [g.serialize(format=fmt) for *_, g in pages]


@pytest.mark.parametrize(("fmt", "rdflib_fmt"), [("turtle", "turtle"), ("ntriples", "nt")])
def test_page_ldesfrag(benchmark, measure, page, fmt, rdflib_fmt):
    table, rels, _ = page
    measure(benchmark, f"page of 250, {fmt}", "ldesfrag", PAGE_SIZE, render, table, rels, fmt)


@pytest.mark.parametrize(("fmt", "rdflib_fmt"), [("turtle", "turtle"), ("ntriples", "nt")])
def test_page_rdflib(benchmark, measure, page, fmt, rdflib_fmt):
    g = page[2]
    measure(
        benchmark, f"page of 250, {fmt}", "ref:rdflib", PAGE_SIZE, g.serialize, None, rdflib_fmt
    )


@pytest.mark.parametrize(("fmt", "rdflib_fmt"), [("turtle", "turtle"), ("ntriples", "nt")])
def test_batch_ldesfrag(benchmark, measure, batch, fmt, rdflib_fmt):
    n = BATCH_PAGES * BATCH_PAGE_SIZE
    measure(benchmark, f"400 pages, {fmt}", "ldesfrag", n, render_batch, batch, fmt)


@pytest.mark.parametrize(("fmt", "rdflib_fmt"), [("turtle", "turtle"), ("ntriples", "nt")])
def test_batch_rdflib(benchmark, measure, batch, fmt, rdflib_fmt):
    n = BATCH_PAGES * BATCH_PAGE_SIZE
    measure(benchmark, f"400 pages, {fmt}", "ref:rdflib", n, rdflib_batch, batch, rdflib_fmt)


def signature(g: Graph) -> set:
    """The triples with each blank node named by the one (subject, predicate) that points to
    it: a linear-time isomorphism check for these pages, where every blank node is referenced
    exactly once from a named node (rdflib.compare is too slow for 500 blank nodes)."""
    names = {}
    for s, p, o in g:
        if isinstance(o, BNode):
            assert o not in names, "referenced once"
            assert not isinstance(s, BNode)
            names[o] = ("_", s, p)
    assert {n for n in g.all_nodes() if isinstance(n, BNode)} == set(names)
    return {tuple(names.get(t, t) for t in triple) for triple in g}


@pytest.mark.parametrize(("fmt", "rdflib_fmt"), [("turtle", "turtle"), ("ntriples", "nt")])
def test_same_graphs(page, batch, fmt, rdflib_fmt):
    table, rels, reference = page
    ours = Graph().parse(data=render(table, rels, fmt).body, format=rdflib_fmt)
    theirs = Graph().parse(data=reference.serialize(format=rdflib_fmt), format=rdflib_fmt)
    assert len(ours) == len(theirs) == len(reference) == 12 + PAGE_SIZE * 11
    assert signature(ours) == signature(theirs)
    checked = batch[:50]
    for (node, _, _, g), rendered in zip(checked, render_batch(checked, fmt), strict=True):
        ours = Graph().parse(data=rendered.body, format=rdflib_fmt)
        assert signature(ours) == signature(g), node
    assert isomorphic(Graph().parse(data=rendered.body, format=rdflib_fmt), checked[-1][3])
