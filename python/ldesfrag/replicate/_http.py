"""Fetching pages: one keep-alive ``http.client`` connection per (worker thread, origin),
redirects, ``If-None-Match``, gzip, and bounded retries with exponential backoff and jitter."""

from __future__ import annotations

import gzip
import http.client
import random
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from ldesfrag._formats import CONTENT_TYPES
from ldesfrag.exceptions import ReplicationError

#: What a page request accepts: every RDF format the page reader reads, Turtle first.
ACCEPT = ", ".join(
    f"{t};q={q}"
    for t, q in zip(
        (CONTENT_TYPES[f] for f in ("turtle", "nquads", "ntriples", "trig", "jsonld")),
        ("1.0", "0.9", "0.9", "0.8", "0.7"),
        strict=True,
    )
)
MAX_REDIRECTS = 10
#: Failures worth another try: the server or the network, not the request.
_TRANSIENT = (OSError, http.client.HTTPException, socket.timeout, EOFError, zlib.error)


@dataclass(frozen=True)
class Response:
    url: str  # the final URL, after redirects: relative IRIs resolve against it
    status: int  # 200 or 304
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    retries: int


class _Retry(Exception):
    """A transient failure (5xx, 429, timeout, reset): try again after a backoff."""


class Fetcher:
    """GETs for the crawl's worker threads: each thread keeps its own connections alive."""

    def __init__(
        self,
        *,
        timeout: float,
        retries: int,
        backoff: float,
        headers: Mapping[str, str] | None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.headers = dict(headers or {})
        self._local = threading.local()
        self._sleep = sleep
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "pool", {}
        )
        conn = pool.get((scheme, netloc))
        if conn is None:
            if scheme == "https":
                conn = http.client.HTTPSConnection(
                    netloc, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(netloc, timeout=self.timeout)
            pool[(scheme, netloc)] = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _drop(self, scheme: str, netloc: str) -> None:
        pool = self._local.__dict__.get("pool", {})
        conn = pool.pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            c.close()

    def get(self, url: str, etag: str | None = None, retries: int | None = None) -> Response:
        """The page at ``url`` (following redirects), or ``status=304`` when ``etag`` still
        matches. Raises :class:`ReplicationError` on a 4xx, a redirect loop, or when the
        retries are exhausted."""
        attempt = 0
        retries = self.retries if retries is None else retries
        while True:
            try:
                return self._get_once(url, etag, attempt)
            except _Retry as e:
                reason = str(e)
            except _TRANSIENT as e:
                reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            if attempt >= retries:
                raise ReplicationError(url, f"failed after {attempt + 1} attempts; last: {reason}")
            # Exponential backoff with full jitter, capped at 60 backoff units.
            delay = self.backoff * min(2**attempt, 60) * (0.5 + random.random() / 2)
            attempt += 1
            self._sleep(delay)

    def _get_once(self, url: str, etag: str | None, attempt: int) -> Response:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ReplicationError(current, "not an http(s) URL")
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            headers = {
                "Accept": ACCEPT,
                "Accept-Encoding": "gzip",
                "Connection": "keep-alive",
                **self.headers,
            }
            if etag is not None:
                headers["If-None-Match"] = etag
            conn = self._connection(parts.scheme, parts.netloc)
            try:
                conn.request("GET", target, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except BaseException:
                self._drop(parts.scheme, parts.netloc)
                raise
            if resp.will_close:
                self._drop(parts.scheme, parts.netloc)
            status = resp.status
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            if status in (301, 302, 303, 307, 308):
                location = hdrs.get("location")
                if not location:
                    raise ReplicationError(current, f"HTTP {status} without a Location")
                current = urljoin(current, location)
                continue
            if status == 304:
                return Response(current, 304, hdrs, b"", attempt)
            if status >= 500 or status == 429 or status == 408:
                raise _Retry(f"HTTP {status} {resp.reason}")
            if status != 200:
                raise ReplicationError(current, f"HTTP {status} {resp.reason}")
            if hdrs.get("content-encoding", "").lower() == "gzip":
                try:
                    body = gzip.decompress(body)
                except (OSError, EOFError) as e:
                    raise _Retry(f"a broken gzip body ({e})") from e
            length = hdrs.get("content-length")
            if (
                length is not None
                and "content-encoding" not in hdrs
                and length.isdigit()
                and int(length) != len(body)
            ):  # a cut connection that http.client let through
                raise _Retry(f"{len(body)} of {length} bytes")
            return Response(current, 200, hdrs, body, attempt)
        raise ReplicationError(url, f"more than {MAX_REDIRECTS} redirects")
