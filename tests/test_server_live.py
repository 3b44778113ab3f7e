"""The live server over real HTTP: uvicorn on 127.0.0.1 port 0 in a thread, or `ldesfrag server`
in a process that is killed; the npm `ldes-client` replicates it; concurrent POSTs."""

from __future__ import annotations

import http.client
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import rdflib
import uvicorn
from ldes_data import member_iri, members_nt
from rdflib import URIRef
from test_interop import replicate
from test_server import ADMIN, TREE, stream_config

from ldesfrag.server import create_app, listen, open_store

WAIT = 60.0  # seconds: the bound of every wait for a server


@contextmanager
def running(store: str, base_url: str | None = None, **kwargs) -> Iterator[str]:
    """A live server on the store at URL ``store``, on 127.0.0.1 (port 0) in this process;
    yields its URL."""
    sock = listen("127.0.0.1", 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    app = create_app(open_store(store), base_url or url, **kwargs)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT
    while not server.started:
        assert thread.is_alive(), "the server stopped while starting"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(WAIT)
        assert not thread.is_alive(), "the server did not stop"


def request(
    url: str,
    data: bytes | None = None,
    content_type: str = "application/n-triples",
    method: str | None = None,
) -> tuple[int, bytes]:
    headers = {"content-type": content_type} if data is not None else {}
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=WAIT) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def walk(local: str, base: str, root: str) -> tuple[set[str], dict[str, rdflib.Graph]]:
    """Members and nodes reachable from ``root`` (a URL under ``base``), fetched from the
    server at ``local``."""
    members: set[str] = set()
    nodes: dict[str, rdflib.Graph] = {}
    todo = deque([root])
    while todo:
        url = todo.popleft()
        if url in nodes:
            continue
        assert url.startswith(base), url
        status, body = request(local + url[len(base) :])
        assert status == 200, (url, status)
        g = rdflib.Graph().parse(data=body, format="turtle", publicID=url)
        nodes[url] = g
        members |= {str(o) for o in g.objects(None, URIRef(TREE + "member"))}
        for rel in g.objects(URIRef(url), URIRef(TREE + "relation")):
            todo.extend(str(n) for n in g.objects(rel, URIRef(TREE + "node")))
    return members, nodes


def create_stream(url: str, page: int = 20) -> None:
    status, body = request(url + ADMIN[1:], stream_config(page).encode(), "text/turtle")
    assert status == 201, body


def test_npm_client_replicates_every_member_of_both_views(tmp_path, store_url):
    n = 400
    with running(store_url) as url:
        create_stream(url)
        for start in range(0, n, 50):
            status, body = request(url + "observations", members_nt(start, 50).encode())
            assert status == 201, body
        expected = {member_iri(i) for i in range(n)}
        # The stream (its first tree:view) and the other view; one page at a time
        # (docs/interop.md).
        for entry in ("observations", "observations/by-tile"):
            got = set(replicate(url + entry, tmp_path))
            assert got == expected, (entry, sorted(got ^ expected)[:5])


def test_concurrent_posts_lose_nothing(store_url):
    clients, each = 8, 25
    with running(store_url) as url:
        create_stream(url, page=7)

        def post(c: int) -> list[int]:
            out = []
            for k in range(each):
                i = c * each + k
                out.append(request(url + "observations", members_nt(i, 1).encode())[0])
            # A batch too, and a repeat of this client's first member.
            out.append(request(url + "observations", members_nt(1000 + c * 10, 10).encode())[0])
            out.append(request(url + "observations", members_nt(c * each, 1).encode())[0])
            return out

        with ThreadPoolExecutor(clients) as pool:
            statuses = [s for got in pool.map(post, range(clients)) for s in got]
        assert statuses.count(201) == clients * (each + 1)
        assert statuses.count(200) == clients  # the repeats
        expected = {member_iri(i) for i in range(clients * each)}
        expected |= {member_iri(1000 + c * 10 + k) for c in range(clients) for k in range(10)}
        for view in ("by-time", "by-tile"):
            members, nodes = walk(url, url, f"{url}observations/{view}")
            assert members == expected, view
            # Every member once per leaf it belongs to: no page holds a member twice.
            for g in nodes.values():
                listed = list(g.objects(None, URIRef(TREE + "member")))
                assert len(listed) == len(set(listed))


def test_bad_requests_over_http_leave_the_server_serving(tmp_path):
    with running(f"sqlite:///{tmp_path}/ldes.db", max_body=10_000) as url:
        create_stream(url)
        host = urlsplit(url)
        for path in (
            "/observations/by-tile/../../admin/api/v1/eventstreams",
            "/../../etc/passwd",
            "/observations/..%2F..%2Fadmin",
            "/observations/by-tile/%2e%2e/%2e%2e/admin/api/v1/eventstreams",
        ):
            conn = http.client.HTTPConnection(host.hostname, host.port, timeout=WAIT)
            conn.request("GET", path)  # sent as written: http.client does not resolve ..
            r = conn.getresponse()
            body = r.read()
            conn.close()
            assert 400 <= r.status < 500, (path, r.status)
            assert b"EventStream" not in body, path
        big = members_nt(0, 200).encode()
        assert len(big) > 10_000
        assert request(url + "observations", big)[0] == 413
        assert request(url + "observations", b"<a> <b> .", "application/n-triples")[0] == 400
        assert request(url + "observations", b"x", "application/x-unknown")[0] == 415
        assert request(url + "nope", members_nt(0, 1).encode())[0] == 404
        assert walk(url, url, f"{url}observations/by-time")[0] == set()
        assert request(url + "observations", members_nt(0, 5).encode())[0] == 201
        assert walk(url, url, f"{url}observations/by-time")[0] == {member_iri(i) for i in range(5)}


@contextmanager
def server_process(
    store: str, config: Path | None, base: str, ready: str = "observations"
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`ldesfrag server --store STORE` on 127.0.0.1 port 0, ready once ``ready`` answers 200;
    yields its URL and the process."""
    exe = Path(sys.executable).with_name("ldesfrag")
    proc = subprocess.Popen(
        [
            str(exe),
            "server",
            "--store",
            store,
            *(["--config", str(config)] if config is not None else []),
            "--port",
            "0",
            "--base-url",
            base,
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    # Read in a thread, so that a silent process cannot block the wait beyond its bound.
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stderr or ()], daemon=True).start()
    try:
        line = ""
        while "ldesfrag server:" not in line:
            line = lines.get(timeout=WAIT)
        port = re.search(r" on 127\.0\.0\.1:(\d+)", line)
        assert port, line
        deadline = time.monotonic() + WAIT
        url = f"http://127.0.0.1:{port[1]}/"
        while True:  # bound: the lifespan (the store's loading) may take a moment
            try:
                if request(url + ready)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline
            assert proc.poll() is None
            time.sleep(0.05)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(WAIT)


def test_a_killed_server_restarts_with_every_acknowledged_member(tmp_path, store_url):
    config = tmp_path / "stream.ttl"
    config.write_text(stream_config(page=6))
    db, base = store_url, "http://ldes.test/"
    acknowledged: set[str] = set()
    with server_process(db, config, base) as (url, proc):
        for start in range(0, 40, 8):
            status, _ = request(url + "observations", members_nt(start, 8).encode())
            assert status == 201
            acknowledged |= {member_iri(i) for i in range(start, start + 8)}
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown: only what was committed counts
        proc.wait(WAIT)
    with server_process(db, config, base) as (url, _):
        for view in ("by-time", "by-tile"):
            assert walk(url, base, f"{base}observations/{view}")[0] == acknowledged
        assert request(url + "observations", members_nt(40, 25).encode())[0] == 201
        members, nodes = walk(url, base, f"{base}observations/by-time")
        assert members == {member_iri(i) for i in range(65)}
        numbers: dict[str, list[int]] = {}
        for u in nodes:
            bucket, sep, n = urlsplit(u).query.rpartition("pageNumber=")
            if sep:
                numbers.setdefault(bucket, []).append(int(n))
        assert any(len(v) > 3 for v in numbers.values())
        for bucket, v in numbers.items():
            assert sorted(v) == list(range(1, len(v) + 1)), bucket


def test_accepted_connections_send_without_delay():
    """asyncio (so uvicorn) sets TCP_NODELAY on the connections of a `listen` socket: a
    response written in two parts is not held back for the client's delayed ACK."""
    import asyncio

    async def accepted_nodelay() -> int:
        got: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Protocol(asyncio.Protocol):
            def connection_made(self, transport):
                sock = transport.get_extra_info("socket")
                got.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        sock = listen("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Protocol, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            value = await asyncio.wait_for(got, WAIT)
            writer.close()
        return value

    assert asyncio.run(accepted_nodelay()) != 0
