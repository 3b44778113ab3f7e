"""Members from N-Quads: ldesfrag.read_members vs rdflib and pyoxigraph parsing the same file.

pyoxigraph's lenient parse (every quad consumed, nothing grouped) is the fastest thing a Python
user could run on such a dump: ldesfrag's extraction, which parses and also groups members and
writes their payloads, is measured beside it on a larger dump (several reader windows, so the
reader's read-ahead and every core are at work).
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import pyoxigraph
import pytest
import rdflib
from rdflib import BNode, URIRef
from rdflib.compare import to_canonical_graph

import ldesfrag
from ldesfrag import DCT_IS_VERSION_OF, Geospatial, HierarchicalTime, View

# rdflib 7 warns about its own use of Dataset.default_context on every quad.
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context:DeprecationWarning")
N = 20_000
#: Members of the dump measured beside pyoxigraph (fewer with --benchmark-disable).
N_LARGE = 200_000
VIEW = View([Geospatial(max_zoom=14), HierarchicalTime("day")])


def write_dump(path: Path, n: int) -> Path:
    """Version objects with a nested blank-node geometry, like the traffic counts."""
    rng = random.Random(7)
    wkt = "<http://www.opengis.net/ont/geosparql#wktLiteral>"
    dt = "<http://www.w3.org/2001/XMLSchema#dateTime>"
    a = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
    at = f"<{ldesfrag.PROV_GENERATED_AT_TIME}>"
    with path.open("w") as f:
        for i in range(n):
            m = f"<https://ex.org/observation/{i}/2023-05-{1 + i % 28:02d}T10:00:00Z>"
            lon, lat = rng.uniform(2.6, 6.3), rng.uniform(49.6, 51.4)
            f.write(
                f"{m} <{DCT_IS_VERSION_OF}> <https://ex.org/observation/{i}> .\n"
                f"{m} {a} <https://ex.org/Count> .\n"
                f'{m} {at} "2023-05-{1 + i % 28:02d}T10:00:00Z"^^{dt} .\n'
                f'{m} <https://ex.org/result> "{rng.randint(0, 500)}" <https://ex.org/g/{i % 3}>'
                " .\n"
                f"{m} <https://ex.org/observed> _:p{i} .\n"
                f"_:p{i} <https://ex.org/shape> _:g{i} .\n"
                f'_:g{i} <{ldesfrag.GEO_AS_WKT}> "POINT ({lon:.6f} {lat:.6f})"^^{wkt} .\n'
            )
    return path


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    return write_dump(tmp_path_factory.mktemp("extract") / "dump.nq", N)


@pytest.fixture(scope="module")
def large_dump(tmp_path_factory, request):
    n = 2_000 if request.config.getoption("benchmark_disable") else N_LARGE
    return n, write_dump(tmp_path_factory.mktemp("extract") / "large.nq", n)


def rdflib_parse(path):
    return rdflib.Dataset().parse(path, format="nquads")


def test_ldesfrag(benchmark, measure, dump):
    t = measure(benchmark, "extract nquads", "ldesfrag", N, ldesfrag.read_members, dump, VIEW)
    assert t.num_rows == N


def test_rdflib_parse(benchmark, measure, dump):
    ds = measure(benchmark, "extract nquads", "ref:rdflib parse", N, rdflib_parse, dump)
    assert len(ds) > 0


def pyoxigraph_parse(path):
    """Lenient pyoxigraph, every quad consumed: its bare parse, without grouping members."""
    return sum(
        1 for _ in pyoxigraph.parse(path=path, format=pyoxigraph.RdfFormat.N_QUADS, lenient=True)
    )


def test_ldesfrag_large(benchmark, measure, large_dump):
    n, path = large_dump
    t = measure(
        benchmark, "extract nquads, large", "ldesfrag", n, ldesfrag.read_members, path, VIEW
    )
    assert t.num_rows == n


def test_pyoxigraph_parse(benchmark, measure, large_dump):
    n, path = large_dump
    quads = measure(
        benchmark,
        "extract nquads, large",
        "ref:pyoxigraph lenient parse",
        n,
        pyoxigraph_parse,
        path,
    )
    assert quads == 7 * n


def test_same_members_as_rdflib(tmp_path):
    path = write_dump(tmp_path / "small.nq", 500)
    table = ldesfrag.read_members(path, VIEW)
    ds = rdflib_parse(path)
    by_subject = defaultdict(list)
    for s, p, o, g in ds.quads((None, None, None, None)):
        if g is None or getattr(g, "identifier", g) == rdflib.graph.DATASET_DEFAULT_GRAPH_ID:
            by_subject[s].append((s, p, o))
    members = {
        s
        for s, p, _ in (t for ts in by_subject.values() for t in ts)
        if p == URIRef(DCT_IS_VERSION_OF)
    }
    assert set(table["id"].to_pylist()) == {str(m) for m in members}
    for m, payload, wkts in zip(
        table["id"].to_pylist(),
        table["payload"].to_pylist(),
        table["geometry"].to_pylist(),
        strict=True,
    ):
        want, todo = rdflib.Graph(), [URIRef(m)]
        while todo:
            for t in by_subject[todo.pop()]:
                want.add(t)
                if isinstance(t[2], BNode):
                    todo.append(t[2])
        got = rdflib.Graph().parse(data=payload, format="nt")
        assert set(to_canonical_graph(got)) == set(to_canonical_graph(want))
        assert wkts == [str(o) for o in want.objects(None, URIRef(ldesfrag.GEO_AS_WKT))]
