"""`publish` end to end (N-Triples dump → static LDES directory) vs rdflib parsing the same dump.

The dump: version objects of 500 traffic-counting sites observed in turn over January 2023 (a
point geometry on a blank node, a timestamp, a label), fragmented geo(z14) → day → pages of 250.
Its size is ``LDESFRAG_BENCH_PUBLISH_MEMBERS`` (default 20 000: the smoke run stays small). The
reference is rdflib parsing the first 20 000 members of the same dump (the reference server, which
cannot run here, publishes 300 to 2,000 members/s).

The 1 M- and 10 M-member figures of benches/RESULTS.md, with peak RSS and state size, come from one
run in a fresh process: ``python benches/bench_publish.py 1000000 [DUMP]`` (DUMP: a dump of that
many members written before, so that writing it is not timed). ``python benches/bench_publish.py N
DUMP OUT`` publishes into OUT (new) and keeps it: on this VM's ext4 (no journal) creating files
within minutes of deleting many is slow (the inode allocator skips recently deleted inodes), so
measured runs do not delete the output of the run before.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import sys
import tempfile
import time
from itertools import count
from pathlib import Path

import pytest

import ldesfrag

N = int(os.environ.get("LDESFRAG_BENCH_PUBLISH_MEMBERS", "20000"))
REF_N = min(N, 20_000)
VIEW = ldesfrag.View([ldesfrag.Geospatial(14), ldesfrag.HierarchicalTime("day")], page_size=250)
BASE = "http://localhost:8000/counts/"
PROV = "http://www.w3.org/ns/prov#generatedAtTime"
DCT = "http://purl.org/dc/terms/isVersionOf"


def write_dump(path: Path, n: int) -> None:
    rng = random.Random(7)
    sites = [(2.6 + rng.random() * 3.3, 50.7 + rng.random() * 0.65) for _ in range(500)]
    start = 1_672_531_200  # 2023-01-01T00:00:00Z
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            site = i % 500
            lon, lat = sites[site]
            t = time.gmtime(start + i * 2_678_400 // max(n, 1))
            m = f"<https://example.org/count/{site}/{i}>"
            f.write(
                f"{m} <{DCT}> <https://example.org/count/{site}> .\n"
                f'{m} <{PROV}> "{time.strftime("%Y-%m-%dT%H:%M:%SZ", t)}"'
                "^^<http://www.w3.org/2001/XMLSchema#dateTime> .\n"
                f'{m} <http://www.w3.org/2000/01/rdf-schema#label> "count {i} at site {site}" .\n'
                f"{m} <http://www.w3.org/ns/locn#geometry> _:g{i} .\n"
                f'_:g{i} <http://www.opengis.net/ont/geosparql#asWKT> "POINT ({lon:.6f} {lat:.6f})"'
                "^^<http://www.opengis.net/ont/geosparql#wktLiteral> .\n"
            )


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    d = tmp_path_factory.mktemp("publish")
    write_dump(d / "dump.nt", N)
    write_dump(d / "ref.nt", REF_N)
    return d


def run_publish(dump: Path, out: Path) -> ldesfrag.PublishSummary:
    shutil.rmtree(out, ignore_errors=True)
    return ldesfrag.publish([dump], VIEW, out, base_url=BASE)


def rdflib_members(dump: Path) -> set[str]:
    import rdflib

    g = rdflib.Graph()
    g.parse(dump, format="nt")
    return {str(s) for s in g.subjects(rdflib.URIRef(DCT), None)}


def test_ldesfrag(benchmark, measure, dumps):
    rounds = count()
    measure(
        benchmark,
        "publish",
        "ldesfrag",
        N,
        lambda: run_publish(dumps / "dump.nt", dumps / f"out{next(rounds)}"),
    )


def test_rdflib_parse(benchmark, measure, dumps):
    measure(benchmark, "publish", "ref:rdflib parse", REF_N, rdflib_members, dumps / "ref.nt")


def test_same_members(dumps):
    """The published pages hold exactly the members rdflib finds in the dump."""
    import rdflib

    out = dumps / "check"
    summary = run_publish(dumps / "ref.nt", out)
    assert summary.members == REF_N
    stream = rdflib.URIRef(BASE + "#stream")
    member = rdflib.URIRef("https://w3id.org/tree#member")
    found = set()
    for page in out.rglob("page-*.ttl"):
        g = rdflib.Graph().parse(page, format="turtle")
        found.update(str(m) for m in g.objects(stream, member))
    assert found == rdflib_members(dumps / "ref.nt")


def main(n: int, dump: Path | None = None, out: Path | None = None) -> None:
    """One measured run in this process: members/s, peak RSS, state and output size. ``dump``:
    an existing dump of ``n`` members (made by :func:`write_dump`) instead of a new one; ``out``:
    a new directory to publish into and keep."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
        if dump is None:
            dump = Path(d) / "dump.nt"
            write_dump(dump, n)
        if out is None:
            out = Path(d) / "out"
        elif out.exists():
            raise SystemExit(f"{out} exists: measured runs publish into a new directory")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        cpu = time.process_time()
        summary = run_publish(dump, out)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        spares = sum(f.stat().st_size for f in (out / ".ldesfrag" / "tmp").iterdir())
        state = sum(f.stat().st_size for f in (out / ".ldesfrag").rglob("*")) - spares
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) - state - spares
        print(f"{n:,} members ({dump.stat().st_size / 1e6:,.0f} MB N-Triples) in {seconds:.1f} s")
        print(f"  {n / seconds:,.0f} members/s (CPU {cpu:.1f} s, load {os.getloadavg()[0]:.1f})")
        print(f"  peak RSS {peak / 1024:,.0f} MiB (before publish: {rss_before / 1024:,.0f} MiB)")
        print(f"  state {state / 1e6:,.1f} MB, spare files {spares / 1e6:,.1f} MB")
        print(f"  output {size / 1e6:,.0f} MB")
        print(f"  {summary}")
        ref = Path(d) / "ref.nt"
        write_dump(ref, REF_N)
        started = time.perf_counter()
        found = rdflib_members(ref)
        seconds = time.perf_counter() - started
        rate = REF_N / seconds
        print(f"reference: rdflib parses {len(found):,} members at {rate:,.0f} members/s")


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else N,
        Path(sys.argv[2]) if len(sys.argv) > 2 else None,
        Path(sys.argv[3]) if len(sys.argv) > 3 else None,
    )
