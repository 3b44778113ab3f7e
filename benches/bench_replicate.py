"""Replicating a local LDES: ldesfrag's client beside the npm `ldes-client` (the reference).

The LDES: 100,000 version objects (tests/ldes_data.py: points and multi-tile lines around
Ghent, a few days) published as Turtle in a tile (z14) → day view, with pages of 50 and of 250
members, each served by `ldesfrag serve` in its own process on 127.0.0.1 (port 0).

Each client runs in its own process, from the view's root to the end, and is measured once
(one round: a run is seconds to minutes long): members/s (distinct members emitted over the
process's wall time, start-up included) and its peak RSS (``wait4``'s ``ru_maxrss``, taken by
a small launcher process).

- ``ldesfrag``: ``ldesfrag.replicate(url)`` at its default concurrency (8), counting rows.
- ``ldesfrag c1``: the same with ``concurrency=1``.
- ``ref:npm c1``: ``ldes-client --concurrent 1 URL`` (its members on stdout, to a file).
- ``ref:npm``: ``ldes-client URL`` at its default concurrency, which loses members in about
  half of its runs (docs/interop.md); its count is reported as it is.

With ``--benchmark-disable`` (the CI smoke run) the LDES has 2,000 members and every client
runs once, unreported.
"""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from ldes_data import write_members  # noqa: E402
from test_interop import CLIENT, block_members  # noqa: E402

from ldesfrag import Geospatial, HierarchicalTime, View, publish  # noqa: E402

WAIT = 60.0  # seconds: the bound of every wait for a server
MEMBERS = 100_000
SMOKE_MEMBERS = 2_000
PAGE_SIZES = (50, 250)
#: A client run's bound (the npm client at one page at a time is the slowest).
RUN_TIMEOUT = 1_800.0

OURS = """
import sys, ldesfrag
n = 0
with ldesfrag.replicate(sys.argv[1], concurrency=int(sys.argv[2])) as rep:
    for t in rep:
        n += t.num_rows
print(n)
"""


@dataclass
class Site:
    url: str
    members: int
    page_size: int
    work: Path


class ServeProcess:
    """`ldesfrag serve DIR --port 0` in its own process; ``url`` once it listens."""

    def __init__(self, directory: Path) -> None:
        argv = [sys.executable, "-m", "ldesfrag.cli", "serve", str(directory), "--port", "0"]
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        assert self.proc.stderr is not None
        deadline = time.monotonic() + WAIT
        seen = ""
        while " at http" not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"the server did not start: {seen}"
            assert self.proc.poll() is None, f"the server stopped: {seen}"
            if select.select([self.proc.stderr], [], [], left)[0]:
                seen += self.proc.stderr.readline()
        self.url = seen.split(" at ", 1)[1].split()[0]
        # It logs every request: read (and drop) its output so that it never blocks.
        threading.Thread(target=self.proc.stderr.read, daemon=True).start()

    def stop(self) -> None:
        # It waits for idle keep-alive connections to time out before it exits; it has
        # nothing to flush, so a short wait then a kill.
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(WAIT)


@pytest.fixture(scope="module")
def sites(tmp_path_factory, request):
    """One served site per page size (published after its server started at ``/``, so that
    the pages' IRIs name the port it listens on)."""
    quick = request.config.getoption("benchmark_disable")
    n = SMOKE_MEMBERS if quick else MEMBERS
    tmp = tmp_path_factory.mktemp("replicate")
    dump = write_members(tmp / "members.nt", 0, n)
    servers: list[ServeProcess] = []
    out: dict[int, Site] = {}
    try:
        for size in PAGE_SIZES:
            site = tmp / f"site-{size}"
            site.mkdir()
            server = ServeProcess(site)
            servers.append(server)
            view = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=size)
            summary = publish([dump], view, site, base_url=server.url, batch_size=20_000)
            assert summary.members == n
            work = tmp / f"work-{size}"
            work.mkdir()
            out[size] = Site(server.url, n, size, work)
        yield out
    finally:
        for server in servers:
            server.stop()


_report: list[str] = []


class _Summary:
    """Prints the runs' members/s and peak RSS at the end of the session (a fixture's own
    output would be captured)."""

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not _report:
            return
        tr = terminalreporter
        tr.section("replication: members/s (one run, start-up included) and peak RSS")
        for line in _report:
            tr.write_line(line)


@pytest.fixture(scope="module", autouse=True)
def report(request):
    manager = request.config.pluginmanager
    if not request.config.getoption("benchmark_disable") and not manager.has_plugin(__name__):
        manager.register(_Summary(), __name__)


#: Runs its arguments and writes their peak RSS (KiB) to the file named first. The peak a
#: direct child of this (large) pytest process reports is at least this process's own RSS:
#: Linux carries the high-water mark of the memory a child was forked with through exec. A
#: small launcher's child carries only the launcher's.
LAUNCHER = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run(argv: list[str], stdout: Path) -> tuple[float, int]:
    """Runs ``argv`` to its end, its output to ``stdout``: (seconds, peak RSS in bytes)."""
    rss = stdout.with_suffix(".rss")
    with open(stdout, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", LAUNCHER, str(rss), *argv],
            stdout=out,
            stderr=subprocess.PIPE,
            cwd=stdout.parent,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:].decode(errors="replace")
    return seconds, int(rss.read_text()) * 1024


CLIENTS = {
    "ldesfrag": lambda url, out: [sys.executable, "-c", OURS, url, "8"],
    "ldesfrag c1": lambda url, out: [sys.executable, "-c", OURS, url, "1"],
    "ref:npm c1": lambda url, out: ["node", str(CLIENT), "--concurrent", "1", url],
    "ref:npm": lambda url, out: ["node", str(CLIENT), url],
}


@pytest.mark.parametrize("size", PAGE_SIZES)
@pytest.mark.parametrize("client", list(CLIENTS))
def test_replicate(benchmark, sites, size, client):
    if client.startswith("ref:") and not CLIENT.exists():
        pytest.fail(f"{CLIENT} is missing: run `npm ci` in interop/ (make test does)")
    site = sites[size]
    out = site.work / f"{client.replace(':', '-').replace(' ', '-')}.out"
    argv = CLIENTS[client](site.url, out)
    benchmark.group = f"replicate pages of {size}"
    benchmark.name = client
    seconds, rss = benchmark.pedantic(run, args=(argv, out), rounds=1, iterations=1)
    if client.startswith("ldesfrag"):
        got = int(out.read_text().strip())
        assert got == site.members  # every member exactly once
    else:
        got = len(set(block_members(out.read_text(encoding="utf-8"))))
        if client == "ref:npm c1":
            assert got == site.members
    out.unlink()
    rate = got / seconds
    benchmark.extra_info.update(members=got, seconds=seconds, peak_rss_mib=rss / 2**20)
    _report.append(
        f"pages of {size:<4} {client:<12} {got:>8,} members in {seconds:7.2f} s "
        f"{rate:>10,.0f} members/s  peak RSS {rss / 2**20:7.1f} MiB"
    )
