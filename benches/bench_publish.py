"""`publish` end to end (N-Triples dump → static LDES directory) vs rdflib parsing the same dump.

Three shapes of dump and view (``LDESFRAG_BENCH_PUBLISH_SHAPE``, or ``--shape``):

- ``sites`` (default): version objects of 500 traffic-counting sites observed in turn over
  January 2023 (a point geometry on a blank node, a timestamp, a label), fragmented geo(z14) →
  day → pages of 250: few, large buckets;
- ``scattered``: observations at random positions over about ``n / 120`` z12 tiles, in time
  order over three days, fragmented geo(z12) → day → pages of 250: about 40 members per bucket,
  so a run is mostly creating directories and small files;
- ``week``: version objects of 1,000 sites observed in turn over a week, fragmented geo(z14) →
  day → pages of 40: pages fill and chains grow (about 140 members a bucket at 1 M).

Its size is ``LDESFRAG_BENCH_PUBLISH_MEMBERS`` (default 20 000: the smoke run stays small). The
reference is rdflib parsing the first 20 000 members of the same dump (the reference server, which
cannot run here, publishes 300 to 2,000 members/s).

The 1 M- and 10 M-member figures of benches/RESULTS.md, with peak RSS and state size, come from one
run in a fresh process: ``python benches/bench_publish.py 1000000 [DUMP] [--shape scattered]``
(DUMP: a dump of that many members written before, so that writing it is not timed; it is
written there when missing). ``python benches/bench_publish.py N DUMP OUT`` publishes into OUT
(new) and keeps it: on this VM's ext4 (no journal) creating files
within minutes of deleting many is slow (the inode allocator skips recently deleted inodes), so
measured runs do not delete the output of the run before.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import resource
import shutil
import tempfile
import time
from itertools import count
from pathlib import Path

import pytest

import ldesfrag

N = int(os.environ.get("LDESFRAG_BENCH_PUBLISH_MEMBERS", "20000"))
SHAPE = os.environ.get("LDESFRAG_BENCH_PUBLISH_SHAPE", "sites")
REF_N = min(N, 20_000)
VIEWS = {
    shape: ldesfrag.View(
        [ldesfrag.Geospatial(zoom), ldesfrag.HierarchicalTime("day")], page_size=page_size
    )
    for shape, zoom, page_size in (("sites", 14, 250), ("scattered", 12, 250), ("week", 14, 40))
}
SITES = {"sites": 500, "week": 1000}
BASE = "http://localhost:8000/counts/"
PROV = "http://www.w3.org/ns/prov#generatedAtTime"
DCT = "http://purl.org/dc/terms/isVersionOf"


def write_dump(path: Path, n: int, shape: str = "sites") -> None:
    rng = random.Random(7)
    start = 1_672_531_200  # 2023-01-01T00:00:00Z
    if shape in SITES:
        sites = [
            (2.6 + rng.random() * 3.3, 50.7 + rng.random() * 0.65) for _ in range(SITES[shape])
        ]
        span = 2_678_400 if shape == "sites" else 7 * 86_400  # January, or its first week
    elif shape == "scattered":
        side = max(1, math.isqrt(n // 120))  # side² z12 tiles, from (2040, 1340) on
        span = 3 * 86_400
    else:
        raise ValueError(f"shape {shape!r}: sites, scattered or week")
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            if shape in SITES:
                site = i % len(sites)
                lon, lat = sites[site]
            else:
                site = i % 5000
                x, y = 2040 + rng.random() * side, 1340 + rng.random() * side
                lon = x / 4096 * 360 - 180
                lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / 4096))))
            t = time.gmtime(start + i * span // max(n, 1))
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
    write_dump(d / "dump.nt", N, SHAPE)
    write_dump(d / "ref.nt", REF_N, SHAPE)
    return d


def run_publish(dump: Path, out: Path, shape: str = SHAPE, **kw) -> ldesfrag.PublishSummary:
    shutil.rmtree(out, ignore_errors=True)
    return ldesfrag.publish([dump], VIEWS[shape], out, base_url=BASE, **kw)


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


def _lazy_free() -> int | None:
    """KiB of this process's memory freed with ``MADV_FREE`` and not yet reclaimed (Linux)."""
    try:
        with open("/proc/self/smaps_rollup") as f:
            for line in f:
                if line.startswith("LazyFree:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def main(n: int, dump: Path | None, out: Path | None, shape: str, reference: bool, **kw) -> None:
    """One measured run in this process: members/s, CPU (user, system), peak RSS (the
    process's VmHWM, ``ru_maxrss``), state and output size. ``dump``: a dump of ``n`` members
    (made by :func:`write_dump` with ``shape``; written there when missing); ``out``: a new
    directory to publish into and keep; ``kw``: more publish options."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as d:
        if dump is None:
            dump = Path(d) / "dump.nt"
        if not dump.exists():
            write_dump(dump, n, shape)
        if out is None:
            out = Path(d) / "out"
        elif out.exists():
            raise SystemExit(f"{out} exists: measured runs publish into a new directory")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        cpu = os.times()
        summary = run_publish(dump, out, shape, **kw)
        seconds = time.perf_counter() - started
        after = os.times()
        user, system = after.user - cpu.user, after.system - cpu.system
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        spares = sum(f.stat().st_size for f in (out / ".ldesfrag" / "tmp").iterdir())
        state = sum(f.stat().st_size for f in (out / ".ldesfrag").rglob("*")) - spares
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) - state - spares
        files = sum(1 for f in out.rglob("*") if f.is_file() and ".ldesfrag" not in f.parts)
        per = 100_000 / n
        print(f"{n:,} members ({dump.stat().st_size / 1e6:,.0f} MB N-Triples, shape {shape})")
        print(f"  {seconds:.2f} s, {n / seconds:,.0f} members/s (load {os.getloadavg()[0]:.1f})")
        print(
            f"  per 100 k members: wall {seconds * per:.2f} s, user {user * per:.2f} s, "
            f"sys {system * per:.2f} s"
        )
        print(f"  peak RSS {peak / 1024:,.0f} MiB (before publish: {rss_before / 1024:,.0f} MiB)")
        lazy = _lazy_free()
        if lazy is not None:  # freed memory the kernel has not taken back: counted in RSS
            print(f"  at the end: {lazy / 1024:,.0f} MiB of RSS freed, not yet reclaimed")
        print(f"  state {state / 1e6:,.1f} MB, spare files {spares / 1e6:,.1f} MB")
        print(
            f"  output {size / 1e6:,.0f} MB, {files:,} files ({files / n:.3f} per member), "
            f"{summary.files_written:,} written ({summary.files_written / n:.3f} per member)"
        )
        print(
            f"  {summary.buckets:,} leaf buckets, {summary.pages:,} pages "
            f"({summary.immutable_pages:,} immutable); open pages dropped from memory "
            f"{summary.open_pages_dropped:,} times, read back {summary.open_pages_read_back:,}"
        )
        if not reference:
            return
        ref = Path(d) / "ref.nt"
        write_dump(ref, REF_N, shape)
        started = time.perf_counter()
        found = rdflib_members(ref)
        seconds = time.perf_counter() - started
        rate = REF_N / seconds
        print(f"reference: rdflib parses {len(found):,} members at {rate:,.0f} members/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("n", type=int, nargs="?", default=N, help="members")
    parser.add_argument("dump", type=Path, nargs="?", help="the dump (written when missing)")
    parser.add_argument("out", type=Path, nargs="?", help="a new directory to publish into")
    parser.add_argument("--shape", choices=sorted(VIEWS), default=SHAPE)
    parser.add_argument("--no-reference", action="store_true", help="skip the rdflib reference")
    parser.add_argument(
        "--open-pages-budget", type=float, metavar="MIB", help="default: publish's; 0: no limit"
    )
    args = parser.parse_args()
    kw = {}
    if args.open_pages_budget is not None:
        budget = args.open_pages_budget
        kw["open_pages_budget"] = max(1, int(budget * (1 << 20))) if budget > 0 else None
    main(args.n, args.dump, args.out, args.shape, not args.no_reference, **kw)
