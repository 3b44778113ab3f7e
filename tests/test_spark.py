"""ldesfrag.spark on ``local[2]``: the same assignments, structure and published tree as one
machine (docs/spark.md). One SparkSession for the whole file (a JVM start is slow)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from ldes_data import PROV_TIME, member_iri, members_nt, write_members
from test_interop import replicate

import ldesfrag
from ldesfrag import (
    Fragmenter,
    Geospatial,
    HierarchicalTime,
    InvalidMemberError,
    MemberReader,
    Reference,
    View,
    serve,
)
from ldesfrag.spark import assign, assign_with_report, read_members
from ldesfrag.spark import publish as spark_publish

VIEW = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=7)
BASE = "http://example.org/ldes/"


@pytest.fixture(scope="session")
def spark():
    from ldesfrag.spark import session

    s = session("local[2]", {"spark.sql.shuffle.partitions": "3"})
    yield s
    s.stop()


@pytest.fixture(scope="session")
def members():
    """Generated members (points and multi-tile lines, 1 in 25 without a geometry, 1 in 30
    without a time; times to the minute, so the timestamp order has ties) with ``seq``."""
    reader = MemberReader(
        None, VIEW, data=members_nt(0, 400), format="ntriples", timestamp_path=PROV_TIME
    )
    table = pa.concat_tables(pa.table(b) for b in reader)
    return table.append_column("seq", pa.array(range(table.num_rows), pa.int64()))


def rows(table):
    """Sorted (member, bucket, page) rows of a Spark result (``seq``) or a local one (``row``)."""
    t = table.toArrow() if hasattr(table, "toArrow") else pa.table(table)
    member = "seq" if "seq" in t.column_names else "row"
    return sorted(zip(*(t[c].to_pylist() for c in (member, "bucket", "page")), strict=True))


def reports(spark_df, local_table, columns):
    t = spark_df.toArrow() if hasattr(spark_df, "toArrow") else spark_df
    local = pa.table(local_table)
    got = sorted(zip(*(t[c].to_pylist() for c in ["seq", *columns]), strict=True))
    want = sorted(zip(*(local[c].to_pylist() for c in ["row", *columns]), strict=True))
    return got, want


def check_equal(result, view, table, reports_too=True, **options):
    """The Spark result equals one Fragmenter call on the same members in the same order."""
    local = Fragmenter(view, **options)
    report = local.assign_with_report(table)
    assert rows(result.assigned) == rows(report.assigned)
    assert pa.table(result.pages).equals(pa.table(local.pages()))
    assert pa.table(result.relations).equals(pa.table(local.relations()))
    if reports_too:
        got, want = reports(result.invalid, report.invalid, ["column", "reason", "rejected"])
        assert got == want
        got, want = reports(result.rejected, report.rejected, ["reason"])
        assert got == want


@pytest.mark.parametrize("partitions", [1, 2, 7, 64])
def test_assign_equals_one_machine_in_arrival_order(spark, members, partitions):
    df = spark.createDataFrame(members).repartition(partitions)
    result = assign_with_report(df, VIEW)
    check_equal(result, VIEW, members, reports_too=partitions == 7)
    pages = pa.table(result.pages)
    assert pa.compute.sum(pages["immutable"]).as_py() > 0  # chains grew
    buckets = set(pages["bucket"].to_pylist())
    assert any(b.startswith("tile=unknown") for b in buckets)
    assert any("year=unknown" in b for b in buckets)
    seqs = [seq for seq, _, _ in rows(result.assigned)]
    assert len(seqs) > len(set(seqs))  # members on several tiles


def test_assign_equals_one_machine_in_timestamp_order(spark, members):
    # Shuffled rows: the order comes from the columns, never from the partitions.
    df = spark.createDataFrame(members).repartition(5)
    by_time = View(VIEW.fragmentations, page_size=VIEW.page_size, order="timestamp")
    check_equal(assign_with_report(df, VIEW, order="timestamp"), by_time, members)


def test_assign_zone_references_reject_and_max_tiles(spark):
    """A time level in Brussels (zone-less values are wall-clock there), a reference level with
    missing and invalid values, lines capped by ``max_tiles``, ``on_invalid="reject"``."""
    view = View(
        [
            Reference(path="http://example.org/kind", column="kind"),
            Geospatial(max_zoom=15),
            HierarchicalTime("hour", timezone="Europe/Brussels"),
        ],
        page_size=3,
        order="timestamp",
    )
    n = 300
    stamps = [
        None if i % 41 == 0 else ("nonsense" if i % 43 == 0 else f"2023-03-26T0{i % 4}:{i % 3}0:00")
        for i in range(n)
    ]
    kinds = [None if i % 17 == 0 else [f"http://example.org/k{i % 3}"] for i in range(n)]
    geometry = [
        [f"LINESTRING (3.7{i % 9} 51.0{i % 5}, 3.7{i % 9 + 1} 51.0{i % 5 + 1})"]
        if i % 6 == 0
        else [f"POINT (3.7{i % 9}1 51.0{i % 5}1)"]
        for i in range(n)
    ]
    table = pa.table(
        {
            "id": [f"http://example.org/m/{(i * 7919) % n:04d}" for i in range(n)],
            "kind": pa.array(kinds, pa.list_(pa.string())),
            "geometry": pa.array(geometry, pa.list_(pa.string())),
            "timestamp": stamps,
            "seq": pa.array(range(n), pa.int64()),
        }
    )
    df = spark.createDataFrame(table).repartition(4)
    for on_invalid in ("unknown", "reject"):
        result = assign_with_report(df, view, on_invalid=on_invalid, max_tiles=3)
        check_equal(result, view, table, on_invalid=on_invalid, max_tiles=3)
        bad = result.invalid.count()
        assert bad > 0
    assert result.rejected.count() == bad  # reported, never dropped
    with pytest.raises(InvalidMemberError, match="seq=0"):
        assign(df, view, on_invalid="raise")


def dump_tree(root: Path) -> dict[str, bytes]:
    """Every file of a published directory but the publish state."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".ldesfrag" not in p.relative_to(root).parts
    }


def test_publish_writes_the_tree_of_one_machine(spark, tmp_path):
    dump = write_members(tmp_path / "a.nt", 0, 500)
    second = write_members(tmp_path / "b.nt", 500, 300)
    with open(second, "a", encoding="utf-8") as f:
        f.write(members_nt(10, 5))  # members published before: rejected, the first kept
        f.write("<http://example.org/broken> <http://example.org/p> .\n")  # a bad statement
    view = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=9)
    one = ldesfrag.publish([dump, second], view, tmp_path / "one", base_url=BASE, batch_size=97)
    two = spark_publish(
        [dump, second], view, tmp_path / "two", base_url=BASE, spark=spark, split_bytes=30_000
    )
    tree = dump_tree(tmp_path / "one")
    assert dump_tree(tmp_path / "two") == tree
    assert len(tree) > 100
    assert (two.members, two.buckets, two.pages, two.immutable_pages) == (
        one.members,
        one.buckets,
        one.pages,
        one.immutable_pages,
    )
    assert two.rejected == one.rejected  # the repeats
    assert sum(two.rejected.values()) == 5
    assert [(p.file, p.line, p.reason) for p in two.problem_rows] == [
        (p.file, p.line, p.reason) for p in one.problem_rows
    ]
    assert two.problem_rows


def test_publish_a_dataframe_closed(spark, members, tmp_path):
    view = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=7)
    dump = tmp_path / "m.nt"
    dump.write_text(members_nt(0, 400), encoding="utf-8")  # the fixture's members
    one = ldesfrag.publish([dump], view, tmp_path / "one", base_url=BASE, close=True)
    df = spark.createDataFrame(members).repartition(3)
    two = spark_publish(df, view, tmp_path / "two", base_url=BASE, close=True)
    assert dump_tree(tmp_path / "two") == dump_tree(tmp_path / "one")
    assert two.immutable_pages == two.pages == one.pages


def test_read_members_splits_at_seams(spark, tmp_path):
    dump = write_members(tmp_path / "m.nt", 0, 700)
    whole = pa.concat_tables(
        pa.table(b) for b in MemberReader(dump, VIEW, timestamp_path=PROV_TIME)
    )
    read = read_members(spark, dump, VIEW, timestamp_path=PROV_TIME, split_bytes=7_777)
    got = read.members.orderBy("source", "chunk", "position").toArrow()
    assert pa.table(got).column("chunk").to_pylist()[-1] > 10  # many ranges
    assert got.select(whole.column_names).to_pylist() == whole.to_pylist()
    assert read.problems.count() == 0


def test_ldes_client_replicates_a_spark_published_directory(spark, tmp_path):
    dump = write_members(tmp_path / "members.nt", 0, 1_500)
    site = tmp_path / "site"
    site.mkdir()
    view = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=50)
    with serve(site, port=0) as server:
        summary = spark_publish([dump], view, site, base_url=server.url, spark=spark)
        assert summary.immutable_pages > 0
        got = set(replicate(server.url, tmp_path))
    assert got == {member_iri(i) for i in range(1_500)}


def test_cli_spark_publish(spark, tmp_path, capsys):
    from ldesfrag.cli import main

    dump = write_members(tmp_path / "m.nt", 0, 200)
    view_file = tmp_path / "view.json"
    view = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=20)
    view_file.write_text(view.to_json(), encoding="utf-8")
    ldesfrag.publish([dump], view, tmp_path / "one", base_url=BASE)
    argv = ["spark-publish", str(dump), "--view", str(view_file), "--out", str(tmp_path / "two")]
    assert main([*argv, "--base-url", BASE, "--split-bytes", "0", "--master", "local[2]"]) == 0
    assert "200 members published" in capsys.readouterr().out
    assert dump_tree(tmp_path / "two") == dump_tree(tmp_path / "one")


@pytest.mark.parametrize("kind", ["naive", "zoned", "date", "string"])
def test_order_instants_follow_the_core(kind):
    """The (instant, id) order the Spark keys pass sorts by is the core's, for every time type
    (zone-less values are wall-clock in the level's zone, across a DST change)."""
    import datetime as dt

    import pyarrow.compute as pc

    from ldesfrag.spark._assign import order_instants

    view = View([HierarchicalTime("hour", timezone="Europe/Brussels")], page_size=1)
    view = View(view.fragmentations, page_size=1, order="timestamp")
    start = dt.datetime(2023, 3, 26, 1, 30)
    naive = [start + dt.timedelta(minutes=17 * i) for i in range(12)] + [None]
    column = {
        "naive": lambda: pa.array(naive, pa.timestamp("us")),
        "zoned": lambda: pa.array(naive, pa.timestamp("us", "Asia/Tokyo")),
        "date": lambda: pa.array([d.date() if d else None for d in naive], pa.date32()),
        "string": lambda: pc.strftime(pa.array(naive, pa.timestamp("us")), "%Y-%m-%dT%H:%M"),
    }[kind]()
    ids = [f"m{(i * 5) % 13:02d}" for i in range(13)]
    table = pa.table({"id": ids, "timestamp": column})
    instants = order_instants(table.to_batches()[0], view).to_pylist()
    ours = sorted(range(13), key=lambda i: (instants[i], ids[i], i))
    assert ours == pa.table(Fragmenter(view).assign(table))["row"].to_pylist()
