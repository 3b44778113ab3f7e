"""xsd:dateTime parsing and day bucketing: ldesfrag vs pyarrow.compute on the same strings."""

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
    out = []
    for i, s in enumerate(secs.tolist()):
        t = dt.datetime.fromtimestamp(s, dt.UTC)
        f = forms[i % 3]
        if f.endswith("+01:00"):
            t = t + dt.timedelta(hours=1)
        out.append(t.strftime(f))
    return pa.array(out)


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
