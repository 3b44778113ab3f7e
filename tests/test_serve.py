"""ldesfrag serve: real HTTP requests against a temporary LDES directory."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rdflib import Graph, URIRef

import ldesfrag
from ldesfrag import render_page, serve

# rdflib 7 warns about its own use of deprecated Dataset APIs while parsing.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STREAM = "http://example.org/stream"
IMMUTABLE = "public, max-age=31536000, immutable"


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


@pytest.mark.parametrize(
    "path",
    [
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
    ],
)
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
    status, headers, _ = request(server, page)
    assert status == 200
    assert headers["cache-control"] == IMMUTABLE
    assert headers["etag"] == '"abc"'
    assert request(server, page, headers={"If-None-Match": '"abc"'})[0] == 304
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


def test_serve_is_loopback_by_default(site):
    with serve(site, port=0) as s:
        assert s.host == "127.0.0.1"
        assert s.url == f"http://127.0.0.1:{s.port}/"


def test_cli_serve(site):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ldesfrag.cli", "serve", str(site), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "serving" in line
        url = line.split(" at ")[1].split()[0]
        host, port = url.removeprefix("http://").rstrip("/").rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("GET", "/")
        r = conn.getresponse()
        assert r.status == 200
        assert r.getheader("Content-Type") == "text/turtle"
        conn.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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
