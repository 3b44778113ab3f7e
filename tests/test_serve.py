"""ldesfrag serve: real HTTP requests against a temporary LDES directory."""

from __future__ import annotations

import contextlib
import http.client
import io
import os
import re
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from ldes_data import member_iri, write_members
from rdflib import Graph, Namespace, URIRef

import ldesfrag
from ldesfrag import Geospatial, HierarchicalTime, View, render_page, serve

# rdflib 7 warns about its own use of deprecated Dataset APIs while parsing.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STREAM = "http://example.org/stream"
IMMUTABLE = "public, max-age=31536000, immutable"
TREE = Namespace("https://w3id.org/tree#")
DEEP = "/ldes/counts/"  # the path of the base URL the `deep` directory is published for
TRAVERSALS = [
    "/missing.ttl",
    "/tile/15/",
    "/../outside.ttl",
    "/tile/../../outside.ttl",
    "/%2e%2e/outside.ttl",
    "/tile/%2E%2E/%2e%2e/outside.ttl",
    "/..%2foutside.ttl",
    "/.ldesfrag/state",
    "/%2eldesfrag/state",
    "/.hidden.ttl",
    "/_headers",
    "/tile/../_headers",
    "/link.ttl",
    "/%ff.ttl",
    "/index.ttl%00",
    "//etc/passwd",
    "/etc/passwd",
]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    page_dir = root / "tile" / "15" / "16882" / "10975" / "page"
    page_dir.mkdir(parents=True)
    for fmt, ext in ldesfrag.FILE_EXTENSIONS.items():
        (root / f"index{ext}").write_bytes(
            render_page("http://x/", stream=STREAM, root=True, format=fmt).body
        )
    (page_dir / "1.ttl").write_bytes(render_page("http://x/p1", stream=STREAM).body)
    (root / "folder").mkdir()
    (root / "folder" / "index.nt").write_bytes(
        render_page("http://x/f", stream=STREAM, format="ntriples").body
    )
    (root / ".ldesfrag").mkdir()
    (root / ".ldesfrag" / "state").write_text("secret")
    (root / ".hidden.ttl").write_text("secret")
    (root / "_headers").write_text("")
    outside = tmp_path / "outside.ttl"
    outside.write_text("secret")
    (root / "link.ttl").symlink_to(outside)
    (root / "inside-link.ttl").symlink_to(page_dir / "1.ttl")
    return root


@pytest.fixture
def server(site: Path):
    with serve(site, port=0) as s:
        yield s


def request(server, path: str, method: str = "GET", headers: dict | None = None):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("path", "media_type", "rdflib_format"),
    [
        ("/index.ttl", "text/turtle", "turtle"),
        ("/index.nt", "application/n-triples", "nt"),
        ("/index.nq", "application/n-quads", "nquads"),
        ("/index.trig", "application/trig", "trig"),
        ("/index.jsonld", "application/ld+json", "json-ld"),
        ("/", "text/turtle", "turtle"),
        ("/folder/", "application/n-triples", "nt"),
        ("/tile/15/16882/10975/page/1.ttl", "text/turtle", "turtle"),
        ("/tile/15/16882/10975/page/1.ttl?pageNumber=3", "text/turtle", "turtle"),
        ("/inside-link.ttl", "text/turtle", "turtle"),
    ],
)
def test_content_types_and_headers(server, site, path, media_type, rdflib_format):
    status, headers, body = request(server, path)
    assert status == 200
    assert headers["content-type"] == media_type
    assert headers["content-length"] == str(len(body))
    assert headers["vary"] == "Accept"
    assert headers["access-control-allow-origin"] == "*"
    assert headers["cache-control"] == "public, max-age=60"
    assert headers["etag"] == ldesfrag._render.etag(body)
    g = Graph()
    g.parse(data=body, format=rdflib_format)
    assert (URIRef(STREAM), None, None) in g


def test_folder_without_slash_redirects(server):
    status, headers, _ = request(server, "/folder")
    assert status == 301
    assert headers["location"] == "/folder/"


def test_if_none_match_gives_304(server):
    _, headers, body = request(server, "/index.ttl")
    tag = headers["etag"]
    assert tag.startswith('"')
    status, headers304, body304 = request(server, "/index.ttl", headers={"If-None-Match": tag})
    assert status == 304
    assert body304 == b""
    assert headers304["etag"] == tag
    assert headers304["vary"] == "Accept"
    for inm in (f'"other", {tag}', "*", "W/" + tag):
        assert request(server, "/index.ttl", headers={"If-None-Match": inm})[0] == 304
    status, _, again = request(server, "/index.ttl", headers={"If-None-Match": '"nope"'})
    assert status == 200
    assert again == body


def test_head(server):
    status, headers, body = request(server, "/index.ttl", "HEAD")
    _, get_headers, get_body = request(server, "/index.ttl")
    assert status == 200
    assert body == b""
    assert headers["content-length"] == str(len(get_body))
    assert headers["etag"] == get_headers["etag"]
    assert request(server, "/missing.ttl", "HEAD")[0] == 404


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_traversal_no_hidden_files(server, path):
    status, _, body = request(server, path)
    assert status == 404
    assert b"secret" not in body


def test_headers_file_applies_and_reloads(server, site):
    page = "/tile/15/16882/10975/page/1.ttl"
    (site / "_headers").write_text(
        f"# written by the publisher\n{page}\n  Cache-Control: {IMMUTABLE}\n"
        '  ETag: "abc"\n\n/folder/*\n  X-Extra: yes\n'
    )
    status, headers, body = request(server, page)
    assert status == 200
    assert headers["cache-control"] == IMMUTABLE
    # The ETag is always of the bytes sent, never the one the file gives.
    assert headers["etag"] == ldesfrag._render.etag(body)
    assert request(server, page, headers={"If-None-Match": '"abc"'})[0] == 200
    assert request(server, "/folder/", headers={})[1]["x-extra"] == "yes"
    assert request(server, "/index.ttl")[1]["cache-control"] == "public, max-age=60"

    # A new _headers (new mtime and size) is picked up without a restart.
    time.sleep(0.01)
    (site / "_headers").write_text(f"{page}\n  Cache-Control: public, max-age=5\n")
    new_mtime = time.time() + 5
    os.utime(site / "_headers", (new_mtime, new_mtime))
    _, headers, body = request(server, page)
    assert headers["cache-control"] == "public, max-age=5"
    assert headers["etag"] == ldesfrag._render.etag(body)


def test_etag_follows_file_changes(server, site):
    path = site / "folder" / "index.nt"
    first = request(server, "/folder/")[1]["etag"]
    path.write_bytes(render_page("http://x/g", stream=STREAM, format="ntriples").body)
    later = time.time() + 5
    os.utime(path, (later, later))
    _, headers, body = request(server, "/folder/")
    assert headers["etag"] != first
    assert headers["etag"] == ldesfrag._render.etag(body)


def test_the_etag_is_of_the_bytes_sent_not_the_one_headers_gives(server, site):
    url = "/tile/15/16882/10975/page/1.ttl"
    page = site / url.lstrip("/")
    old = page.read_bytes()
    old_tag = ldesfrag._render.etag(old)
    # As publish lists a page; a killed run leaves this list a run behind the files.
    (site / "_headers").write_text(f"{url}\n  Cache-Control: {IMMUTABLE}\n  ETag: {old_tag}\n")
    assert request(server, url, headers={"If-None-Match": old_tag})[0] == 304
    # New bytes of the same size, with the old mtime: nothing in the file's stat tells.
    st = page.stat()
    new = old.replace(b"http://x/p1", b"http://x/p2")
    assert new != old
    assert len(new) == len(old)
    page.write_bytes(new)
    os.utime(page, ns=(st.st_atime_ns, st.st_mtime_ns))
    for method in ("GET", "HEAD"):
        status, headers, body = request(server, url, method, {"If-None-Match": old_tag})
        assert status == 200
        assert headers["etag"] == ldesfrag._render.etag(new)
        assert headers["cache-control"] == IMMUTABLE  # still taken from _headers
    assert body == b""
    assert request(server, url, headers={"If-None-Match": old_tag})[2] == new
    assert request(server, url, headers={"If-None-Match": headers["etag"]})[0] == 304


def test_after_a_killed_publish_no_changed_page_answers_304_to_its_old_etag(tmp_path):
    site = tmp_path / "site"
    first = write_members(tmp_path / "first.nt", 0, 300)
    second = write_members(tmp_path / "second.nt", 300, 300)
    view = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=20)
    base = "http://127.0.0.1:8000/"
    ldesfrag.publish([first], view, site, base_url=base)
    before = (site / "_headers").read_text()
    entries = published_headers(site)
    (tmp_path / "view.json").write_text(view.to_json())
    env = {**os.environ, "_LDESFRAG_PUBLISH_KILL_AT_WRITE": "12"}  # SIGKILL at the 12th rewrite
    cmd = [sys.executable, "-m", "ldesfrag.cli", "publish", str(first), str(second)]
    cmd += ["--view", str(tmp_path / "view.json"), "--out", str(site), "--base-url", base]
    killed = subprocess.run([*cmd, "--batch-size", "50", "--quiet"], env=env, check=False)
    assert killed.returncode == -9
    assert (site / "_headers").read_text() == before  # the run died before rewriting it
    changed = set()
    for url, (cache, tag) in entries.items():
        now = ldesfrag._render.etag((site / (url[1:] or "index.ttl")).read_bytes())
        if now != tag:
            changed.add(url)
            # Why Cache-Control may still come from a stale _headers: what it calls
            # immutable has not changed since.
            assert "immutable" not in cache, url
    assert changed
    with serve(site, port=0) as server:
        for url, (_, tag) in entries.items():
            status, headers, body = request(server, url, headers={"If-None-Match": tag})
            if url in changed:
                assert status == 200, url
                assert body == (site / (url[1:] or "index.ttl")).read_bytes()
                assert headers["etag"] == ldesfrag._render.etag(body)
            else:
                assert status == 304, url


def test_serve_is_loopback_by_default(site):
    with serve(site, port=0) as s:
        assert s.host == "127.0.0.1"
        assert s.url == f"http://127.0.0.1:{s.port}/"


@contextlib.contextmanager
def cli_serve(*args: str) -> Iterator[str]:
    """Runs `ldesfrag serve ARGS --port 0`; yields the URL it says it serves at."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ldesfrag.cli", "serve", *args, "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "serving" in line
        yield line.split(" at ")[1].split()[0]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def get(url: str) -> tuple[int, str | None]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", parts.path)
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type")
    finally:
        conn.close()


def test_cli_serve(site):
    with cli_serve(str(site)) as url:
        assert urlsplit(url).path == "/"
        assert get(url) == (200, "text/turtle")


def test_fuzzed_paths_never_leave_the_directory(tmp_path_factory):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    base = tmp_path_factory.mktemp("fuzz")
    root = base / "site"
    (root / "a").mkdir(parents=True)
    (root / "a" / "page.ttl").write_text("public")
    (root / ".ldesfrag").mkdir()
    (root / ".ldesfrag" / "state").write_text("secret")
    (root / "_headers").write_text("secret")
    (base / "outside.ttl").write_text("secret")
    segments = st.sampled_from(
        [
            "..",
            ".",
            "%2e%2e",
            "%2E.",
            ".%2e",
            "a",
            "page.ttl",
            ".ldesfrag",
            "%2eldesfrag",
            "state",
            "_headers",
            "outside.ttl",
            "",
            "%2f",
            "%5c",
            "..%5c",
            "site",
        ]
    )

    with serve(root, port=0) as server:

        @settings(max_examples=300, deadline=None)
        @given(st.lists(segments, max_size=6))
        def check(parts):
            status, _, body = request(server, "/" + "/".join(parts))
            assert status in (200, 301, 404)
            assert b"secret" not in body
            if status == 200:
                assert body == b"public"

        check()


# ---- a directory published for a base URL with a path ---------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def deep(tmp_path_factory):
    """A directory published for http://127.0.0.1:{port}/ldes/counts/, the port picked free so
    that serving it there makes its IRIs resolve; and its base URL."""
    d = tmp_path_factory.mktemp("deep")
    dump = write_members(d / "members.nt", 0, 300)
    base = f"http://127.0.0.1:{free_port()}{DEEP}"
    view = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=20)
    summary = ldesfrag.publish([dump], view, d / "site", base_url=base)
    assert summary.members == 300
    assert summary.immutable_pages > 0
    return d / "site", base


def published_headers(site: Path) -> dict[str, tuple[str, str]]:
    """``_headers``: URL path → (Cache-Control, ETag)."""
    text = (site / "_headers").read_text()
    found = re.findall(r"^(/\S*)\n  Cache-Control: (.+)\n  ETag: (.+)$", text, re.M)
    return {p: (c, e) for p, c, e in found}


def test_headers_paths_start_with_the_base_path_and_name_files(deep):
    site, _ = deep
    entries = published_headers(site)
    files = {
        str(p.relative_to(site))
        for p in site.rglob("*")
        if p.is_file() and ".ldesfrag" not in p.relative_to(site).parts
    }
    assert DEEP in entries  # the root, by its folder URL
    assert all(p.startswith(DEEP) for p in entries)
    assert {p[len(DEEP) :] or "index.ttl" for p in entries} == files - {"_headers"}


def test_a_directory_is_served_at_its_base_urls_path_and_replicates(deep):
    site, base = deep
    entries = published_headers(site)
    port = urlsplit(base).port
    with serve(site, port=port) as server:
        assert server.url == base
        # A client's crawl: from the base URL, along every tree:node, by the IRIs as written.
        todo, seen, members = [base], set(), set()
        while todo:
            iri = todo.pop()
            if iri in seen:
                continue
            seen.add(iri)
            assert iri.startswith(base), iri
            status, headers, body = request(server, urlsplit(iri).path)
            assert status == 200, iri
            assert headers["content-type"] == "text/turtle"
            assert (headers["cache-control"], headers["etag"]) == entries[urlsplit(iri).path]
            g = Graph()
            g.parse(data=body, format="turtle", publicID=iri)
            members.update(str(m) for m in g.objects(URIRef(base + "#stream"), TREE.member))
            todo.extend(str(node) for node in g.objects(None, TREE.node))
        assert members == {member_iri(i) for i in range(300)}
        # Every published page was reached (the root's file is the base URL's index.ttl).
        assert {urlsplit(i).path for i in seen} | {DEEP + "index.ttl"} == set(entries)
        status, headers, _ = request(server, DEEP + "index.ttl")
        assert (headers["cache-control"], headers["etag"]) == entries[DEEP + "index.ttl"]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/index.ttl",
        "/ldes/index.ttl",
        "/ldes/counts-2/index.ttl",
        "/ldes/countsindex.ttl",
        "/LDES/counts/index.ttl",
        "/ldes/counts/../counts/index.ttl",
        "/ldes/counts/%2e%2e/counts/index.ttl",
        "/ldes/%2e%2e/ldes/counts/index.ttl",
        "/ldes/counts/_headers",
        "/ldes/counts/.ldesfrag/state.json",
        "/ldes/counts/%2eldesfrag/state.json",
    ],
)
def test_outside_the_base_path_is_404(deep, path):
    site, _ = deep
    with serve(site, port=0) as server:
        status, _, body = request(server, path)
    assert status == 404
    assert b"tree:" not in body
    assert b"settings" not in body


def test_the_base_path_without_its_slash_redirects(deep):
    site, _ = deep
    with serve(site, port=0) as server:
        for method in ("GET", "HEAD"):
            status, headers, _ = request(server, "/ldes/counts?x=1", method)
            assert status == 301
            assert headers["location"] == DEEP
        assert request(server, "/ldes/counts/tile=0_2F0_2F0")[1]["location"] == (
            DEEP + "tile=0_2F0_2F0/"
        )


@pytest.mark.parametrize("path", ["/mirror", "mirror/", "/mirror/", "/"])
def test_path_overrides_where_a_published_directory_is_served(deep, path):
    site, _ = deep
    entries = published_headers(site)
    immutable = next(p for p, (c, _) in entries.items() if "immutable" in c)
    mount = "/" + path.strip("/") + "/" if path.strip("/") else "/"
    with serve(site, port=0, path=path) as server:
        assert server.url == f"http://127.0.0.1:{server.port}{mount}"
        # The _headers rules follow the directory (a proxy may strip the base URL's path).
        for published in (DEEP, immutable):
            status, headers, body = request(server, mount + published[len(DEEP) :])
            assert status == 200
            assert (headers["cache-control"], headers["etag"]) == entries[published]
            assert body == (site / (published[len(DEEP) :] or "index.ttl")).read_bytes()
        assert request(server, DEEP + "index.ttl")[0] == 404


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_traversal_no_hidden_files_under_a_path(site, path):
    with serve(site, port=0, path="/ldes/counts") as server:
        assert server.url.endswith(DEEP)
        assert request(server, DEEP + "index.ttl")[0] == 200
        status, _, body = request(server, DEEP.rstrip("/") + path)
    assert status == 404
    assert b"secret" not in body


def test_a_percent_encoded_base_path_is_served_and_matches_its_headers(tmp_path):
    dump = write_members(tmp_path / "members.nt", 0, 60)
    site = tmp_path / "site"
    view = View([Geospatial(max_zoom=14)], page_size=20)
    ldesfrag.publish([dump], view, site, base_url="http://127.0.0.1:8000/my%20data/ä/")
    prefix = "/my%20data/%C3%A4/"  # as a request spells it
    entries = published_headers(site)
    assert all(p.startswith(prefix) for p in entries)
    page = next(p for p in entries if "page-" in p)
    other_spelling = page.replace("%C3%A4", "%c3%a4")
    with serve(site, port=0) as server:
        assert server.url.endswith(prefix)
        # Rules match the decoded path: lower-case escapes name the same page.
        for path, published in [(prefix, prefix), (page, page), (other_spelling, page)]:
            status, headers, _ = request(server, path)
            assert status == 200
            assert (headers["cache-control"], headers["etag"]) == entries[published]


def test_a_state_without_a_base_url_needs_a_path(site):
    (site / ".ldesfrag" / "state.json").write_text("{}")
    with pytest.raises(ldesfrag.LdesfragError, match="--path"):
        serve(site, port=0)
    with serve(site, port=0, path="/x/") as server:
        assert request(server, "/x/index.ttl")[0] == 200
        assert request(server, "/index.ttl")[0] == 404


@pytest.mark.parametrize(("args", "mount"), [([], DEEP), (["--path", "/mirror"], "/mirror/")])
def test_cli_serve_path(deep, args, mount):
    site, _ = deep
    with cli_serve(str(site), *args) as url:
        assert urlsplit(url).path == mount
        assert get(url) == (200, "text/turtle")
        assert get(url + "index.ttl") == (200, "text/turtle")
        assert get(url.removesuffix(mount) + "/index.ttl")[0] == 404


# ---- connections -----------------------------------------------------------------------------


class _Replay:
    """Received bytes as a socket for ``http.client.HTTPResponse``: one file for all of them,
    so pipelined responses are read one after the other (a response closes its file: not this
    one)."""

    class _File(io.BytesIO):
        def close(self) -> None:
            pass

    def __init__(self, data: bytes) -> None:
        self.file = self._File(data)

    def makefile(self, *args: object, **kwargs: object) -> io.BytesIO:
        return self.file


def exchange(server, data: bytes) -> bytes:
    """Sends raw bytes on one connection; everything received until the server closes it."""
    with socket.create_connection((server.host, server.port), timeout=60) as s:
        s.sendall(data)
        received = b""
        while chunk := s.recv(1 << 16):
            received += chunk
    return received


def responses(data: bytes, methods: str = "") -> list[tuple[int, dict[str, str], bytes]]:
    """The responses in ``data``, to requests with these methods (first letters, default GET)."""
    replay, found = _Replay(data), []
    while replay.file.tell() < len(data):
        method = "HEAD" if methods[len(found) : len(found) + 1] == "H" else "GET"
        r = http.client.HTTPResponse(replay, method=method)  # type: ignore[arg-type]
        r.begin()
        found.append((r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()))
    return found


def test_a_get_with_a_body_leaves_the_next_request_on_the_connection_intact(server, site):
    first = b"GET /index.ttl HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    second = b"GET /folder/ HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    last = b"HEAD /index.nt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    got = responses(exchange(server, first + second + last), "GGH")
    assert [status for status, _, _ in got] == [200, 200, 200]
    assert got[0][2] == (site / "index.ttl").read_bytes()
    assert got[1][2] == (site / "folder" / "index.nt").read_bytes()
    assert got[2][1]["content-type"] == "application/n-triples"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Transfer-Encoding: chunked\r\n", 411),  # no length up front: refused
        (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", 411),
        (b"Content-Length: five\r\n", 400),
        (b"Content-Length: 5, 6\r\n", 400),
        (b"Content-Length: 99999999999\r\n", 413),
    ],
)
def test_a_body_of_unknown_length_is_refused_and_the_connection_closed(server, headers, status):
    body = b"5\r\nhello\r\n0\r\n\r\n"
    smuggled = b"GET /index.ttl HTTP/1.1\r\nHost: x\r\n\r\n"
    data = exchange(
        server, b"GET /index.ttl HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n" + body + smuggled
    )
    got = responses(data)
    assert [s for s, _, _ in got] == [status]
    assert got[0][1]["connection"] == "close"


@pytest.mark.parametrize(
    "sent",
    [
        b"GET /index.ttl HTTP/1.1\r\nHost: x\r\n",  # headers never finished
        b"GET /index.ttl HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",  # nor the body
        b"",  # connected, nothing sent
    ],
)
def test_a_stalled_connection_is_closed_after_the_timeout(site, sent):
    with (
        serve(site, port=0, timeout=1) as server,
        socket.create_connection((server.host, server.port), timeout=60) as s,
    ):
        s.sendall(sent)
        assert s.recv(1024) == b""  # closed by the server, no response


def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(site):
    with serve(site, port=0, timeout=1) as server:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=60)
        conn.request("GET", "/index.ttl")
        r = conn.getresponse()
        assert r.status == 200
        r.read()
        assert conn.sock is not None
        assert conn.sock.recv(1024) == b""
        conn.close()


def test_connections_beyond_the_limit_wait_for_a_free_thread(site):
    with serve(site, port=0, timeout=1, max_connections=2) as server:
        stalled = [socket.create_connection((server.host, server.port)) for _ in range(2)]
        try:
            for s in stalled:
                s.sendall(b"GET / HTTP/1.1\r\n")
            # Served once a stalled connection times out and frees its thread.
            assert request(server, "/index.ttl")[0] == 200
        finally:
            for s in stalled:
                s.close()


def test_a_burst_of_connects_waits_in_the_backlog_and_every_one_is_answered(site):
    try:
        limit = int(Path("/proc/sys/net/core/somaxconn").read_text())
    except OSError:
        limit = 300
    n = min(300, limit)
    # Bound and listening, not accepting yet: every handshake has to wait in the backlog.
    server = ldesfrag.LdesServer(site, "127.0.0.1", 0, log_requests=False)
    clients: list[socket.socket] = []
    try:
        with selectors.DefaultSelector() as sel:
            for _ in range(n):
                s = socket.socket()
                clients.append(s)
                s.setblocking(False)
                s.connect_ex((server.host, server.port))
                sel.register(s, selectors.EVENT_WRITE)
            connected = 0
            deadline = time.monotonic() + 60
            while connected < n and time.monotonic() < deadline:
                for key, _ in sel.select(timeout=1):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
                    sel.unregister(sock)
                    connected += 1
        assert connected == n
        server.start()
        expected = (site / "index.ttl").read_bytes()
        for s in clients:
            s.settimeout(60)
            s.sendall(b"GET /index.ttl HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        for s in clients:
            received = b""
            while chunk := s.recv(1 << 16):
                received += chunk
            [(status, _, body)] = responses(received)
            assert (status, body) == (200, expected)
    finally:
        for s in clients:
            s.close()
        server.shutdown()
