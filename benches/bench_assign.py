"""Chained geo → day → page assignment of 1 M point members vs a numpy-vectorised twin."""

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
