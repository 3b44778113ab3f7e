"""`ldesfrag publish`: RDF dumps → a static LDES directory, incremental and crash-safe."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urljoin

import ldes_data
import pytest
import rdflib
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from ldes_data import member_iri, write_members

import ldesfrag
from ldesfrag import Geospatial, HierarchicalTime, LdesfragError, View, ViewError, publish
from ldesfrag._publish import STATE_DIR, bucket_path, node_path
from ldesfrag.cli import main

BASE = "http://127.0.0.1:8000/ldes/"
PREFIX = "/ldes/"  # BASE's path, which every _headers path starts with
TREE = rdflib.Namespace("https://w3id.org/tree#")
LDES = rdflib.Namespace("https://w3id.org/ldes#")
RDF_FORMATS = {"ttl": "turtle", "nt": "nt", "nq": "nquads", "trig": "trig", "jsonld": "json-ld"}
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:rdflib")

VIEW = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=20)


def tree(out: Path) -> dict[str, bytes]:
    """The published files (the state directory aside)."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and STATE_DIR not in p.relative_to(out).parts
    }


def parse(out: Path, rel: str) -> rdflib.Dataset:
    ext = rel.rsplit(".", 1)[1]
    ds = rdflib.Dataset()
    iri = BASE if rel == f"index.{ext}" else BASE + rel
    ds.parse(data=(out / rel).read_bytes(), format=RDF_FORMATS[ext], publicID=iri)
    return ds


def crawl(out: Path, ext: str = "ttl") -> tuple[set[str], set[str]]:
    """Follows tree:relation/tree:node from the root through the files, as a client does: the
    member IRIs (objects of `<stream> tree:member`) and the visited files."""
    stream = rdflib.URIRef(BASE + "#stream")
    todo, seen, members = [f"index.{ext}"], set(), set()
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        g = parse(out, rel)
        page = rdflib.URIRef(BASE if rel == f"index.{ext}" else BASE + rel)
        members.update(str(m) for m in g.objects(stream, TREE.member))
        for r in g.objects(page, TREE.relation):
            (target,) = list(g.objects(r, TREE.node))
            assert str(target).startswith(BASE), target
            todo.append(str(target)[len(BASE) :])
    return members, seen


def run(inputs, out, view=VIEW, **kw):
    kw.setdefault("base_url", BASE)
    return publish([str(i) for i in inputs], view, out, **kw)


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    d = tmp_path_factory.mktemp("dumps")
    return [write_members(d / "a.nt", 0, 700), write_members(d / "b.nt", 700, 500)]


@pytest.fixture(scope="module")
def one_shot(dumps, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "site"
    summary = run(dumps, out)
    return out, summary


def test_every_member_is_reachable_from_the_root_and_every_file_parses(one_shot):
    out, summary = one_shot
    files = tree(out)
    members, visited = crawl(out)
    assert members == {member_iri(i) for i in range(1200)}
    assert summary.members == 1200
    assert not summary.rejected
    # Every page file is reached, and every file but _headers is a page.
    assert visited == set(files) - {"_headers"}
    assert summary.pages == sum(1 for f in files if "page-" in f)
    # The root holds exactly one tree:view, from the stream to the base URL.
    root = parse(out, "index.ttl")
    assert list(root.subject_objects(TREE.view)) == [
        (rdflib.URIRef(BASE + "#stream"), rdflib.URIRef(BASE))
    ]


def test_members_missing_values_land_in_unknown_buckets_with_their_description(one_shot):
    out, _ = one_shot
    unknown_tile = [f for f in tree(out) if f.startswith("tile=unknown/") and "page-" in f]
    unknown_year = [f for f in tree(out) if "/year=unknown/" in f and "page-" in f]
    assert unknown_tile
    assert unknown_year
    g = parse(out, unknown_tile[0])
    stream = rdflib.URIRef(BASE + "#stream")
    for m in g.objects(stream, TREE.member):
        assert (m, rdflib.URIRef("http://purl.org/dc/terms/isVersionOf"), None) in g


def test_headers_name_every_file_with_strong_etags_and_immutability(one_shot):
    out, _ = one_shot
    files = tree(out)
    text = files.pop("_headers").decode()
    entries = re.findall(r"^(/\S*)\n  Cache-Control: (.+)\n  ETag: (.+)\n", text, re.M)
    assert entries[0][0] == PREFIX  # the root's folder URL, like index.ttl
    assert entries[0][1:] == dict((p, (c, e)) for p, c, e in entries)[PREFIX + "index.ttl"]
    entries = entries[1:]
    assert all(p.startswith(PREFIX) for p, _, _ in entries)
    assert {p[len(PREFIX) :] for p, _, _ in entries} == set(files)
    etags: dict[str, bytes] = {}
    for path, cache, etag in entries:
        assert re.fullmatch(r'"[^"]+"', etag), etag  # strong
        body = files[path[len(PREFIX) :]]
        assert etags.setdefault(etag, body) == body
        immutable = (None, LDES.immutable, rdflib.Literal(True)) in parse(out, path[len(PREFIX) :])
        assert ("immutable" in cache) == immutable, path
        if immutable:
            assert "page-" in path
    assert "immutable" not in dict((p, c) for p, c, _ in entries)[PREFIX + "index.ttl"]
    assert any("immutable" in c for _, c, _ in entries)


def test_batch_sizes_and_runs_give_the_same_tree(dumps, one_shot, tmp_path):
    expected = tree(one_shot[0])
    small = tmp_path / "small"
    run(dumps, small, batch_size=97)
    assert tree(small) == expected
    inc = tmp_path / "inc"
    run(dumps[:1], inc, batch_size=100)
    run(dumps, inc, batch_size=1000)  # a is done; b is appended
    assert tree(inc) == expected
    again = run(dumps, inc)  # nothing new
    assert again.members_this_run == 0
    assert again.files_written == 0
    assert tree(inc) == expected


@settings(max_examples=6, deadline=None, phases=[Phase.generate])  # each example publishes
@given(data=st.data())
def test_any_split_into_files_runs_and_batches_gives_the_same_tree(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("split")
    n = 120
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=3)))
    bounds = [0, *cuts, n]
    files = [
        write_members(d / f"{i}.nt", a, b - a)
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    ]
    view = View([Geospatial(max_zoom=13), HierarchicalTime("month")], page_size=7)
    whole = write_members(d / "whole.nt", 0, n)
    run([whole], d / "one", view=view)
    out = d / "many"
    for i in range(len(files)):
        run(files[: i + 1], out, view=view, batch_size=data.draw(st.integers(5, 60)))
    assert tree(out) == tree(d / "one")


def test_an_append_never_rewrites_immutable_pages(dumps, tmp_path):
    out = tmp_path / "site"
    run(dumps[:1], out)
    headers = (out / "_headers").read_text()
    immutable = re.findall(rf"^{PREFIX}(\S+)\n  Cache-Control: [^\n]*immutable", headers, re.M)
    assert immutable
    before = {p: ((out / p).read_bytes(), (out / p).stat().st_mtime_ns) for p in immutable}
    summary = run(dumps, out)
    assert summary.members_this_run == 500
    for p, (body, mtime) in before.items():
        assert (out / p).read_bytes() == body
        assert (out / p).stat().st_mtime_ns == mtime  # not even rewritten


def _headers_entries(out: Path) -> list[tuple[str, str, str]]:
    text = (out / "_headers").read_text()
    return re.findall(r"^(/\S*)\n  Cache-Control: (.+)\n  ETag: (.+)\n", text, re.M)


def test_headers_paths_start_with_the_base_urls_path(dumps, tmp_path):
    run(dumps[:1], tmp_path / "top", base_url="http://127.0.0.1:8000")
    run(dumps[:1], tmp_path / "deep", base_url="http://127.0.0.1:8000/ldes/counts/")
    top, deep = _headers_entries(tmp_path / "top"), _headers_entries(tmp_path / "deep")
    # A base URL at the host's root: / for the root, then every file's path, as always.
    files = sorted(tree(tmp_path / "top").keys() - {"_headers"})
    assert files[0] == "index.ttl"
    assert [p for p, _, _ in top] == ["/", *(f"/{f}" for f in files)]
    # Under a path: the same entries, each with the path in front.
    assert [p for p, _, _ in deep] == ["/ldes/counts" + p for p, _, _ in top]
    assert [c for _, c, _ in deep] == [c for _, c, _ in top]
    assert any("immutable" in c for _, c, _ in deep)


def test_the_base_path_is_percent_encoded_as_a_request_spells_it():
    from ldesfrag._publish import base_path

    assert base_path("https://h/ldes/counts/") == "/ldes/counts/"
    assert base_path("https://h/") == "/"
    assert base_path("https://h") == "/"
    assert base_path("https://h:8443/my%20data/x/") == "/my%20data/x/"  # kept as written
    assert base_path("https://h/my data/ä/") == "/my%20data/%C3%A4/"
    assert base_path("https://h/a:b@c;d=e,f~g/") == "/a:b@c;d=e,f~g/"


def test_a_rerun_rewrites_headers_written_without_the_base_path(dumps, tmp_path):
    out = tmp_path / "site"
    run(dumps[:1], out)
    current = (out / "_headers").read_text()
    # The form publish wrote before it put the base URL's path in front.
    old = re.sub(rf"^{PREFIX}", "/", current, flags=re.M)
    assert old != current
    (out / "_headers").write_text(old)
    again = run(dumps[:1], out)
    assert again.members_this_run == 0
    assert again.files_written == 1
    assert (out / "_headers").read_text() == current


def test_close_makes_every_page_immutable_and_refuses_more(dumps, tmp_path):
    out = tmp_path / "site"
    run(dumps[:1], out)
    summary = run(dumps[:1], out, close=True)
    assert summary.closed
    assert summary.immutable_pages == summary.pages
    headers = (out / "_headers").read_text()
    for path, cache in re.findall(r"^/(\S+)\n  Cache-Control: (.+)$", headers, re.M):
        assert ("immutable" in cache) == ("page-" in path), path
    with pytest.raises(ldesfrag.StreamClosedError):
        run(dumps, out)


def test_the_directory_keeps_its_view_and_settings(dumps, tmp_path):
    out = tmp_path / "site"
    run(dumps[:1], out)
    with pytest.raises(ViewError, match="another view"):
        run(dumps, out, view=View([Geospatial(max_zoom=12)]))
    with pytest.raises(LdesfragError, match="format"):
        run(dumps, out, format="ntriples")
    with pytest.raises(LdesfragError, match="base_url"):
        run(dumps, out, base_url="http://elsewhere.example/")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x")
    with pytest.raises(LdesfragError, match="not empty"):
        run(dumps, tmp_path / "other")
    with pytest.raises(LdesfragError, match="no file"):
        run([tmp_path / "missing-*.nt"], out)


@pytest.mark.parametrize(
    ("fmt", "ext"), [("ntriples", "nt"), ("nquads", "nq"), ("trig", "trig"), ("jsonld", "jsonld")]
)
def test_other_formats_parse_and_keep_every_member(dumps, tmp_path, fmt, ext):
    out = tmp_path / ext
    run(dumps[:1], out, format=fmt)
    files = tree(out)
    assert all(f.endswith(f".{ext}") for f in files if f != "_headers")
    members, _ = crawl(out, ext)
    assert members == {member_iri(i) for i in range(700)}


@given(st.lists(st.text(min_size=1, max_size=150), min_size=1, max_size=4))
def test_bucket_paths_are_safe_and_reversible(values):
    # Canonical bucket ids percent-encode values (as a query string needs), so `&` only joins.
    safe = "-._~/:@!$'()*,;?"
    bucket = "&".join(f"k{i}={quote(v, safe=safe)}" for i, v in enumerate(values))
    path = bucket_path(bucket)
    assert re.fullmatch(r"([A-Za-z0-9\-.=_~]+/)+", path)
    segments = path.rstrip("/").split("/")
    assert all(len(s) <= 200 and not s.startswith(".") for s in segments)
    # Decoding: undo `_XX`, join the `~`-continued segments, join pairs with `&`.
    raw = b"".join(
        re.sub(rb"_([0-9A-F]{2})", lambda m: bytes([int(m[1], 16)]), s.rstrip("~").encode())
        + (b"" if s.endswith("~") else b"&")
        for s in segments
    )
    assert raw.decode().removesuffix("&") == bucket
    assert node_path(bucket, 3, "ttl") == path + "page-3.ttl"
    assert node_path(bucket, None, "ttl") == path + "index.ttl"


def test_the_reference_iri_layout_survives_a_static_host(tmp_path):
    from ldesfrag import Reference

    d = tmp_path
    lines = []
    refs = ["http://ex.org/a?b=c&d#e", "http://ex.org/a/b%20c", "urn:x:..:/"]
    for i in range(30):
        m = f"<{member_iri(i)}>"
        lines.append(f"{m} <http://purl.org/dc/terms/isVersionOf> <{refs[i % 3]}> .")
    (d / "r.nt").write_text("\n".join(lines) + "\n")
    view = View([Reference(path="http://purl.org/dc/terms/isVersionOf", key="ref")], page_size=4)
    run([d / "r.nt"], d / "site", view=view)
    files = tree(d / "site")
    assert all(re.fullmatch(r"[A-Za-z0-9\-.=_~/]+", f) for f in files)
    members, _ = crawl(d / "site")
    assert members == {member_iri(i) for i in range(30)}


@pytest.mark.parametrize(
    ("alias", "fmt"), [("ttl", "turtle"), ("nt", "ntriples"), ("nq", "nquads")]
)
def test_the_old_format_names_publish_the_same_tree(dumps, tmp_path, alias, fmt):
    """`ttl`, `nt`, `nq` (the file extensions `--format` took) name the same formats."""
    run(dumps[:1], tmp_path / "canonical", format=fmt)
    run(dumps[:1], tmp_path / "alias", format=alias)
    assert tree(tmp_path / "alias") == tree(tmp_path / "canonical")
    # The directory remembers the format, not the spelling: either continues it.
    run(dumps[1:], tmp_path / "alias", format=fmt)
    run(dumps[1:], tmp_path / "canonical", format=alias)
    assert tree(tmp_path / "alias") == tree(tmp_path / "canonical")


def test_a_directory_that_recorded_an_old_format_name_continues(dumps, tmp_path):
    """A directory published before the names were unified records `format: "ttl"`."""
    from ldesfrag._publish.state import STATE_FILE, PublishState

    out = tmp_path / "site"
    run(dumps[:1], out)
    path = out / STATE_DIR / STATE_FILE
    state = PublishState.from_bytes(path.read_bytes(), path)
    assert state.settings["format"] == "turtle"
    state.settings["format"] = "ttl"
    path.write_bytes(state.to_bytes())
    run(dumps[1:], out, format="turtle")
    members, _ = crawl(out)
    assert members == {member_iri(i) for i in range(1200)}
    with pytest.raises(LdesfragError, match="format 'ttl', not 'ntriples'"):
        run(dumps, out, format="nt")


@pytest.mark.parametrize("bad", ["rdfxml", "TTL", "", None])
def test_an_unknown_format_is_refused_before_anything_is_written(dumps, tmp_path, bad):
    with pytest.raises(ldesfrag.RdfError, match="format must be one of 'turtle'"):
        run(dumps, tmp_path / "site", format=bad)
    assert not (tmp_path / "site").exists()


def test_cli_format_takes_the_canonical_names_and_the_old_ones(dumps, tmp_path, capsys):
    view = tmp_path / "view.toml"
    view.write_text('page_size = 500\n[[fragmentations]]\ntype = "Geospatial"\nmax_zoom = 9\n')
    for fmt in ("ntriples", "nt"):
        args = ["publish", str(dumps[0]), "--view", str(view), "--out", str(tmp_path / fmt)]
        assert main([*args, "--base-url", BASE, "--format", fmt, "--quiet"]) == 0
        assert (tmp_path / fmt / "index.nt").is_file()
    assert tree(tmp_path / "nt") == tree(tmp_path / "ntriples")
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["publish", "x.nt", "--view", str(view), "--out", "o", "--base-url", BASE,
              "--format", "rdfxml"])  # fmt: skip
    assert "invalid choice: 'rdfxml'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["publish", "--help"])
    assert "--format {turtle,ntriples,nquads,trig,jsonld}" in capsys.readouterr().out


def test_cli_prints_a_summary(dumps, tmp_path, capsys):
    view = tmp_path / "view.toml"
    view.write_text(
        'page_size = 20\n[[fragmentations]]\ntype = "Geospatial"\nmax_zoom = 14\n'
        '[[fragmentations]]\ntype = "HierarchicalTime"\nmax_granularity = "day"\n'
    )
    out = tmp_path / "site"
    args = ["publish", *map(str, dumps), "--view", str(view), "--out", str(out)]
    args += ["--members", "version-of"]  # the spelling of `--member` in the synopsis
    assert main([*args, "--base-url", BASE]) == 0
    printed = capsys.readouterr()
    assert "1,200 members published" in printed.out
    assert "immutable" in printed.out
    assert "members/s" in printed.err
    assert main([*args, "--base-url", "http://other.example/"]) == 2
    assert "base_url" in capsys.readouterr().err


# ---- crash safety ----------------------------------------------------------------------------


def _publish_process(dumps, out, kill_at=None, batch_size=150):
    env = dict(os.environ)
    env.pop("_LDESFRAG_PUBLISH_KILL_AT_WRITE", None)
    if kill_at is not None:
        env["_LDESFRAG_PUBLISH_KILL_AT_WRITE"] = str(kill_at)
    view = out.parent / "view.json"
    view.write_text(VIEW.to_json())
    cmd = [sys.executable, "-m", "ldesfrag.cli", "publish", *map(str, dumps), "--view", str(view)]
    cmd += ["--out", str(out), "--base-url", BASE, "--batch-size", str(batch_size), "--quiet"]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)


def _stage(w, rel: str, body: bytes, new: bool = False) -> None:
    w.stage(rel, body, ldesfrag._ldesfrag.etag(body), new)


def flush(w) -> None:
    """Commits what ``w`` staged, as a publish commit does (with an empty state)."""
    w.give_back(w.commit(w.take(), w.root / STATE_DIR, 1, [], b"{}", durable=lambda: None))
    w.sync()


def test_rewrites_swap_in_place_and_spares_never_leave_stale_bytes(tmp_path):
    from ldesfrag._publish.writer import Writer

    out = tmp_path / "site"
    w = Writer(out)

    _stage(w, "a/index.ttl", b"x" * 100)
    _stage(w, "b.ttl", b"y" * 10)
    flush(w)  # new files: the spares became them
    inode = (out / "a/index.ttl").stat().st_ino
    _stage(w, "a/index.ttl", b"short")
    flush(w)  # a's old inode (100 bytes) is now a spare
    _stage(w, "d.ttl", b"d" * 5)  # smaller than every spare: a new one, never a truncated one
    _stage(w, "b.ttl", b"z" * 300)  # takes the 100-byte spare, overwritten in place
    flush(w)
    assert (out / "a/index.ttl").read_bytes() == b"short"
    assert (out / "d.ttl").read_bytes() == b"d" * 5
    assert (out / "b.ttl").read_bytes() == b"z" * 300
    if sys.platform == "linux":  # elsewhere a rename replaces the file and leaves no spare
        assert (out / "b.ttl").stat().st_ino == inode  # reused, not freed
        spares = [p.read_bytes() for p in (out / STATE_DIR / "tmp").iterdir()]
        assert spares == [b"y" * 10]  # b's old version
    again = Writer(out)  # a new run finds the spares
    _stage(again, "c.ttl", b"c" * 10)
    flush(again)
    assert (out / "c.ttl").read_bytes() == b"c" * 10
    assert not any((out / STATE_DIR / "tmp").iterdir())


def test_swap_files_swaps_existing_targets_and_renames_onto_new_ones(tmp_path):
    from ldesfrag._ldesfrag import FileWriter

    files = FileWriter(tmp_path)
    (tmp_path / "old").write_bytes(b"old version")
    spares = [tmp_path / "s1", tmp_path / "s2"]
    targets = [tmp_path / "old", tmp_path / "new/dir/file"]
    files.write(spares, [b"new version", b"fresh"])
    files.sync()
    sizes = files.swap(spares, targets)
    assert (tmp_path / "old").read_bytes() == b"new version"
    assert (tmp_path / "new/dir/file").read_bytes() == b"fresh"
    assert not spares[1].exists()
    assert sizes[1] == -1
    if sizes[0] >= 0:  # swapped: the spare holds the old file
        assert spares[0].read_bytes() == b"old version"
        assert sizes[0] == len(b"old version")
    else:  # no RENAME_EXCHANGE here: a plain replace
        assert sys.platform != "linux"
        assert not spares[0].exists()
    with pytest.raises(FileNotFoundError) as e:
        files.swap([tmp_path / "missing"], [tmp_path / "old"])
    assert e.value.filename == str(tmp_path / "missing")
    files.sync()


def test_new_files_are_written_in_place_and_a_killed_runs_leftovers_replaced_whole(tmp_path):
    from ldesfrag._publish.writer import Writer

    out = tmp_path / "site"
    w = Writer(out)
    _stage(w, "x/y/page-1.ttl", b"first", new=True)
    _stage(w, "x/index.ttl", b"node", new=True)
    flush(w)
    assert (out / "x/y/page-1.ttl").read_bytes() == b"first"
    assert not any((out / STATE_DIR / "tmp").iterdir())  # no spare was needed
    # A killed run wrote the file but never committed it: the rerun takes it for new; the
    # file is replaced by a rename (a new inode), never rewritten in place.
    leftover = (out / "x/y/page-1.ttl").stat().st_ino
    _stage(w, "x/y/page-1.ttl", b"the committed version", new=True)
    flush(w)
    assert (out / "x/y/page-1.ttl").read_bytes() == b"the committed version"
    assert (out / "x/y/page-1.ttl").stat().st_ino != leftover
    assert not any((out / STATE_DIR / "tmp").iterdir())
    assert w.files.create([out / "x/index.ttl", out / "z/new"], [b"other", b"n"]) == [0]
    assert (out / "x/index.ttl").read_bytes() == b"node"  # an existing file is left alone
    assert (out / "z/new").read_bytes() == b"n"


def test_a_run_killed_at_any_write_and_rerun_gives_the_one_shot_tree(dumps, one_shot, tmp_path):
    expected = tree(one_shot[0])
    killed = 0
    for kill_at in (1, 3, 8, 20, 45, 90):
        out = tmp_path / f"k{kill_at}" / "site"
        out.parent.mkdir()
        first = _publish_process(dumps, out, kill_at)
        if first.returncode == -signal.SIGKILL:
            killed += 1
            # Killed again later in the rerun, then finished.
            second = _publish_process(dumps, out, kill_at + 3, batch_size=90)
            assert second.returncode in (0, -signal.SIGKILL), second.stderr
            done = _publish_process(dumps, out)
            assert done.returncode == 0, done.stderr
        else:
            assert first.returncode == 0, first.stderr
        assert tree(out) == expected, kill_at
        spares = list((out / STATE_DIR / "tmp").iterdir())
        assert all(re.fullmatch(r"spare-\d+", p.name) for p in spares)
        assert sum(p.stat().st_size for p in spares) <= sum(map(len, expected.values()))
    assert killed >= 5


@pytest.mark.parametrize(("fmt", "ext"), [("turtle", "ttl"), ("jsonld", "jsonld")])
def test_the_root_pages_view_description_reads_back_as_the_view(dumps, tmp_path, fmt, ext):
    from ldesfrag import Reference

    view = View(
        [
            Reference(path="http://purl.org/dc/terms/isVersionOf", key="entity"),
            HierarchicalTime("hour", timezone="Europe/Brussels"),
            Geospatial(max_zoom=11),
        ],
        page_size=33,
    )
    out = tmp_path / "site"
    run(dumps[:1], out, view=view, format=fmt)
    assert View.load(out / f"index.{ext}") == view


def test_created_versions_keep_one_timestamp_per_input_across_a_kill(tmp_path):
    """State objects → versions stamped with the time their input was registered: a resumed run
    reuses it, so the versions written before and after the kill match."""
    lines = []
    for i in range(300):
        s = f"<http://example.org/sensor/{i}>"
        lines.append(f'{s} <http://www.w3.org/2000/01/rdf-schema#label> "sensor {i}" .')
        lines.append(f'{s} <{ldes_data.GEO_WKT}> "POINT (3.7{i % 10} 51.0{i % 7})"')
        lines[-1] += f"^^<{ldes_data.WKT_LITERAL}> ."
    dump = tmp_path / "state.nt"
    dump.write_text("\n".join(lines) + "\n")
    view = tmp_path / "view.toml"
    view.write_text('page_size = 10\n[[fragmentations]]\ntype = "Geospatial"\nmax_zoom = 14\n')
    out = tmp_path / "site"
    cmd = [sys.executable, "-m", "ldesfrag.cli", "publish", str(dump), "--view", str(view)]
    cmd += ["--out", str(out), "--base-url", BASE, "--create-versions", "--batch-size", "40"]
    env = {**os.environ, "_LDESFRAG_PUBLISH_KILL_AT_WRITE": "25"}
    first = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert first.returncode == -signal.SIGKILL, first.stderr
    env.pop("_LDESFRAG_PUBLISH_KILL_AT_WRITE")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    members, _ = crawl(out)
    assert len(members) == 300
    stamps = {m.rsplit("/", 1)[1] for m in members}
    assert len(stamps) == 1, stamps
    (stamp,) = stamps
    assert {m.rsplit("/", 1)[0] for m in members} == {
        f"http://example.org/sensor/{i}" for i in range(300)
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)


def test_served_pages_carry_the_published_headers(one_shot):
    """`ldesfrag serve` on a published directory: each page with its `_headers` entry, the root
    also at its folder URL, and If-None-Match → 304."""
    import urllib.error
    import urllib.request

    out, _ = one_shot
    text = (out / "_headers").read_text()
    entries = dict(
        (p, (c, e))
        for p, c, e in re.findall(r"^(/\S*)\n  Cache-Control: (.+)\n  ETag: (.+)$", text, re.M)
    )
    immutable = next(p for p, (c, _) in entries.items() if "immutable" in c)
    with ldesfrag.serve(out, port=0) as server:
        for path in (PREFIX, PREFIX + "index.ttl", immutable):
            with urllib.request.urlopen(urljoin(server.url, path)) as r:
                assert r.headers["Content-Type"].startswith("text/turtle")
                assert (r.headers["Cache-Control"], r.headers["ETag"]) == entries[path]
                body = r.read()
            assert body == (out / (path[len(PREFIX) :] or "index.ttl")).read_bytes()
        request = urllib.request.Request(
            urljoin(server.url, immutable), headers={"If-None-Match": entries[immutable][1]}
        )
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(request)
        assert e.value.code == 304


EXAMPLES = Path(__file__).resolve().parent / "data" / "examples"


def test_real_members_land_in_the_reference_servers_buckets(tmp_path):
    """GIPOD (Lambert 72 polygon) → its four z15 tiles (docs/ldes-rules.md,
    "Geospatial test vectors"); the E2E default-bucket members without (or with malformed)
    time and geometry → unknown buckets."""
    files = [
        EXAMPLES / "Server4J_geospatial_ldes-member-bucketising_gipod-lambert72.nq",
        EXAMPLES / "E2E_039-default-bucket_member0_no-timestamp-no-wkt.ttl",
        EXAMPLES / "E2E_039-default-bucket_member1_malformed-timestamp-and-wkt.ttl",
        EXAMPLES / "E2E_039-default-bucket_member2_valid-lambert72.ttl",
    ]
    view = View(
        [Geospatial(max_zoom=15), HierarchicalTime("day", path="http://purl.org/dc/terms/created")]
    )
    out = tmp_path / "site"
    # One member per file, described by all of it (the GIPOD zone geometry hangs off an IRI), as
    # the reference server ingests a request.
    summary = run(files, out, view=view, member="document")
    members, _ = crawl(out)
    expected = set(ldesfrag.read_members(files, view, member="document")["id"].to_pylist())
    assert members == expected
    assert summary.members == len(expected) == 4
    placed: dict[str, set[str]] = {}
    stream = rdflib.URIRef(BASE + "#stream")
    for rel in tree(out):
        if "page-" in rel:
            for m in parse(out, rel).objects(stream, TREE.member):
                placed.setdefault(str(m), set()).add(rel.rsplit("/", 1)[0])
    gipod = "https://private-api.gipod.beta-vlaanderen.be/api/v1/mobility-hindrances/10810464/#ID"
    assert {p.split("/")[0] for p in placed[gipod]} == {
        "tile=" + t.replace("/", "_2F")
        for t in ("15/16743/11009", "15/16744/11009", "15/16743/11010", "15/16742/11010")
    }
    unknown = [m for m, p in placed.items() if p == {"tile=unknown/year=unknown"}]
    assert len(unknown) == 2


def test_bad_statements_are_reported_and_the_rest_goes_through(tmp_path, capsys):
    text = ldes_data.members_nt(0, 40)
    lines = text.splitlines()
    lines.insert(len(lines) // 2, "<http://example.org/broken> <http://ex.org/p> .")
    dump = tmp_path / "bad.nt"
    dump.write_text("\n".join(lines) + "\n")
    out = tmp_path / "site"
    summary = run([dump], out)
    members, _ = crawl(out)
    assert members == {member_iri(i) for i in range(40)}
    assert sum(summary.problems.values()) >= 1
    view = tmp_path / "view.json"
    view.write_text(VIEW.to_json())
    args = ["publish", str(dump), "--view", str(view), "--base-url", BASE, "--quiet"]
    assert main([*args, "--out", str(tmp_path / "cli")]) == 0
    printed = capsys.readouterr().out
    assert "problems, by reason:" in printed
    assert tree(tmp_path / "cli") == tree(out)


def test_a_member_iri_is_published_once_across_windows_files_and_runs(tmp_path):
    """The first member under an IRI stays; later ones (in a later window of the same file, in
    another file, in a later run, also after a kill) are left out and counted, never rendered."""
    first = write_members(tmp_path / "first.nt", 0, 300)
    # Members 0..149 again, with other labels, after 200 new ones (another window, batch 64).
    again = ldes_data.members_nt(300, 200) + ldes_data.members_nt(0, 150, seed=2).replace(
        '"member ', '"repeat '
    )
    second = tmp_path / "second.nt"
    second.write_text(again, encoding="utf-8")
    out = tmp_path / "site"
    summary = run([first, second], out, batch_size=64)
    assert summary.members == 500
    assert summary.rejected == {ldesfrag._publish.DUPLICATE: 150}
    members, _ = crawl(out)
    assert members == {member_iri(i) for i in range(500)}
    pages = "".join(b.decode() for name, b in tree(out).items() if "page-" in name)
    assert '"repeat ' not in pages
    # A later run (the state reloads the published IRIs). Statements repeated within a window
    # are one member (a graph is a set), not a repeat.
    third = tmp_path / "third.nt"
    third.write_text(ldes_data.members_nt(500, 10) * 2 + ldes_data.members_nt(250, 5))
    summary = run([third], out, batch_size=4)
    assert summary.members == 510
    assert summary.rejected == {ldesfrag._publish.DUPLICATE: 155}
    assert crawl(out)[0] == {member_iri(i) for i in range(510)}
    # Killed in the middle and rerun: the same tree as one uninterrupted run.
    one = tmp_path / "one"
    run([first, second, third], one, batch_size=64)
    killed = tmp_path / "killed"
    env = {**os.environ, "_LDESFRAG_PUBLISH_KILL_AT_WRITE": "9"}
    code = (
        "import sys, ldesfrag; from test_publish import VIEW, BASE; "
        "ldesfrag.publish(sys.argv[1:4], VIEW, sys.argv[4], base_url=BASE, batch_size=64)"
    )
    args = [sys.executable, "-c", code, str(first), str(second), str(third), str(killed)]
    proc = subprocess.run(args, env=env, cwd=Path(__file__).parent, check=False)
    assert proc.returncode == -signal.SIGKILL
    run([first, second, third], killed, batch_size=64)
    assert tree(killed) == tree(one)
