"""ldesfrag.spark: ``publish`` and ``assign`` on Spark ``local[1]`` vs ``local[2]``, beside one
machine's :func:`ldesfrag.publish` and :meth:`Fragmenter.assign` on the same data.

Under pytest (``--benchmark-disable``, the CI smoke run) it runs small: one ``local[2]``
session, a 2 000-member publish and a 20 000-member assign, each beside one machine's. The
figures of benches/RESULTS.md come from one run in fresh processes (one JVM per master, since a
master is fixed per JVM):

    python benches/bench_spark.py --publish 1000000 --assign 10000000 [--dir DIR]

It writes the ``sites`` dump of bench_publish.py (kept in DIR), publishes it with
``ldesfrag.publish`` and with ``ldesfrag.spark.publish`` on ``local[1]`` and ``local[2]``, then
assigns a Parquet file of generated members (points around Ghent over a month, geo z14 → day,
pages of 250) with ``Fragmenter.assign`` and ``ldesfrag.spark.assign`` on both masters. Spark
times exclude the JVM start and a warm-up run on a small input. It also times a scan of the
members and the same scan through an identity ``mapInArrow``: the difference is the Arrow
exchange's cost per member (JVM → Python worker → JVM).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import ldesfrag

VIEW = ldesfrag.View([ldesfrag.Geospatial(14), ldesfrag.HierarchicalTime("day")])
BASE = "http://localhost:8000/counts/"
HERE = Path(__file__).resolve().parent


def members_table(n: int, seed: int = 7):
    """Generated members: point geometries around Ghent, timestamps over May 2023, ``seq``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    lon = 3.6 + rng.random(n) * 0.3
    lat = 51.0 + rng.random(n) * 0.1
    wkt = pc.binary_join_element_wise(
        "POINT (",
        pc.round(pa.array(lon), 6).cast(pa.string()),
        " ",
        pc.round(pa.array(lat), 6).cast(pa.string()),
        ")",
        "",
    )
    seconds = np.sort(rng.integers(0, 31 * 86_400, n)) + 1_682_899_200  # 2023-05-01
    stamps = pc.strftime(
        pa.array(seconds * 1_000_000, pa.timestamp("us", "UTC")), format="%Y-%m-%dT%H:%M:%SZ"
    )
    ids = pc.binary_join_element_wise(
        "https://example.org/m/", pa.array(np.arange(n)).cast(pa.string()), ""
    )
    offsets = pa.array(np.arange(n + 1, dtype=np.int32))
    return pa.table(
        {
            "id": ids,
            "geometry": pa.ListArray.from_arrays(offsets, wkt),
            "timestamp": stamps,
            "seq": pa.array(np.arange(n, dtype=np.int64)),
        }
    )


def spark_publish(spark, dump: Path, out: Path) -> float:
    from ldesfrag.spark import publish

    t = time.perf_counter()
    publish([dump], VIEW, out, base_url=BASE, spark=spark, split_bytes=16 << 20)
    return time.perf_counter() - t


def spark_assign(spark, parquet: Path) -> dict[str, float]:
    """Seconds for a scan, the scan through an identity mapInArrow, and assign (every row of
    the result written to the no-op sink)."""
    from ldesfrag.spark import assign

    df = spark.read.parquet(str(parquet))
    out = {}
    t = time.perf_counter()
    df.write.format("noop").mode("overwrite").save()
    out["scan"] = time.perf_counter() - t

    def identity(batches):
        yield from batches

    t = time.perf_counter()
    df.mapInArrow(identity, df.schema).write.format("noop").mode("overwrite").save()
    out["arrow"] = time.perf_counter() - t
    t = time.perf_counter()
    assign(df, VIEW).write.format("noop").mode("overwrite").save()
    out["assign"] = time.perf_counter() - t
    return out


def worker(master: str, work: Path) -> dict[str, object]:
    """One JVM: the warm-up, then the measured runs (what `main` starts per master)."""
    from ldesfrag.spark import session

    spark = session(
        master,
        {
            "spark.driver.memory": "6g",
            "spark.sql.shuffle.partitions": "8",
            "spark.local.dir": str(work / "spark-tmp"),
        },
    )
    result: dict[str, object] = {"master": master}
    spark_publish(spark, work / "warm.nt", work / f"warm-{os.getpid()}")
    if (work / "dump.nt").exists():
        out = work / f"out-{master[6]}-{os.getpid()}"
        result["publish"] = spark_publish(spark, work / "dump.nt", out)
    if (work / "members.parquet").exists():
        spark_assign(spark, work / "warm.parquet")
        result.update(spark_assign(spark, work / "members.parquet"))
    spark.stop()
    return result


def main() -> None:
    import pyarrow.parquet as pq

    sys.path.insert(0, str(HERE))
    from bench_publish import write_dump

    p = argparse.ArgumentParser()
    p.add_argument("--publish", type=int, default=1_000_000)
    p.add_argument("--assign", type=int, default=10_000_000)
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "ldesfrag-bench-spark")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    work = args.dir
    if args.worker:
        print(json.dumps(worker(args.worker, work)))
        return
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, object] = {"publish_members": args.publish, "assign_members": args.assign}
    write_dump(work / "warm.nt", 20_000)
    pq.write_table(members_table(100_000, seed=1), work / "warm.parquet")
    if args.publish:
        dump = work / "dump.nt"
        if not dump.exists():
            write_dump(dump, args.publish)
        # New output directories, never deleted here: on this VM's ext4 deleting many files
        # is slow and slows the file creation after it (see bench_publish.py).
        out = work / f"out-one-{os.getpid()}"
        t = time.perf_counter()
        ldesfrag.publish([dump], VIEW, out, base_url=BASE)
        report["one_machine_publish"] = time.perf_counter() - t
    if args.assign:
        table = members_table(args.assign)
        pq.write_table(table, work / "members.parquet", row_group_size=1 << 20)
        t = time.perf_counter()
        ldesfrag.Fragmenter(VIEW).assign(table)
        report["one_machine_assign"] = time.perf_counter() - t
        del table
    for master in ("local[1]", "local[2]"):
        run = subprocess.run(
            [sys.executable, __file__, "--worker", master, "--dir", str(work)],
            capture_output=True,
            text=True,
            check=True,
        )
        report[master] = json.loads(run.stdout.strip().splitlines()[-1])
    report["uptime"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(json.dumps(report, indent=2))


@pytest.fixture(scope="module")
def spark():
    from ldesfrag.spark import session

    s = session("local[2]", {"spark.sql.shuffle.partitions": "2"})
    yield s
    s.stop()


def test_spark_publish(benchmark, measure, spark, tmp_path):
    sys.path.insert(0, str(HERE))
    from bench_publish import write_dump

    n = 2_000
    dump = tmp_path / "dump.nt"
    write_dump(dump, n)
    runs = iter(range(1_000_000))

    def one_machine():
        ldesfrag.publish([dump], VIEW, tmp_path / f"one-{next(runs)}", base_url=BASE)

    def on_spark():
        spark_publish(spark, dump, tmp_path / f"spark-{next(runs)}")

    measure(benchmark, "spark publish", "ref:publish", n, one_machine)
    on_spark()


def test_spark_assign(spark, tmp_path):
    import pyarrow.parquet as pq

    table = members_table(20_000)
    pq.write_table(table, tmp_path / "m.parquet")
    times = spark_assign(spark, tmp_path / "m.parquet")
    assert set(times) == {"scan", "arrow", "assign"}


if __name__ == "__main__":
    main()
