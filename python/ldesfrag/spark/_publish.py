"""``publish`` on Spark: the static tree ``ldesfrag publish`` writes, its pages rendered and
written in parallel (docs/spark.md)."""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from ldesfrag import _ldesfrag
from ldesfrag._formats import FILE_EXTENSIONS, RdfFormat, rdf_format
from ldesfrag._kernels import DEFAULT_MAX_TILES
from ldesfrag._publish import _view as load_view
from ldesfrag._publish.paths import check_base_url, node_path
from ldesfrag._publish.publisher import DUPLICATE, PublishSummary, RdfProblem, headers_file
from ldesfrag._rdf import DCT_IS_VERSION_OF, MemberMode
from ldesfrag._render import cache_control
from ldesfrag._view import HierarchicalTime, View
from ldesfrag.exceptions import ColumnError, LdesfragError
from ldesfrag.spark._assign import _BUCKET, _arrival, _assign
from ldesfrag.spark._read import ARRIVAL, read_members

__all__ = ["publish"]


class _Site:
    """Where the tree goes: a local directory (each file written to a temporary name, then
    renamed, as ``publish`` does) or a URI of a filesystem pyarrow knows (``s3://``, ``gs://``,
    ``hdfs://``, ``abfs://``), configured by the executors' environment."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.uri = "://" in out

    def write(self, rel: str, body: bytes) -> None:
        if self.uri:
            import pyarrow.fs as pafs

            fs, root = pafs.FileSystem.from_uri(self.out)
            with fs.open_output_stream(f"{root.rstrip('/')}/{rel}") as f:
                f.write(body)
            return
        target = Path(self.out) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(body)
        os.replace(tmp, target)


def _render_function(
    site: _Site,
    settings: dict[str, Any],
    view_json: str,
    arrival: list[str],
    counts: Any,
    page_size: int,
    closed: bool,
) -> Any:
    """The per-partition renderer: rows sorted by (bucket, page, arrival) → each page's file,
    written; out: one ``(path, cache_control, etag, bytes)`` row per page."""

    def render(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa
        import pyarrow.compute as pc

        last = counts.value
        base, ext = settings["base_url"], settings["ext"]
        with_ts = bool(settings["timestamp_path"])
        columns = ["id", "payload", "timestamp"] if with_ts else ["id", "payload"]

        def iri(bucket: str, page: int) -> str:
            return f"{base}{node_path(bucket, page, ext)}"

        def pages_of(table: Any) -> Iterator[Any]:
            if table.num_rows == 0:
                return
            keys = pc.binary_join_element_wise(
                table[_BUCKET], pc.cast(table["page"], pa.string()), "\n"
            )
            # Runs of equal keys: the rows are sorted by (bucket, page, arrival).
            runs = pc.run_end_encode(keys).combine_chunks()
            ends = runs.run_ends.to_pylist()
            names = runs.values.to_pylist()
            starts = [0, *ends[:-1]]
            nodes, paths, immutable, rel_page, rel_node = [], [], [], [], []
            for i, key in enumerate(names):
                bucket, text = key.rsplit("\n", 1)
                page = int(text)
                final = -(-last[bucket] // page_size)
                nodes.append(iri(bucket, page))
                paths.append(node_path(bucket, page, ext))
                immutable.append(page < final or closed)
                if page < final:
                    rel_page.append(i)
                    rel_node.append(iri(bucket, page + 1))
            k = len(rel_page)
            pages = pa.table(
                {
                    "node": pa.array(nodes, pa.string()),
                    "start": pa.array(starts, pa.uint64()),
                    "count": pa.array(
                        [e - s for s, e in zip(starts, ends, strict=True)], pa.uint64()
                    ),
                    "immutable": pa.array(immutable, pa.bool_()),
                    "root": pa.array([False] * len(nodes), pa.bool_()),
                }
            )
            relations = pa.table(
                {
                    "page": pa.array(rel_page, pa.uint32()),
                    "type": pa.array([_RELATION] * k, pa.string()),
                    "node": pa.array(rel_node, pa.string()),
                    "path": pa.nulls(k, pa.string()),
                    "value": pa.nulls(k, pa.string()),
                    "datatype": pa.nulls(k, pa.string()),
                }
            )
            members = table.select(columns)
            bodies, etags = _ldesfrag.render_pages(
                pages,
                stream=settings["stream"],
                members=members,
                order=pa.array(range(table.num_rows), pa.uint64()),
                relations=relations,
                view_json=view_json,
                timestamp_path=settings["timestamp_path"],
                version_of_path=settings["version_of_path"],
                format=settings["format"],
            )
            for path, body in zip(paths, bodies, strict=True):
                site.write(path, body)
            yield pa.RecordBatch.from_pydict(
                {
                    "path": pa.array(paths, pa.string()),
                    "cache_control": pa.array([cache_control(f) for f in immutable], pa.string()),
                    "etag": pa.array(etags, pa.string()),
                    "bytes": pa.array([len(b) for b in bodies], pa.int64()),
                }
            )

        held = None  # the rows of the last page seen, which the next batch may continue
        for batch in batches:
            table = pa.Table.from_batches([batch])
            if with_ts:
                table = table.set_column(
                    table.schema.get_field_index("timestamp"),
                    "timestamp",
                    pc.cast(table["timestamp"], pa.string()),
                )
            table = table.cast(
                pa.schema(
                    pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
                    for f in table.schema
                )
            )
            if held is not None:
                table = pa.concat_tables([held, table])
            if table.num_rows == 0:
                continue
            b, p = table[_BUCKET][-1].as_py(), table["page"][-1].as_py()
            tail = pc.and_(pc.equal(table[_BUCKET], b), pc.equal(table["page"], p))
            cut = table.num_rows - (pc.sum(tail).as_py() or 0)
            held = table.slice(cut)
            yield from pages_of(table.slice(0, cut))
        if held is not None:
            yield from pages_of(held)

    return render


_RELATION = "https://w3id.org/tree#Relation"


def publish(
    df_or_paths: Any,
    view: View | str | PathLike[str],
    out: str | PathLike[str],
    *,
    base_url: str,
    spark: Any = None,
    arrival: str | Sequence[str] | None = None,
    format: RdfFormat | str = "turtle",
    stream: str | None = None,
    member: MemberMode | None = None,
    member_type: str | None = None,
    timestamp_path: str | None = None,
    version_of_path: str | None = None,
    close: bool = False,
    split_bytes: int | None = 64 << 20,
) -> PublishSummary:
    """Publishes members as the static LDES ``ldesfrag publish`` writes: the same node files,
    ``_headers`` and entry document, file for file, for the same members in the same order
    (docs/spark.md). Its publish state (``.ldesfrag/``) is not written: a directory published
    by Spark is published again as a whole, not appended to.

    ``df_or_paths``: a DataFrame of members (``id``, the view's columns, ``payload`` as
    N-Triples, ``timestamp`` when ``timestamp_path`` is set; the columns :class:`MemberReader`
    gives) with ``arrival`` columns (default ``seq``) giving their order, or paths and globs
    of RDF dumps, read by :func:`read_members` (in file order, then position in the file).
    ``out``: a local directory (new or empty) or a URI pyarrow's filesystems write. The other
    options as in :func:`ldesfrag.publish`. A member IRI is published once: later members with
    the same IRI are rejected as there (the first in arrival order is kept).
    """
    from pyspark import StorageLevel
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from ldesfrag.spark._session import session

    started = time.perf_counter()
    fmt = rdf_format(format)
    view = load_view(view)
    base_url = check_base_url(base_url)
    if timestamp_path is None:
        times = [f for f in view.fragmentations if isinstance(f, HierarchicalTime)]
        timestamp_path = times[0].path if times else None
    if version_of_path is None and member in (None, "version-of"):
        version_of_path = DCT_IS_VERSION_OF
    settings: dict[str, Any] = {
        "base_url": base_url,
        "format": fmt,
        "ext": FILE_EXTENSIONS[fmt][1:],
        "stream": stream or base_url + "#stream",
        "timestamp_path": timestamp_path,
        "version_of_path": version_of_path,
    }
    out_text = os.fspath(out)
    site = _Site(out_text)
    if not site.uri:
        root = Path(out_text)
        if root.exists() and any(root.iterdir()):
            raise LdesfragError(f"{root}: not empty (Spark publishes into a new directory)")
        root.mkdir(parents=True, exist_ok=True)
    problems: list[RdfProblem] = []
    if isinstance(df_or_paths, str | PathLike) or (
        isinstance(df_or_paths, Sequence) and not hasattr(df_or_paths, "schema")
    ):
        spark = spark or session()
        read = read_members(
            spark,
            df_or_paths,
            view,
            member=member,
            member_type=member_type,
            timestamp_path=timestamp_path,
            version_of_path=version_of_path or DCT_IS_VERSION_OF,
            split_bytes=split_bytes,
        )
        df, cols = read.members, list(ARRIVAL)
        problems = [
            RdfProblem(r["file"], r["line"], r["member"], r["reason"], r["dropped"])
            for r in read.problems.orderBy("source", "chunk", "line").collect()
        ]
    else:
        df, cols = df_or_paths, _arrival(arrival or "seq")
    for c in ("id", "payload"):
        if c not in df.columns:
            raise ColumnError(f"no column {c!r} in the members DataFrame")
    with_ts = bool(timestamp_path)
    if with_ts and "timestamp" not in df.columns:
        df = df.withColumn("timestamp", F.lit(None).cast("string"))  # as `publish` renders
    carry = ["id", "payload", *(["timestamp"] if with_ts else [])]
    # A member IRI is published once: the first in arrival order.
    first = Window.partitionBy("id").orderBy(*cols)
    ranked = df.withColumn(
        "_repeat", F.col("id").isNotNull() & (F.row_number().over(first) > 1)
    ).persist(StorageLevel.MEMORY_AND_DISK)
    tally = {r["_repeat"]: r["count"] for r in ranked.groupBy("_repeat").count().collect()}
    repeats, members = tally.get(True, 0), tally.get(False, 0)
    admitted = ranked.where(~F.col("_repeat")).drop("_repeat")
    result, plan = _assign(
        admitted, view, cols, None, "unknown", DEFAULT_MAX_TILES, carry=carry, closed=close
    )
    import pyarrow as pa

    pages = pa.table(result.pages)
    relations = pa.table(result.relations)
    counts: dict[str, int] = {}
    for bucket, n in zip(pages["bucket"].to_pylist(), pages["members"].to_pylist(), strict=True):
        counts[bucket] = counts.get(bucket, 0) + n
    spark_context = df.sparkSession.sparkContext
    fn = _render_function(
        site,
        settings,
        view.to_json(),
        cols,
        spark_context.broadcast(counts),
        view.page_size,
        close,
    )
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    schema = StructType(
        [
            StructField("path", StringType()),
            StructField("cache_control", StringType()),
            StructField("etag", StringType()),
            StructField("bytes", LongType()),
        ]
    )
    written = (
        # The window numbering pages has put each bucket's rows in one partition.
        result.assigned.sortWithinPartitions(_BUCKET, "page", *cols)
        .mapInArrow(fn, schema)
        .collect()
    )
    headers = {r["path"]: (r["cache_control"], r["etag"]) for r in written}
    nbytes = sum(r["bytes"] for r in written)
    nbytes += _own_nodes(site, settings, view, relations, headers)
    data = headers_file(base_url, settings["ext"], headers)
    site.write("_headers", data)
    rejected: Counter[str] = Counter()
    if repeats:
        rejected[DUPLICATE] = repeats
    for r in result.rejected.groupBy("reason").count().collect():
        rejected[r["reason"]] += r["count"]
    read_total = members + repeats
    plan.cached.unpersist()
    ranked.unpersist()
    frozen = sum(pages["immutable"].to_pylist())
    return PublishSummary(
        members=members,
        rejected=dict(rejected),
        problems=dict(Counter(("dropped: " if p.dropped else "") + p.reason for p in problems)),
        buckets=len(counts),
        pages=pages.num_rows,
        immutable_pages=frozen,
        files_written=len(headers) + 1,
        bytes_written=nbytes + len(data),
        seconds=time.perf_counter() - started,
        members_this_run=members,
        closed=close,
        members_read=read_total,
        rejected_this_run=sum(rejected.values()),
        problem_rows=problems,
    )


def _own_nodes(
    site: _Site,
    settings: dict[str, Any],
    view: View,
    relations: Any,
    headers: dict[str, tuple[str, str]],
) -> int:
    """Renders and writes the root and every bucket's own node (no members: links only) on
    the driver; returns the bytes written."""
    import pyarrow as pa

    base, ext = settings["base_url"], settings["ext"]
    own = relations.filter(relations["parent_page"].is_null())
    buckets = sorted(
        {""}
        | set(own["parent"].to_pylist())
        | set(relations.filter(relations["child_page"].is_null())["child"].to_pylist())
    )
    index = {b: i for i, b in enumerate(buckets)}

    def iri(bucket: str, page: int | None) -> str:
        return f"{base}{node_path(bucket, page, ext)}" if bucket or page else str(base)

    children = zip(own["child"].to_pylist(), own["child_page"].to_pylist(), strict=True)
    rel = pa.table(
        {
            "page": pa.array([index[p] for p in own["parent"].to_pylist()], pa.uint32()),
            "type": own["type"],
            "node": pa.array([iri(c, p) for c, p in children], pa.string()),
            "path": own["path"],
            "value": own["value"],
            "datatype": own["datatype"],
        }
    )
    n = len(buckets)
    pages = pa.table(
        {
            "node": pa.array([iri(b, None) for b in buckets], pa.string()),
            "start": pa.array([0] * n, pa.uint64()),
            "count": pa.array([0] * n, pa.uint64()),
            "immutable": pa.array([False] * n, pa.bool_()),
            "root": pa.array([b == "" for b in buckets], pa.bool_()),
        }
    )
    with_ts = bool(settings["timestamp_path"])
    cols = {"id": pa.array([], pa.string()), "payload": pa.array([], pa.string())}
    if with_ts:
        cols["timestamp"] = pa.array([], pa.string())
    bodies, etags = _ldesfrag.render_pages(
        pages,
        stream=settings["stream"],
        members=pa.table(cols),
        order=pa.array([], pa.uint64()),
        relations=rel,
        view_json=view.to_json(),
        timestamp_path=settings["timestamp_path"],
        version_of_path=settings["version_of_path"],
        format=settings["format"],
    )
    total = 0
    for bucket, body, tag in zip(buckets, bodies, etags, strict=True):
        path = node_path(bucket, None, ext)
        site.write(path, body)
        headers[path] = (cache_control(False), tag)
        total += len(body)
    return total
