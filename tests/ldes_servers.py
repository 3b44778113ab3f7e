"""Loopback LDES servers for the replication proof (tests/test_replicate_proof.py).

- :class:`PageServer`: serves a dict of pages, or forwards to an upstream server (an
  ``ldesfrag serve`` of a published directory), and injects faults at random from a seeded RNG
  and a fault budget (so every run ends): 500s, connection resets, bodies cut short of their
  ``Content-Length``, slow responses and stalls. It logs every request it answers.
- :func:`refserver_pages`: the pages of tests/data/refserver/, shaped like the reference
  server's (query-style URLs, its relation layout, zone-less time bounds, percent-encoded tile
  links), in Turtle or JSON-LD, for a :class:`PageServer` at a given base URL.
- :func:`page_members`: the members a set of pages holds, and each one's triples, read with
  rdflib (the source a replication is compared with).

Every server binds 127.0.0.1 port 0, runs in daemon threads, and is stopped by its context
manager; every wait is bounded.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import rdflib
from rdflib import BNode, URIRef

WAIT = 60.0  # seconds: the bound of every wait in these servers and their tests
TREE = "https://w3id.org/tree#"
REFSERVER = Path(__file__).parent / "data" / "refserver"
#: The host the fixture pages under tests/data/refserver/ are written for; replaced by the
#: serving server's base URL.
REFSERVER_BASE = "http://refserver.test/"
# A fixture member has a malformed xsd:dateTime on purpose; rdflib logs each parse of it.
logging.getLogger("rdflib.term").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Page:
    """One document a :class:`PageServer` serves: its bytes, content type and extra headers
    (``Cache-Control`` and such). Its ETag is the digest of its bytes."""

    body: bytes
    content_type: str = "text/turtle"
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def etag(self) -> str:
        return '"' + hashlib.blake2b(self.body, digest_size=12).hexdigest() + '"'


@dataclass
class FaultPlan:
    """How often each fault strikes a request (probabilities, drawn in this order from one
    RNG seeded with ``seed``), until ``budget`` faults have been injected; after that every
    request is answered normally. ``stall`` holds a request ``stall_seconds`` before answering
    (beyond a client's timeout, it is a timeout); ``slow`` only ``slow_seconds``."""

    seed: int = 0
    budget: int = 20
    error: float = 0.1  # a 500 (or 503 with Retry-After: 0, every other time)
    reset: float = 0.05  # the connection is reset (RST) before any byte is answered
    truncate: float = 0.05  # half the body is sent, then the connection is closed
    slow: float = 0.05  # the answer waits slow_seconds
    stall: float = 0.0  # the answer waits stall_seconds
    slow_seconds: float = 0.2
    stall_seconds: float = 3.0


class PageServer:
    """An HTTP/1.1 server on 127.0.0.1 (port 0) answering GET from ``pages`` (keys: a path
    and query, percent-decoded, as ``/observations/by-time?year=2023``) or by forwarding to
    ``upstream`` (a base URL: the request's path and query, ``Accept`` and ``If-None-Match``
    are forwarded and the answer returned as it is), with the faults of ``faults``.

    ``broken`` maps paths to a status they are always answered with.
    ``log`` holds ``(path, outcome)`` for every request (outcome: the status sent, or the
    fault's name); ``faults`` counts the faults injected. Use it as a context manager."""

    def __init__(
        self,
        pages: Mapping[str, Page] | None = None,
        *,
        upstream: str | None = None,
        faults: FaultPlan | None = None,
        delay: float = 0.0,
        broken: Mapping[str, int] | None = None,
    ) -> None:
        if (pages is None) == (upstream is None):
            raise ValueError("give pages or an upstream, not both")
        self._pages: dict[str, Page] = {_key(k): v for k, v in (pages or {}).items()}
        self.upstream = upstream
        self.plan = faults
        self.delay = delay  # every answer waits this long (to make a crawl last)
        # Paths always answered with this status (a 4xx, or a 5xx that never heals).
        self.broken = {_key(k): v for k, v in (broken or {}).items()}
        self._rng = random.Random(faults.seed if faults else 0)
        self._lock = threading.Lock()
        self._served = threading.Condition(self._lock)
        self.log: list[tuple[str, str]] = []
        self.faults: Counter[str] = Counter()
        self._closing = threading.Event()
        self._httpd = _Httpd(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self._thread: threading.Thread | None = None

    # -- pages ----------------------------------------------------------------------------
    def set_page(self, path: str, page: Page) -> None:
        with self._lock:
            self._pages[_key(path)] = page

    def page(self, path: str) -> Page | None:
        with self._lock:
            return self._pages.get(_key(path))

    def requested(self) -> list[str]:
        """The paths requested so far (with the query, as sent)."""
        with self._lock:
            return [p for p, _ in self.log]

    def wait_for_requests(self, n: int, timeout: float = WAIT, stop=None) -> bool:
        """Waits until ``n`` requests have been answered (True), ``stop()`` is true, or the
        timeout passes (False)."""
        deadline = time.monotonic() + timeout
        with self._served:
            while len(self.log) < n:
                if stop is not None and stop():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._served.wait(min(left, 0.05))
        return True

    # -- life -----------------------------------------------------------------------------
    def __enter__(self) -> PageServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(WAIT)

    # -- answering ------------------------------------------------------------------------
    def _draw(self) -> str | None:
        """The fault this request gets, if any (under the lock: one RNG, one budget)."""
        plan = self.plan
        if plan is None:
            return None
        with self._lock:
            if sum(self.faults.values()) >= plan.budget:
                return None
            x = self._rng.random()
            for name in ("error", "reset", "truncate", "slow", "stall"):
                p = getattr(plan, name)
                if x < p:
                    self.faults[name] += 1
                    return name
                x -= p
        return None

    def _record(self, path: str, outcome: str) -> None:
        with self._served:
            self.log.append((path, outcome))
            self._served.notify_all()

    def _answer(self, path: str, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
        if _key(path) in self.broken:
            return self.broken[_key(path)], {"Content-Type": "text/plain"}, b"broken\n"
        if self.upstream is not None:
            return _forward(self.upstream, path, headers)
        page = self.page(path)
        if page is None:
            return 404, {"Content-Type": "text/plain"}, b"not found\n"
        out = {"Content-Type": page.content_type, "ETag": page.etag, **page.headers}
        inm = headers.get("If-None-Match")
        if inm is not None and page.etag in [t.strip() for t in inm.split(",")]:
            return 304, {k: v for k, v in out.items() if k != "Content-Type"}, b""
        return 200, out, page.body


def _key(path_and_query: str) -> str:
    """The lookup key of a request: percent-decoded (the reference server decodes its query
    parameters, so ``tile=14%2F8368%2F5458`` and ``tile=14/8368/5458`` are one node)."""
    return unquote(path_and_query)


def _forward(upstream: str, path: str, headers: Mapping[str, str]):
    u = urlsplit(upstream)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=WAIT)
    try:
        sent = {k: v for k, v in headers.items() if k.lower() in ("accept", "if-none-match")}
        conn.request("GET", path, headers=sent)
        r = conn.getresponse()
        body = r.read()
        keep = ("content-type", "etag", "cache-control", "location", "vary")
        return r.status, {k: v for k, v in r.getheaders() if k.lower() in keep}, body
    finally:
        conn.close()


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    owner: PageServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Httpd

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        fault = owner._draw()
        if fault == "reset":
            owner._record(self.path, "reset")
            # SO_LINGER 0: close() sends a RST, not a FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault == "error":
            owner._record(self.path, "error")
            n = owner.faults["error"]
            self.send_response(500 if n % 2 else 503)
            if not n % 2:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"oops!\n")
            return
        if fault in ("slow", "stall"):
            wait = owner.plan.slow_seconds if fault == "slow" else owner.plan.stall_seconds  # type: ignore[union-attr]
            owner._closing.wait(wait)
        if owner.delay:
            owner._closing.wait(owner.delay)
        status, headers, body = owner._answer(self.path, self.headers)
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if fault == "truncate" and len(body) > 1:
            owner._record(self.path, "truncate")
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)
        owner._record(self.path, fault or str(status))


# ---- the reference server's pages (tests/data/refserver/) -----------------------------------


def refserver_pages(base: str, format: str = "turtle") -> dict[str, Page]:
    """The fixture pages of tests/data/refserver/ for a server at ``base``: each file's first
    line names its path and query (``# GET /observations/by-time?year=2023``); its IRIs are
    written for ``REFSERVER_BASE``. ``format``: ``turtle`` as written, or ``jsonld`` (the same
    graph as JSON-LD). No page is immutable except full pages (``pageNumber`` pages that link to
    a next page), as the reference server marks them."""
    pages: dict[str, Page] = {}
    for f in sorted(REFSERVER.glob("*.ttl")):
        text = f.read_text(encoding="utf-8")
        first = text.splitlines()[0]
        assert first.startswith("# GET /"), f
        path = first[len("# GET ") :].strip()
        text = text.replace(REFSERVER_BASE, base)
        url = base + path[1:]
        full = "pageNumber=" in path and "tree:Relation" in text
        headers = {"Cache-Control": "public, max-age=604800, immutable" if full else "no-cache"}
        if format == "turtle":
            pages[path] = Page(text.encode(), "text/turtle", headers)
        elif format == "jsonld":
            g = rdflib.Graph().parse(data=text, format="turtle", publicID=url)
            context = dict(re.findall(r"@prefix (\w+): <([^>]+)> \.", text))
            body = g.serialize(format="json-ld", context=context).encode()
            pages[path] = Page(body, "application/ld+json", headers)
        else:
            raise ValueError(format)
    return pages


def page_members(
    graphs: Iterable[rdflib.Graph],
) -> dict[str, rdflib.Graph]:
    """Every member named by ``tree:member`` in ``graphs``, with its triples: those whose
    subject is the member, and, through blank-node objects, those of the blank nodes it reaches
    (the member's description on the page; a member on several pages has the same one on each:
    the first page's is kept, as blank nodes differ between pages)."""
    members: dict[str, rdflib.Graph] = {}
    for g in graphs:
        for m in set(g.objects(None, URIRef(TREE + "member"))):
            if str(m) in members:
                continue
            out = members[str(m)] = rdflib.Graph()
            todo, seen = [m], set()
            while todo:
                s = todo.pop()
                if s in seen:
                    continue
                seen.add(s)
                for p, o in g.predicate_objects(s):
                    out.add((s, p, o))
                    if isinstance(o, BNode):
                        todo.append(o)
    return members


def served_graphs(server_url: str, pages: Mapping[str, Page]) -> Iterator[rdflib.Graph]:
    """The graph of each page in ``pages`` (as served at ``server_url``)."""
    for path, page in pages.items():
        fmt = "json-ld" if "json" in page.content_type else "turtle"
        yield rdflib.Graph().parse(
            data=page.body.decode(), format=fmt, publicID=server_url + path.lstrip("/")
        )
