"""Saving the state after a one-member assign: a journal entry (`commit`) vs a whole snapshot
(`state`, the reference), at 10 k and 1 M pages. The bytes of each are in `extra_info`."""

import numpy as np
import pyarrow as pa
import pytest

import ldesfrag

VIEW = ldesfrag.View([ldesfrag.Geospatial(14), ldesfrag.HierarchicalTime("hour")], page_size=1)


@pytest.fixture(scope="module", params=[10_000, 1_000_000])
def fragmenter(request):
    """A fragmenter with `param` pages (one member a page), and one more member for it."""
    n = request.param
    rng = np.random.default_rng(5)
    table = pa.table(
        {
            "id": pa.array(np.arange(n)).cast(pa.string()),
            "lon": rng.uniform(2.6, 5.9, n),
            "lat": rng.uniform(50.7, 51.35, n),
            "timestamp": pa.array(
                np.sort(rng.integers(1_672_531_200_000_000, 1_675_209_600_000_000, n)),
                pa.timestamp("us", "UTC"),
            ),
        }
    )
    f = ldesfrag.Fragmenter(VIEW)
    f.assign(table)
    f.commit()
    return n, f, table.slice(0, 1)


def test_commit(benchmark, measure, fragmenter):
    n, f, one = fragmenter

    def save():
        f.assign(one)
        return f.commit()

    entry = measure(benchmark, f"save after 1 member, {n:,} pages", "ldesfrag commit", 1, save)
    benchmark.extra_info["bytes"] = len(entry)
    assert 0 < len(entry) < 128


def test_state(benchmark, measure, fragmenter):
    n, f, one = fragmenter

    def save():
        f.assign(one)
        return f.state()

    state = measure(benchmark, f"save after 1 member, {n:,} pages", "ref:state", 1, save)
    benchmark.extra_info["bytes"] = len(state)
