"""xsd:dateTime parsing and day bucketing: ldesfrag vs pyarrow.compute on the same strings.

The per-core group parses arrays of one parallel task's size (16,384 values: one thread
each call) drawn from a random mix of fraction lengths (0 to 6 digits, all pyarrow reads into
microseconds) and zones (`Z`, offsets up to ±14:00), not a rotation of a few forms.
"""

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import ldesfrag

N = 2_000_000


@pytest.fixture(scope="module")
def values():
    rng = np.random.default_rng(5)
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC).timestamp()
    secs = start + rng.integers(0, 365 * 86400, N)
    forms = [
        "%Y-%m-%dT%H:%M:%SZ",
        "%Y-%m-%dT%H:%M:%S.000Z",
        "%Y-%m-%dT%H:%M:%S+01:00",
    ]
    # A random form each (not a rotation, which a branch predictor learns).
    out = []
    for s, k in zip(secs.tolist(), rng.integers(0, 3, N).tolist(), strict=True):
        t = dt.datetime.fromtimestamp(s, dt.UTC)
        f = forms[k]
        if f.endswith("+01:00"):
            t = t + dt.timedelta(hours=1)
        out.append(t.strftime(f))
    return pa.array(out)


#: One parallel task of `parse_datetime` (see rust/src/xsd.rs, CHUNK): one core per call.
ONE_CORE = 16_384
#: Calls per round of the per-core group.
CALLS = 64


@pytest.fixture(scope="module")
def mixed(request):
    """Arrays of random instants with random fraction lengths and zones (4 with
    --benchmark-disable)."""
    calls = 4 if request.config.getoption("benchmark_disable") else CALLS
    rng = np.random.default_rng(11)
    start = dt.datetime(2023, 1, 1, tzinfo=dt.UTC).timestamp()
    secs = (start + rng.integers(0, 365 * 86400, ONE_CORE * calls)).tolist()
    digits = rng.integers(0, 7, len(secs)).tolist()
    fractions = rng.integers(0, 10**6, len(secs)).tolist()
    zones = rng.integers(-14 * 4, 14 * 4 + 1, len(secs)).tolist()
    z = rng.random(len(secs)) < 0.3
    out = []
    for s, d, f, q, utc in zip(secs, digits, fractions, zones, z, strict=True):
        minutes = 15 * q
        t = dt.datetime.fromtimestamp(s + 60 * minutes, dt.UTC)
        text = t.strftime("%Y-%m-%dT%H:%M:%S")
        if d:
            text += "." + f"{f:06d}"[:d]
        if utc:
            text += "Z"
        else:
            sign = "-" if minutes < 0 else "+"
            text += f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        out.append(text)
    return [pa.array(out[k * ONE_CORE : (k + 1) * ONE_CORE]) for k in range(calls)]


def each(fn, arrays):
    for a in arrays:
        fn(a)


def test_ldesfrag_parse_one_core(benchmark, measure, mixed):
    n = ONE_CORE * len(mixed)
    measure(
        benchmark, "parse, one core, mixed", "ldesfrag", n, each, ldesfrag.parse_datetime, mixed
    )


def test_arrow_parse_one_core(benchmark, measure, mixed):
    n = ONE_CORE * len(mixed)
    measure(benchmark, "parse, one core, mixed", "ref:pyarrow.compute", n, each, arrow_parse, mixed)


def test_same_instants_as_arrow_on_the_mix(mixed):
    for a in mixed[:4]:
        assert pa.array(ldesfrag.parse_datetime(a)).equals(arrow_parse(a))


def arrow_parse(values):
    return pc.cast(values, pa.timestamp("us", "UTC"))


def arrow_parse_and_day(values):
    return pc.floor_temporal(arrow_parse(values), unit="day")


def ldesfrag_parse_and_day(fragmenter_view, table):
    return ldesfrag.Fragmenter(fragmenter_view).assign(table)


def test_ldesfrag_parse(benchmark, measure, values):
    measure(benchmark, "parse xsd:dateTime", "ldesfrag", N, ldesfrag.parse_datetime, values)


def test_arrow_parse(benchmark, measure, values):
    measure(benchmark, "parse xsd:dateTime", "ref:pyarrow.compute", N, arrow_parse, values)


def test_ldesfrag_parse_and_bucket(benchmark, measure, values):
    view = ldesfrag.View([ldesfrag.HierarchicalTime("day")], page_size=250)
    table = pa.table({"id": pa.array(np.arange(N)), "timestamp": values})
    measure(
        benchmark, "parse + day bucket", "ldesfrag (assign)", N, ldesfrag_parse_and_day, view, table
    )


def test_arrow_parse_and_bucket(benchmark, measure, values):
    measure(benchmark, "parse + day bucket", "ref:pyarrow.compute", N, arrow_parse_and_day, values)


def test_same_instants_as_arrow(values):
    assert pa.array(ldesfrag.parse_datetime(values[:100_000])).equals(arrow_parse(values[:100_000]))
