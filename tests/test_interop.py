"""Interop: the independent npm client `ldes-client` (0.3.0) replicates a published directory.

`make test` installs it from `interop/package.json` + `package-lock.json` (`npm ci`); without
it the test fails and says how to install it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ldes_data import member_iri, write_members

from ldesfrag import Geospatial, HierarchicalTime, View, publish, serve

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "interop" / "node_modules" / ".bin" / "ldes-client"
MEMBERS = 4_000


def block_members(stdout: str) -> list[str]:
    """The member IRI of each block (the root subject: not an object inside its block)."""
    found = []
    for block in stdout.split("\n\n"):
        triples = [line.split(" ", 2) for line in block.splitlines() if line.strip()]
        if not triples:
            continue
        objects = {t[2].rsplit(" ", 1)[0] for t in triples if len(t) == 3}
        roots = [t[0] for t in triples if t[0] not in objects]
        assert roots, block
        found.append(roots[0].strip("<>"))
    return found


def replicate(url: str, cwd: Path) -> list[str]:
    """One run of the npm client from ``url`` to the end: the member IRIs it printed. One page
    at a time: at its default concurrency ldes-client 0.3.0 loses members in about half of all
    runs, exit 0 (a race in its page queue; docs/interop.md), on any server."""
    if not CLIENT.exists():
        pytest.fail(f"{CLIENT} is missing: run `npm ci` in interop/ (make test does)")
    run = subprocess.run(
        ["node", str(CLIENT), "--concurrent", "1", url],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "error" not in run.stderr.lower(), run.stderr[-3000:]
    return block_members(run.stdout)


def test_ldes_client_replicates_every_member(tmp_path):
    if not CLIENT.exists():
        pytest.fail(f"{CLIENT} is missing: run `npm ci` in interop/ (make test does)")
    dump = write_members(tmp_path / "members.nt", 0, MEMBERS)
    expected = {member_iri(i) for i in range(MEMBERS)}
    site = tmp_path / "site"
    site.mkdir()
    view = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=50)
    with serve(site, port=0) as server:  # `ldesfrag serve`: content types, _headers, ETags
        url = server.url
        summary = publish([dump], view, site, base_url=url, batch_size=1_500)
        assert summary.members == MEMBERS
        assert summary.immutable_pages > 0
        assert summary.pages > 2 * summary.buckets  # several pages per bucket
        assert any(k.startswith("tile=unknown") for k in _buckets(site))
        got = set(replicate(url, tmp_path))
        assert got == expected, (sorted(got - expected)[:5], len(expected - got))


def _buckets(site: Path) -> set[str]:
    return {str(p.parent.relative_to(site)) for p in site.rglob("page-*.ttl")}
