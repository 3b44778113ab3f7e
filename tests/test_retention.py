"""Retention in the live server (ldesfrag.server.retention): policies read from the view
configuration, advertised, and applied by dropping whole immutable pages; rdflib walks are the
oracle (docs/semantics.md, "Retention")."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
import rdflib
from ldes_data import member_iri, members_nt
from rdflib import URIRef
from test_server import (
    ADMIN,
    BASE,
    NT,
    PREFIXES,
    TREE,
    TURTLE,
    VIEW_TILE,
    VIEW_TIME,
    make_client,
    walk,
)

from ldesfrag.server import ConfigError, open_store, parse_view
from ldesfrag.server.config import parse_duration
from ldesfrag.server.retention import run_retention

LDES = "https://w3id.org/ldes#"
PROV_TIME = "http://www.w3.org/ns/prov#generatedAtTime"
DAY = '[ a ldes:DurationAgoPolicy ; tree:value "P1D"^^xsd:duration ]'


def config(page: int, time_policy: str | None, tile_policy: str | None = None) -> str:
    """The test stream (by-time, by-tile), each view with its retention policy if any."""

    def view(body: str, policy: str | None) -> str:
        body = body.replace("PAGE", str(page))
        if policy:
            body = body.replace(
                "tree:pageSize", f"ldes:retentionPolicy {policy} ;\n    tree:pageSize"
            )
        return body

    return (
        PREFIXES
        + """server:observations a ldes:EventStream ;
    ldes:timestampPath prov:generatedAtTime ;
    ldes:versionOfPath dct:isVersionOf ;
    tree:view <http://localhost:8080/observations/by-time>,
        <http://localhost:8080/observations/by-tile> .
"""
        + view(VIEW_TIME, time_policy)
        + "\n"
        + view(VIEW_TILE, tile_policy)
    )


def path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def bucket_and_page(url: str) -> tuple[str, int] | None:
    query = urlsplit(url).query
    if "pageNumber=" not in query:
        return None
    bucket, _, n = query.rpartition("pageNumber=")
    return bucket.rstrip("&"), int(n)


def pages_of(nodes) -> dict[str, list[tuple[int, str]]]:
    """Each bucket's pages (number, URL) in order."""
    out: dict[str, list[tuple[int, str]]] = {}
    for url in nodes:
        found = bucket_and_page(url)
        if found:
            out.setdefault(found[0], []).append((found[1], url))
    return {b: sorted(p) for b, p in out.items()}


def page_members(g: rdflib.Graph) -> dict[str, datetime | None]:
    """A page's members and their timestamps (None: none)."""
    out = {}
    for m in g.objects(None, URIRef(TREE + "member")):
        stamp = g.value(m, URIRef(PROV_TIME))
        out[str(m)] = None if stamp is None else datetime.fromisoformat(str(stamp))
    return out


def expected_drops(nodes, kept) -> set[str]:
    """The oracle: per bucket, the immutable pages from the front whose members all expired."""
    dropped = set()
    for chain in pages_of(nodes).values():
        for _, url in chain:
            g, r = nodes[url]
            if "immutable" not in r.headers["cache-control"]:
                break
            if any(kept(m, ts) for m, ts in page_members(g).items()):
                break
            dropped.add(url)
    return dropped


def retention_pass(c, now: datetime) -> dict[str, int]:
    return c.portal.call(run_retention, c.app.state.engine, now)


def check_pass(c, view: str, now: datetime, kept) -> tuple[set[str], set[str]]:
    """Runs a pass; checks every page of ``view`` against the oracle; (dropped pages, members
    served after)."""
    root = f"{BASE}observations/{view}"
    before, nodes = walk(c, root)
    dropped = expected_drops(nodes, kept)
    assert dropped, "the test data must expire some page"
    retention_pass(c, now)
    after, nodes_after = walk(c, root)
    for url in dropped:  # gone, not missing
        r = c.get(path(url))
        assert r.status_code == 410, (url, r.status_code)
    assert not dropped & set(nodes_after)
    in_dropped = set().union(*(page_members(nodes[u][0]) for u in dropped))
    remaining = set().union(*(page_members(nodes[u][0]) for u in nodes if u not in dropped))
    # Exactly the members of the pages left: every unexpired one, and expired ones that share a
    # page with an unexpired one.
    assert after == remaining == before - (in_dropped - remaining)
    for url, (_, r) in nodes.items():
        if url in dropped or bucket_and_page(url) is None:
            continue
        _, r2 = nodes_after[url]
        assert r2.content == r.content, url  # an immutable page never changes
        assert r2.headers["etag"] == r.headers["etag"], url
    # Each bucket node links to its first remaining page.
    for bucket, chain in pages_of(nodes).items():
        left = [n for n, u in chain if u not in dropped]
        if len(left) == len(chain):
            continue
        node = f"{root}?{bucket}" if bucket else root
        g, _ = nodes_after[node]
        targets = {
            str(t)
            for rel in g.objects(URIRef(node), URIRef(TREE + "relation"))
            for t in g.objects(rel, URIRef(TREE + "node"))
        }
        first = (
            f"{root}?{bucket}&pageNumber={left[0]}" if bucket else f"{root}?pageNumber={left[0]}"
        )
        assert first in targets, (node, targets)
        assert not targets & dropped
    return dropped, after


def test_time_based_retention_drops_whole_expired_immutable_pages(store_url):
    now = datetime(2023, 5, 12, 12, tzinfo=UTC)
    cutoff = now - timedelta(days=1)

    def kept(m, ts):
        return ts is None or ts >= cutoff

    with make_client(store_url, retention_interval=None) as c:
        assert c.post(ADMIN, content=config(3, DAY), headers=TURTLE).status_code == 201
        c.post("/observations", content=members_nt(0, 150), headers=NT)
        dropped, after = check_pass(c, "by-time", now, kept)
        # by-tile has no policy: it still serves everything, so no member is forgotten.
        tile, _ = walk(c, f"{BASE}observations/by-tile")
        assert tile == {member_iri(i) for i in range(150)}
        # A second pass at the same time drops nothing more.
        assert retention_pass(c, now) == {}
        # New members still go on the last pages.
        c.post("/observations", content=members_nt(150, 30), headers=NT)
        more, _ = walk(c, f"{BASE}observations/by-time")
        assert more == after | {member_iri(i) for i in range(150, 180)}
    # A restart keeps the drops.
    with make_client(store_url, retention_interval=None) as c:
        for url in dropped:
            assert c.get(path(url)).status_code == 410
        again, _ = walk(c, f"{BASE}observations/by-time")
        assert again == more


def test_a_cut_page_with_one_kept_member_stays_whole(store_url):
    """The cut falls inside a page: the earlier day's pages go, the page it falls in stays with
    its expired members, and so do the pages after it."""
    with make_client(store_url, retention_interval=None) as c:
        assert c.post(ADMIN, content=config(3, DAY), headers=TURTLE).status_code == 201
        c.post("/observations", content=members_nt(0, 150), headers=NT)
        _, nodes = walk(c, f"{BASE}observations/by-time")
        # The first page of day 11 has members out of time order (their pages follow
        # arrival): the cut falls just after its first-arrived member, before a later one.
        chain = pages_of(nodes)["year=2023&month=05&day=11"]
        first = page_members(nodes[chain[0][1]][0])
        arrived = sorted(first, key=lambda m: int(m.rsplit("/v", 1)[1]))
        assert first[arrived[0]] is not None
        assert any(t is not None and t > first[arrived[0]] for t in first.values())
        cutoff = first[arrived[0]] + timedelta(seconds=1)

        def kept(m, ts):
            return ts is None or ts >= cutoff

        dropped, after = check_pass(c, "by-time", cutoff + timedelta(days=1), kept)
        assert not {url for _, url in chain} & dropped  # the whole day stays
        assert any(bucket_and_page(u)[0].endswith("day=10") for u in dropped)
        stale = [m for m, ts in first.items() if not kept(m, ts)]
        assert stale, "the page must hold an expired member"
        assert set(stale) <= after


def test_mutable_last_pages_are_never_dropped_and_closing_lets_them_go(store_url):
    far = datetime(2100, 1, 1, tzinfo=UTC)
    with make_client(store_url, retention_interval=None) as c:
        assert c.post(ADMIN, content=config(3, DAY, DAY), headers=TURTLE).status_code == 201
        c.post("/observations", content=members_nt(0, 90), headers=NT)
        _, nodes = walk(c, f"{BASE}observations/by-time")
        last = {chain[-1][1] for chain in pages_of(nodes).values()}
        dropped, after = check_pass(c, "by-time", far, lambda m, ts: ts is None)
        assert not dropped & last
        assert after == set().union(*(page_members(nodes[u][0]) for u in last))
        # Closed, every page is immutable: everything with a timestamp goes.
        assert c.post(f"{ADMIN}/observations/close").status_code == 200
        retention_pass(c, far)
        for url in last:
            timed = None not in page_members(nodes[url][0]).values()
            assert c.get(path(url)).status_code == (410 if timed else 200), url
        members, _ = walk(c, f"{BASE}observations/by-time")
        untimed = {member_iri(i) for i in range(90) if i % 30 == 7}
        assert members == untimed
    # Both views dropped them: their descriptions are forgotten, their IRIs stay.
    store = open_store(store_url)
    sid = store.streams()[0].id
    described = {m.iri for m in store.members(sid, -1, 1000)}
    assert store.known_iris(sid, [member_iri(i) for i in range(90)]) == {
        member_iri(i) for i in range(90)
    }
    store.close()
    tile_members = set()
    with make_client(store_url, retention_interval=None) as c:
        tile_members, _ = walk(c, f"{BASE}observations/by-tile")
    kept_anywhere = untimed | tile_members
    assert described == kept_anywhere
    assert len(kept_anywhere) < 90


VERSIONED_VIEW = """<http://localhost:8080/things/latest> tree:viewDescription [
    tree:fragmentationStrategy () ; tree:pageSize "5"^^xsd:int ;
    ldes:retentionPolicy [ a ldes:LatestVersionSubset ; ldes:amount AMOUNT ] ] ."""


def versions_nt(rounds: range, entities: int = 5) -> str:
    """Round r: a new version of each entity, all at day r."""
    lines = []
    for r in rounds:
        for e in range(entities):
            m = f"<http://example.org/thing/{e}/v{r}>"
            lines.append(
                f"{m} <http://purl.org/dc/terms/isVersionOf> <http://example.org/thing/{e}> ."
            )
            stamp = f"2024-01-{r + 1:02d}T00:00:{e:02d}Z"
            lines.append(
                f'{m} <{PROV_TIME}> "{stamp}"^^<http://www.w3.org/2001/XMLSchema#dateTime> .'
            )
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("amount", [1, 2])
def test_version_based_retention_keeps_the_newest_versions_per_entity(store_url, amount):
    stream = (
        PREFIXES
        + """server:things a ldes:EventStream ; ldes:timestampPath prov:generatedAtTime ;
    ldes:versionOfPath dct:isVersionOf ; tree:view <http://localhost:8080/things/latest> .
"""
        + VERSIONED_VIEW.replace("AMOUNT", str(amount))
    )
    root = f"{BASE}things/latest"
    with make_client(store_url, retention_interval=None) as c:
        assert c.post(ADMIN, content=stream, headers=TURTLE).status_code == 201
        # Arrival order differs from timestamp order in round 3 (it comes before round 2).
        for rounds in (range(2), range(3, 4), range(2, 3), range(4, 5)):
            r = c.post("/things", content=versions_nt(rounds), headers=NT)
            assert r.status_code == 201, r.text
        newest = {
            f"http://example.org/thing/{e}/v{r}" for e in range(5) for r in range(5 - amount, 5)
        }
        before, nodes = walk(c, root)
        assert before == {f"http://example.org/thing/{e}/v{r}" for e in range(5) for r in range(5)}
        dropped = expected_drops(nodes, lambda m, ts: m in newest)
        # amount 2: the page of round 2 expired but follows one that did not: it stays.
        assert len(dropped) == (4 if amount == 1 else 2)
        retention_pass(c, datetime(2030, 1, 1, tzinfo=UTC))
        after, _ = walk(c, root)
        assert newest <= after
        remaining = set().union(*(page_members(nodes[u][0]) for u in nodes if u not in dropped))
        assert after == remaining
        for url in dropped:
            assert c.get(path(url)).status_code == 410
        # Forgotten, yet never admitted again (one member per IRI).
        r = c.post("/things", content=versions_nt(range(1)), headers=NT)
        assert r.status_code == 200, r.text
        assert r.json()["ignored"] == 5


def test_policies_are_read_advertised_and_refused_when_bad(store_url):
    body = config(3, f"{DAY}, [ a ldes:LatestVersionSubset ; ldes:amount 2 ]")
    with make_client(store_url, retention_interval=None) as c:
        assert c.post(ADMIN, content=body, headers=TURTLE).status_code == 201
        policy_types = set()
        for url in ("/observations", f"{ADMIN}/observations"):
            g = rdflib.Graph().parse(data=c.get(url).content, format="turtle")
            policies = list(g.objects(None, URIRef(LDES + "retentionPolicy")))
            assert len(policies) == 2, url
            policy_types |= {str(t) for p in policies for t in g.objects(p, rdflib.RDF.type)}
            values = {str(v) for p in policies for v in g.objects(p, URIRef(TREE + "value"))}
            assert values == {"P1D"}
        assert policy_types == {LDES + "DurationAgoPolicy", LDES + "LatestVersionSubset"}
        g = rdflib.Graph().parse(data=c.get("/observations").content, format="turtle")
        described = set(g.subjects(URIRef(LDES + "retentionPolicy"), None))
        assert described == {URIRef(f"{BASE}observations/by-time#description")}
        for bad in (
            '[ a ldes:DurationAgoPolicy ; tree:value "one day" ]',
            "[ a ldes:LatestVersionSubset ; ldes:amount 0 ]",
            "[ a ldes:LatestVersionSubset ]",
            '[ ldes:versionDeleteDuration "P1D"^^xsd:duration ]',
            '[ a ldes:PointInTimePolicy ; ldes:pointInTime "yesterday" ]',
            '[ ldes:versionDuration "P1D"^^xsd:duration ]',
        ):
            view = (
                VIEW_TIME.replace("PAGE", "3")
                .replace("tree:pageSize", f"ldes:retentionPolicy {bad} ; tree:pageSize")
                .replace("by-time", "by-time-2")
            )
            r = c.post(f"{ADMIN}/observations/views", content=PREFIXES + view, headers=TURTLE)
            assert r.status_code == 400, (bad, r.text)


def view_with(policy: str):
    body = PREFIXES + VIEW_TIME.replace("PAGE", "3").replace(
        "tree:pageSize", f"ldes:retentionPolicy {policy} ; tree:pageSize"
    )
    return parse_view(body, "text/turtle", "http://localhost:8080/observations/").retention


def test_legacy_policies_map_to_the_ldes_terms():
    (p,) = view_with(
        '[ a ldes:PointInTimePolicy ; ldes:pointInTime "2023-05-11T00:00:00+02:00"^^xsd:dateTime ]'
    )
    assert p.starting_from == datetime(2023, 5, 10, 22, tzinfo=UTC)
    (p,) = view_with(
        '[ ldes:fullLogDuration "P1Y" ; ldes:versionAmount 3 ; ldes:versionDuration "P2W" ]'
    )
    assert (p.full_log, p.version_amount, p.version_duration) == (
        parse_duration("P12M", "x"),
        3,
        parse_duration("P14D", "x"),
    )
    (p,) = view_with("[]")
    assert p.nothing
    assert parse_duration("P1M", "x").before(datetime(2024, 3, 31, tzinfo=UTC)) == datetime(
        2024, 2, 29, tzinfo=UTC
    )
    with pytest.raises(ConfigError, match="versionKey"):
        view_with("[ a ldes:LatestVersionSubset ; ldes:amount 1 ; ldes:versionKey () ]")


def test_point_in_time_retention(store_url):
    start = datetime(2023, 5, 11, 6, tzinfo=UTC)
    policy = f'[ a ldes:PointInTimePolicy ; ldes:pointInTime "{start.isoformat()}"^^xsd:dateTime ]'
    with make_client(store_url, retention_interval=None) as c:
        assert c.post(ADMIN, content=config(3, policy), headers=TURTLE).status_code == 201
        c.post("/observations", content=members_nt(0, 120), headers=NT)
        check_pass(
            c, "by-time", datetime(2100, 1, 1, tzinfo=UTC), lambda m, ts: ts is None or ts >= start
        )


def test_the_app_runs_passes_on_its_interval(store_url):
    """The lifespan's loop, on the real clock: the 2023 test members are long expired."""
    with make_client(store_url, retention_interval=0.05) as c:
        assert c.post(ADMIN, content=config(3, DAY), headers=TURTLE).status_code == 201
        c.post("/observations", content=members_nt(0, 30), headers=NT)
        # Day 10 has 4 pages of 3 (a pass may already have run: no walk before).
        first = "/observations/by-time?year=2023&month=05&day=10&pageNumber=1"
        deadline = time.monotonic() + 60
        while c.get(first).status_code != 410:
            assert time.monotonic() < deadline, "no retention pass ran"
            time.sleep(0.02)
