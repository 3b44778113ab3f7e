"""ldesfrag.spark on ``local[2]``: the same assignments, structure and published tree as one
machine (docs/spark.md). One SparkSession for the whole file (a JVM start is slow)."""

from __future__ import annotations

import os
import sys

import pytest
from ldes_data import PROV_TIME, members_nt

pytest.importorskip("pyspark", reason="pyspark is in requirements-dev.txt (make venv)")

import pyarrow as pa  # noqa: E402

from ldesfrag import (  # noqa: E402
    Fragmenter,
    Geospatial,
    HierarchicalTime,
    InvalidMemberError,
    MemberReader,
    Reference,
    View,
)
from ldesfrag.spark import assign, assign_with_report  # noqa: E402

VIEW = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=7)


@pytest.fixture(scope="session")
def spark():
    from ldesfrag.spark import session

    s = session("local[2]", {"spark.sql.shuffle.partitions": "3"})
    yield s
    s.stop()


def dump_members(count: int, start: int = 0) -> pa.Table:
    """Generated members (points and multi-tile lines, 1 in 25 without a geometry, 1 in 30
    without a time) with their arrival number ``seq``."""
    reader = MemberReader(
        None, VIEW, data=members_nt(start, count), format="ntriples", timestamp_path=PROV_TIME
    )
    table = pa.concat_tables(pa.table(b) for b in reader)
    return table.append_column("seq", pa.array(range(table.num_rows), pa.int64()))


def local(view, members, **options):
    report = Fragmenter(view, **options).assign_with_report(members)
    return tuple(pa.table(t) for t in (*report, ))


def rows(table, arrival="seq"):
    """Sorted (member, bucket, page) rows of a Spark result or a local one (``row``)."""
    t = table.toArrow() if hasattr(table, "toArrow") else pa.table(table)
    if arrival not in t.column_names:
        arrival = "row"
    return sorted(zip(*(t[c].to_pylist() for c in (arrival, "bucket", "page")), strict=True))
