"""The live server (`ldesfrag server`) over real HTTP, beside the floor of its stack.

Each server runs in its own process (uvicorn on 127.0.0.1, port 0), started and stopped by a
module fixture with bounded waits; the clients are threads of this process, each with one
keep-alive `http.client` connection (``TCP_NODELAY``, as HTTP clients set it: `http.client`
writes a request's headers and body apart). A separate process keeps the clients' GIL apart
from the server's, as in a deployment.

- ``ldesfrag``: ``python -m ldesfrag.cli server`` on a fresh SQLite store, one event stream
  with two views (day, and tile z14 → month; pages of 250), version objects with a time and a
  point. Every member is new (fresh IRIs each round). ``ldesfrag synchronous=normal``: the same
  on a store whose commits are not flushed before the answer (docs/architecture.md,
  "Durability"); the fixture prints the disk's flush latency, the bound of the others: N
  clients that wait for their answers put at most N members in one flushed commit.
- ``ref:floor``: the same stack doing the least an ingest server must do: a Starlette app on
  uvicorn that stores each POST body as one row of SQLite (WAL, ``synchronous=FULL``, one
  transaction per request, in one writer thread) and answers 201; its GET answers a fixed
  body from memory with the same headers. Neither parsing, fragmenting nor rendering.

Groups (items/s): members ingested one per request (8 clients); members ingested 500 per
request (8 clients); GETs of immutable pages (8 clients; the floor answers a copy of the
first page's body).

The figures, and the reference server's published ones, are in benches/RESULTS.md ("Session 9").
``python benches/bench_server.py DB PAGE`` runs the floor server alone (what the fixture
starts; PAGE: the file of the body its GET answers).
"""

from __future__ import annotations

import http.client
import os
import random
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import pytest

WAIT = 60.0  # seconds: the bound of every wait for a server
CLIENTS = 8
BATCH = 500
PAGE = 250
ADMIN = "/admin/api/v1/eventstreams"
STREAM = f"""@prefix ldes: <https://w3id.org/ldes#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix tree: <https://w3id.org/tree#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
<http://localhost:8080/bench> a ldes:EventStream ;
    ldes:timestampPath prov:generatedAtTime ; ldes:versionOfPath dct:isVersionOf ;
    tree:view <http://localhost:8080/bench/by-time>, <http://localhost:8080/bench/by-tile> .
<http://localhost:8080/bench/by-time> tree:viewDescription [
    tree:fragmentationStrategy ( [ a tree:HierarchicalTimeBasedFragmentation ;
        tree:maxGranularity "day" ; tree:fragmentationPath prov:generatedAtTime ] ) ;
    tree:pageSize "{PAGE}"^^xsd:int ] .
<http://localhost:8080/bench/by-tile> tree:viewDescription [
    tree:fragmentationStrategy ( [ a tree:GeospatialFragmentation ; tree:maxZoom "14" ;
        tree:fragmentationPath "http://www.opengis.net/ont/geosparql#asWKT" ]
      [ a tree:HierarchicalTimeBasedFragmentation ; tree:maxGranularity "month" ;
        tree:fragmentationPath prov:generatedAtTime ] ) ;
    tree:pageSize "{PAGE}"^^xsd:int ] .
"""
_numbers = count()


def members(n: int, day: int | None = None) -> bytes:
    """``n`` new version objects (fresh IRIs): a label, a time (``day`` of May 2023, or one of
    three days) and a point around Ghent."""
    lines = []
    for _ in range(n):
        i = next(_numbers)
        rng = random.Random(i)
        m = f"<http://example.org/obs/{i // 3}/v{i}>"
        d = day if day is not None else 10 + i % 3
        lon, lat = 3.70 + rng.random() * 0.06, 51.03 + rng.random() * 0.04
        lines += [
            f"{m} <http://purl.org/dc/terms/isVersionOf> <http://example.org/obs/{i // 3}> .",
            f'{m} <http://www.w3.org/2000/01/rdf-schema#label> "observation {i}" .',
            f'{m} <http://www.w3.org/ns/prov#generatedAtTime> "2023-05-{d:02d}T'
            f'{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"'
            "^^<http://www.w3.org/2001/XMLSchema#dateTime> .",
            f'{m} <http://www.opengis.net/ont/geosparql#asWKT> "POINT ({lon:.6f} {lat:.6f})"'
            "^^<http://www.opengis.net/ont/geosparql#wktLiteral> .",
        ]
    return ("\n".join(lines) + "\n").encode()


# ---- the servers ---------------------------------------------------------------------------
class Server:
    """A server process; ``port`` once it listens."""

    def __init__(self, argv: list[str], line: str) -> None:
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        deadline = time.monotonic() + WAIT
        seen = ""
        while line not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"the server did not start: {seen}"
            assert self.proc.poll() is None, f"the server stopped: {seen}"
            if select.select([self.proc.stderr], [], [], left)[0]:
                seen += self.proc.stderr.readline()
        self.port = int(seen.split(line, 1)[1].split()[0].rsplit(":", 1)[1])
        # Its later output is read (and dropped) so that it never blocks on a full pipe.
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(WAIT)


def connect(port: int) -> http.client.HTTPConnection:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
    c.connect()
    assert c.sock is not None
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return c


def call(
    c: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/n-triples",
):
    headers = {"content-type": content_type} if body is not None else {}
    c.request(method, path, body, headers)
    r = c.getresponse()
    return r.status, r.read(), r


@dataclass
class Setup:
    ours: int  # ports
    normal: int
    floor: int
    pages: list[str]  # paths of immutable pages of ldesfrag's
    #: Requests per client and round (fewer with --benchmark-disable: each test runs once).
    single: int
    batches: int
    gets: int


def flush_latency(directory: Path) -> float:
    """The median seconds of a 4 KiB write + fsync in ``directory``: one flushed commit."""
    times = []
    path = directory / "flush.probe"
    with path.open("wb") as f:
        for _ in range(20):
            t = time.perf_counter()
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
            times.append(time.perf_counter() - t)
    path.unlink()
    return sorted(times)[len(times) // 2]


def start_ldesfrag(store: str) -> tuple[Server, list[str]]:
    """``ldesfrag server`` on ``store`` with the stream made and two immutable pages (pages 1
    and 2 of one day's bucket); the server and the pages' paths."""
    cli = [sys.executable, "-m", "ldesfrag.cli", "server", "--host", "127.0.0.1"]
    server = Server([*cli, "--port", "0", "--store", store], " on ")
    try:
        c = connect(server.port)
        status, body, _ = call(c, "POST", ADMIN, STREAM.encode(), "text/turtle")
        assert status == 201, body
        status, body, _ = call(c, "POST", "/bench", members(2 * PAGE + 1, day=20))
        assert status == 201, body
        pages = [f"/bench/by-time?year=2023&month=05&day=20&pageNumber={n}" for n in (1, 2)]
        for path in pages:
            status, body, r = call(c, "GET", path)
            assert status == 200, path
            assert "immutable" in r.getheader("cache-control", ""), path
        c.close()
    except BaseException:
        server.stop()
        raise
    return server, pages


@pytest.fixture(scope="module")
def servers(tmp_path_factory, request):
    """The servers, the stream created, two immutable pages to GET (the floor serves a copy of
    the first)."""
    tmp = tmp_path_factory.mktemp("server")
    print(f"\nflush (write + fsync) latency: {flush_latency(tmp) * 1e3:.2f} ms", file=sys.stderr)
    started: list[Server] = []
    try:
        ours, pages = start_ldesfrag(f"sqlite:///{tmp / 'ldes.db'}")
        started.append(ours)
        normal, _ = start_ldesfrag(f"sqlite:///{tmp / 'normal.db'}?synchronous=normal")
        started.append(normal)
        c = connect(ours.port)
        (tmp / "page.ttl").write_bytes(call(c, "GET", pages[0])[1])
        c.close()
        floor = Server(
            [sys.executable, __file__, str(tmp / "floor.db"), str(tmp / "page.ttl")], "floor on "
        )
        started.append(floor)
        quick = request.config.getoption("benchmark_disable")
        counts = (2, 1, 5) if quick else (50, 4, 250)
        yield Setup(ours.port, normal.port, floor.port, pages, *counts)
    finally:
        for server in started:
            server.stop()


def run_clients(port: int, work) -> None:
    """``work(connection, client)`` in each of the clients, together."""
    errors: list[BaseException] = []

    def client(k: int) -> None:
        try:
            c = connect(port)
            work(c, k)
            c.close()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10 * WAIT)
    assert not errors, errors[0]


def ingest(port: int, path: str, size: int, requests: int) -> None:
    bodies = [[members(size) for _ in range(requests)] for _ in range(CLIENTS)]

    def work(c, k):
        for body in bodies[k]:
            status, out, _ = call(c, "POST", path, body)
            assert status == 201, out[:300]

    run_clients(port, work)


def fetch(port: int, paths: list[str], requests: int) -> None:
    def work(c, k):
        for i in range(requests):
            status, _, _ = call(c, "GET", paths[(k + i) % len(paths)])
            assert status == 200

    run_clients(port, work)


# ---- the benchmarks ------------------------------------------------------------------------
def test_ingest_one_member_per_request(benchmark, measure, servers):
    n = CLIENTS * servers.single
    args = (servers.ours, "/bench", 1, servers.single)
    measure(benchmark, "server 1 member/POST", "ldesfrag", n, ingest, *args)


def test_ingest_one_member_per_request_unflushed(benchmark, measure, servers):
    n = CLIENTS * servers.single
    args = (servers.normal, "/bench", 1, servers.single)
    measure(benchmark, "server 1 member/POST", "ldesfrag synchronous=normal", n, ingest, *args)


def test_floor_one_member_per_request(benchmark, measure, servers):
    n = CLIENTS * servers.single
    args = (servers.floor, "/bench", 1, servers.single)
    measure(benchmark, "server 1 member/POST", "ref:floor", n, ingest, *args)


def test_ingest_500_members_per_request(benchmark, measure, servers):
    n = CLIENTS * servers.batches * BATCH
    args = (servers.ours, "/bench", BATCH, servers.batches)
    measure(benchmark, "server 500 members/POST", "ldesfrag", n, ingest, *args)


def test_floor_500_members_per_request(benchmark, measure, servers):
    n = CLIENTS * servers.batches * BATCH
    args = (servers.floor, "/bench", BATCH, servers.batches)
    measure(benchmark, "server 500 members/POST", "ref:floor", n, ingest, *args)


def test_get_immutable_pages(benchmark, measure, servers):
    n = CLIENTS * servers.gets
    args = (servers.ours, servers.pages, servers.gets)
    measure(benchmark, "server GET immutable", "ldesfrag", n, fetch, *args)


def test_floor_get(benchmark, measure, servers):
    n = CLIENTS * servers.gets
    measure(
        benchmark,
        "server GET immutable",
        "ref:floor",
        n,
        fetch,
        servers.floor,
        ["/p"],
        servers.gets,
    )


# ---- the floor server ----------------------------------------------------------------------
def floor_app(db: str, body: bytes):
    """POST: the body stored in one transaction; GET: ``body`` (Starlette, as ldesfrag's)."""
    import asyncio
    import sqlite3
    from concurrent.futures import ThreadPoolExecutor

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS bodies (id INTEGER PRIMARY KEY, body BLOB)")
    writer = ThreadPoolExecutor(1)

    def store(data: bytes) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bodies (body) VALUES (?)", (data,))
        conn.execute("COMMIT")

    async def post(request: Request) -> Response:
        data = await request.body()
        await asyncio.get_running_loop().run_in_executor(writer, store, data)
        return JSONResponse({"bytes": len(data)}, status_code=201)

    headers = {
        "ETag": '"0123456789abcdef0123456789abcdef"',
        "Cache-Control": "public, max-age=31536000, immutable",
        "Vary": "Accept",
        "Access-Control-Allow-Origin": "*",
    }

    async def get(request: Request) -> Response:
        return Response(body, media_type="text/turtle", headers=headers)

    return Starlette(
        routes=[Route("/bench", post, methods=["POST"]), Route("/p", get, methods=["GET"])]
    )


def main(argv: list[str]) -> None:
    import uvicorn

    db, page = argv
    body = Path(page).read_bytes()
    # As ldesfrag.server.listen: IPPROTO_TCP, so that asyncio sets TCP_NODELAY.
    sock = socket.create_server(("127.0.0.1", 0))
    sock = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    print(f"floor on 127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    app = floor_app(db, body)
    uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off")).run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
