"""`ldesfrag server` killed with SIGKILL during concurrent ingest, then restarted on the same
store: every acknowledged member is served, no member is half stored, page numbering goes on,
and every page that was immutable before the kill is served byte for byte as before."""

from __future__ import annotations

import os
import signal
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import rdflib
from ldes_data import member_iri, members_nt
from rdflib import URIRef
from test_server import TREE, stream_config
from test_server_live import WAIT, request, server_process, walk

BASE = "http://ldes.test/"
VIEWS = ("by-time", "by-tile")


def immutable_pages(url: str, nodes: dict[str, rdflib.Graph]) -> dict[str, bytes]:
    """The bodies of the immutable pages among ``nodes`` (by their Cache-Control)."""
    out = {}
    for node in nodes:
        with urllib.request.urlopen(url + node[len(BASE) :], timeout=WAIT) as r:
            if "immutable" in r.headers.get("cache-control", ""):
                out[node] = r.read()
    return out


# Both durability settings (docs/architecture.md, "Durability"): a crash of the process loses
# nothing acknowledged with either.
@pytest.mark.parametrize("synchronous", ["full", "normal"])
def test_a_server_killed_during_concurrent_ingest_keeps_what_it_acknowledged(tmp_path, synchronous):
    config = tmp_path / "stream.ttl"
    config.write_text(stream_config(page=4))
    db = f"sqlite:///{tmp_path / 'ldes.db'}?synchronous={synchronous}"
    acknowledged: set[str] = set()
    lock = threading.Lock()
    with server_process(db, config, BASE) as (url, proc):
        for start in range(0, 60, 10):
            assert request(url + "observations", members_nt(start, 10).encode())[0] == 201
            acknowledged |= {member_iri(i) for i in range(start, start + 10)}
        before = {}
        for view in VIEWS:
            before.update(immutable_pages(url, walk(url, BASE, f"{BASE}observations/{view}")[1]))
        assert len(before) > 5

        # Four clients post 3 members at a time until the server dies under them.
        killed = threading.Event()

        def client(c: int) -> None:
            for k in range(1000):
                start = 1000 + 10_000 * c + 3 * k
                try:
                    status, _ = request(url + "observations", members_nt(start, 3).encode())
                except OSError:
                    return
                if status != 201:
                    assert killed.is_set(), status
                    return
                with lock:
                    acknowledged.update(member_iri(i) for i in range(start, start + 3))

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(client, c) for c in range(4)]
            while True:  # kill once enough was acknowledged while the clients still post
                with lock:
                    if len(acknowledged) >= 120:
                        break
                assert not any(f.done() for f in futures), [f.exception() for f in futures]
                threading.Event().wait(0.01)
            killed.set()
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(WAIT)
            for f in futures:
                f.result(WAIT)

    with server_process(db, config, BASE) as (url, _):
        served = {}
        for view in VIEWS:
            members, nodes = walk(url, BASE, f"{BASE}observations/{view}")
            served[view] = members
            # Numbering goes on: each bucket's pages are 1…n.
            numbers: dict[str, list[int]] = {}
            for u in nodes:
                bucket, sep, n = urlsplit(u).query.rpartition("pageNumber=")
                if sep:
                    numbers.setdefault(bucket, []).append(int(n))
            for bucket, v in numbers.items():
                assert sorted(v) == list(range(1, len(v) + 1)), (view, bucket)
            # Every member is described whole where it is served.
            for g in nodes.values():
                for m in g.objects(None, URIRef(TREE + "member")):
                    assert (m, URIRef("http://www.w3.org/2000/01/rdf-schema#label"), None) in g
        # Nothing acknowledged is lost; nothing is half stored (in one view, not the other).
        assert served["by-time"] == served["by-tile"]
        assert acknowledged <= served["by-time"]
        # Pages that were immutable are the same bytes.
        for node, body in before.items():
            status, now = request(url + node[len(BASE) :])
            assert (status, now) == (200, body), node
        # And the server goes on taking members.
        assert request(url + "observations", members_nt(90_000, 5).encode())[0] == 201
