"""Chained geo → day → page assignment of 1 M point members vs a numpy-vectorised twin; and
small assigns (1, 500 members) alone and beside a busy Python thread, with the GIL held or
released."""

import threading
import time

import numpy as np
import pyarrow as pa
import pytest
from bench_tiles import numpy_tiles

import ldesfrag

N = 1_000_000
PAGE = 250
VIEW = ldesfrag.View([ldesfrag.Geospatial(14), ldesfrag.HierarchicalTime("day")], page_size=PAGE)


@pytest.fixture(scope="module", params=["uniform", "sites"])
def members(request):
    """`uniform`: every member at a random point (a stress case: ~5 members per leaf bucket).
    `sites`: 500 fixed counting sites observed in turn, as in the traffic-count streams."""
    rng = np.random.default_rng(11)
    if request.param == "uniform":
        lon = rng.uniform(2.6, 5.9, N)
        lat = rng.uniform(50.7, 51.35, N)
    else:
        site_lon, site_lat = rng.uniform(2.6, 5.9, 500), rng.uniform(50.7, 51.35, 500)
        site = np.arange(N) % 500
        lon, lat = site_lon[site], site_lat[site]
    ts = np.sort(rng.integers(1_672_531_200_000_000, 1_675_209_600_000_000, N))  # Jan 2023
    return request.param, pa.table(
        {
            "id": pa.array(np.arange(N)),
            "lon": lon,
            "lat": lat,
            "timestamp": pa.array(ts, pa.timestamp("us", "UTC")),
        }
    )


def numpy_assign(lon, lat, ts):
    """Tile + UTC day → leaf key → page by running count within the leaf (arrival order)."""
    x, y = numpy_tiles(lon, lat, 14)
    day = ts // 86_400_000_000
    key = (y.astype(np.int64) << 40) | (x.astype(np.int64) << 20) | (day - day.min())
    _, leaf = np.unique(key, return_inverse=True)
    order = np.argsort(leaf, kind="stable")
    sorted_leaf = leaf[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_leaf)) + 1]
    rank = np.arange(len(leaf)) - np.repeat(starts, np.diff(np.r_[starts, len(leaf)]))
    page = np.empty_like(rank)
    page[order] = rank // PAGE + 1
    return leaf, page


def test_ldesfrag(benchmark, measure, members):
    kind, table = members
    group = f"assign 1M {kind}"
    measure(benchmark, group, "ldesfrag", N, lambda: ldesfrag.Fragmenter(VIEW).assign(table))


def test_numpy_twin(benchmark, measure, members):
    kind, table = members
    lon = table["lon"].to_numpy()
    lat = table["lat"].to_numpy()
    ts = table["timestamp"].cast(pa.int64()).to_numpy()
    measure(benchmark, f"assign 1M {kind}", "ref:numpy", N, numpy_assign, lon, lat, ts)


def test_same_pages_as_the_twin(members):
    sub = members[1].slice(0, 200_000)
    got = pa.table(ldesfrag.Fragmenter(VIEW).assign(sub))
    _, page = numpy_assign(
        sub["lon"].to_numpy(), sub["lat"].to_numpy(), sub["timestamp"].cast(pa.int64()).to_numpy()
    )
    assert got["page"].to_numpy().tolist() == page.tolist()


# ---- small assigns in a busy process: the GIL policy (run_sized, rust/src/python/mod.rs) -----

THRESHOLD = ldesfrag._ldesfrag._gil_hold_below()  # the default, read back unchanged
SMALL = [1, 500, THRESHOLD - 1]


class BusyThread:
    """A thread spinning pure-Python work, as a server's other request threads do; it counts
    its rounds, so that what a policy costs the other threads shows too."""

    def __init__(self):
        self.stop = threading.Event()
        self.rounds = 0
        self.thread = threading.Thread(target=self.spin, daemon=True)

    def spin(self):
        while not self.stop.is_set():
            sum(i * i for i in range(100))
            self.rounds += 1


@pytest.fixture
def busy():
    thread = BusyThread()
    thread.thread.start()
    yield thread
    thread.stop.set()
    thread.thread.join(timeout=60)


@pytest.fixture
def gil_policy(request):
    """ "hold": below the threshold the GIL is kept (the default); "release": always released
    (the policy before run_sized)."""
    before = ldesfrag._ldesfrag._gil_hold_below(None if request.param == "hold" else 0)
    yield request.param
    ldesfrag._ldesfrag._gil_hold_below(before)


def beside_busy(benchmark, measure, busy, group, name, items, fn, *args):
    """`measure` beside the busy thread, noting how far that thread got meanwhile."""
    rounds, start = busy.rounds, time.perf_counter()
    measure(benchmark, group, name, items, fn, *args)
    rate = (busy.rounds - rounds) / (time.perf_counter() - start)
    benchmark.extra_info["busy thread rounds/s"] = rate


def small_members(n):
    rng = np.random.default_rng(5)
    ts = np.sort(rng.integers(1_672_531_200_000_000, 1_675_209_600_000_000, n))
    return pa.table(
        {
            "id": [f"http://ex.org/obs/{i}" for i in range(n)],
            "lon": rng.uniform(2.6, 5.9, n),
            "lat": rng.uniform(50.7, 51.35, n),
            "timestamp": pa.array(ts, pa.timestamp("us", "UTC")),
        }
    )


@pytest.mark.parametrize("beside", ["alone", "busy thread"])
@pytest.mark.parametrize("gil_policy", ["hold", "release"], indirect=True)
@pytest.mark.parametrize("n", SMALL)
def test_small_assign(benchmark, measure, request, n, gil_policy, beside):
    """One shared fragmenter (a server's), `n` members a call, as a POST handler assigns."""
    table = small_members(n)
    f = ldesfrag.Fragmenter(VIEW)
    group = f"assign {n} {beside}"
    if beside == "alone":
        measure(benchmark, group, f"ldesfrag {gil_policy}", n, f.assign, table)
        return
    beside_busy(
        benchmark,
        measure,
        request.getfixturevalue("busy"),
        group,
        f"ldesfrag {gil_policy}",
        n,
        f.assign,
        table,
    )


@pytest.mark.parametrize("beside", ["alone", "busy thread"])
@pytest.mark.parametrize("n", SMALL)
def test_small_numpy_twin(benchmark, measure, request, n, beside):
    """The reference: the numpy twin on the same members (it keeps the GIL throughout)."""
    table = small_members(n)
    lon, lat = table["lon"].to_numpy(), table["lat"].to_numpy()
    ts = table["timestamp"].cast(pa.int64()).to_numpy()
    group = f"assign {n} {beside}"
    if beside == "alone":
        measure(benchmark, group, "ref:numpy", n, numpy_assign, lon, lat, ts)
        return
    busy = request.getfixturevalue("busy")
    beside_busy(benchmark, measure, busy, group, "ref:numpy", n, numpy_assign, lon, lat, ts)


def gil_threshold_check(sizes=(1, 500, 2047, 8000, 32000), calls=60):
    """Hold vs release interleaved, call by call, beside the busy thread (steadier than two
    benchmark runs on a drifting VM): the caller's median time and the busy thread's progress
    while the calls ran."""
    import statistics

    busy = BusyThread()
    busy.thread.start()
    try:
        for n in sizes:
            table = small_members(n)
            f = ldesfrag.Fragmenter(VIEW)
            times = {"hold": [], "release": []}
            rounds = dict.fromkeys(times, 0)
            for _ in range(calls):
                for policy in times:
                    ldesfrag._ldesfrag._gil_hold_below(1 << 62 if policy == "hold" else 0)
                    before, start = busy.rounds, time.perf_counter()
                    f.assign(table)
                    times[policy].append(time.perf_counter() - start)
                    rounds[policy] += busy.rounds - before
            ldesfrag._ldesfrag._gil_hold_below(None)
            median = {p: round(statistics.median(t) * 1e6) for p, t in times.items()}
            rate = {p: round(rounds[p] / sum(times[p])) for p in times}
            print(f"{n:>6} members: caller median µs {median}, busy thread rounds/s {rate}")
    finally:
        busy.stop.set()
        busy.thread.join(timeout=60)


if __name__ == "__main__":
    gil_threshold_check()
