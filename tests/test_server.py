"""The live server (ldesfrag.server) through Starlette's TestClient: admin API, ingest, fetch,
error codes, restart. rdflib is the oracle for page content."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import rdflib
import rdflib.compare
from ldes_data import member_iri, members_nt
from rdflib import RDF, Literal, URIRef
from starlette.testclient import TestClient

from ldesfrag.server import StoreError, create_app, negotiate, open_store, parse_stream

TREE = "https://w3id.org/tree#"
LDES = "https://w3id.org/ldes#"
EXAMPLES = Path(__file__).parent / "data" / "examples"
BASE = "http://ldes.test/"
ADMIN = "/admin/api/v1/eventstreams"

VIEW_TIME = """<http://localhost:8080/observations/by-time> tree:viewDescription [
    tree:fragmentationStrategy ( [ a tree:HierarchicalTimeBasedFragmentation ;
        tree:maxGranularity "day" ; tree:fragmentationPath prov:generatedAtTime ] ) ;
    tree:pageSize "PAGE"^^xsd:int ] ."""
VIEW_TILE = """<http://localhost:8080/observations/by-tile> tree:viewDescription [
    tree:fragmentationStrategy ( [ a tree:GeospatialFragmentation ; tree:maxZoom "14" ;
        tree:fragmentationPath "http://www.opengis.net/ont/geosparql#asWKT" ]
      [ a tree:HierarchicalTimeBasedFragmentation ; tree:maxGranularity "month" ;
        tree:fragmentationPath prov:generatedAtTime ] ) ;
    tree:pageSize "PAGE"^^xsd:int ] ."""
PREFIXES = """@prefix ldes: <https://w3id.org/ldes#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix tree: <https://w3id.org/tree#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix server: <http://localhost:8080/> .
"""


def stream_config(
    page: int = 5, views: tuple[str, ...] = ("by-time", "by-tile"), extra: str = ""
) -> str:
    """The reference server's event stream configuration, with its views."""
    bodies = {"by-time": VIEW_TIME, "by-tile": VIEW_TILE}
    links = ", ".join(f"<http://localhost:8080/observations/{v}>" for v in views)
    es = f"""server:observations a ldes:EventStream ;
    ldes:timestampPath prov:generatedAtTime ;
    ldes:versionOfPath dct:isVersionOf {extra}"""
    es += f" ;\n    tree:view {links} .\n" if views else " .\n"
    return PREFIXES + es + "\n".join(bodies[v].replace("PAGE", str(page)) for v in views)


TURTLE = {"content-type": "text/turtle"}
NT = {"content-type": "application/n-triples"}


def make_client(store_url: str, **kwargs) -> TestClient:
    """The app on a store (the ``store_url`` fixture: each test runs on SQLite and on
    PostgreSQL, tests/conftest.py)."""
    return TestClient(create_app(open_store(store_url), BASE, **kwargs))


@pytest.fixture
def client(store_url):
    with make_client(store_url) as c:
        r = c.post(ADMIN, content=stream_config(), headers=TURTLE)
        assert r.status_code == 201, r.text
        yield c


def get_graph(c, url: str, fmt: str = "turtle") -> tuple[rdflib.Graph, object]:
    parts = urlsplit(url)
    r = c.get(parts.path + (f"?{parts.query}" if parts.query else ""))
    assert r.status_code == 200, (url, r.status_code, r.text)
    g = rdflib.Graph()
    g.parse(data=r.content, format=fmt, publicID=url)
    return g, r


def walk(c, root: str) -> tuple[set[str], dict[str, tuple[rdflib.Graph, object]]]:
    """Every member IRI reachable from a view's root, and every node (graph, response)."""
    members: set[str] = set()
    nodes: dict[str, tuple[rdflib.Graph, object]] = {}
    todo = deque([root])
    while todo:
        url = todo.popleft()
        if url in nodes:
            continue
        g, r = get_graph(c, url)
        nodes[url] = (g, r)
        members |= {str(o) for o in g.objects(None, URIRef(TREE + "member"))}
        for rel in g.objects(URIRef(url), URIRef(TREE + "relation")):
            todo.extend(str(n) for n in g.objects(rel, URIRef(TREE + "node")))
    return members, nodes


def post_members(c, start: int, count: int, collection: str = "observations"):
    r = c.post(f"/{collection}", content=members_nt(start, count), headers=NT)
    assert r.status_code == 201, r.text
    return r.json()


def test_admin_create_get_list_delete(store_url):
    with make_client(store_url) as c:
        assert c.get(ADMIN).status_code == 200
        r = c.post(ADMIN, content=stream_config(), headers=TURTLE)
        assert r.status_code == 201, r.text
        assert c.post(ADMIN, content=stream_config(), headers=TURTLE).status_code == 409
        g = rdflib.Graph().parse(data=c.get(f"{ADMIN}/observations").text, format="turtle")
        es = URIRef("http://localhost:8080/observations")
        assert (es, RDF.type, URIRef(LDES + "EventStream")) in g
        assert set(g.objects(es, URIRef(TREE + "view"))) == {
            URIRef("http://localhost:8080/observations/by-time"),
            URIRef("http://localhost:8080/observations/by-tile"),
        }
        listed = rdflib.Graph().parse(data=c.get(ADMIN).text, format="turtle")
        assert (es, RDF.type, URIRef(LDES + "EventStream")) in listed
        views = c.get(f"{ADMIN}/observations/views")
        assert views.status_code == 200
        assert "by-tile" in views.text
        assert c.get(f"{ADMIN}/observations/views/by-time").status_code == 200
        assert c.get(f"{ADMIN}/observations/views/nope").status_code == 404
        assert c.delete(f"{ADMIN}/observations/views/by-time").status_code == 200
        assert c.get("/observations/by-time").status_code == 404
        assert c.get("/observations/by-tile").status_code == 200
        assert c.delete(f"{ADMIN}/observations").status_code == 200
        assert c.get(f"{ADMIN}/observations").status_code == 404
        assert c.get("/observations").status_code == 404
        assert c.delete(f"{ADMIN}/observations").status_code == 404


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("this is not turtle", "text/turtle", 400),
        (PREFIXES + "server:x a tree:Node .", "text/turtle", 400),  # no event stream
        (PREFIXES + "server:admin a ldes:EventStream .", "text/turtle", 400),  # reserved name
        (stream_config().replace('"day"', '"fortnight"'), "text/turtle", 400),
        (stream_config(), "text/plain", 415),
    ],
)
def test_admin_refuses_bad_configurations(store_url, body, content_type, status):
    with make_client(store_url) as c:
        r = c.post(ADMIN, content=body, headers={"content-type": content_type})
        assert r.status_code == status, r.text
        assert r.json()["error"]
        assert rdflib.Graph().parse(data=c.get(ADMIN).text, format="turtle").__len__() == 0


def test_parse_stream_reads_each_view_description():
    cfg = parse_stream(stream_config(page=7), "text/turtle", BASE)
    assert cfg.name == "observations"
    assert [v.name for v in sorted(cfg.views, key=lambda v: v.name)] == ["by-tile", "by-time"]
    by = {v.name: v.view for v in cfg.views}
    assert by["by-time"].page_size == 7
    assert [type(f).__name__ for f in by["by-tile"].fragmentations] == [
        "Geospatial",
        "HierarchicalTime",
    ]
    assert cfg.timestamp_path == "http://www.w3.org/ns/prov#generatedAtTime"


def test_every_ingested_member_is_in_each_view_with_its_description(client):
    report = post_members(client, 0, 30)
    assert report["members"] == 30
    # 1 in 30 members has no time, 1 in 25 no geometry: reported, still published.
    assert report["unknown_bucket_count"] >= 2
    post_members(client, 30, 17)
    expected = {member_iri(i) for i in range(47)}
    source = rdflib.Graph().parse(data=members_nt(0, 47), format="nt")
    for view in ("by-time", "by-tile"):
        members, nodes = walk(client, f"{BASE}observations/{view}")
        assert members == expected, view
        immutable = [
            u
            for u, (g, _) in nodes.items()
            if (URIRef(u), URIRef(LDES + "immutable"), Literal(True)) in g
        ]
        assert immutable, view  # page size 5: full pages exist
        for url, (_, r) in nodes.items():
            frozen = url in immutable
            assert ("immutable" in r.headers["cache-control"]) == frozen
            assert r.headers["vary"] == "Accept"
            assert r.headers["etag"].startswith('"')
        # One member's description, as ingested (through its nested blank-node geometry too).
        m = URIRef(member_iri(6))
        page = next(g for g, _ in nodes.values() if (None, URIRef(TREE + "member"), m) in g)
        assert rdflib.compare.isomorphic(page.cbd(m), source.cbd(m))
    # The root is the view node: the event stream, its view, never immutable.
    g, r = get_graph(client, f"{BASE}observations/by-time")
    assert (
        URIRef(f"{BASE}observations"),
        URIRef(TREE + "view"),
        URIRef(f"{BASE}observations/by-time"),
    ) in g
    assert "immutable" not in r.headers["cache-control"]


def test_event_stream_document_names_every_view(client):
    g, r = get_graph(client, f"{BASE}observations")
    es = URIRef(f"{BASE}observations")
    assert set(g.objects(es, URIRef(TREE + "view"))) == {
        URIRef(f"{BASE}observations/by-time"),
        URIRef(f"{BASE}observations/by-tile"),
    }
    assert len(list(g.objects(None, URIRef(TREE + "fragmentationStrategy")))) == 2
    assert r.headers["vary"] == "Accept"


@pytest.mark.parametrize(
    ("fmt", "media", "parser"),
    [
        ("turtle", "text/turtle", "turtle"),
        ("ntriples", "application/n-triples", "nt"),
        ("nquads", "application/n-quads", "nquads"),
        ("trig", "application/trig", "trig"),
        ("jsonld", "application/ld+json", "json-ld"),
    ],
)
def test_every_format_has_the_same_triples(client, fmt, media, parser):
    post_members(client, 0, 12)
    _, nodes = walk(client, f"{BASE}observations/by-time")
    for url, (turtle, _) in nodes.items():
        path = urlsplit(url)
        r = client.get(
            path.path + (f"?{path.query}" if path.query else ""), headers={"accept": media}
        )
        assert r.status_code == 200
        assert r.headers["content-type"].startswith(media)
        ds = rdflib.Dataset()
        ds.parse(data=r.content, format=parser, publicID=url)
        got = rdflib.Graph()
        for s, p, o, _ in ds.quads():
            got.add((s, p, o))
        assert rdflib.compare.isomorphic(got, turtle), url
    for path in ("/observations", "/observations/by-time"):
        assert client.get(path, headers={"accept": media}).headers["content-type"].startswith(media)


def test_content_negotiation():
    assert negotiate(None) == "turtle"
    assert negotiate("*/*") == "turtle"
    assert negotiate("application/n-quads;q=0.5, text/turtle;q=0.4") == "nquads"
    assert negotiate("text/html, application/ld+json;q=0.1") == "jsonld"
    assert negotiate("*/*;q=0.1, application/trig") == "trig"
    assert negotiate("text/turtle;q=0") is None
    assert negotiate("text/html") is None


def test_not_acceptable_etag_and_not_modified(client):
    post_members(client, 0, 3)
    assert client.get("/observations/by-time", headers={"accept": "text/html"}).status_code == 406
    assert client.get("/observations", headers={"accept": "image/png"}).status_code == 406
    r = client.get("/observations/by-time?year=2023&month=05&day=10&pageNumber=1")
    assert r.status_code == 200
    tag = r.headers["etag"]
    again = client.get(r.url.path + "?" + r.url.query.decode(), headers={"if-none-match": tag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == tag
    weak = client.get(
        r.url.path + "?" + r.url.query.decode(), headers={"if-none-match": "W/" + tag}
    )
    assert weak.status_code == 304
    # A new member on the page: a new body, a new ETag, the old one no longer matches.
    post_members(client, 3, 3)
    changed = client.get(r.url.path + "?" + r.url.query.decode(), headers={"if-none-match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag


def test_node_urls_normalise_percent_encoding_and_refuse_others(client):
    post_members(client, 0, 20)
    _, nodes = walk(client, f"{BASE}observations/by-tile")
    tile_page = next(u for u in nodes if "tile=14/" in u and "pageNumber" in u)
    query = urlsplit(tile_page).query
    plain = client.get("/observations/by-tile?" + query)
    encoded = client.get("/observations/by-tile?" + query.replace("/", "%2F").replace("=", "=", 1))
    assert plain.status_code == encoded.status_code == 200
    assert plain.content == encoded.content
    for bad in (
        "/observations/by-tile?tile=14/1/1&pageNumber=1",  # no such node
        "/observations/by-tile?pageNumber=0",
        "/observations/by-tile?pageNumber=1&tile=0/0/0",  # pageNumber not last
        "/observations/by-tile?%ZZ",
        "/observations/nope",
        "/nope/by-tile",
        "/observations/%2e%2e/admin",
        "/observations/by-tile%2F..%2F..%2Fetc%2Fpasswd",
    ):
        r = client.get(bad)
        assert 400 <= r.status_code < 500, (bad, r.status_code)
        assert "ldes:EventStream" not in r.text


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ("<http://ex.org/a> <http://ex.org/p> .", "application/n-triples", 400),  # syntax
        ("@prefix broken", "text/turtle", 400),
        ('{"@id": "http://ex.org/a", ', "application/ld+json", 400),
        ("<http://ex.org/a> <http://ex.org/p> <http://ex.org/b> .", "application/n-triples", 400),
        (members_nt(0, 2), "text/plain", 415),
        (members_nt(0, 2), "application/rdf+xml", 415),
    ],
)
def test_bad_bodies_are_refused_and_nothing_is_stored(client, body, content_type, status):
    r = client.post("/observations", content=body, headers={"content-type": content_type})
    assert r.status_code == status, r.text
    assert r.json()["error"]
    members, _ = walk(client, f"{BASE}observations/by-time")
    assert members == set()
    post_members(client, 0, 2)  # the server goes on
    assert walk(client, f"{BASE}observations/by-time")[0] == {member_iri(0), member_iri(1)}


def test_one_bad_statement_refuses_the_whole_body(client):
    body = members_nt(0, 3) + '<http://ex.org/x> <http://ex.org/p> "unterminated .\n'
    body += members_nt(3, 3)
    r = client.post("/observations", content=body, headers=NT)
    assert r.status_code == 400
    assert r.json()["problems"]
    assert "<data>" in r.json()["problems"][0]
    assert walk(client, f"{BASE}observations/by-time")[0] == set()


def test_unknown_collection_huge_body_and_closed_stream(store_url):
    with make_client(store_url, max_body=4096) as c:
        assert c.post(ADMIN, content=stream_config(), headers=TURTLE).status_code == 201
        assert c.post("/nope", content=members_nt(0, 1), headers=NT).status_code == 404
        big = members_nt(0, 100)
        assert len(big) > 4096
        assert c.post("/observations", content=big, headers=NT).status_code == 413
        assert walk(c, f"{BASE}observations/by-time")[0] == set()
        post_members(c, 0, 3)
        assert c.post(f"{ADMIN}/observations/close").status_code == 200
        r = c.post("/observations", content=members_nt(3, 1), headers=NT)
        assert r.status_code == 409
        members, nodes = walk(c, f"{BASE}observations/by-time")
        assert members == {member_iri(i) for i in range(3)}
        pages = [u for u in nodes if "pageNumber" in u]
        assert pages
        assert all("immutable" in nodes[u][1].headers["cache-control"] for u in pages)
        assert "immutable" not in nodes[f"{BASE}observations/by-time"][1].headers["cache-control"]


def test_repeated_members_are_ignored_and_reported(client):
    post_members(client, 0, 4)
    r = client.post("/observations", content=members_nt(2, 2), headers=NT)
    assert r.status_code == 200
    assert r.json()["ignored"] == 2
    assert r.json()["members"] == 0
    r = client.post(
        "/observations", content=members_nt(3, 3).replace('"member 3 ', '"changed '), headers=NT
    )
    assert r.status_code == 201
    assert r.json()["members"] == 2
    assert r.json()["ignored_members"] == [member_iri(3)]
    members, nodes = walk(client, f"{BASE}observations/by-time")
    assert members == {member_iri(i) for i in range(6)}
    # The first description stays.
    labels = {
        str(o)
        for g, _ in nodes.values()
        for o in g.objects(URIRef(member_iri(3)), rdflib.RDFS.label)
    }
    assert labels == {'member 3 "quoted" é'}


def test_real_members_in_every_input_format(client):
    files = [
        ("E2E_geomobility_by-page-1_verkeerstelling-first-member.ttl", "text/turtle", "turtle"),
        (
            "Server4J_geospatial_ldes-member-2-geo-props-bucketising_linked-connections.nq",
            "application/n-quads",
            "nquads",
        ),
    ]
    expected = set()
    for name, media, parser in files:
        data = (EXAMPLES / name).read_bytes()
        r = client.post("/observations", content=data, headers={"content-type": media})
        assert r.status_code == 201, (name, r.text)
        ds = rdflib.Dataset().parse(data=data, format=parser)
        expected |= {
            str(s)
            for s, _, _, _ in ds.quads(
                (None, URIRef("http://purl.org/dc/terms/isVersionOf"), None, None)
            )
        }
    # JSON-LD and TriG: the same member as Turtle, under a new IRI.
    g = rdflib.Graph().parse(data=members_nt(50, 1), format="nt")
    jsonld = g.serialize(format="json-ld").replace("/v50", "/v51")
    assert (
        client.post(
            "/observations", content=jsonld, headers={"content-type": "application/ld+json"}
        ).status_code
        == 201
    )
    trig = "{\n" + members_nt(50, 1).replace("/v50", "/v52") + "}\n"  # the default graph
    assert (
        client.post(
            "/observations", content=trig, headers={"content-type": "application/trig"}
        ).status_code
        == 201
    )
    expected |= {member_iri(50).replace("/v50", v) for v in ("/v51", "/v52")}
    assert walk(client, f"{BASE}observations/by-tile")[0] == expected


def test_state_objects_become_versions(store_url):
    extra = ';\n    ldes:createVersions true ;\n    ldes:versionDelimiter "#"'
    with make_client(store_url) as c:
        r = c.post(ADMIN, content=stream_config(views=("by-time",), extra=extra), headers=TURTLE)
        assert r.status_code == 201, r.text
        data = (
            EXAMPLES / "Server4J_integration-test_two-observations_verkeersmetingen-state"
            ".template.ttl"
        ).read_bytes()
        r = c.post("/observations", content=data, headers=TURTLE)
        assert r.status_code == 201, r.text
        states = {
            str(s)
            for s in rdflib.Graph().parse(data=data, format="turtle").subjects()
            if isinstance(s, URIRef)
        }
        members, nodes = walk(c, f"{BASE}observations/by-time")
        assert len(members) == len(states) == r.json()["members"]
        version_of = URIRef("http://purl.org/dc/terms/isVersionOf")
        for m in members:
            state, _, stamp = m.partition("#")
            assert state in states
            assert stamp.endswith("Z")
            page = next(g for g, _ in nodes.values() if (URIRef(m), version_of, None) in g)
            assert (URIRef(m), version_of, URIRef(state)) in page


def test_a_view_added_later_fragments_every_member(client):
    post_members(client, 0, 23)
    assert client.delete(f"{ADMIN}/observations/views/by-tile").status_code == 200
    post_members(client, 23, 4)
    view = PREFIXES + VIEW_TILE.replace("PAGE", "4")
    r = client.post(f"{ADMIN}/observations/views", content=view, headers=TURTLE)
    assert r.status_code == 201, r.text
    assert (
        client.post(f"{ADMIN}/observations/views", content=view, headers=TURTLE).status_code == 409
    )
    post_members(client, 27, 3)
    expected = {member_iri(i) for i in range(30)}
    assert walk(client, f"{BASE}observations/by-tile")[0] == expected
    assert walk(client, f"{BASE}observations/by-time")[0] == expected


def test_restart_serves_every_acknowledged_member_and_continues_pages(store_url):
    with make_client(store_url) as c:
        assert c.post(ADMIN, content=stream_config(), headers=TURTLE).status_code == 201
        post_members(c, 0, 12)
        before, nodes = walk(c, f"{BASE}observations/by-time")
        pages_before = {u for u in nodes if "pageNumber" in u}
    with make_client(store_url) as c:
        members, nodes = walk(c, f"{BASE}observations/by-time")
        assert members == before == {member_iri(i) for i in range(12)}
        assert set(nodes) >= pages_before
        post_members(c, 12, 30)
        members, nodes = walk(c, f"{BASE}observations/by-time")
        assert members == {member_iri(i) for i in range(42)}
        # Each bucket's pages go on from where they were: 1…n, no gap, no restart at 1.
        by_bucket: dict[str, list[int]] = {}
        for u in nodes:
            query = urlsplit(u).query
            if "pageNumber=" in query:
                bucket, _, n = query.rpartition("&pageNumber=")
                by_bucket.setdefault(bucket, []).append(int(n))
        for bucket, numbers in by_bucket.items():
            assert sorted(numbers) == list(range(1, len(numbers) + 1)), bucket
        assert any(len(n) > 2 for n in by_bucket.values())


def test_the_fragmenter_is_saved_as_a_journal_and_compacted(store_url, monkeypatch):
    import ldesfrag.server.engine as engine

    store = open_store(store_url)
    with TestClient(create_app(store, BASE)) as c:
        assert c.post(ADMIN, content=stream_config(), headers=TURTLE).status_code == 201
        view_ids = [v.id for s in store.streams() for v in s.views]
        bases = {vid: store.fragmenter(vid)[0] for vid in view_ids}
        for i in range(6):
            post_members(c, i, 1)
        for vid in view_ids:
            state, journal = store.fragmenter(vid)
            # The base is as saved when the view was made; one small entry per commit.
            assert state == bases[vid]
            assert len(journal) == 6
            assert all(0 < len(e) < 400 for e in journal)
        members, _ = walk(c, f"{BASE}observations/by-tile")
    # Compaction: once the journal outweighs the base, the next save writes a new base.
    monkeypatch.setattr(engine, "_MIN_COMPACT_BYTES", 0)
    with TestClient(create_app(open_store(store_url), BASE)) as c:
        assert walk(c, f"{BASE}observations/by-tile")[0] == members
        post_members(c, 6, 1)
        for vid in view_ids:
            state, journal = store.fragmenter(vid)
            assert state != bases[vid]
            assert journal == []
        assert walk(c, f"{BASE}observations/by-tile")[0] == members | {member_iri(6)}


@pytest.mark.parametrize(
    ("query", "pragma"), [("", 2), ("?synchronous=full", 2), ("?synchronous=NORMAL", 1)]
)
def test_sqlite_durability_is_named_in_the_store_url(tmp_path, query, pragma):
    store = open_store(f"sqlite:///{tmp_path / 'ldes.db'}{query}")
    with TestClient(create_app(store, BASE)) as c:
        assert c.post(ADMIN, content=stream_config(), headers=TURTLE).status_code == 201
        post_members(c, 0, 3)
        # The writer connection's PRAGMA synchronous: 2 = FULL, 1 = NORMAL.
        assert store._w().execute("PRAGMA synchronous").fetchone()[0] == pragma
        members, _ = walk(c, f"{BASE}observations/by-tile")
        assert len(members) == 3


@pytest.mark.parametrize(
    ("query", "error"),
    [("?synchronous=off", "synchronous must be one of"), ("?journal=delete", "unknown option")],
)
def test_sqlite_store_options_are_checked(tmp_path, query, error):
    with pytest.raises(StoreError, match=error):
        open_store(f"sqlite:///{tmp_path / 'ldes.db'}{query}")


def test_a_store_is_served_only_under_the_base_url_its_pages_name(store_url):
    with make_client(store_url) as c:
        assert c.post(ADMIN, content=stream_config(), headers=TURTLE).status_code == 201
        post_members(c, 0, 3)
    other = TestClient(create_app(open_store(store_url), "http://elsewhere.test/"))
    with pytest.raises(StoreError, match="another base URL"), other:
        pass
    with make_client(store_url) as c:  # the right one still serves
        assert walk(c, f"{BASE}observations/by-time")[0] == {member_iri(i) for i in range(3)}


def assert_pages_as_stored(c) -> None:
    """Every node served (rendered at commit, or from the members held in memory when fetched)
    is the very body rendered from the store's rows."""
    import json

    from ldesfrag import parse_node_url
    from ldesfrag.server.engine import render_node

    engine = c.app.state.engine
    s = engine.streams["observations"]
    for v in s.views.values():
        _, nodes = walk(c, v.url)
        for url, (_, r) in nodes.items():
            bucket, page = parse_node_url(v.url, url, "query")
            node, members = engine.store.node(s.id, v.id, bucket, page or 0)
            again = render_node(
                s, v, bucket, page, node.immutable, json.loads(node.relations), members, "turtle"
            )
            assert r.content == again.body, url
            assert r.headers["etag"] == again.etag


@pytest.mark.parametrize("open_rows", [None, 3])
def test_pages_rendered_from_memory_are_the_pages_of_the_store(store_url, monkeypatch, open_rows):
    import ldesfrag.server.engine as engine

    if open_rows is not None:  # most changed pages are read back from the store
        monkeypatch.setattr(engine, "OPEN_ROWS", open_rows)
    with make_client(store_url) as c:
        assert c.post(ADMIN, content=stream_config(page=7), headers=TURTLE).status_code == 201
        start = 0
        for n in (1, 1, 9, 2, 30, 1, 14):
            post_members(c, start, n)
            start += n
            assert_pages_as_stored(c)  # each commit's version of an open page, not a cached one
    with make_client(store_url) as c:  # restarted: the open pages are read again
        held = [v.open.rows for v in c.app.state.engine.streams["observations"].views.values()]
        if store_url.startswith("postgresql"):  # shared: nothing held, all read back
            assert held == [0, 0]
        else:
            assert all(held) if open_rows is None else max(held) <= 3
        assert_pages_as_stored(c)
        for n in (3, 1, 20):
            post_members(c, start, n)
            start += n
        assert_pages_as_stored(c)
        assert c.post(f"{ADMIN}/observations/close").status_code == 200
        assert_pages_as_stored(c)


def test_a_failed_commit_leaves_the_open_pages_as_committed(tmp_path, monkeypatch):
    import sqlite3

    from ldesfrag.server import sqlite as backend

    real = backend._Tx.put_nodes
    calls = []

    def flaky(self, view_id, rows):
        calls.append(view_id)
        if len(calls) == 2:  # the second view of one commit: the first view's pages are staged
            raise sqlite3.OperationalError("disk I/O error")
        return real(self, view_id, rows)

    with make_client(f"sqlite:///{tmp_path}/ldes.db") as c:
        assert c.post(ADMIN, content=stream_config(page=7), headers=TURTLE).status_code == 201
        post_members(c, 0, 10)
        monkeypatch.setattr(backend._Tx, "put_nodes", flaky)
        post_members(c, 10, 5)  # the batch fails, the request alone is committed again
        assert len(calls) == 4
        post_members(c, 15, 3)
        for view in ("by-time", "by-tile"):
            members, _ = walk(c, f"{BASE}observations/{view}")
            assert members == {member_iri(i) for i in range(18)}
        assert_pages_as_stored(c)
