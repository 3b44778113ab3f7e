"""The proof of the LDES client (`ldesfrag.replicate`, `ldesfrag replicate`): over loopback HTTP
it replicates every member exactly once, with its triples, from

- `ldesfrag serve` of published directories: several views, formats and page sizes, unknown
  buckets, members on several pages;
- pages shaped like the reference server's (tests/data/refserver/: query-style URLs, its
  relation layout, zone-less time bounds, percent-encoded tile links), in Turtle and JSON-LD;
- a fault-injecting server (500s, resets, truncated bodies, slow answers and stalls);
- a live `ldesfrag server` stream that grows while it follows;

and agrees with the npm `ldes-client` (one page at a time) on the member sets; killed with
SIGKILL at many points and resumed from its state, the union of its outputs is one run's.

Every server binds 127.0.0.1 port 0 inside the test and every wait is bounded (tests/
ldes_servers.py); nothing here asserts a duration.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import rdflib
from ldes_data import DCT_IS_VERSION_OF, PROV_TIME, member_iri, members_nt
from ldes_servers import (
    WAIT,
    FaultPlan,
    Page,
    PageServer,
    page_members,
    refserver_pages,
    served_graphs,
)
from rdflib import URIRef
from rdflib.compare import isomorphic

import ldesfrag
from ldesfrag import Geospatial, HierarchicalTime, Reference, View, publish, serve

EXE = Path(sys.executable).with_name("ldesfrag")
COLUMNS = ("id", "timestamp", "payload", "page")


# ---- reading what the client gives -----------------------------------------------------------


def rows(tables) -> list[dict]:
    """The rows of the Arrow tables a replication yields, in order, after checking the
    contract's columns and types."""
    out: list[dict] = []
    for t in tables:
        t = pa.table(t)
        for name in COLUMNS:
            assert name in t.column_names, (name, t.column_names)
        assert t.schema.field("id").type == pa.utf8()
        assert t.schema.field("payload").type == pa.utf8()
        assert t.schema.field("page").type == pa.utf8()
        assert t.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
        out.extend(t.select(list(COLUMNS)).to_pylist())
    return out


def once(got: list[dict]) -> dict[str, dict]:
    """The rows by member IRI; every member exactly once."""
    counts = Counter(r["id"] for r in got)
    twice = [m for m, n in counts.items() if n > 1]
    assert not twice, f"{len(twice)} members emitted more than once, e.g. {twice[:3]}"
    return {r["id"]: r for r in got}


def replicate(url: str, **kwargs) -> dict[str, dict]:
    with ldesfrag.replicate(url, **kwargs) as rep:
        return once(rows(rep))


def payload_graph(payload: str) -> rdflib.Graph:
    lines = payload.splitlines()
    assert lines == sorted(lines), "payload lines are not sorted"
    assert all(line.endswith(" .") for line in lines), "payload is not one triple per line"
    return rdflib.Graph().parse(data=payload, format="nt")


def assert_same(got: dict[str, dict], source: dict[str, rdflib.Graph], sample: int = 60) -> None:
    """The member sets are equal, and each member of a seeded sample has exactly the
    source's triples (isomorphic graphs: blank nodes are renamed)."""
    missing, extra = source.keys() - got.keys(), got.keys() - source.keys()
    assert not missing, f"{len(missing)} missing, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} extra, e.g. {sorted(extra)[:3]}"
    picked = sorted(source)
    picked = random.Random(7).sample(picked, min(sample, len(picked)))
    for m in picked:
        g = payload_graph(got[m]["payload"])
        assert isomorphic(g, source[m]), (m, got[m]["payload"], source[m].serialize(format="nt"))


def source_members(nt: str) -> dict[str, rdflib.Graph]:
    """The members of an N-Triples dump (tests/ldes_data.py: each is a version object) with
    their triples: its own and those of the blank nodes it reaches."""
    g = rdflib.Graph().parse(data=nt, format="nt")
    for m in set(g.subjects(URIRef(DCT_IS_VERSION_OF), None)):
        g.add((URIRef("urn:dump"), URIRef("https://w3id.org/tree#member"), m))
    return page_members([g])


def source_times(nt: str) -> dict[str, datetime]:
    g = rdflib.Graph().parse(data=nt, format="nt")
    return {str(s): o.toPython() for s, o in g.subject_objects(URIRef(PROV_TIME))}


def nq_members(text: str) -> Counter[str]:
    """How often each member's ``dct:isVersionOf`` statement occurs in N-Quads/N-Triples
    text: once per member written (every fixture member has exactly one)."""
    found: Counter[str] = Counter()
    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] == f"<{DCT_IS_VERSION_OF}>":
            found[parts[0].strip("<>")] += 1
    return found


# ---- published sites -------------------------------------------------------------------------

VIEWS = {
    "tile-day": View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=50),
    "day": View([HierarchicalTime("day")], page_size=7),
    "month-tile": View([HierarchicalTime("month"), Geospatial(max_zoom=15)], page_size=250),
    "ref-hour": View(
        [Reference(path=DCT_IS_VERSION_OF, key="of"), HierarchicalTime("hour")], page_size=3
    ),
}


def publish_site(site: Path, base_url: str, view: View, n: int, fmt: str = "turtle") -> str:
    nt = members_nt(0, n)
    dump = site.parent / f"{site.name}-members.nt"
    dump.write_text(nt, encoding="utf-8")
    summary = publish([dump], view, site, base_url=base_url, format=fmt, batch_size=400)
    assert summary.members == n
    return nt


@pytest.mark.parametrize(
    ("view", "fmt", "n"),
    [
        ("tile-day", "turtle", 1_200),  # unknown buckets, multi-tile members on several pages
        ("day", "jsonld", 400),
        ("month-tile", "nquads", 900),
        ("ref-hour", "trig", 300),
        ("tile-day", "ntriples", 500),
    ],
)
def test_published_site_every_member_once_with_its_triples(tmp_path, view, fmt, n):
    site = tmp_path / "site"
    site.mkdir()
    with serve(site, port=0) as server:
        nt = publish_site(site, server.url, VIEWS[view], n, fmt)
        got = replicate(server.url, concurrency=4, batch_size=128)
    assert_same(got, source_members(nt))
    times = source_times(nt)
    for m, row in got.items():
        assert row["timestamp"] == times.get(m), m  # null where the member has none
        assert row["page"].startswith(server.url), row["page"]


def test_published_site_from_the_stream_and_from_a_view_and_async(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    with serve(site, port=0) as server:
        nt = publish_site(site, server.url, VIEWS["tile-day"], 600)
        source = source_members(nt)
        for entry in (server.url, server.url + "index.ttl"):
            assert_same(replicate(entry), source, sample=10)

        async def gather() -> list[dict]:
            got: list[dict] = []
            rep = ldesfrag.replicate(server.url, concurrency=2)
            try:
                async for t in rep:
                    got.extend(rows([t]))
            finally:
                rep.close()
            return got

        assert_same(once(asyncio.run(gather())), source, sample=10)


def test_order_ascending_emits_by_timestamp(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    with serve(site, port=0) as server:
        nt = publish_site(site, server.url, VIEWS["tile-day"], 900)
        with ldesfrag.replicate(server.url, order="ascending", batch_size=50) as rep:
            got = rows(rep)
    assert_same(once(got), source_members(nt), sample=5)
    stamps = [r["timestamp"] for r in got if r["timestamp"] is not None]
    assert stamps == sorted(stamps)


# ---- the reference server's pages ------------------------------------------------------------

REF_VIEWS = ("by-time", "by-tile", "by-page")


def ref_source(server: PageServer, pages: dict[str, Page], view: str) -> dict[str, rdflib.Graph]:
    chosen = {k: v for k, v in pages.items() if k.startswith(f"/observations/{view}")}
    return page_members(served_graphs(server.url, chosen))


@pytest.mark.parametrize("fmt", ["turtle", "jsonld"])
def test_refserver_pages_every_view_and_the_stream(fmt):
    with PageServer({}) as server:
        pages = refserver_pages(server.url, fmt)
        for path, page in pages.items():
            server.set_page(path, page)
        sources = {v: ref_source(server, pages, v) for v in REF_VIEWS}
        assert all(len(s) == 16 for s in sources.values())
        for view in REF_VIEWS:
            got = replicate(f"{server.url}observations/{view}", concurrency=3)
            assert_same(got, sources[view], sample=16)
            assert all(
                r["page"].startswith(f"{server.url}observations/{view}") for r in got.values()
            )
        # From the event stream: its views hold the same members.
        assert_same(replicate(f"{server.url}observations"), sources["by-time"], sample=16)
        # Every relation the client followed led to a page (no 404: links resolved right).
        assert all(outcome == "200" for _, outcome in server.log), server.log
    # Zone-less bounds, offsets: the timestamps are the members' own instants, in UTC; a
    # member without one, or with a malformed one, has none.
    by_time = replicate_ref_time(fmt)
    assert by_time["https://data.example.org/id/telling/2/v5"]["timestamp"] == datetime(
        2023, 5, 10, 23, 35, tzinfo=UTC
    )
    for i in (13, 14, 15):
        assert by_time[f"https://data.example.org/id/telling/{i // 2}/v{i}"]["timestamp"] is None


def replicate_ref_time(fmt: str, **kwargs) -> dict[str, dict]:
    with PageServer({}) as server:
        for path, page in refserver_pages(server.url, fmt).items():
            server.set_page(path, page)
        return replicate(f"{server.url}observations/by-time", **kwargs)


def ref_iri(i: int) -> str:
    return f"https://data.example.org/id/telling/{i // 2}/v{i}"


def test_refserver_time_window_widens_zone_less_bounds_and_prunes():
    with PageServer({}) as server:
        pages = refserver_pages(server.url)
        for path, page in pages.items():
            server.set_page(path, page)
        url = f"{server.url}observations/by-time"
        # Member 5 is 2023-05-11T01:35+02:00 (23:35 UTC on the 10th), in the server's day=11
        # bucket (it buckets in its own local time; the bounds carry no zone). A client that
        # read the bounds as UTC would prune day=11 for this window and miss it.
        got = replicate(url, after="2023-05-10T23:00:00Z", before="2023-05-10T23:59:00Z")
        assert set(got) == {ref_iri(5)}
        # A window far (> 14 h) from 10 and 11 May: those days' pages are never fetched, and
        # only June's members (timestamped, inside the window) come out.
        server.log.clear()
        got = replicate(url, after=datetime(2023, 5, 20, tzinfo=UTC), before="2023-07-01T00:00:00Z")
        assert set(got) == {ref_iri(i) for i in (10, 11, 12)}
        fetched = server.requested()
        assert not [p for p in fetched if "day=10" in p or "day=11" in p], fetched


def test_refserver_bbox_prunes_tiles():
    with PageServer({}) as server:
        pages = refserver_pages(server.url)
        for path, page in pages.items():
            server.set_page(path, page)
        # Inside tile 14/8368/5458 only (its bounds shrunk by a hair).
        w, s, e, n = 3.8671875, 51.35806157319092, 3.88916015625, 51.37178037591738
        eps = 1e-6
        got = replicate(
            f"{server.url}observations/by-tile", bbox=(w + eps, s + eps, e - eps, n - eps)
        )
        in_tile = {ref_iri(i) for i in range(13) if i % 4 == 3 or i % 2 == 0}
        assert set(got) == in_tile
        fetched = server.requested()
        assert not [p for p in fetched if "8369" in p], fetched


# ---- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_faults_lose_nothing_published_site(tmp_path, seed):
    site = tmp_path / "site"
    site.mkdir()
    plan = FaultPlan(
        seed=seed, budget=30, error=0.1, reset=0.06, truncate=0.06, slow=0.05, stall=0.02
    )
    with serve(site, port=0) as up, PageServer(upstream=up.url, faults=plan) as proxy:
        nt = publish_site(site, proxy.url, VIEWS["tile-day"], 1_000)
        with ldesfrag.replicate(proxy.url, concurrency=4, timeout=1.5, retries=12) as rep:
            got = once(rows(rep))
            stats = rep.stats
    assert sum(proxy.faults.values()) > 0
    assert_same(got, source_members(nt), sample=20)
    assert stats.retries > 0
    assert stats.members == len(got)


def test_faults_lose_nothing_refserver_jsonld():
    plan = FaultPlan(seed=5, budget=25, error=0.15, reset=0.1, truncate=0.1, slow=0.1)
    with PageServer({}, faults=plan) as server:
        pages = refserver_pages(server.url, "jsonld")
        for path, page in pages.items():
            server.set_page(path, page)
        source = ref_source(server, pages, "by-tile")
        got = replicate(f"{server.url}observations/by-tile", concurrency=2, retries=12)
    assert server.faults.total() > 0
    assert_same(got, source, sample=16)


@pytest.mark.parametrize(
    ("broken", "status"),
    [
        ("/observations/by-time?year=2023&month=05&day=11&pageNumber=2", 404),
        ("/observations/by-time?year=2023&month=06", 410),
        ("/observations/by-time?year=unknown&pageNumber=1", 500),
    ],
)
def test_a_page_that_fails_raises_with_its_url(broken, status, tmp_path):
    with PageServer({}, broken={broken: status}) as server:
        for path, page in refserver_pages(server.url).items():
            server.set_page(path, page)
        url = f"{server.url}observations/by-time"
        with pytest.raises(ldesfrag.ReplicationError) as e:
            replicate(url, retries=2)
        assert isinstance(e.value, ldesfrag.LdesfragError)
        assert _same_url(e.value.url, server.url + broken[1:]), e.value.url
        if status >= 500:
            return  # the command line's retries (no flag sets them) take a while; 4xx below
        # The command line: non-zero, "URL: reason" on stderr, never a short run with exit 0.
        run = subprocess.run(
            [str(EXE), "replicate", url, "--out", str(tmp_path / "out.nq")],
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
        assert run.returncode != 0
        assert re.search(r"http://127\.0\.0\.1:\d+/observations/by-time\S*: \S", run.stderr), (
            run.stderr
        )


def _same_url(a: str, b: str) -> bool:
    from urllib.parse import unquote

    return unquote(a) == unquote(b)


@pytest.mark.parametrize(
    "body",
    [
        b"<http://x> <http://y> .\n@@@ not turtle",
        b'<a> <b> "unterminated .\n',
    ],
)
def test_an_unparsable_page_raises(body):
    with PageServer({}) as server:
        for path, page in refserver_pages(server.url).items():
            server.set_page(path, page)
        bad = "/observations/by-page?pageNumber=3"
        server.set_page(bad, Page(body, "text/turtle"))
        with pytest.raises(ldesfrag.ReplicationError) as e:
            replicate(f"{server.url}observations/by-page")
        assert _same_url(e.value.url, server.url + bad[1:])


# ---- growth under --follow -------------------------------------------------------------------


def test_follow_picks_up_a_growing_live_stream(tmp_path):
    from test_server_live import create_stream, request, running

    total = 280
    seen: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Condition()
    with running(f"sqlite:///{tmp_path}/ldes.db") as url:
        create_stream(url, page=20)
        assert request(url + "observations", members_nt(0, 100).encode())[0] == 201

        def consume() -> None:
            try:
                with ldesfrag.replicate(
                    url + "observations/by-time", follow=True, poll_interval=0.1, batch_size=10
                ) as rep:
                    for t in rep:
                        with lock:
                            seen.extend(pa.table(t).column("id").to_pylist())
                            lock.notify_all()
                            if len(set(seen)) >= total:
                                break
            except BaseException as e:  # reported by the test thread
                errors.append(e)
            finally:
                with lock:
                    lock.notify_all()

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()

        def wait_for(n: int) -> None:
            deadline = time.monotonic() + WAIT
            with lock:
                while len(set(seen)) < n and not errors and reader.is_alive():
                    assert time.monotonic() < deadline, f"{len(set(seen))} of {n} members"
                    lock.wait(0.1)
            assert not errors, errors
            assert len(set(seen)) >= n, f"the follow ended with {len(set(seen))} of {n}"

        wait_for(100)
        for start, count in ((100, 50), (150, 80), (230, 50)):
            status, body = request(url + "observations", members_nt(start, count).encode())
            assert status == 201, body
            wait_for(start + count)
        reader.join(WAIT)
    assert not reader.is_alive()
    assert not errors, errors
    assert len(seen) == len(set(seen)), "a member was emitted twice"
    assert set(seen) == {member_iri(i) for i in range(total)}


def test_follow_close_from_another_thread_ends_the_iteration(tmp_path):
    """A follow waits for news inside the iteration; ``close()`` from another thread is how
    a program ends it (the contract's ``.close()``)."""
    with PageServer({}) as server:
        for path, page in refserver_pages(server.url).items():
            server.set_page(path, Page(page.body, page.content_type, {"Cache-Control": "no-cache"}))
        rep = ldesfrag.replicate(
            f"{server.url}observations/by-page", follow=True, poll_interval=0.1
        )
        got: list[str] = []
        errors: list[BaseException] = []

        def consume() -> None:
            try:
                for t in rep:
                    got.extend(pa.table(t).column("id").to_pylist())
            except BaseException as e:
                errors.append(e)

        reader = threading.Thread(target=consume, daemon=True)
        reader.start()
        # Every page read, and polled again at least once.
        assert server.wait_for_requests(8, stop=lambda: not reader.is_alive())
        close_error: BaseException | None = None
        try:
            rep.close()
        except Exception as e:  # asserted below, once the reader is let go
            close_error = e
        reader.join(WAIT if close_error is None else 0)
        if reader.is_alive():
            rep.stop()  # the client's own way out, only so that this test ends
            reader.join(WAIT)
        assert close_error is None, f"close() from another thread: {close_error!r}"
        assert not reader.is_alive(), "the iteration went on after close()"
        assert not errors, errors
        assert len(got) == len(set(got)) == 16


# ---- the npm client, one page at a time: the same member sets --------------------------------


def test_npm_client_finds_the_same_members(tmp_path):
    from test_interop import replicate as npm_replicate

    site = tmp_path / "site"
    site.mkdir()
    with serve(site, port=0) as server:
        publish_site(site, server.url, VIEWS["tile-day"], 1_500)
        ours = set(replicate(server.url))
        assert set(npm_replicate(server.url, tmp_path)) == ours
    with PageServer({}) as ref:
        for path, page in refserver_pages(ref.url).items():
            ref.set_page(path, page)
        for view in ("by-time", "by-page"):
            url = f"{ref.url}observations/{view}"
            assert set(npm_replicate(url, tmp_path)) == set(replicate(url)), view


# ---- the command line: outputs, kill -9 and resume -------------------------------------------


def cli(*args: str, timeout: float = WAIT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(EXE), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_cli_outputs_hold_the_members(tmp_path):
    with PageServer({}) as server:
        pages = refserver_pages(server.url)
        for path, page in pages.items():
            server.set_page(path, page)
        url = f"{server.url}observations/by-tile"
        expected = set(ref_source(server, pages, "by-tile"))
        for name in ("out.nq", "out.nq.gz", "out.parquet", "dir"):
            out = tmp_path / name
            run = cli("replicate", url, "--out", str(out), "--concurrency", "2")
            assert run.returncode == 0, run.stderr
            if name == "out.parquet":
                ids = pq.read_table(out).column("id").to_pylist()
                assert len(ids) == len(set(ids))
                assert set(ids) == expected
                continue
            texts = (
                [gzip.decompress(f.read_bytes()).decode() for f in sorted(out.iterdir())]
                if out.is_dir()
                else [
                    gzip.decompress(out.read_bytes()).decode()
                    if name.endswith(".gz")
                    else out.read_text()
                ]
            )
            found = sum((nq_members(t) for t in texts), Counter())
            assert set(found) == expected, name
            assert set(found.values()) == {1}, name


def test_publish_from_an_ldes_url_refragments_it(tmp_path):
    with PageServer({}) as server:
        pages = refserver_pages(server.url)
        for path, page in pages.items():
            server.set_page(path, page)
        expected = set(ref_source(server, pages, "by-page"))
        view = tmp_path / "view.toml"
        view.write_text(
            'page_size = 4\n[[fragmentations]]\ntype = "HierarchicalTime"\n'
            'max_granularity = "month"\n'
        )
        out = tmp_path / "new"
        base = "http://127.0.0.1:9/new/"
        run = cli(
            "publish",
            f"{server.url}observations/by-page",
            "--view",
            str(view),
            "--out",
            str(out),
            "--base-url",
            base,
        )
        assert run.returncode == 0, run.stderr
    assert set(replicate_site(out, base)) == expected


def replicate_site(site: Path, base: str) -> dict[str, dict]:
    """Replicate a published directory whose IRIs name ``base``, served on loopback through a
    server whose pages are the directory's files, with ``base`` replaced by its own URL."""
    from ldesfrag._serve import MEDIA_TYPES

    with PageServer({}) as server:
        for f in site.rglob("*"):
            if f.is_file() and f.suffix in MEDIA_TYPES and ".ldesfrag" not in f.parts:
                rel = f.relative_to(site).as_posix()
                body = f.read_bytes().replace(base.encode(), server.url.encode())
                server.set_page("/" + rel, Page(body, MEDIA_TYPES[f.suffix]))
        index = next(p for p in ("index.ttl", "index.nt", "index.jsonld") if (site / p).exists())
        return replicate(server.url + index)


KILL_POINTS = 12


def test_kill_9_at_many_points_then_resume_gives_one_run(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    out, state = tmp_path / "out", tmp_path / "state"
    with serve(site, port=0) as up, PageServer(upstream=up.url, delay=0.01) as proxy:
        nt = publish_site(site, proxy.url, View([HierarchicalTime("hour")], page_size=10), 1_500)
        expected = set(source_members(nt))
        rng = random.Random(11)
        killed = 0
        for _ in range(KILL_POINTS):
            before = len(proxy.log)
            proc = subprocess.Popen(
                [
                    str(EXE),
                    "replicate",
                    proxy.url,
                    "--out",
                    str(out),
                    "--state",
                    str(state),
                    "--concurrency",
                    "2",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                # Kill after 1 to 40 more pages were served (progress, not time, picks the point).
                proxy.wait_for_requests(
                    before + rng.randint(1, 40), stop=lambda p=proc: p.poll() is not None
                )
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed += 1
                proc.wait(WAIT)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(WAIT)
            assert proc.returncode in (0, -signal.SIGKILL), (
                proc.stderr.read() if proc.stderr else ""
            )
            if proc.returncode == 0:
                break
        assert killed >= 10, f"only {killed} runs were killed before the crawl ended"
        final = cli("replicate", proxy.url, "--out", str(out), "--state", str(state), timeout=300)
        assert final.returncode == 0, final.stderr
    # Only whole files, named as parts; the union holds every member exactly once.
    found: Counter[str] = Counter()
    names = sorted(f.name for f in out.iterdir())
    for name in names:
        assert re.fullmatch(r"part-\d{6}\.nq\.gz", name), names
        found += nq_members(gzip.decompress((out / name).read_bytes()).decode())
    twice = [m for m, c in found.items() if c > 1]
    assert not twice, f"{len(twice)} members written more than once, e.g. {twice[:3]}"
    assert set(found) == expected, (len(expected - set(found)), len(set(found) - expected))


def resume_in_steps(url: str, state: Path, commit: bool) -> list[dict]:
    """Replicates ``url`` a few tables at a time: after three tables the loop breaks (the
    replication is closed), and a new one resumes from ``state``."""
    got: list[dict] = []
    for _ in range(50):
        with ldesfrag.replicate(url, state=state, batch_size=40) as rep:
            for k, t in enumerate(rep):
                got.extend(rows([t]))
                if commit:
                    rep.commit()  # the client's own call: this batch is handled
                if k == 2:
                    break
            else:
                return got
    pytest.fail("the crawl did not end in 50 resumes")


@pytest.mark.parametrize("commit", [True, False], ids=["commit", "clean-break"])
def test_python_state_resume_gives_one_run(tmp_path, commit):
    """A batch handed to a loop that then breaks cleanly has been received: a resume must not
    hand it out again (the contract: the union of the runs is one run, nothing twice)."""
    site = tmp_path / "site"
    site.mkdir()
    with serve(site, port=0) as server:
        nt = publish_site(site, server.url, VIEWS["day"], 700)
        got = resume_in_steps(server.url, tmp_path / "state", commit)
    assert_same(once(got), source_members(nt), sample=10)


# ---- the test servers themselves -------------------------------------------------------------


def test_fault_server_injects_every_fault_then_heals():
    import http.client
    from urllib.parse import urlsplit

    plan = FaultPlan(seed=3, budget=40, error=0.2, reset=0.2, truncate=0.2, slow=0.2, stall=0.0)
    body = b"<http://a> <http://b> <http://c> .\n" * 50
    with PageServer({"/p?x=1": Page(body)}, faults=plan) as server:
        u = urlsplit(server.url)
        outcomes: Counter[str] = Counter()
        for _ in range(200):
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=WAIT)
            try:
                conn.request("GET", "/p?x=%31")  # percent-encoded: the same node
                r = conn.getresponse()
                got = r.read()
                outcomes[str(r.status)] += 1
                if r.status == 200:
                    assert got == body
                    assert r.getheader("ETag")
            except http.client.IncompleteRead:
                outcomes["truncated"] += 1
            except (ConnectionResetError, http.client.RemoteDisconnected):
                outcomes["reset"] += 1
            finally:
                conn.close()
        assert server.faults.total() == plan.budget
        assert set(server.faults) == {"error", "reset", "truncate", "slow"}
        assert outcomes["truncated"] == server.faults["truncate"]
        assert outcomes["reset"] == server.faults["reset"]
        assert outcomes["500"] + outcomes["503"] == server.faults["error"]
        assert outcomes["200"] == 200 - plan.budget + server.faults["slow"]
        # After the budget, every answer is whole; a known ETag gets a 304.
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=WAIT)
        conn.request("GET", "/p?x=1", headers={"If-None-Match": Page(body).etag})
        assert conn.getresponse().status == 304
        conn.close()


def test_refserver_fixture_pages_hold_every_member_in_each_view_and_format():
    for fmt in ("turtle", "jsonld"):
        pages = refserver_pages("http://127.0.0.1:1/", fmt)
        assert len(pages) == 33
        views = {
            v: page_members(
                served_graphs(
                    "http://127.0.0.1:1/",
                    {k: p for k, p in pages.items() if k.startswith(f"/observations/{v}")},
                )
            )
            for v in REF_VIEWS
        }
        assert {len(m) for m in views.values()} == {16}
        first = views["by-page"]
        for v in REF_VIEWS:
            assert views[v].keys() == first.keys()
            assert all(isomorphic(views[v][m], first[m]) for m in first)
