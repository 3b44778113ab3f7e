"""Bulk load (``ldesfrag publish --store``) and export (``ldesfrag export``): the store a bulk
load makes is the store the live server makes from the same members posted over HTTP (the same
members, assignments, node rows and rendered bodies), the server then serves every member, a
rerun appends and ignores repeats, bad lines are reported and left out, and an export is a
static tree that ``serve`` serves with the members ``publish --out`` publishes."""

from __future__ import annotations

import sqlite3
from collections import deque
from pathlib import Path

import pytest
import rdflib
from ldes_data import member_iri, members_nt, write_members
from rdflib import URIRef
from starlette.testclient import TestClient
from test_server import ADMIN, BASE, NT, TURTLE, stream_config, walk

from ldesfrag import View
from ldesfrag._serve import LdesServer
from ldesfrag.cli import main
from ldesfrag.server import create_app, open_store, parse_stream

TREE = "https://w3id.org/tree#"
VIEWS = ("by-time", "by-tile")


def load(tmp_path: Path, db: Path, *inputs: Path, config: bool = True, extra=()) -> int:
    args = ["publish", *map(str, inputs), "--store", f"sqlite:///{db}"]
    args += ["--collection", "observations", "--base-url", BASE, "--quiet", *extra]
    if config:
        cfg = tmp_path / "stream.ttl"
        cfg.write_text(stream_config(page=5))
        args += ["--config", str(cfg)]
    return main(args)


def store_rows(db: Path) -> dict[str, list[tuple]]:
    """Every stored row of the stream, with view names instead of ids."""
    c = sqlite3.connect(db)
    name = dict(c.execute("SELECT id, name FROM views"))
    out = {
        "members": c.execute(
            "SELECT seq, iri, payload, timestamp FROM members ORDER BY seq"
        ).fetchall()
    }
    for table, cols in (
        ("assignments", "bucket, page, seq"),
        ("nodes", "bucket, page, immutable, relations"),
        ("rendered", "bucket, page, format, body, etag, immutable"),
    ):
        rows = c.execute(f"SELECT view_id, {cols} FROM {table}").fetchall()
        out[table] = sorted((name[r[0]], *r[1:]) for r in rows)
    c.close()
    return out


def posted(tmp_path: Path, chunks: list[tuple[int, int]], name: str = "posted") -> Path:
    """A store made by the live server from members posted in ``chunks`` (start, count)."""
    db = tmp_path / f"{name}.db"
    with TestClient(create_app(open_store(f"sqlite:///{db}"), BASE)) as c:
        assert c.post(ADMIN, content=stream_config(page=5), headers=TURTLE).status_code == 201
        for start, count in chunks:
            r = c.post("/observations", content=members_nt(start, count), headers=NT)
            assert r.status_code in (200, 201), r.text
    return db


def test_bulk_load_stores_what_ingest_over_http_stores(tmp_path, capsys):
    dump = write_members(tmp_path / "a.nt", 0, 90)
    db = tmp_path / "bulk.db"
    # Small batches: several transactions, pages growing across them.
    assert load(tmp_path, db, dump, extra=["--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    assert "90 members stored" in out
    assert "created" in out
    assert "unknown bucket" in out  # 1 in 25 without geometry, 1 in 30 without time
    bulk = store_rows(db)
    http = store_rows(posted(tmp_path, [(0, 7), (7, 40), (47, 43)]))
    assert len(bulk["members"]) == 90
    assert bulk["members"] == http["members"]
    assert bulk["assignments"] == http["assignments"]
    assert bulk["nodes"] == http["nodes"]
    assert bulk["rendered"] == http["rendered"]  # byte for byte
    assert any(r[-1] for r in bulk["rendered"])  # immutable pages among them
    # The live server serves every member of the dump in each view.
    with TestClient(create_app(open_store(f"sqlite:///{db}"), BASE)) as c:
        for view in VIEWS:
            assert walk(c, f"{BASE}observations/{view}")[0] == {member_iri(i) for i in range(90)}
        # And goes on ingesting after the bulk load.
        r = c.post("/observations", content=members_nt(90, 5), headers=NT)
        assert r.status_code == 201, r.text
    assert store_rows(db) == store_rows(posted(tmp_path, [(0, 90), (90, 5)], "after"))


def test_a_rerun_appends_and_ignores_repeats_as_the_server_does(tmp_path, capsys):
    db = tmp_path / "bulk.db"
    assert load(tmp_path, db, write_members(tmp_path / "a.nt", 0, 40)) == 0
    capsys.readouterr()
    # The same command again, with a dump that repeats 10 of the members and adds 25.
    b = tmp_path / "b.nt"
    b.write_text(members_nt(30, 35).replace('"member 31 ', '"changed '))
    assert load(tmp_path, db, b, extra=["--batch-size", "8"]) == 0
    out = capsys.readouterr().out
    assert "25 members stored" in out
    assert "10 ignored: a member with this IRI is in the stream already" in out
    assert f"<{member_iri(30)}>" in out
    assert store_rows(db) == store_rows(posted(tmp_path, [(0, 40), (30, 35)]))
    # Repeats within one run too (two dumps with the same members), and a rerun without
    # --config loads into the stream as it is.
    c = write_members(tmp_path / "c.nt", 65, 3)
    d = write_members(tmp_path / "d.nt", 65, 3)
    assert load(tmp_path, db, c, d, config=False) == 0
    out = capsys.readouterr().out
    assert "3 members stored" in out
    assert "3 ignored" in out


def test_views_from_view_files_and_the_server_serves_them(tmp_path):
    (tmp_path / "by-day.toml").write_text(
        'page_size = 7\n[[fragmentations]]\ntype = "HierarchicalTime"\n'
        'max_granularity = "day"\npath = "http://www.w3.org/ns/prov#generatedAtTime"\n'
    )
    tile = View.load(Path(__file__).parent.parent / "sample" / "view.toml")
    (tmp_path / "tile.json").write_text(tile.to_json())
    db = tmp_path / "bulk.db"
    dump = write_members(tmp_path / "a.nt", 0, 50)
    args = ["--view", str(tmp_path / "by-day.toml"), "--view", f"by-tile={tmp_path}/tile.json"]
    assert load(tmp_path, db, dump, config=False, extra=args) == 0
    # A rerun with the same views appends; other views are refused.
    b = write_members(tmp_path / "b.nt", 50, 5)
    assert load(tmp_path, db, b, config=False, extra=args) == 0
    assert load(tmp_path, db, dump, config=False, extra=args[:2]) == 2
    with TestClient(create_app(open_store(f"sqlite:///{db}"), BASE)) as c:
        admin = c.get(f"{ADMIN}/observations/views/by-day")
        assert admin.status_code == 200
        for view in ("by-day", "by-tile"):
            assert walk(c, f"{BASE}observations/{view}")[0] == {member_iri(i) for i in range(55)}


def test_bad_lines_are_reported_with_file_and_line_and_left_out_whole(tmp_path, capsys):
    lines = members_nt(0, 12).splitlines()
    bad = next(i for i, line in enumerate(lines) if line.startswith(f"<{member_iri(4)}> "))
    lines[bad] = f"<{member_iri(4)}> <http://ex.org/p> <not an iri> ."
    dump = tmp_path / "bad.nt"
    dump.write_text("\n".join(lines) + "\n")
    db = tmp_path / "bulk.db"
    assert load(tmp_path, db, dump) == 0
    out = capsys.readouterr().out
    assert f"{dump}:{bad + 1}: invalid IRI <not an iri>" in out
    assert "11 members stored" in out
    rows = store_rows(db)
    assert {r[1] for r in rows["members"]} == {member_iri(i) for i in range(12) if i != 4}
    assert not any(member_iri(4).encode() in r[4] for r in rows["rendered"])


def test_wrong_base_url_and_missing_collection_are_refused(tmp_path, capsys):
    db = tmp_path / "bulk.db"
    dump = write_members(tmp_path / "a.nt", 0, 5)
    assert load(tmp_path, db, dump, config=False) == 2
    assert "no collection 'observations'" in capsys.readouterr().err
    assert load(tmp_path, db, dump) == 0
    args = ["publish", str(dump), "--store", f"sqlite:///{db}", "--collection", "observations"]
    assert main([*args, "--base-url", "http://elsewhere.test/"]) == 2
    assert "another base URL" in capsys.readouterr().err
    assert main([*args, "--base-url", BASE, "--out", str(tmp_path / "o")]) == 2
    assert main(["publish", str(dump), "--base-url", BASE, "--view", "x.toml"]) == 2


def static_walk(url: str, root: str) -> set[str]:
    """Every member reachable from a static tree's root, over HTTP with rdflib."""
    import urllib.request

    members: set[str] = set()
    seen: set[str] = set()
    todo = deque([root])
    while todo:
        node = todo.popleft()
        if node in seen:
            continue
        seen.add(node)
        with urllib.request.urlopen(url + node.removeprefix("http://static.test")) as r:
            g = rdflib.Graph().parse(data=r.read(), format="turtle", publicID=node)
        members |= {str(o) for o in g.objects(None, URIRef(TREE + "member"))}
        for rel in g.objects(URIRef(node), URIRef(TREE + "relation")):
            todo.extend(str(n) for n in g.objects(rel, URIRef(TREE + "node")))
    return members


def test_export_round_trip_is_served_like_publish_out(tmp_path, capsys):
    dump = write_members(tmp_path / "a.nt", 0, 60)
    db = tmp_path / "bulk.db"
    assert load(tmp_path, db, dump) == 0
    base = "http://static.test/ldes/"
    out = tmp_path / "export"
    store = ["--store", f"sqlite:///{db}", "--collection", "observations"]
    assert main(["export", *store, "--out", str(out), "--base-url", base]) == 2  # two views
    capsys.readouterr()
    args = ["export", *store, "--view", "by-tile", "--out", str(out), "--base-url", base]
    assert main(args) == 0
    assert "--path /ldes/" in capsys.readouterr().out
    assert (out / "index.ttl").is_file()
    assert (out / "_headers").is_file()
    # The same tree publish --out makes of the same dump, with the same view.
    by = {v.name: v.view for v in parse_stream(stream_config(page=5), "text/turtle", BASE).views}
    published = tmp_path / "published"
    (tmp_path / "v.json").write_text(by["by-tile"].to_json())
    publish = ["publish", str(dump), "--view", str(tmp_path / "v.json")]
    assert main([*publish, "--out", str(published), "--base-url", base, "--quiet"]) == 0
    exported = {p.relative_to(out) for p in out.rglob("*.ttl")}
    assert exported == {p.relative_to(published) for p in published.rglob("*.ttl")}
    with LdesServer(out, "127.0.0.1", 0, log_requests=False, path="/ldes/") as server:
        got = static_walk(f"http://127.0.0.1:{server.port}", base)
    with LdesServer(published, "127.0.0.1", 0, log_requests=False) as server:
        want = static_walk(f"http://127.0.0.1:{server.port}", base)
    assert got == want == {member_iri(i) for i in range(60)}
    assert main(args) == 2  # not into a directory that is not empty


def test_help_tells_static_from_live(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Static: `publish --out DIR`" in text
    assert "serve a static LDES directory" in text
    assert "run the live LDES server" in text
    assert "export" in text
