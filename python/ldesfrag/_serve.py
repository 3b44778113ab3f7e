"""``ldesfrag serve``: a small static server for a published LDES directory (local use, tests).

It serves the files under one directory with RDF content types by extension, the cache headers
of a Netlify/Cloudflare-Pages-style ``_headers`` file (reloaded when it changes), strong ETags of
the bytes it sends, ``If-None-Match`` → 304, ``Vary: Accept`` and CORS. A folder URL serves its
``index.<ext>``.
It is served at the path of the base URL it was published for (from its publish state; ``/``
without one) or at a given path, which ``_headers`` rules for the base URL's path follow. URLs
outside that path, dotfiles and dot-directories (the publisher's state in ``.ldesfrag/``),
``_headers`` itself, anything outside the directory (``..``, encoded or not, and symlinks
leading out) are 404.

Connections: up to ``max_connections`` are served at once (one thread each), more wait in a
listen backlog of 1024; a connection idle (or stalled mid-request, or not reading its response)
for ``timeout`` seconds is closed. Request bodies of GET, HEAD and OPTIONS are read and dropped,
so a keep-alive connection's next request starts where it should.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from ldesfrag._publish.paths import STATE_DIR, base_path
from ldesfrag._render import CONTENT_TYPES, FILE_EXTENSIONS, cache_control, etag, if_none_match
from ldesfrag.exceptions import LdesfragError

__all__ = ["INDEX_FILES", "MEDIA_TYPES", "LdesServer", "serve"]

#: Content types by file extension: the RDF formats the publisher writes, and a few others.
MEDIA_TYPES = {
    **{FILE_EXTENSIONS[f]: CONTENT_TYPES[f] for f in CONTENT_TYPES},
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
#: What a folder URL serves, first found wins.
INDEX_FILES = tuple(f"index{ext}" for ext in FILE_EXTENSIONS.values())
HEADERS_FILE = "_headers"
#: What a ``Location`` leaves unescaped (as the publisher's paths and ``base_path`` do).
_PATH_SAFE = "/!$&'()*+,;=:@"
#: The largest request body read (and dropped) to keep a connection: beyond it, 413 and close.
_MAX_BODY = 1 << 20


def parse_headers_file(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """The rules of a ``_headers`` file: a URL path (``*`` at the end matches any rest) followed
    by indented ``Name: value`` lines. Blank lines and ``#`` comments are ignored."""
    rules: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if raw[:1] in (" ", "\t"):
            name, sep, value = line.partition(":")
            if sep and rules and name.strip():
                rules[-1][1].append((name.strip(), value.strip()))
        else:
            rules.append((line, []))
    return rules


@dataclass
class _Site:
    """The served directory and its ``_headers`` rules."""

    root: Path
    #: The decoded URL path the directory is served at (``/…/``), and the one its ``_headers``
    #: rules were written for (the published base URL's, ``None``: rules are used as written).
    prefix: str = "/"
    rules_prefix: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rules_stamp: tuple[int, int] | None = None
    _exact: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    _prefixes: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)

    def headers_for(self, url_path: str) -> dict[str, str]:
        """The ``_headers`` entries for a URL path, names lower-cased; later rules override."""
        self._reload()
        with self._lock:
            found: dict[str, str] = {}
            for prefix, headers in self._prefixes:
                if url_path.startswith(prefix):
                    found.update((k.lower(), v) for k, v in headers)
            found.update((k.lower(), v) for k, v in self._exact.get(url_path, []))
            return found

    def _reload(self) -> None:
        path = self.root / HEADERS_FILE
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if stamp == self._rules_stamp:
                return
            try:
                text = path.read_text(encoding="utf-8") if stamp else ""
            except OSError:
                text = ""
            exact: dict[str, list[tuple[str, str]]] = {}
            prefixes = []
            for raw_pattern, headers in parse_headers_file(text):
                # Compared with the decoded request path; rules follow DIR when it is served
                # elsewhere than its base URL (--path).
                pattern = unquote(raw_pattern)
                if self.rules_prefix is not None and pattern.startswith(self.rules_prefix):
                    pattern = self.prefix + pattern[len(self.rules_prefix) :]
                if pattern.endswith("*"):
                    prefixes.append((pattern[:-1], headers))
                else:
                    exact.setdefault(pattern, []).extend(headers)
            self._exact, self._prefixes, self._rules_stamp = exact, prefixes, stamp

    def resolve(self, url_path: str) -> tuple[Path | None, bool]:
        """The file a decoded URL path names (``None``: 404), and whether to redirect to the
        folder URL (a folder asked for without its trailing slash)."""
        if url_path + "/" == self.prefix:
            return self.root, True
        if not url_path.startswith(self.prefix):
            return None, False
        parts = url_path[len(self.prefix) :].split("/")
        for part in parts:
            if part.startswith(".") or part == HEADERS_FILE or "\\" in part or "\0" in part:
                return None, False
        candidate = self.root.joinpath(*[p for p in parts if p])
        try:
            real = candidate.resolve(strict=True)
        except (OSError, RuntimeError):
            return None, False
        if not self._inside(real):
            return None, False
        if real.is_dir():
            if not url_path.endswith("/"):
                return real, True
            for name in INDEX_FILES:
                index = real / name
                if index.is_file() and self._inside(index.resolve()):
                    return index.resolve(), False
            return None, False
        return (real, False) if real.is_file() else (None, False)

    def _inside(self, real: Path) -> bool:
        if not real.is_relative_to(self.root):
            return False
        rel = real.relative_to(self.root).parts
        return not any(p.startswith(".") for p in rel) and rel[:1] != (HEADERS_FILE,)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    server_version = "ldesfrag-serve"
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm and
    # delayed ACKs add ~40 ms to every response.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        # Every read and write of the connection (the wait for its next request included)
        # gives up after this long: an idle or half-sent connection does not hold its thread.
        self.connection.settimeout(self.server.connection_timeout)

    def do_GET(self) -> None:
        if self._drop_body():
            self._respond(body=True)

    def do_HEAD(self) -> None:
        if self._drop_body():
            self._respond(body=False)

    def do_OPTIONS(self) -> None:
        if not self._drop_body():
            return
        self.send_response(HTTPStatus.NO_CONTENT)
        self.send_header("Allow", "GET, HEAD, OPTIONS")
        self._common_headers()
        self.send_header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "*")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _drop_body(self) -> bool:
        """Reads and drops the request's body (RFC 9112 §6.3), so that the next request on the
        connection is parsed from its first byte. ``False``: it was refused, and the connection
        closes (``send_error`` sends ``Connection: close``)."""
        if self.headers.get_all("Transfer-Encoding"):
            # A body whose length is not given up front (chunked) is not read: a server may
            # ask for a Content-Length instead (RFC 9112 §6.3).
            self._refuse(HTTPStatus.LENGTH_REQUIRED, "a request body needs a Content-Length")
            return False
        lengths = {
            v.strip() for h in self.headers.get_all("Content-Length") or [] for v in h.split(",")
        }
        if not lengths:
            return True
        length = lengths.pop()
        if lengths or not (length.isascii() and length.isdigit()):
            self._refuse(HTTPStatus.BAD_REQUEST, "invalid Content-Length")
            return False
        remaining = int(length)
        if remaining > _MAX_BODY:
            self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
            return False
        while remaining:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:  # the client went away mid-body
                self.close_connection = True
                return False
            remaining -= len(chunk)
        return True

    def _refuse(self, status: HTTPStatus, message: str) -> None:
        """An error response, then the connection closes. The body already received is read
        first: unread input at close makes the kernel reset the connection, which can destroy
        the response before the client reads it."""
        self.send_error(status, message)
        self.wfile.flush()
        try:
            self.connection.setblocking(False)
            for _ in range(_MAX_BODY >> 16):
                if not self.connection.recv(1 << 16):
                    break
        except OSError:  # nothing more arrived yet (or the client is gone)
            pass

    def _common_headers(self) -> None:
        self.send_header("Vary", "Accept")
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Expose-Headers", "ETag, Cache-Control")

    def _not_found(self, body: bool) -> None:
        message = b"404 not found\n"
        self.send_response(HTTPStatus.NOT_FOUND)
        self._common_headers()
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(message)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(message)

    def _respond(self, body: bool) -> None:
        site = self.server.site
        raw_path = urlsplit(self.path).path
        file, redirect = None, False
        try:
            url_path = unquote(raw_path, errors="strict")
            if url_path.startswith("/"):
                file, redirect = site.resolve(url_path)
        except UnicodeDecodeError:
            pass
        if file is None:
            self._not_found(body)
            return
        if redirect:
            self.send_response(HTTPStatus.MOVED_PERMANENTLY)
            self._common_headers()
            self.send_header("Location", quote(url_path + "/", safe=_PATH_SAFE))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        extra = site.headers_for(url_path)
        # The ETag is always the hash of the very bytes sent: read once, hashed, sent. The
        # `_headers` file's ETags are not used: publish rewrites it only at the end of a run,
        # so during a run (or after a killed one) they name older bytes, and a client holding
        # such an ETag would get a 304 for a changed page.
        extra.pop("etag", None)
        try:
            with file.open("rb") as f:
                data = f.read()
        except OSError:
            self._not_found(body)
            return
        tag = etag(data)
        # Cache-Control does come from `_headers`: a stale rule can only be less cacheable than
        # the current one. A page is listed immutable only once its last rendering (with
        # ldes:immutable) is written, and publish never rewrites an immutable page; so an old
        # list at most calls mutable a page that has become immutable since.
        cache = extra.pop("cache-control", cache_control(False))
        media_type = MEDIA_TYPES.get(file.suffix.lower(), "application/octet-stream")
        extra.pop("content-length", None)
        media_type = extra.pop("content-type", media_type)
        not_modified = if_none_match(self.headers.get("If-None-Match"), tag)
        self.send_response(HTTPStatus.NOT_MODIFIED if not_modified else HTTPStatus.OK)
        self._common_headers()
        self.send_header("ETag", tag)
        self.send_header("Cache-Control", cache)
        for name, value in extra.items():
            if name not in ("vary", "access-control-allow-origin"):
                self.send_header(name, value)
        if not_modified:
            self.end_headers()
            return
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            super().log_message(format, *args)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Connects beyond the threads at work wait here; the default (5) leaves a burst of clients
    # unanswered while their SYNs are retried. The kernel caps it at net.core.somaxconn.
    request_queue_size = 1024
    site: _Site
    log_requests: bool
    connection_timeout: float

    def __init__(
        self, address: tuple[str, int], max_connections: int, connection_timeout: float
    ) -> None:
        super().__init__(address, _Handler)
        self.connection_timeout = connection_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        # At most `max_connections` threads: the accept loop waits for a free one (connects
        # queue in the backlog meanwhile), watching for shutdown.
        while not self._slots.acquire(timeout=0.05):
            if self._closing.is_set():
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._open.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                self._open.discard(request)
            self._slots.release()

    def shutdown(self) -> None:
        self._closing.set()
        super().shutdown()

    def server_close(self) -> None:
        self._closing.set()
        # Open keep-alive connections would hold their threads (which server_close joins)
        # until their timeout: they are cut.
        with self._lock:
            for request in self._open:
                with contextlib.suppress(OSError):
                    request.shutdown(socket.SHUT_RDWR)
        super().server_close()


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class LdesServer:
    """A running static server; :attr:`url` ends in ``/``. Use as a context manager, or call
    :meth:`shutdown`."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        host: str,
        port: int,
        *,
        log_requests: bool,
        path: str | None = None,
        timeout: float = 30.0,
        max_connections: int = 256,
    ) -> None:
        if not (isinstance(timeout, int | float) and 0 < timeout < math.inf):
            raise LdesfragError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if not (isinstance(max_connections, int) and max_connections >= 1):
            raise LdesfragError(f"max_connections must be an int >= 1, not {max_connections!r}")
        root = Path(directory).resolve(strict=True)
        if not root.is_dir():
            raise NotADirectoryError(f"{directory}: not a directory")
        try:
            published = _published_path(root)
        except LdesfragError:
            if path is None:
                raise
            published = None  # a given path needs no state: rules are used as written
        #: The URL path (percent-encoded, ``/`` at both ends) the directory is served at.
        self.path = (published or "/") if path is None else _served_path(path)
        rules_prefix = unquote(published) if published else None
        site = _Site(root, prefix=unquote(self.path), rules_prefix=rules_prefix)
        cls = _HTTPServer6 if ":" in host else _HTTPServer
        self._httpd = cls((host, port), max_connections, float(timeout))
        self._httpd.site = site
        self._httpd.log_requests = log_requests
        self._thread: threading.Thread | None = None
        self.directory = root
        self.host = host
        self.port: int = self._httpd.server_address[1]

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.path}"

    def start(self) -> LdesServer:
        """Serves in a background (daemon) thread."""
        if self._thread is None:
            # A short poll interval: shutdown() waits for the loop to notice.
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="ldesfrag-serve",
                daemon=True,
            )
            self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serves in this thread until :meth:`shutdown` (or KeyboardInterrupt)."""
        try:
            self._httpd.serve_forever()
        finally:
            self._httpd.server_close()

    def shutdown(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> LdesServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _served_path(path: str) -> str:
    """A given URL path, with ``/`` at both ends and percent-encoded."""
    inner = path.strip("/")
    if "?" in inner or "#" in inner:
        raise LdesfragError(f"path {path!r}: a URL path has no query or fragment")
    return base_path(f"/{inner}/" if inner else "/")


def _published_path(root: Path) -> str | None:
    """The URL path of the base URL ``root`` was published for (``None``: no publish state)."""
    state = root / STATE_DIR / "state.json"
    try:
        text = state.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        return base_path(json.loads(text)["settings"]["base_url"])
    except (ValueError, KeyError, TypeError):
        raise LdesfragError(f"{state}: no base URL in it; serve with a path (--path)") from None


def serve(
    directory: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    log_requests: bool = False,
    path: str | None = None,
    timeout: float = 30.0,
    max_connections: int = 256,
) -> LdesServer:
    """Starts serving ``directory`` in a background thread (``port=0``: any free port).

    It is served at ``path`` (a URL path such as ``/ldes/counts/``), by default at the path of
    the base URL it was published for, or at ``/`` when it has no publish state; :attr:`url`
    is then that base URL's path on this host.

    Up to ``max_connections`` connections are served at once, more wait; a connection idle or
    stalled for ``timeout`` seconds is closed.

    >>> with serve("out/ldes", port=0) as server:  # doctest: +SKIP
    ...     urllib.request.urlopen(server.url + "index.ttl")
    """
    return LdesServer(
        directory,
        host,
        port,
        log_requests=log_requests,
        path=path,
        timeout=timeout,
        max_connections=max_connections,
    ).start()
