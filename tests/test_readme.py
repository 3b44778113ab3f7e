"""The README's "Embedding in a server" example runs as written: every member posted is served
once, from the root down; repeats are left out; a restart goes on where it stopped; pages
become immutable; 304 on a matching ETag; a failed transaction leaves nothing behind."""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

import pytest
import rdflib
from rdflib import URIRef

import ldesfrag

README = Path(__file__).parent.parent / "README.md"
TREE = "https://w3id.org/tree#"
PROV_TIME = "<http://www.w3.org/ns/prov#generatedAtTime>"


def example() -> dict[str, object]:
    """The first Python block of the README's "Embedding in a server" section, run."""
    section = README.read_text().split("### Embedding in a server", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "no Python block in the section"
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(code[1], "README.md (Embedding in a server)", "exec"), namespace)
    return namespace


def member(i: int) -> bytes:
    m = f"<http://ex.org/obs/{i}>"
    stamp = f"2023-05-{10 + i % 3:02d}T{i % 24:02d}:00:00Z"
    return (
        f'{m} {PROV_TIME} "{stamp}"^^<http://www.w3.org/2001/XMLSchema#dateTime> .\n'
        f'{m} <http://www.w3.org/2000/01/rdf-schema#label> "member {i}" .\n'
        f"{m} <http://purl.org/dc/terms/isVersionOf> <http://ex.org/thing/{i % 4}> .\n"
    ).encode()


def walk(ns: dict) -> tuple[dict[str, rdflib.Graph], dict[str, str]]:
    """Every node reachable from the root through the example's `get`, with Cache-Control."""
    nodes: dict[str, rdflib.Graph] = {}
    caching: dict[str, str] = {}
    todo = deque([ns["ROOT"]])
    while todo:
        url = todo.popleft()
        if url in nodes:
            continue
        status, body, cache_control = ns["get"](url)
        assert status == 200, url
        nodes[url] = rdflib.Graph().parse(data=body, format="turtle", publicID=url)
        caching[url] = cache_control
        for rel in nodes[url].objects(URIRef(url), URIRef(TREE + "relation")):
            todo.extend(str(n) for n in nodes[url].objects(rel, URIRef(TREE + "node")))
    return nodes, caching


def served(nodes: dict[str, rdflib.Graph]) -> list[str]:
    return [str(m) for g in nodes.values() for m in g.objects(None, URIRef(TREE + "member"))]


def test_the_readme_server_serves_every_member_once_across_a_restart():
    ns = example()
    post, restart = ns["post"], ns["restart"]
    assert post(b"".join(member(i) for i in range(10))) == 10
    assert post(member(3) + member(10)) == 1  # obs/3 again: left out
    restart()
    assert post(b"".join(member(i) for i in range(11, 20))) == 9
    nodes, caching = walk(ns)
    members = served(nodes)
    assert sorted(members) == sorted(f"http://ex.org/obs/{i}" for i in range(20))
    # Each member is described where it is served; full pages are immutable, numbering went on.
    for g in nodes.values():
        for m in g.objects(None, URIRef(TREE + "member")):
            assert (m, URIRef("http://www.w3.org/2000/01/rdf-schema#label"), None) in g
    pages = [u for u in nodes if "pageNumber=" in u]
    assert any(u.endswith("pageNumber=3") for u in pages)
    for u in pages:
        n = int(u.rsplit("=", 1)[1])
        later = u.rsplit("=", 1)[0] + f"={n + 1}"
        assert ("immutable" in caching[u]) == (later in nodes), u
    # The same bytes again: 304.
    _, body, _ = ns["get"](ns["ROOT"])
    assert ns["get"](ns["ROOT"], ldesfrag.etag(body))[0] == 304


def test_a_failed_transaction_leaves_nothing_behind(monkeypatch):
    ns = example()
    assert ns["post"](member(0) + member(1)) == 2
    before = walk(ns)[0].keys()

    def failing(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setitem(ns, "render", failing)
    with pytest.raises(RuntimeError):
        ns["post"](member(2) + member(5))
    monkeypatch.undo()
    # Rolled back and restarted: the members can be posted again and nothing is doubled.
    assert walk(ns)[0].keys() == before
    assert ns["post"](member(2) + member(5)) == 2
    assert sorted(served(walk(ns)[0])) == [f"http://ex.org/obs/{i}" for i in (0, 1, 2, 5)]
