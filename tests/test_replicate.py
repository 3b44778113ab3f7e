"""ldesfrag.replicate and `ldesfrag replicate` over loopback HTTP: static sites served by
`ldesfrag serve`, the live server (uvicorn), and small hand-written pages."""

from __future__ import annotations

import asyncio
import gzip
import http.server
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pyarrow.parquet as pq
import pytest
import rdflib
from ldes_data import PROV_TIME, member_iri, members_nt, write_members
from rdflib.compare import isomorphic

import ldesfrag
from ldesfrag import Geospatial, HierarchicalTime, ReplicationError, View, serve

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

N = 300
WAIT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def publish_site(root: Path, n: int = N, fmt: str = "turtle", page_size: int = 20) -> str:
    """A published LDES of members 0..n (tile z14 → day → pages): linestrings sit on several
    tiles, so on several pages; unknown buckets for members without time or geometry."""
    base = f"http://127.0.0.1:{free_port()}/ldes/"
    view = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=page_size)
    dump = write_members(root / "members.nt", 0, n)
    ldesfrag.publish(
        [dump], view, root / "site", base_url=base, format=fmt, timestamp_path=PROV_TIME
    )
    return base


@contextmanager
def served(root: Path, base: str) -> Iterator[str]:
    from urllib.parse import urlsplit

    with serve(root / "site", port=urlsplit(base).port) as s:
        assert s.url == base
        yield base


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("site")
    base = publish_site(root)
    with served(root, base) as url:
        yield url


def source_graphs(start: int, n: int) -> dict[str, rdflib.Graph]:
    g = rdflib.Graph().parse(data=members_nt(start, n), format="nt")
    out = {}
    for i in range(start, start + n):
        m = rdflib.URIRef(member_iri(i))
        sub = rdflib.Graph()
        todo = [m]
        while todo:
            s = todo.pop()
            for p, o in g.predicate_objects(s):
                sub.add((s, p, o))
                if isinstance(o, rdflib.BNode):
                    todo.append(o)
        out[str(m)] = sub
    return out


def collect(rep) -> tuple[list[str], dict[str, str]]:
    ids: list[str] = []
    payloads: dict[str, str] = {}
    for batch in rep:
        assert batch.column_names == ["id", "timestamp", "payload", "page"]
        got = batch["id"].to_pylist()
        ids += got
        payloads.update(zip(got, batch["payload"].to_pylist(), strict=True))
    return ids, payloads


def assert_same_members(ids: list[str], payloads: dict[str, str], start: int, n: int) -> None:
    assert len(ids) == len(set(ids)), "a member was emitted twice"
    assert set(ids) == {member_iri(i) for i in range(start, start + n)}
    source = source_graphs(start, n)
    for iri in random.Random(7).sample(sorted(source), min(40, n)):
        got = rdflib.Graph().parse(data=payloads[iri], format="nt")
        assert isomorphic(got, source[iri]), iri


# ---- a static site (ldesfrag serve) ----------------------------------------------------


def test_every_member_once_with_its_triples(site):
    rep = ldesfrag.replicate(site, concurrency=4, batch_size=50)
    ids, payloads = collect(rep)
    assert_same_members(ids, payloads, 0, N)
    assert rep.stats.members == N
    assert rep.stats.duplicates > 0  # linestrings sit on several pages: read, not emitted
    assert rep.stats.pages > 10
    assert rep.timestamp_path == PROV_TIME


def test_timestamps_and_pages(site):
    tables = list(ldesfrag.replicate(site))
    by_id = {}
    for t in tables:
        assert str(t.schema.field("timestamp").type).startswith("arro3.core.DataType<Timestamp")
        for iri, ts, page in zip(
            t["id"].to_pylist(), t["timestamp"].to_pylist(), t["page"].to_pylist(), strict=True
        ):
            by_id[iri] = (ts, page)
            assert page.startswith(site)
    g = rdflib.Graph().parse(data=members_nt(0, N), format="nt")
    for i in range(N):
        stamp = g.value(rdflib.URIRef(member_iri(i)), rdflib.URIRef(PROV_TIME))
        ts = by_id[member_iri(i)][0]
        if stamp is None:
            assert ts is None
        else:
            assert ts == datetime.fromisoformat(str(stamp)).astimezone(UTC)


@pytest.mark.parametrize("fmt", ["ntriples", "nquads", "trig", "jsonld"])
def test_every_page_format(tmp_path, fmt):
    base = publish_site(tmp_path, n=90, fmt=fmt, page_size=25)
    with served(tmp_path, base) as url:
        ids, payloads = collect(ldesfrag.replicate(url))
    assert_same_members(ids, payloads, 0, 90)


def test_async_iteration(site):
    async def run() -> list[str]:
        out: list[str] = []
        async for batch in ldesfrag.replicate(site, batch_size=64):
            out += batch["id"].to_pylist()
        return out

    ids = asyncio.run(run())
    assert sorted(ids) == sorted(member_iri(i) for i in range(N))


def test_ascending_order(site):
    ids, stamps = [], []
    for batch in ldesfrag.replicate(site, order="ascending", batch_size=40):
        ids += batch["id"].to_pylist()
        stamps += batch["timestamp"].to_pylist()
    assert sorted(ids) == sorted(member_iri(i) for i in range(N))
    known = [t for t in stamps if t is not None]
    assert known == sorted(known)
    # members without a timestamp come last
    assert all(t is None for t in stamps[len(known) :])


def test_time_window_prunes_and_filters_exactly(site):
    after, before = "2023-05-11T00:00:00Z", "2023-05-11T12:00:00+00:00"
    rep = ldesfrag.replicate(site, after=after, before=before)
    ids, _ = collect(rep)
    g = rdflib.Graph().parse(data=members_nt(0, N), format="nt")
    lo, hi = datetime.fromisoformat(after), datetime.fromisoformat(before)
    expected = set()
    for i in range(N):
        stamp = g.value(rdflib.URIRef(member_iri(i)), rdflib.URIRef(PROV_TIME))
        if stamp is not None and lo < datetime.fromisoformat(str(stamp)) < hi:
            expected.add(member_iri(i))
    assert expected
    assert set(ids) == expected
    assert rep.stats.pruned > 0  # the other days' buckets were never fetched


def test_bbox_prunes_tiles_and_filters_exactly(site):
    import shapely
    from shapely.geometry import box

    bbox = (3.70, 51.03, 3.73, 51.05)
    rep = ldesfrag.replicate(site, bbox=bbox)
    ids, _ = collect(rep)
    g = rdflib.Graph().parse(data=members_nt(0, N), format="nt")
    wkt = rdflib.URIRef("http://www.opengis.net/ont/geosparql#asWKT")
    expected = set()
    for i in range(N):
        m = rdflib.URIRef(member_iri(i))
        geoms = [str(o) for o in g.objects(m, wkt)]
        for bn in g.objects(m, rdflib.URIRef("http://www.w3.org/ns/locn#geometry")):
            geoms += [str(o) for o in g.objects(bn, wkt)]
        if any(shapely.from_wkt(w).intersects(box(*bbox)) for w in geoms):
            expected.add(str(m))
    assert expected
    assert set(ids) == expected
    assert rep.stats.pruned > 0


def test_entry_at_any_node(site):
    # A leaf page: only what is below it (its members, its next pages).
    first = next(iter(ldesfrag.replicate(site, batch_size=1)))
    page = first["page"][0].as_py()
    ids, _ = collect(ldesfrag.replicate(page))
    assert ids
    assert set(ids) <= {member_iri(i) for i in range(N)}


def test_state_resume_equals_one_run(site, tmp_path):
    state = tmp_path / "state"
    seen: list[str] = []
    for _ in range(100):  # one batch per run: stop, resume, until nothing is left
        rep = ldesfrag.replicate(site, state=str(state), batch_size=30, concurrency=3)
        batch = next(rep, None)
        if batch is None:
            rep.close()
            break
        seen += batch["id"].to_pylist()
        rep.close()  # a clean end: the batch in hand counts as handled
    assert len(seen) == len(set(seen))
    assert set(seen) == {member_iri(i) for i in range(N)}
    # A rerun only polls the mutable pages again (304) and emits nothing.
    rep = ldesfrag.replicate(site, state=str(state))
    assert list(rep) == []
    assert rep.stats.pages == 0
    assert rep.stats.not_modified > 0


def test_an_unhandled_batch_is_emitted_again(site, tmp_path):
    state = str(tmp_path / "state")
    lost: list[str] = []

    def fail_in_the_loop_body() -> None:
        with ldesfrag.replicate(site, state=state, batch_size=N // 3) as rep:
            lost.extend(next(rep)["id"].to_pylist())
            raise RuntimeError("the loop body failed: this batch was not handled")

    with pytest.raises(RuntimeError):
        fail_in_the_loop_body()
    ids, _ = collect(ldesfrag.replicate(site, state=state))
    assert set(lost) <= set(ids)
    assert sorted(ids) == sorted(member_iri(i) for i in range(N))


def test_follow_picks_up_new_members(tmp_path):
    base = publish_site(tmp_path, n=60)
    view = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=20)
    got: list[str] = []
    with served(tmp_path, base) as url:
        rep = ldesfrag.replicate(url, follow=True, poll_interval=0.05, batch_size=1000)
        deadline = time.monotonic() + WAIT
        published = False
        for batch in rep:
            got += batch["id"].to_pylist()
            if len(set(got)) >= 60 and not published:
                dump = write_members(tmp_path / "more.nt", 60, 40)
                ldesfrag.publish(
                    [dump], view, tmp_path / "site", base_url=base, timestamp_path=PROV_TIME
                )
                published = True
            if len(set(got)) >= 100 or time.monotonic() > deadline:
                rep.stop()
        rep.close()
        assert rep.stats.not_modified > 0  # unchanged pages cost a 304
    assert len(got) == len(set(got))
    assert set(got) == {member_iri(i) for i in range(100)}


# ---- the CLI -------------------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ldesfrag.cli", *args],
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
    )


def nq_members(data: str) -> dict[str, rdflib.Graph]:
    g = rdflib.Graph().parse(data=data, format="nt")
    return {str(s): g for s in set(g.subjects()) if isinstance(s, rdflib.URIRef)}


@pytest.mark.parametrize("out", ["all.nq", "all.nq.gz", "parts", "all.parquet"])
def test_cli_outputs(site, tmp_path, out):
    target = tmp_path / out
    r = cli("replicate", site, "--out", str(target), "--batch-size", "70")
    assert r.returncode == 0, r.stderr
    if out.endswith(".parquet"):
        t = pq.read_table(target)
        assert sorted(t["id"].to_pylist()) == sorted(member_iri(i) for i in range(N))
        return
    if out == "parts":
        files = sorted(target.iterdir())
        assert [f.name for f in files] == [f"part-{i:06d}.nq.gz" for i in range(1, len(files) + 1)]
        text = "".join(gzip.decompress(f.read_bytes()).decode() for f in files)
    elif out.endswith(".gz"):
        text = gzip.decompress(target.read_bytes()).decode()
    else:
        text = target.read_text()
    g = rdflib.Graph().parse(data=text, format="nt")
    subjects = {str(s) for s in g.subjects() if isinstance(s, rdflib.URIRef)}
    assert subjects == {member_iri(i) for i in range(N)}
    # Each member's blank nodes stay its own: the dump is the union of the members.
    assert len(g) == len(rdflib.Graph().parse(data=members_nt(0, N), format="nt"))


def test_cli_directory_resume_continues_numbering(site, tmp_path):
    out, state = tmp_path / "parts", tmp_path / "state"
    first = cli("replicate", site, "--out", str(out), "--state", str(state), "--batch-size", "50")
    assert first.returncode == 0, first.stderr
    parts = sorted(p.name for p in out.iterdir())
    again = cli("replicate", site, "--out", str(out), "--state", str(state))
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == parts  # nothing new, nothing twice


def test_cli_follow_stops_cleanly_on_sigterm(site, tmp_path):
    import signal

    out = tmp_path / "parts"
    cmd = [sys.executable, "-m", "ldesfrag.cli", "replicate", site, "--out", str(out)]
    cmd += ["--follow", "--poll-interval", "0.2", "--state", str(tmp_path / "state")]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT
        while not list(out.glob("part-*.nq.gz")):  # the crawl is done and flushed
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "no batch written"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT) == 0
    finally:
        proc.kill()
        proc.wait()
    text = "".join(gzip.decompress(f.read_bytes()).decode() for f in sorted(out.iterdir()))
    g = rdflib.Graph().parse(data=text, format="nt")
    subjects = {str(s) for s in g.subjects() if isinstance(s, rdflib.URIRef)}
    assert subjects == {member_iri(i) for i in range(N)}


def test_cli_fails_loudly_on_a_404(site, tmp_path):
    r = cli("replicate", site + "nothing-here.ttl", "--out", str(tmp_path / "x.nq"))
    assert r.returncode != 0
    assert f"{site}nothing-here.ttl: HTTP 404" in r.stderr


def test_cli_publish_from_a_url(site, tmp_path):
    view = tmp_path / "view.toml"
    view.write_text(
        'page_size = 100\n[[fragmentations]]\ntype = "HierarchicalTime"\n'
        'max_granularity = "month"\n'
    )
    out = tmp_path / "republished"
    base = f"http://127.0.0.1:{free_port()}/again/"
    r = cli("publish", site, "--view", str(view), "--out", str(out), "--base-url", base)
    assert r.returncode == 0, r.stderr
    with serve(out, port=int(base.split(":")[2].split("/")[0])):
        ids, payloads = collect(ldesfrag.replicate(base))
    assert_same_members(ids, payloads, 0, N)


# ---- hand-written pages: discovery, redirects, relative IRIs, errors -------------------


class Pages(http.server.BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, tuple[int, str, bytes]]] = {}

    def do_GET(self) -> None:
        status, ctype, body = self.pages.get(self.path, (404, "text/plain", b"no"))
        self.send_response(status)
        if status in (301, 302, 307, 308):
            self.send_header("Location", body.decode())
            body = b""
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def pages(table: dict[str, tuple[int, str, bytes]]) -> Iterator[str]:
    handler = type("H", (Pages,), {"pages": table})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


TTL = "text/turtle"
PREFIX = "@prefix tree: <https://w3id.org/tree#> .\n@prefix ldes: <https://w3id.org/ldes#> .\n"


def test_discovery_from_the_stream_redirects_and_relative_iris():
    stream = PREFIX + (
        "<observations> a ldes:EventStream ; ldes:timestampPath <http://ex.org/t> ;\n"
        "  tree:view <observations/by-page> , <observations/zz-other> .\n"
    )
    root = PREFIX + (
        "<> a tree:Node ; tree:relation [ a tree:Relation ; tree:node <by-page?pageNumber=1> ] .\n"
    )
    page1 = PREFIX + (
        "<../observations> tree:member <http://ex.org/m/1>, <http://ex.org/m/2> .\n"
        '<http://ex.org/m/1> <http://ex.org/t> "2024-01-01T00:00:00Z"^^'
        "<http://www.w3.org/2001/XMLSchema#dateTime> .\n"
        '<http://ex.org/m/2> <http://ex.org/p> [ <http://ex.org/q> "x" ] .\n'
        "<> tree:relation [ a tree:Relation ; tree:node <moved> ] .\n"
    )
    page2 = (
        '<http://ex.org/m/3> <http://ex.org/p> "3" .\n'
        "<http://127.0.0.1/observations> <https://w3id.org/tree#member> <http://ex.org/m/3> .\n"
        '<http://ex.org/m/1> <http://ex.org/p> "repeated" .\n'
        "<http://127.0.0.1/observations> <https://w3id.org/tree#member> <http://ex.org/m/1> .\n"
    )
    table = {
        "/observations": (200, TTL, stream.encode()),
        "/observations/by-page": (200, TTL + "; charset=utf-8", root.encode()),
        "/observations/by-page?pageNumber=1": (200, TTL, page1.encode()),
        "/observations/moved": (301, "", b"/elsewhere/page-2.nt"),
        "/elsewhere/page-2.nt": (200, "application/octet-stream", page2.encode()),
    }
    with pages(table) as host:
        rep = ldesfrag.replicate(host + "/observations")
        ids, payloads = collect(rep)
        assert sorted(ids) == ["http://ex.org/m/1", "http://ex.org/m/2", "http://ex.org/m/3"]
        # The first page read wins: m/1 keeps its description from page 1.
        assert "repeated" not in payloads["http://ex.org/m/1"]
        assert '"x"' in payloads["http://ex.org/m/2"]
        assert rep.timestamp_path == "http://ex.org/t"
        assert rep.stats.pages == 4  # the other view was never fetched


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (404, b"", "HTTP 404"),
        (200, b"<http://a> <http://b> ", "unparsable"),
        (500, b"", "failed after 3 attempts; last: HTTP 500"),
    ],
)
def test_a_bad_page_raises_with_its_url(status, body, reason):
    root = PREFIX + "<> tree:relation [ a tree:Relation ; tree:node </bad> ] .\n"
    table = {"/": (200, TTL, root.encode()), "/bad": (status, TTL, body)}
    with pages(table) as host:
        rep = ldesfrag.replicate(host + "/", retries=2, backoff=0.001)
        with pytest.raises(ReplicationError) as e:
            list(rep)
    assert e.value.url == host + "/bad"
    assert reason in e.value.reason
    assert str(e.value).startswith(host + "/bad: ")


# ---- the reference server's shape: query-style URLs, zone-less time bounds --------------

XSD_DT = "<http://www.w3.org/2001/XMLSchema#dateTime>"


def reference_shaped(host: str) -> tuple[dict[str, tuple[int, str, bytes]], dict[str, str]]:
    """A by-time view as the reference server renders it (ldes-semantics §6): query-style
    URLs, year → month buckets linked by GreaterThanOrEqualTo/LessThan with zone-less
    values, pages linked by plain relations. Members carry zoned timestamps, some an hour
    before a month's zone-less start in UTC: a server that buckets by local time puts them
    in the later month, which only ±14 h widening keeps reachable."""
    es = f"{host}/observations"
    members = {
        "http://ex.org/m/a": ("2023-05-10T12:00:00Z", "05"),
        "http://ex.org/m/b": ("2023-06-01T01:00:00+02:00", "06"),  # 2023-05-31T23:00Z
        "http://ex.org/m/c": ("2023-06-15T00:00:00Z", "06"),
        "http://ex.org/m/d": ("2023-07-02T00:00:00Z", "07"),
        "http://ex.org/m/e": ("2023-05-20T08:00:00+02:00", "05"),
    }
    view = f"{es}/by-time"
    prefix = PREFIX + "@prefix prov: <http://www.w3.org/ns/prov#> .\n"

    pages: dict[str, tuple[int, str, bytes]] = {}
    stream = (
        f"<{es}> a ldes:EventStream ; ldes:timestampPath prov:generatedAtTime ;\n"
        f"  tree:view <{view}> .\n"
    )
    year = f"{view}?year=2023"
    root = stream + f"<{view}> a tree:Node .\n"
    for kind, value in (
        ("GreaterThanOrEqualToRelation", "2023-01-01T00:00"),
        ("LessThanRelation", "2024-01-01T00:00"),
    ):
        root += (
            f"<{view}> tree:relation [ a tree:{kind} ; tree:node <{year}> ;\n"
            f'  tree:path prov:generatedAtTime ; tree:value "{value}"^^{XSD_DT} ] .\n'
        )
    pages["/observations"] = (200, TTL, (prefix + stream).encode())
    pages["/observations/by-time"] = (200, TTL, (prefix + root).encode())
    year_page = f"<{year}> a tree:Node ; <http://purl.org/dc/terms/isPartOf> <{es}> .\n"
    for month in ("05", "06", "07"):
        bucket = f"{year}&month={month}"
        nxt = "2024-01" if month == "12" else f"2023-{int(month) + 1:02d}"
        for kind, value in (
            ("GreaterThanOrEqualToRelation", f"2023-{month}-01T00:00"),
            ("LessThanRelation", f"{nxt}-01T00:00"),
        ):
            year_page += (
                f"<{year}> tree:relation [ a tree:{kind} ; tree:node <{bucket}> ;\n"
                f'  tree:path prov:generatedAtTime ; tree:value "{value}"^^{XSD_DT} ] .\n'
            )
        page = f"{bucket}&pageNumber=1"
        pages[f"/observations/by-time?year=2023&month={month}"] = (
            200,
            TTL,
            (
                prefix + f"<{bucket}> a tree:Node ; tree:relation [ a tree:Relation ; "
                f"tree:node <{page}> ] .\n"
            ).encode(),
        )
        body = prefix + f"<{page}> a tree:Node .\n"
        for iri, (stamp, m) in members.items():
            if m == month:
                body += (
                    f"<{es}> tree:member <{iri}> .\n"
                    f'<{iri}> prov:generatedAtTime "{stamp}"^^{XSD_DT} .\n'
                )
        pages[f"/observations/by-time?year=2023&month={month}&pageNumber=1"] = (
            200,
            TTL,
            body.encode(),
        )
    pages["/observations/by-time?year=2023"] = (200, TTL, (prefix + year_page).encode())
    return pages, {k: v[0] for k, v in members.items()}


def instant(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("after", "before", "pruned"),
    [
        (None, None, False),
        # m/b (23:00Z on 31 May) sits in June's bucket; July's is pruned
        (None, "2023-06-01T00:00:00Z", True),
        ("2023-05-31T22:00:00Z", "2023-06-01T00:00:00Z", True),
        # May ends at a zone-less 2023-06-01T00:00: it could hold members until 14:00Z
        ("2023-06-01T00:00:00Z", None, False),
        ("2023-06-20T00:00:00+02:00", None, True),
    ],
)
def test_reference_shaped_stream_zone_less_bounds_are_widened(after, before, pruned):
    table: dict[str, tuple[int, str, bytes]] = {}
    with pages(table) as host:  # the pages name the host they are served from
        made, members = reference_shaped(host)
        table.update(made)
        expected = {
            m
            for m, s in members.items()
            if (after is None or instant(s) > instant(after))
            and (before is None or instant(s) < instant(before))
        }
        for entry in ("/observations", "/observations/by-time"):
            rep = ldesfrag.replicate(host + entry, after=after, before=before)
            ids, _ = collect(rep)
            assert sorted(ids) == sorted(expected), entry
            assert (rep.stats.pruned > 0) == pruned


# ---- the live server (uvicorn on 127.0.0.1 port 0) -------------------------------------


def test_live_server_both_views_and_the_stream(tmp_path):
    from test_server_live import create_stream, request, running

    n = 120
    with running(f"sqlite:///{tmp_path}/ldes.db") as url:
        create_stream(url, page=15)
        for start in range(0, n, 40):
            status, body = request(url + "observations", members_nt(start, 40).encode())
            assert status == 201, body
        for entry in ("observations", "observations/by-time", "observations/by-tile"):
            rep = ldesfrag.replicate(url + entry, concurrency=4)
            ids, payloads = collect(rep)
            assert_same_members(ids, payloads, 0, n)
            assert rep.timestamp_path == PROV_TIME
        # A second pass with a state polls the mutable pages once: 304s, nothing new.
        state = str(tmp_path / "state")
        assert len(collect(ldesfrag.replicate(url + "observations", state=state))[0]) == n
        again = ldesfrag.replicate(url + "observations", state=state)
        assert collect(again)[0] == []
        assert again.stats.not_modified > 0


def test_transient_failures_are_retried():
    root = PREFIX + "<> tree:relation [ a tree:Relation ; tree:node </p> ] .\n"
    page = (
        PREFIX
        + "</s> tree:member <http://ex.org/m/1> .\n<http://ex.org/m/1> <http://ex.org/p> 1 .\n"
    )
    answers = [(500, TTL, b""), (503, TTL, b""), (200, TTL, page.encode())]

    class Flaky(Pages):
        pages: ClassVar[dict[str, tuple[int, str, bytes]]] = {"/": (200, TTL, root.encode())}

        def do_GET(self) -> None:
            if self.path == "/p":  # two failures, then the page
                self.pages = {"/p": answers.pop(0) if len(answers) > 1 else answers[0]}
            super().do_GET()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        host = f"http://127.0.0.1:{httpd.server_address[1]}"
        rep = ldesfrag.replicate(host + "/", retries=3, backoff=0.001)
        ids, _ = collect(rep)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert ids == ["http://ex.org/m/1"]
    assert rep.stats.retries == 2


def test_members_in_named_graphs_and_members_without_a_description():
    trig = (
        PREFIX
        + "<> tree:relation [ a tree:Relation ; tree:node <next> ] .\n"
        + "<http://ex.org/s> tree:member <http://ex.org/m/g>, <http://ex.org/m/bare> .\n"
        + "<http://ex.org/m/g> { <http://ex.org/m/g> <http://ex.org/p> [ <http://ex.org/q> 2 ] }\n"
    )
    nxt = "<http://ex.org/s> <https://w3id.org/tree#member> <http://ex.org/m/bare> .\n"
    table = {
        "/": (200, "application/trig", trig.encode()),
        "/next": (200, "application/n-quads", nxt.encode()),
    }
    with pages(table) as host:
        ids, payloads = collect(ldesfrag.replicate(host + "/"))
    assert sorted(ids) == ["http://ex.org/m/bare", "http://ex.org/m/g"]
    got = rdflib.Graph().parse(data=payloads["http://ex.org/m/g"], format="nt")
    assert len(got) == 2
    # Named by tree:member but described nowhere: emitted, with an empty description.
    assert payloads["http://ex.org/m/bare"] == ""


def test_only_the_server_replicated_from_is_asked():
    hits: list[str] = []

    class Counting(Pages):
        def do_GET(self) -> None:
            hits.append(self.path)
            super().do_GET()

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    try:
        stream = f"http://127.0.0.1:{other.server_address[1]}/stream"
        page = f"<{stream}> <https://w3id.org/tree#member> <http://ex.org/m/1> .\n"
        with pages({"/": (200, "application/n-triples", page.encode())}) as host:
            ids, _ = collect(ldesfrag.replicate(host + "/"))
    finally:
        other.shutdown()
        other.server_close()
    assert ids == ["http://ex.org/m/1"]
    assert hits == []  # the stream's IRI on another host is not fetched for its description


def test_members_apart_on_a_page():
    # Other subjects between members: the members' rows are several slices of the page.
    lines = []
    for i in range(6):
        lines.append(f"<http://ex.org/s> <https://w3id.org/tree#member> <http://ex.org/m/{i}> .")
        lines.append(f"<http://ex.org/m/{i}> <http://ex.org/at> <http://ex.org/place/{i}> .")
        lines.append(f'<http://ex.org/place/{i}> <http://ex.org/name> "place {i}" .')
    body = "\n".join(lines) + "\n"
    with pages({"/": (200, "application/n-triples", body.encode())}) as host:
        ids, payloads = collect(ldesfrag.replicate(host + "/"))
    assert sorted(ids) == [f"http://ex.org/m/{i}" for i in range(6)]
    assert all("place" in payloads[i] and "name" not in payloads[i] for i in ids)
