"""Members from RDF against rdflib (the oracle), on the real examples and on generated data."""

from __future__ import annotations

import gzip
import random
import re
import uuid
import warnings
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import rdflib
from hypothesis import given, settings
from hypothesis import strategies as st
from rdflib import RDF, XSD, BNode, Literal, URIRef
from rdflib.compare import to_canonical_graph
from rdflib.graph import DATASET_DEFAULT_GRAPH_ID

import ldesfrag
from ldesfrag import (
    DCT_IS_VERSION_OF,
    Fragmenter,
    Geospatial,
    HierarchicalTime,
    MemberReader,
    RdfError,
    RdfWarning,
    Reference,
    View,
    ViewError,
    read_members,
)

# rdflib 7 warns about its own use of Dataset.default_context on every quad.
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context:DeprecationWarning")
EXAMPLES = Path(__file__).parent / "data" / "examples"
LAMBERT = EXAMPLES / "Server4J_geospatial_ldes-member-bucketising_gipod-lambert72.nq"
TRAFFIC = EXAMPLES / "E2E_geomobility_by-page-1_verkeerstelling-first-member.ttl"
PARK_AND_RIDE = EXAMPLES / "E2E_019_park-and-ride-gent_offset-timestamp.ttl"
GIPOD_NO_CRS = EXAMPLES / "Server4J_domain_example-ldes-member_gipod-multipolygon-no-crs.nq"
GIPOD_PAGE = EXAMPLES / "Server4J_fetch-rest_example-ldes-fragment_gipod-page.nq"
DEFAULT_BUCKET = sorted(EXAMPLES.glob("E2E_039-default-bucket_member*.ttl"))
TREE_MEMBER = URIRef("https://w3id.org/tree#member")
GEO_AS_WKT = URIRef(ldesfrag.GEO_AS_WKT)
DCT = rdflib.Namespace("http://purl.org/dc/terms/")
PROV_AT = URIRef(ldesfrag.PROV_GENERATED_AT_TIME)
LANG_STRING = URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#langString")


# --- the oracle -------------------------------------------------------------------------------


def _norm_term(t: rdflib.term.Node) -> rdflib.term.Node:
    # `"x"^^xsd:string` and `"x"` are the same RDF 1.1 literal; rdflib keeps them apart. A
    # langString without a tag is read as xsd:string by ldesfrag (reported).
    if isinstance(t, Literal) and t.language is None and t.datatype in (XSD.string, LANG_STRING):
        return Literal(str(t))
    return t


def _graph(triples) -> rdflib.Graph:
    g = rdflib.Graph()
    for s, p, o in triples:
        g.add((s, p, _norm_term(o)))
    return g


def oracle(
    data: str | Path,
    fmt: str,
    member: str = "version-of",
    member_type: str | None = None,
    version_of: str = DCT_IS_VERSION_OF,
) -> dict[str, rdflib.Graph]:
    """Member IRI → description (CBD in the default graph + its named graph), by rdflib."""
    ds = rdflib.Dataset()
    if isinstance(data, Path):
        ds.parse(data, format=fmt)
    else:
        ds.parse(data=data, format=fmt)
    default: list[tuple] = []
    named: dict[rdflib.term.Node, list[tuple]] = defaultdict(list)
    for s, p, o, g in ds.quads((None, None, None, None)):
        gid = getattr(g, "identifier", g)
        if gid is None or gid == DATASET_DEFAULT_GRAPH_ID:
            default.append((s, p, o))
        else:
            named[gid].append((s, p, o))
    vo = URIRef(version_of)
    if member == "version-of":
        ids = {s for s, p, _ in default if p == vo}
        ids |= {s for g, ts in named.items() for s, p, _ in ts if p == vo and s == g}
    elif member == "tree-member":
        ids = {o for ts in [default, *named.values()] for _, p, o in ts if p == TREE_MEMBER}
    elif member == "named-graph":
        ids = set(named)
    elif member == "type":
        ids = {s for s, p, o in default if p == RDF.type and o == URIRef(member_type)}
    elif member == "subject":
        ids = {s for s, _, _ in default}
    else:
        raise AssertionError(member)
    by_subject = defaultdict(list)
    for t in default:
        by_subject[t[0]].append(t)
    out = {}
    for m in ids:
        if not isinstance(m, URIRef):
            continue
        triples, todo, seen = [], [m], {m}
        while todo:
            for t in by_subject[todo.pop()]:
                triples.append(t)
                if isinstance(t[2], BNode) and t[2] not in seen:
                    seen.add(t[2])
                    todo.append(t[2])
        triples += named.get(m, [])
        out[str(m)] = _graph(t for t in triples if not (t[1] == TREE_MEMBER and t[2] == m))
    return out


def payload_graph(payload: str) -> rdflib.Graph:
    g = rdflib.Graph()
    g.parse(data=payload, format="nt")
    return _graph(g)


def same_graph(a: rdflib.Graph, b: rdflib.Graph) -> bool:
    # Canonical labelling (RDF graph isomorphism). `rdflib.compare.isomorphic` compares
    # hashes that differ for some equal, normalised literals (xsd:time), so compare the
    # canonical graphs triple by triple.
    return len(a) == len(b) and set(to_canonical_graph(a)) == set(to_canonical_graph(b))


def assert_matches_oracle(table, expected: dict[str, rdflib.Graph]) -> None:
    ids = table["id"].to_pylist()
    assert len(ids) == len(set(ids))
    assert set(ids) == set(expected)
    for i, payload in zip(ids, table["payload"].to_pylist(), strict=True):
        assert same_graph(payload_graph(payload), expected[i]), i


def read(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RdfWarning)
        return read_members(*args, **kwargs)


def _rows(table) -> list[dict]:
    cols = {name: table[name].to_pylist() for name in table.schema.names}
    return [dict(zip(cols, vals, strict=True)) for vals in zip(*cols.values(), strict=True)]


def assigned(view: View, members) -> dict[str, set[str]]:
    """member id → buckets, by the Fragmenter."""
    a = _rows(Fragmenter(view).assign(members))
    ids = members["id"].to_pylist()
    out: dict[str, set[str]] = defaultdict(set)
    for r in a:
        out[ids[r["row"]]].add(r["bucket"])
    return out


# --- the real examples ------------------------------------------------------------------------


def test_lambert72_member_matches_rdflib_and_payload_is_canonical_ntriples():
    t = read(LAMBERT, View())
    assert_matches_oracle(t, oracle(LAMBERT, "nquads"))
    payload = t["payload"][0].as_py()
    assert payload.endswith("\n")
    assert all(line.endswith(" .") for line in payload.splitlines())
    # blank nodes relabelled in order of first appearance
    labels = re.findall(r"_:(\w+)", payload)
    assert labels
    assert labels[0] == "b0"
    order = list(dict.fromkeys(labels))
    assert order == [f"b{i}" for i in range(len(order))]


def test_lambert72_document_member_gives_the_four_z15_tiles_of_the_reference_server():
    # The geometry hangs off the zone IRI, outside the CBD; the reference server bucketises the
    # whole ingested document (docs/ldes-rules.md, "Geospatial test vectors").
    view = View([Geospatial(max_zoom=15)])
    t = read(LAMBERT, view, member="document")
    assert t["id"].to_pylist() == [
        "https://private-api.gipod.beta-vlaanderen.be/api/v1/mobility-hindrances/10810464/#ID"
    ]
    assert (
        t["geometry"][0]
        .as_py()[0]
        .startswith("<http://www.opengis.net/def/crs/EPSG/9.9.1/31370> POLYGON")
    )
    tiles = assigned(view, t)[t["id"][0].as_py()]
    assert tiles == {
        "tile=15/16743/11009",
        "tile=15/16744/11009",
        "tile=15/16743/11010",
        "tile=15/16742/11010",
    }
    # By the CBD the geometry is not part of the member: unknown tile, with a reason.
    t = read(LAMBERT, view)
    assert t["geometry"][0].as_py() == []
    f = Fragmenter(view)
    assert {r["bucket"] for r in _rows(f.assign(t))} == {"tile=unknown"}
    assert f.invalid().num_rows == 1


def test_traffic_count_point_and_linestring_on_nested_blank_nodes():
    view = View([Geospatial(max_zoom=15), HierarchicalTime("day")])
    t = read(TRAFFIC, view)
    expected = oracle(TRAFFIC, "turtle")
    assert_matches_oracle(t, expected)
    (m,) = expected
    wkts = sorted(str(o) for o in expected[m].objects(None, GEO_AS_WKT))
    assert sorted(t["geometry"][0].as_py()) == wkts
    assert any(w.startswith("LINESTRING") for w in wkts)
    assert any(w.startswith("POINT") for w in wkts)
    assert t["timestamp"].to_pylist() == ["2022-11-23T08:15:00.000Z"]
    buckets = assigned(view, t)[m]
    assert buckets
    assert all(b.endswith("year=2022&month=11&day=23") for b in buckets)
    # the union of the tiles of every geometry
    cover = ldesfrag.cover(pa.array(wkts), 15)
    union = {f"tile=15/{c['x']}/{c['y']}" for row in cover.to_pylist() for c in row}
    assert {b.split("&")[0] for b in buckets} == union


def test_park_and_ride_offset_timestamp():
    path = str(DCT.modified)
    view = View([Geospatial(max_zoom=14), HierarchicalTime("hour", path=path)])
    t = read(PARK_AND_RIDE, view)
    assert_matches_oracle(t, oracle(PARK_AND_RIDE, "turtle"))
    assert t["timestamp"].to_pylist() == ["2023-12-21T13:44:56+01:00"]
    assert t["geometry"].to_pylist() == [[]]
    instant = datetime.fromisoformat("2023-12-21T13:44:56+01:00").astimezone(UTC)
    (buckets,) = assigned(view, t).values()
    assert buckets == {f"tile=unknown&year=2023&month=12&day=21&hour={instant.hour:02d}"}
    # timestamp_path adds the column from that same path only once; another path clashes
    t2 = read(PARK_AND_RIDE, view, timestamp_path=path)
    assert t2.schema.names == ["id", "geometry", "timestamp", "payload"]
    with pytest.raises(ViewError):
        read(PARK_AND_RIDE, view, timestamp_path=ldesfrag.PROV_GENERATED_AT_TIME)


def test_default_bucket_members_go_to_unknown_buckets_with_reasons():
    view = View([Geospatial(max_zoom=15), HierarchicalTime("day", path=str(DCT.created))])
    t = read(DEFAULT_BUCKET, view)
    ids = t["id"].to_pylist()
    assert ids == [
        "https://private-api.gipod.beta-vlaanderen.be/api/v1/mobility-hindrances/1/0",
        "https://private-api.gipod.beta-vlaanderen.be/api/v1/mobility-hindrances/1/1",
        "https://private-api.gipod.beta-vlaanderen.be/api/v1/mobility-hindrances/1/2",
    ]
    assert t["timestamp"].to_pylist()[:2] == [None, "-11-09T10:24:23.8646433Z"]
    f = Fragmenter(view)
    a = _rows(f.assign(t))
    by_row = defaultdict(set)
    for r in a:
        by_row[r["row"]].add(r["bucket"])
    assert by_row[0] == {"tile=unknown&year=unknown"}
    assert by_row[1] == {"tile=unknown&year=unknown"}
    assert by_row[2]
    assert all(
        not b.startswith("tile=unknown") and b.endswith("year=2023&month=11&day=09")
        for b in by_row[2]
    )
    invalid = _rows(f.invalid())
    assert {(r["row"], r["column"]) for r in invalid} == {
        (0, "geometry"),
        (0, "timestamp"),
        (1, "geometry"),
        (1, "timestamp"),
    }
    assert all(r["reason"] for r in invalid)


def test_langstring_without_tag_is_kept_and_reported():
    with pytest.warns(RdfWarning, match="langString"):
        t = read_members(GIPOD_NO_CRS, View([Geospatial(max_zoom=10)]), member="tree-member")
    expected = oracle(GIPOD_NO_CRS, "nquads", member="tree-member")
    assert_matches_oracle(t, expected)
    reader = MemberReader(GIPOD_NO_CRS, View(), member="tree-member")
    list(reader)
    problems = _rows(reader.problems())
    lines = [
        i
        for i, line in enumerate(GIPOD_NO_CRS.read_text().splitlines(), 1)
        if "#langString>" in line
    ]
    assert [p["line"] for p in problems] == lines
    assert all(not p["dropped"] and p["file"] == str(GIPOD_NO_CRS) for p in problems)
    # the repaired literals are plain strings in the payload
    g = payload_graph(t["payload"][0].as_py())
    assert Literal("2630 Aartselaar, Baron van Ertbornstraat: Werfzone") in set(g.objects())


def test_page_file_tree_member_mode_matches_rdflib():
    t = read(GIPOD_PAGE, View(), member="tree-member")
    assert t.num_rows >= 1
    assert_matches_oracle(t, oracle(GIPOD_PAGE, "nquads", member="tree-member"))


def test_template_member_through_the_fragmenter(tmp_path):
    text = (EXAMPLES / "Server4J_integration-test_mob-hind.template.ttl").read_text()
    p = tmp_path / "m.ttl"
    p.write_text(text.replace("DATETIME", "2023-04-05T06:07:08Z"))
    view = View([Geospatial(max_zoom=9), HierarchicalTime("day", path=str(DCT.created))])
    t = read(p, view)
    assert t["id"].to_pylist() == ["http://test-data/mobility-hindrance/1/ID"]
    # the reference server's integration test expects these 3 z9 tiles
    assert assigned(view, t)["http://test-data/mobility-hindrance/1/ID"] == {
        f"tile=9/{x}/{y}&year=2023&month=04&day=05" for x, y in [(261, 171), (262, 170), (262, 171)]
    }


def test_reference_column_and_type_mode():
    view = View([Reference(path=ldesfrag.RDF_TYPE)])
    t = read(DEFAULT_BUCKET, view, member="type", member_type=str(DCT.Agent))
    assert t.num_rows == 0
    cls = "https://data.vlaanderen.be/ns/mobiliteit#Mobiliteitshinder"
    t = read(DEFAULT_BUCKET, view, member="type", member_type=cls)
    assert t.num_rows == 3
    for r in _rows(t):
        g = payload_graph(r["payload"])
        assert sorted(r["reference"]) == sorted(str(o) for o in g.objects(None, RDF.type))


# --- generated data: windows, batches, order, named graphs -------------------------------------


@st.composite
def datasets(draw):
    """N-Quads groups: each member's statements (own triples, nested blank nodes, named graph)
    in random order; groups in random order; noise statements between groups."""
    n = draw(st.integers(0, 6))
    groups: list[list[str]] = []
    for i in range(n):
        m = f"<http://ex.org/m/{i}>"
        lines = [f"{m} <{DCT_IS_VERSION_OF}> <http://ex.org/e/{i}> ."]
        counter = [0]

        def node(depth, i=i, lines=lines, counter=counter):
            counter[0] += 1
            b = f"_:g{i}n{counter[0]}"
            for k in range(draw(st.integers(0, 3))):
                if depth < 3 and draw(st.booleans()):
                    lines.append(f"{b} <http://ex.org/p{k}> {node(depth + 1)} .")
                else:
                    lines.append(f'{b} <http://ex.org/p{k}> "v{k}" .')
            if draw(st.booleans()):
                lines.append(f'{b} <{ldesfrag.GEO_AS_WKT}> "POINT ({i} {counter[0]})" .')
            return b

        for k in range(draw(st.integers(0, 3))):
            lines.append(f"{m} <http://ex.org/q{k % 2}> {node(0)} .")
        if draw(st.booleans()):
            lines.append(
                f'{m} <{ldesfrag.PROV_GENERATED_AT_TIME}> "2023-0{i + 1}-01T00:00:00Z"'
                "^^<http://www.w3.org/2001/XMLSchema#dateTime> ."
            )
        if draw(st.booleans()):
            lines.append(f'<http://ex.org/x/{i}> <http://ex.org/r> "in graph" {m} .')
        groups.append(draw(st.permutations(lines)))
    for j in range(draw(st.integers(0, 2))):
        groups.insert(
            draw(st.integers(0, len(groups))),
            [f'<http://ex.org/other/{j}> <http://ex.org/s> "1" .'],
        )
    return groups


def _write(tmp_path, lines: list[str], name="d.nq") -> Path:
    p = tmp_path / name
    p.write_text("".join(line + "\n" for line in lines))
    return p


VIEW = View([Geospatial(max_zoom=5), HierarchicalTime("day")])


@settings(max_examples=60)
@given(datasets(), st.integers(1, 40), st.integers(1, 5), st.randoms(use_true_random=False))
def test_window_and_batch_invariance_and_rdflib(tmp_path_factory, groups, window, batch, rnd):
    tmp = tmp_path_factory.mktemp("w")
    path = _write(tmp, [line for g in groups for line in g])
    reference = read(path, VIEW)
    # The documented guarantee: a member group of at most 8 windows comes out whole.
    window = max(window, -(-max((len(g) for g in groups), default=1) // 8))
    tables = list(MemberReader(path, VIEW, window=window, batch_size=batch))
    assert all(t.num_rows <= batch for t in tables)
    got = [r for t in tables for r in _rows(t)]
    assert got == _rows(reference)
    assert_matches_oracle(reference, oracle(path, "nquads"))
    # Input order: order of each member's first statement.
    first = {}
    for k, line in enumerate(line for g in groups for line in g):
        for m in re.findall(r"<http://ex.org/m/\d+>", line)[:1]:
            first.setdefault(m[1:-1], k)
    ids = reference["id"].to_pylist()
    assert ids == sorted(ids, key=lambda i: first[i])
    # Any statement order (no grouping): same members, same payloads, at the default window.
    lines = [line for g in groups for line in g]
    rnd.shuffle(lines)
    shuffled = read(_write(tmp, lines, "s.nq"), VIEW)
    assert sorted(_rows(shuffled), key=lambda r: r["id"]) == sorted(
        _rows(reference), key=lambda r: r["id"]
    )


def test_named_graph_mode_matches_rdflib(tmp_path):
    lines = []
    for i in range(5):
        g = f"<http://ex.org/g/{i}>"
        lines += [
            f'<http://ex.org/g/{i}> <http://ex.org/p> "self" {g} .',
            f"<http://ex.org/s/{i}> <http://ex.org/p> _:x{i} {g} .",
            f'_:x{i} <{ldesfrag.GEO_AS_WKT}> "POINT (4 51)" {g} .',
            f"<http://ex.org/stream> <{TREE_MEMBER}> {g} {g} .",
        ]
    lines.insert(1, "<http://ex.org/g/0> <http://ex.org/q> <http://ex.org/default> .")
    path = _write(tmp_path, lines)
    t = read(path, VIEW, member="named-graph")
    assert_matches_oracle(t, oracle(path, "nquads", member="named-graph"))
    assert t["geometry"].to_pylist() == [["POINT (4 51)"]] * 5
    assert "tree#member" not in "".join(t["payload"].to_pylist())
    # window invariance with graphs cut anywhere
    for w in (1, 2, 3, 5):
        got = [
            r for b in MemberReader(path, VIEW, member="named-graph", window=w) for r in _rows(b)
        ]
        assert got == _rows(t)


def test_tree_member_statements_far_before_their_descriptions(tmp_path):
    lines = [f"<http://ex.org/es> <{TREE_MEMBER}> <http://ex.org/m/{i}> ." for i in range(30)]
    lines += [f'<http://ex.org/m/{i}> <http://ex.org/p> "{i}" .' for i in range(30)]
    lines.append(f"<http://ex.org/es> <{TREE_MEMBER}> _:blank .")
    lines.append(f"<http://ex.org/es> <{TREE_MEMBER}> <http://ex.org/no-description> .")
    path = _write(tmp_path, lines)
    reader = MemberReader(path, View(), member="tree-member", window=4)
    t = [r for b in reader for r in _rows(b)]
    assert [r["id"] for r in t] == [f"http://ex.org/m/{i}" for i in range(30)] + [
        "http://ex.org/no-description"
    ]
    assert t[-1]["payload"] == ""
    problems = _rows(reader.problems())
    assert {(p["line"], p["dropped"]) for p in problems} == {(61, True), (62, False)}


# --- bad input ---------------------------------------------------------------------------------


def test_syntax_errors_in_nquads_skip_the_statement_and_name_the_line(tmp_path):
    lines = []
    for i in range(6):
        lines += [
            f"<http://ex.org/m/{i}> <{DCT_IS_VERSION_OF}> <http://ex.org/e/{i}> .",
            f'<http://ex.org/m/{i}> <http://ex.org/p> "ok {i}" .',
        ]
    lines[5] = '<http://ex.org/m/2> <http://ex.org/p> "unterminated .'
    lines[8] = "<http://ex.org/m/4> this is not rdf"
    path = _write(tmp_path, lines)
    with pytest.warns(RdfWarning, match="2 RDF problem"):
        t = read_members(path, View())
    # m/2 is published whole or not at all; m/4 lost the line that made it a member.
    assert t["id"].to_pylist() == [f"http://ex.org/m/{i}" for i in [0, 1, 3, 5]]
    reader = MemberReader(path, View())
    list(reader)
    problems = _rows(reader.problems())
    assert [(p["file"], p["line"], p["member"], p["dropped"]) for p in problems] == [
        (str(path), 6, "http://ex.org/m/2", True),
        (str(path), 9, None, True),
    ]
    expected = oracle("\n".join(x for k, x in enumerate(lines) if k not in (4, 5, 8)), "nquads")
    assert_matches_oracle(t, expected)


def test_syntax_error_in_turtle_keeps_the_other_members(tmp_path):
    blocks = [
        f"<http://ex.org/m/{i}> <{DCT_IS_VERSION_OF}> <http://ex.org/e/{i}> ;\n"
        f'    <http://ex.org/p> [ <http://ex.org/q> "v{i}" ] .\n'
        for i in range(4)
    ]
    blocks[1] = '<http://ex.org/m/1> <http://ex.org/p> "broken ;\n    <http://ex.org/q> ] .\n'
    p = tmp_path / "d.ttl"
    p.write_text("".join(blocks))
    reader = MemberReader(p, View())
    ids = [i for b in reader for i in b["id"].to_pylist()]
    assert "http://ex.org/m/0" in ids
    assert "http://ex.org/m/3" in ids
    problems = _rows(reader.problems())
    assert problems
    assert all(x["dropped"] and x["file"] == str(p) for x in problems)
    assert any(x["line"] in (3, 4) for x in problems)


def test_blank_node_members_are_reported(tmp_path):
    path = _write(
        tmp_path,
        [
            f"_:b <{DCT_IS_VERSION_OF}> <http://ex.org/e> .",
            f"<http://ex.org/m> <{DCT_IS_VERSION_OF}> <http://ex.org/e> .",
        ],
    )
    reader = MemberReader(path, View())
    assert [i for b in reader for i in b["id"].to_pylist()] == ["http://ex.org/m"]
    (p,) = _rows(reader.problems())
    assert p["line"] == 1
    assert p["dropped"]
    assert "blank node" in p["reason"]


@pytest.mark.parametrize(("alias", "fmt"), [("nq", "nquads"), ("ttl", "turtle")])
def test_the_old_format_spellings_read_the_same(tmp_path, alias, fmt):
    source = LAMBERT if fmt == "nquads" else TRAFFIC
    # A name the extension does not tell, so the format argument decides.
    path = tmp_path / "dump.data"
    path.write_bytes(source.read_bytes())
    expected = _rows(read(source, View([Geospatial(15)])))
    assert len(expected) == 1
    assert _rows(read(path, View([Geospatial(15)]), format=fmt)) == expected
    assert _rows(read(path, View([Geospatial(15)]), format=alias)) == expected
    with pytest.raises(RdfError, match="extension"):
        read(path, View())


def test_ntriples_is_read_by_its_name_and_its_old_one(tmp_path):
    lines = ["<http://ex.org/m> <http://purl.org/dc/terms/isVersionOf> <http://ex.org/e> ."]
    path = _write(tmp_path, lines, name="d.data")
    by_name = _rows(read(path, View(), format="ntriples"))
    assert [r["id"] for r in by_name] == ["http://ex.org/m"]
    assert _rows(read(path, View(), format="nt")) == by_name


@pytest.mark.parametrize("fmt", ["jsonld", "json-ld"])
def test_jsonld_is_written_not_read_a_clear_error(tmp_path, fmt):
    """`jsonld` is an `ldesfrag.RdfFormat` (render_page, publish) but not an
    `ldesfrag.RdfInputFormat`: reading with it is refused, never ignored."""
    path = _write(tmp_path, [], name="d.jsonld")
    match = rf"format {fmt!r} is not supported here, only 'turtle', 'ntriples', 'nquads', 'trig'"
    with pytest.raises(RdfError, match=match):
        read(path, View(), format=fmt)  # type: ignore[arg-type]
    with pytest.raises(RdfError, match=match):
        MemberReader(path, View(), format=fmt)  # type: ignore[arg-type]
    # Also when no file is read (an rdflib graph says its own format).
    with pytest.raises(RdfError, match=match):
        read(rdflib.Graph(), View(), format=fmt)  # type: ignore[arg-type]
    with pytest.raises(RdfError, match="extension"):
        read(path, View())


def test_arguments_are_checked(tmp_path):
    path = _write(tmp_path, [])
    with pytest.raises(RdfError, match="member"):
        read(path, View(), member="nope")  # type: ignore[arg-type]
    with pytest.raises(RdfError, match="member_type"):
        read(path, View(), member="type")
    (tmp_path / "x.rdf").write_text("")
    with pytest.raises(RdfError, match="extension"):
        read(tmp_path / "x.rdf", View())
    with pytest.raises(RdfError, match="format must be one of 'turtle', 'ntriples', 'nquads', "):
        read(path, View(), format="rdfxml")  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        read(tmp_path / "missing.nq", View())
    with pytest.raises(FileNotFoundError):
        read(str(tmp_path / "*.nothing.nq"), View())
    with pytest.raises(RdfError, match="IRI"):
        read(path, View(), version_of_path="not an iri")
    with pytest.raises(ViewError):
        read(path, View([Geospatial(max_zoom=3, column="payload")]))
    empty = read(path, View([Geospatial(max_zoom=3)]))
    assert empty.num_rows == 0
    assert empty.schema.names == ["id", "geometry", "payload"]


# --- gzip, globs, rdflib graphs ----------------------------------------------------------------


def test_gzip_and_globs(tmp_path):
    for name in ("a.nq.gz", "b.nq.gz"):
        with gzip.open(tmp_path / name, "wb") as f:
            f.write(LAMBERT.read_bytes().replace(b"10810464", name[0].encode() * 3))
    (tmp_path / "c.ttl").write_bytes(PARK_AND_RIDE.read_bytes())
    t = read([str(tmp_path / "*.nq.gz"), tmp_path / "c.ttl"], VIEW)
    ids = t["id"].to_pylist()
    assert ids == [
        "https://private-api.gipod.beta-vlaanderen.be/api/v1/mobility-hindrances/aaa/#ID",
        "https://private-api.gipod.beta-vlaanderen.be/api/v1/mobility-hindrances/bbb/#ID",
        "https://stad.gent/nl/mobiliteit-openbare-werken/parkeren/park-and-ride-pr/"
        "pr-bourgoyen#2023-12-21T13:44:56+01:00",
    ]
    plain = read(LAMBERT, VIEW)
    assert t["payload"][0].as_py() == plain["payload"][0].as_py().replace("10810464", "aaa")


def test_truncated_gzip_is_reported_and_keeps_what_was_read(tmp_path):
    vo = DCT_IS_VERSION_OF
    lines = [f"<http://ex.org/m/{i}> <{vo}> <http://ex.org/e> ." for i in range(5000)]
    data = gzip.compress("".join(line + "\n" for line in lines).encode())
    path = tmp_path / "cut.nq.gz"
    path.write_bytes(data[: len(data) // 2])
    reader = MemberReader(path, View())
    ids = [i for b in reader for i in b["id"].to_pylist()]
    assert 0 < len(ids) < 5000
    assert ids == [f"http://ex.org/m/{i}" for i in range(len(ids))]
    # the read error, and possibly the cut-off statement before it
    problems = _rows(reader.problems())
    assert 1 <= len(problems) <= 2
    assert all(p["dropped"] for p in problems)
    assert any("read error" in p["reason"] for p in problems)


def test_blank_node_labels_are_scoped_to_their_file(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.nt").write_text(
            f"<http://ex.org/{name}> <{DCT_IS_VERSION_OF}> <http://ex.org/e> .\n"
            f"<http://ex.org/{name}> <http://ex.org/p> _:b0 .\n"
            f'_:b0 <http://ex.org/q> "{name}" .\n'
        )
    t = read(str(tmp_path / "*.nt"), View())
    assert t["id"].to_pylist() == ["http://ex.org/a", "http://ex.org/b"]
    for name, payload in zip("ab", t["payload"].to_pylist(), strict=True):
        assert payload.count("\n") == 3
        assert f'"{name}"' in payload


def test_rdflib_graph_and_dataset_sources():
    g = rdflib.Graph().parse(TRAFFIC, format="turtle")
    from_graph = read(g, VIEW)
    from_file = read(TRAFFIC, VIEW)
    # rdflib normalises some lexical forms (…00.000Z → …00+00:00) when it serialises
    assert from_graph["id"].to_pylist() == from_file["id"].to_pylist()
    assert from_graph["geometry"].to_pylist() == from_file["geometry"].to_pylist()
    assert same_graph(
        payload_graph(from_graph["payload"][0].as_py()),
        payload_graph(from_file["payload"][0].as_py()),
    )
    ds = rdflib.Dataset()
    ds.parse(LAMBERT, format="nquads")
    named = ds.graph(URIRef("http://ex.org/m/1"))
    named.add((URIRef("http://ex.org/m/1"), URIRef("http://ex.org/p"), Literal("x")))
    t = read(ds, VIEW, member="named-graph")
    assert t["id"].to_pylist() == ["http://ex.org/m/1"]
    assert read(ds, VIEW)["id"].to_pylist() == read(LAMBERT, VIEW)["id"].to_pylist()


# --- fuzzing the parser path -------------------------------------------------------------------


def _fuzz_lines() -> tuple[list[str], list[str]]:
    ids = [
        f"http://ex.org/member/{uuid.UUID(int=random.Random(i).getrandbits(128))}"
        for i in range(12)
    ]
    lines = []
    for m in ids:
        lines += [
            f"<{m}> <{DCT_IS_VERSION_OF}> <{m}/entity> .",
            f'<{m}> <{ldesfrag.GEO_AS_WKT}> "POINT (4.1 51.2)" .',
            f'<{m}> <http://ex.org/label> "é \\"quoted\\"" <{m}> .',
        ]
    return ids, lines


@settings(max_examples=150)
@given(st.data())
def test_byte_mutations_never_crash_nor_lose_members_on_other_lines(tmp_path_factory, data):
    ids, lines = _fuzz_lines()
    raw = bytearray("".join(line + "\n" for line in lines).encode())
    # The original line of each byte of `raw`, kept in step with the mutations (an insert or a
    # delete shifts every later byte).
    line_of = [k for k, line in enumerate(lines) for _ in range(len(line.encode()) + 1)]
    touched: set[int] = set()
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        k = line_of[pos]
        touched |= {k, k + 1}  # a removed newline also breaks the next line
        op = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = data.draw(st.integers(0, 255))
        if op == "replace":
            raw[pos] = byte
        elif op == "insert":
            raw.insert(pos, byte)
            line_of.insert(pos, k)
        else:
            del raw[pos]
            del line_of[pos]
    path = tmp_path_factory.mktemp("fuzz") / "f.nq"
    path.write_bytes(bytes(raw))
    t = read(path, View([Geospatial(max_zoom=3)]), member="version-of")
    clean = read_members_clean(lines)
    got = dict(zip(t["id"].to_pylist(), t["payload"].to_pylist(), strict=True))
    for j, m in enumerate(ids):
        if not touched & {3 * j, 3 * j + 1, 3 * j + 2}:
            assert got.get(m) == clean[m]


def read_members_clean(lines: list[str]) -> dict[str, str]:
    reader = MemberReader([rdflib.Dataset().parse(data="\n".join(lines), format="nquads")], View())
    return {r["id"]: r["payload"] for b in reader for r in _rows(b)}


@settings(max_examples=60)
@given(st.binary(max_size=64), st.integers(0, 2000))
def test_random_bytes_in_turtle_never_crash(tmp_path_factory, junk, at):
    raw = TRAFFIC.read_bytes()
    at = min(at, len(raw))
    path = tmp_path_factory.mktemp("fuzz") / "f.ttl"
    path.write_bytes(raw[:at] + junk + raw[at:])
    reader = MemberReader(path, VIEW)
    for b in reader:
        assert b.num_rows >= 0
    reader.problems()


# ---- an in-memory body (data=), as a server receives it -------------------------------------

MEMORY_VIEW = View([Geospatial(15), HierarchicalTime("day")])


@pytest.mark.parametrize(
    ("source", "fmt"),
    [(LAMBERT, "nquads"), (TRAFFIC, "turtle"), (LAMBERT, "nq"), (TRAFFIC, "ttl")],
)
@pytest.mark.parametrize("as_text", [False, True])
def test_a_body_in_memory_reads_as_the_same_file(tmp_path, source, fmt, as_text):
    """data= gives the rows of the same bytes read from a file, and rdflib's triples."""
    body = source.read_bytes()
    from_file = _rows(read(source, MEMORY_VIEW))
    assert from_file
    data = body.decode() if as_text else body
    assert _rows(read(data=data, view=MEMORY_VIEW, format=fmt)) == from_file
    reader = MemberReader(data=data, view=MEMORY_VIEW, format=fmt, batch_size=1)
    assert [r for b in reader for r in _rows(b)] == from_file
    expected = oracle(body.decode(), "nquads" if fmt.startswith("n") else "turtle")
    assert_matches_oracle(read(data=data, view=MEMORY_VIEW, format=fmt), expected)


@pytest.mark.parametrize("fmt", ["ntriples", "nquads", "trig", "turtle"])
def test_generated_members_in_memory_equal_the_file_in_every_format(tmp_path, fmt):
    from ldes_data import members_nt

    graph = rdflib.Dataset()
    graph.parse(data=members_nt(0, 60), format="nt")
    rdflib_fmt = {"ntriples": "nt", "nquads": "nquads", "trig": "trig", "turtle": "turtle"}[fmt]
    body = graph.serialize(format=rdflib_fmt, encoding="utf-8")
    path = tmp_path / f"d{ldesfrag.FILE_EXTENSIONS[fmt]}"
    path.write_bytes(body)
    from_file = _rows(read(path, MEMORY_VIEW))
    assert len(from_file) == 60
    assert _rows(read(data=body, view=MEMORY_VIEW, format=fmt)) == from_file


def test_a_bad_body_is_reported_as_a_file_is_with_data_as_its_name(tmp_path):
    lines = [
        f"<http://ex.org/m/{i}> <{DCT_IS_VERSION_OF}> <http://ex.org/e/{i}> ." for i in range(3)
    ]
    lines[1] = "<http://ex.org/m/1> this is not rdf"
    body = "\n".join(lines) + "\n"
    path = _write(tmp_path, lines)
    with pytest.warns(RdfWarning, match="<data>:2"):
        t = read_members(data=body, view=View(), format="nquads")
    assert t["id"].to_pylist() == ["http://ex.org/m/0", "http://ex.org/m/2"]
    file_reader, data_reader = (
        MemberReader(path, View()),
        MemberReader(data=body, view=View(), format="nquads"),
    )
    list(file_reader), list(data_reader)
    from_file = _rows(file_reader.problems())
    assert from_file
    assert _rows(data_reader.problems()) == [{**p, "file": "<data>"} for p in from_file]


def test_a_jsonld_body_is_read_natively_as_rdflib_reads_it():
    import json

    doc = {
        "@context": [
            "https://ex.org/context.jsonld",
            {"dct": "http://purl.org/dc/terms/", "ex": "http://ex.org/"},
        ],
        "@graph": [
            {"@id": "ex:m1", "dct:isVersionOf": {"@id": "ex:e1"}, "ex:p": 'one "é"'},
            {"@id": "m2", "dct:isVersionOf": {"@id": "ex:e2"}, "ex:p": {"@id": "ex:o"}},
            {
                "@id": "ex:m3",
                "dct:isVersionOf": {"@id": "ex:e3"},
                "when": "2023-05-12T10:00:00Z",
                "ex:g": {"ex:wkt": "POINT (3 51)"},
            },
        ],
    }
    context = {
        "@context": {
            "when": {
                "@id": "http://www.w3.org/ns/prov#generatedAtTime",
                "@type": "http://www.w3.org/2001/XMLSchema#dateTime",
            }
        }
    }
    body = json.dumps(doc)
    contexts = {"https://ex.org/context.jsonld": context}
    t = read(data=body, view=View(), format="jsonld", base_iri="http://ex.org/", contexts=contexts)
    assert sorted(t["id"].to_pylist()) == [f"http://ex.org/m{i}" for i in (1, 2, 3)]
    # The oracle: rdflib, with the context inlined (it would fetch a remote one).
    inlined = {**doc, "@context": [context["@context"], doc["@context"][1]]}
    expected = rdflib.Dataset().parse(
        data=json.dumps(inlined), format="json-ld", publicID="http://ex.org/"
    )
    assert_matches_oracle(t, oracle(expected.serialize(format="nquads"), "nquads"))
    # A remote context that is not given is refused, never fetched; so is a body that is
    # not JSON-LD, and contexts= without a JSON-LD body.
    with pytest.raises(RdfError, match="never fetches"):
        read(data=body, view=View(), format="jsonld")
    for bad in ("{not json", "[1, 2", '{"@id": 5}'):
        with pytest.raises(RdfError, match="not JSON-LD"):
            read(data=bad, view=View(), format="jsonld")
    with pytest.raises(RdfError, match="contexts"):
        read(data=body, view=View(), format="turtle", contexts=contexts)


def test_data_arguments_are_checked(tmp_path):
    body = LAMBERT.read_bytes()
    with pytest.raises(RdfError, match="needs format"):
        read(data=body, view=View())
    with pytest.raises(RdfError, match="not both"):
        read(LAMBERT, View(), data=body, format="nquads")
    with pytest.raises(RdfError, match="give a source"):
        read(view=View())
    with pytest.raises(RdfError, match="bytes or str"):
        read(data=123, view=View(), format="nquads")  # type: ignore[arg-type]
    with pytest.raises(RdfError, match="format must be one of"):
        read(data=body, view=View(), format="rdfxml")  # type: ignore[arg-type]
    with pytest.raises(ViewError):
        read(data=body, format="nquads")
