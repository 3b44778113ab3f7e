"""Several `ldesfrag server` processes on one PostgreSQL database (docs/architecture.md,
"Several processes"): a process serves what another ingested, streams it did not know, and
concurrent ingest to one stream from two processes neither loses nor repeats a member."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
from ldes_data import member_iri, members_nt
from rdflib import URIRef
from test_server import ADMIN, PREFIXES, TREE, stream_config
from test_server_live import WAIT, request, server_process, walk

BASE = "http://ldes.test/"
READY = ADMIN[1:]  # answers 200 with or without a stream


def post(url: str, body: str) -> tuple[int, dict]:
    """POSTs members; a 503 (another process holds the stream) is retried after its
    Retry-After, a bounded number of times."""
    for _ in range(30):
        req = urllib.request.Request(
            url + "observations",
            data=body.encode(),
            headers={"content-type": "application/n-triples"},
        )
        try:
            with urllib.request.urlopen(req, timeout=WAIT) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            if e.code != 503:
                return e.code, json.loads(e.read())
            retry = e.headers["Retry-After"]
            assert retry, "a 503 names when to try again"
            time.sleep(float(retry))
    raise AssertionError("the stream stayed busy")


def check_pages(nodes) -> None:
    """No page lists a member twice; each bucket's pages are numbered 1…n."""
    numbers: dict[str, list[int]] = {}
    for u, g in nodes.items():
        listed = list(g.objects(None, URIRef(TREE + "member")))
        assert len(listed) == len(set(listed)), u
        bucket, sep, n = urlsplit(u).query.rpartition("pageNumber=")
        if sep:
            numbers.setdefault(f"{urlsplit(u).path}?{bucket}", []).append(int(n))
    for bucket, v in numbers.items():
        assert sorted(v) == list(range(1, len(v) + 1)), bucket


def test_a_second_process_serves_every_acknowledged_member(tmp_path, pg_cluster):
    store = pg_cluster.database()
    config = tmp_path / "stream.ttl"
    config.write_text(stream_config(page=5))
    with ExitStack() as stack:
        # The reader starts first: the stream is made by the other process afterwards.
        reader, _ = stack.enter_context(server_process(store, None, BASE, READY))
        assert request(reader + "observations")[0] == 404
        writer, _ = stack.enter_context(server_process(store, config, BASE))
        acknowledged: set[str] = set()
        for start in range(0, 36, 6):
            status, report = post(writer, members_nt(start, 6))
            assert (status, report["members"]) == (201, 6)
            acknowledged |= {member_iri(i) for i in range(start, start + 6)}
            for view in ("by-time", "by-tile"):
                members, nodes = walk(reader, BASE, f"{BASE}observations/{view}")
                assert members == acknowledged, view
                check_pages(nodes)
        # A view made through the reader is served by the writer, and fragments every member.
        view = stream_config(page=4, views=("by-tile",)).split("\n<http")[1]
        body = PREFIXES + "<http" + view.replace("/by-tile>", "/by-tile-4>")
        views = reader + ADMIN[1:] + "/observations/views"
        status, _ = request(views, body.encode(), "text/turtle")
        assert status == 201
        assert walk(writer, BASE, f"{BASE}observations/by-tile-4")[0] == acknowledged
        # The writer's next members reach the new view too.
        assert post(writer, members_nt(36, 4))[0] == 201
        acknowledged |= {member_iri(i) for i in range(36, 40)}
        for server in (reader, writer):
            assert walk(server, BASE, f"{BASE}observations/by-tile-4")[0] == acknowledged


def test_concurrent_ingest_from_two_processes_loses_and_repeats_nothing(tmp_path, pg_cluster):
    import psycopg

    store = pg_cluster.database()
    config = tmp_path / "stream.ttl"
    config.write_text(stream_config(page=7))
    clients, each = 6, 12
    with ExitStack() as stack:
        a, _ = stack.enter_context(server_process(store, config, BASE))
        b, _ = stack.enter_context(server_process(store, config, BASE))

        def send(c: int) -> list[tuple[int, dict]]:
            # Clients alternate between the processes; each also sends a batch, and a repeat
            # of its first member to the other process.
            mine, other = (a, b) if c % 2 else (b, a)
            out = [post(mine, members_nt(c * each + k, 1)) for k in range(each)]
            out.append(post(other, members_nt(1000 + c * 10, 10)))
            out.append(post(other, members_nt(c * each, 1)))
            return out

        with ThreadPoolExecutor(clients) as pool:
            results = [r for got in pool.map(send, range(clients)) for r in got]
        assert [s for s, _ in results].count(201) == clients * (each + 1)
        repeats = [r for s, r in results if s == 200]
        assert len(repeats) == clients
        assert all(r["ignored"] == 1 and r["members"] == 0 for r in repeats)
        expected = {member_iri(i) for i in range(clients * each)}
        expected |= {member_iri(1000 + c * 10 + k) for c in range(clients) for k in range(10)}
        for server in (a, b):
            for view in ("by-time", "by-tile"):
                members, nodes = walk(server, BASE, f"{BASE}observations/{view}")
                assert members == expected, (server, view)
                check_pages(nodes)
    # Each member stored once, with its own sequence number; in each view, in no bucket twice
    # (a geometry may lie in several tiles).
    with psycopg.connect(store) as conn:
        n, iris, seqs = conn.execute(
            "SELECT count(*), count(DISTINCT iri), count(DISTINCT seq) FROM members"
        ).fetchone()
        assert n == iris == seqs == len(expected)
        per_view = conn.execute(
            "SELECT v.name, count(*) - count(DISTINCT (a.bucket, a.seq)), count(DISTINCT a.seq) "
            "FROM assignments a "
            "JOIN views v ON v.id = a.view_id GROUP BY v.name"
        ).fetchall()
        assert sorted(per_view) == [("by-tile", 0, n), ("by-time", 0, n)]
    # The fragmenters the two processes saved by turns load again: a new process serves and
    # goes on.
    with server_process(store, config, BASE) as (c, _):
        assert post(c, members_nt(2000, 3))[0] == 201
        for view in ("by-time", "by-tile"):
            members, nodes = walk(c, BASE, f"{BASE}observations/{view}")
            assert members == expected | {member_iri(2000 + k) for k in range(3)}
            check_pages(nodes)


def test_a_stream_another_process_writes_answers_503_with_retry_after(pg_cluster):
    import psycopg
    from starlette.testclient import TestClient
    from test_server import NT, TURTLE

    from ldesfrag.server import create_app
    from ldesfrag.server.postgres import PostgresStore

    store = pg_cluster.database()
    with TestClient(create_app(PostgresStore(store, lock_wait=0.2), BASE)) as c:
        assert c.post(ADMIN, content=stream_config(), headers=TURTLE).status_code == 201
        assert c.post("/observations", content=members_nt(0, 3), headers=NT).status_code == 201
        # Another session holds the stream's lock, as a process in the middle of a commit.
        with psycopg.connect(store, autocommit=True) as other:
            sid = other.execute("SELECT id FROM streams").fetchone()[0]
            other.execute("SELECT pg_advisory_lock(%s, %s)", (0x1DE5, sid))
            r = c.post("/observations", content=members_nt(3, 2), headers=NT)
            assert r.status_code == 503
            assert r.headers["retry-after"] == "1"
            assert "another server process" in r.json()["error"]
            r = c.post(f"{ADMIN}/observations/close")
            assert (r.status_code, r.headers["retry-after"]) == (503, "1")
            # Reads go on.
            assert walk_members(c) == {member_iri(i) for i in range(3)}
            other.execute("SELECT pg_advisory_unlock(%s, %s)", (0x1DE5, sid))
        assert c.post("/observations", content=members_nt(3, 2), headers=NT).status_code == 201
        assert walk_members(c) == {member_iri(i) for i in range(5)}
        assert c.post(f"{ADMIN}/observations/close").status_code == 200


def walk_members(c) -> set[str]:
    from test_server import walk as walk_client

    return walk_client(c, f"{BASE}observations/by-time")[0]


def test_postgres_store_urls(pg_cluster):
    from ldesfrag.server import StoreError, open_store
    from ldesfrag.server.postgres import PostgresStore

    url = pg_cluster.database()
    store = open_store(url)
    assert isinstance(store, PostgresStore)
    store.close()
    assert isinstance(open_store(url.replace("postgresql://", "postgres://")), PostgresStore)
    port = pg_cluster.port
    with pytest.raises(StoreError, match=re.escape("store 'postgresql://postgres@127.0.0.1")) as e:
        open_store(f"postgresql://postgres:secret@127.0.0.1:{port}/no_such_database")
    assert "secret" not in str(e.value)
    with pytest.raises(StoreError, match=re.escape("sqlite:///FILE.db or postgresql://")):
        open_store("mysql://127.0.0.1/ldes")
