"""``assign`` on Spark: bucket keys per partition, page numbers by a window, the structure on
the driver (docs/spark.md)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from arro3.core import Table

from ldesfrag import _ldesfrag
from ldesfrag._fragmenter import Fragmenter, OnInvalid
from ldesfrag._kernels import DEFAULT_MAX_TILES
from ldesfrag._view import Geospatial, HierarchicalTime, Reference, View
from ldesfrag.exceptions import ColumnError, InvalidMemberError, LdesfragError

__all__ = ["SparkAssignment", "assign", "assign_with_report"]

#: Order instant of a member without a valid time: last, as the Rust core orders it.
_LAST = 2**63 - 1
# Column names the keys phase adds (prefixed so they never meet a caller's column).
_BUCKET, _TIME, _COLUMN, _REASON, _REJECTED = "bucket", "_t", "_column", "_reason", "_rejected"


class SparkAssignment(NamedTuple):
    """What :func:`assign_with_report` returns.

    ``assigned``: a DataFrame of the ``arrival`` columns, ``bucket`` and ``page``, one row per
    (member, leaf bucket), as :meth:`Fragmenter.assign` (its ``row`` is the member's arrival
    columns here). ``invalid``: the arrival columns, ``column``, ``reason``, ``rejected``;
    ``rejected``: the arrival columns and ``reason`` (prefixed with its column), as
    :meth:`Fragmenter.assign_with_report` reports them. ``pages`` and ``relations``: Arrow
    tables equal to :meth:`Fragmenter.pages` and :meth:`Fragmenter.relations` after the same
    members in the same order, computed on the driver from the distinct buckets.
    """

    assigned: Any
    invalid: Any
    rejected: Any
    pages: Table
    relations: Table


def _arrival(arrival: str | Sequence[str]) -> list[str]:
    cols = [arrival] if isinstance(arrival, str) else list(arrival)
    if not cols or not all(isinstance(c, str) for c in cols):
        raise LdesfragError("arrival: a column name or a sequence of them (a total order)")
    return cols


def _needed(view: View, columns: Sequence[str]) -> list[str]:
    """The columns the fragmenter reads (those present: a missing one is its error)."""
    want = ["id"]
    for f in view.fragmentations:
        if isinstance(f, Geospatial) and f.column not in columns:
            want += ["lon", "lat"]
        elif isinstance(f, Geospatial | HierarchicalTime | Reference):
            want.append(f.column)
    if view.order == "timestamp" and not _time_level(view):
        want.append("timestamp")
    return [c for c in dict.fromkeys(want) if c in columns]


def _time_level(view: View) -> HierarchicalTime | None:
    return next((f for f in view.fragmentations if isinstance(f, HierarchicalTime)), None)


def order_instants(batch: Any, view: View) -> Any:
    """Each member's instant in microseconds for ``(timestamp, id)`` order, as the Rust core
    reads it (the first time level's column in its zone, else ``timestamp`` as UTC; missing or
    invalid: last), as an int64 array."""
    import pyarrow as pa
    import pyarrow.compute as pc

    level = _time_level(view)
    column, zone = (level.column, level.timezone) if level else ("timestamp", "UTC")
    if column not in batch.schema.names:
        raise ColumnError(f"no column {column!r} for the time fragmentation or timestamp order")
    values = batch.column(column)
    naive = "utc" if zone == "UTC" else zone
    kind = values.type
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        instants = pc.cast(pc.cast(values, pa.timestamp("us", "UTC")), pa.int64())
    else:
        if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            # Wall-clock values in the level's zone: read by the same parser as the core.
            fmt = "%Y-%m-%d" if pa.types.is_date(kind) else "%Y-%m-%dT%H:%M:%S"
            values = pc.strftime(values, format=fmt)
        elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            raise ColumnError(f"column {column!r}: a time column, not {kind}")
        parsed = pa.array(_ldesfrag.parse_datetime(pc.cast(values, pa.string()), naive=naive))
        instants = pc.cast(parsed, pa.int64())
    return pc.fill_null(instants, pa.scalar(_LAST, pa.int64()))


def _keys_schema(df: Any, arrival: list[str], carry: list[str], by_time: bool) -> Any:
    from pyspark.sql.types import BooleanType, LongType, StringType, StructField, StructType

    fields = [df.schema[c] for c in arrival]
    fields += [StructField(c, df.schema[c].dataType, True) for c in carry]
    fields.append(StructField(_BUCKET, StringType(), True))
    if by_time:
        fields += [StructField(_TIME, LongType(), False), StructField("_id", StringType(), True)]
    fields += [
        StructField(_COLUMN, StringType(), True),
        StructField(_REASON, StringType(), True),
        StructField(_REJECTED, BooleanType(), True),
    ]
    return StructType(fields)


def _keys_function(
    view_json: str,
    on_invalid: str,
    max_tiles: int,
    arrival: list[str],
    needed: list[str],
    carry: list[str],
    by_time: bool,
    names: list[str],
) -> Any:
    """The per-partition function: each Arrow batch → one row per (member, leaf bucket) and
    one per invalid value (``bucket`` null), by a fresh fragmenter (bucket keys depend on the
    member alone; its page numbers are dropped)."""

    def keys(batches: Iterator[Any]) -> Iterator[Any]:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        view = View.from_json(view_json)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            members = pa.table(batch.select(needed))
            # Large string types (Spark's option) as the core reads them.
            members = members.cast(
                pa.schema(pa.field(f.name, _small(pa, f.type), f.nullable) for f in members.schema)
            )
            frag = _ldesfrag.Fragmenter(view_json, on_invalid=on_invalid, max_tiles=max_tiles)
            out = pa.table(frag.assign(members))
            bad = pa.table(frag.invalid())
            parts = []
            for rows, extra in (
                (out["row"], {_BUCKET: out["bucket"]}),
                (
                    bad["row"],
                    {
                        _COLUMN: bad["column"],
                        _REASON: bad["reason"],
                        _REJECTED: bad["rejected"],
                    },
                ),
            ):
                n = len(rows)
                if n == 0:
                    continue
                idx = pa.array(np.asarray(rows, dtype=np.int64))
                cols = {c: pc.take(batch.column(c), idx) for c in arrival + carry}
                cols.setdefault(_BUCKET, pa.nulls(n, pa.string()))
                cols.update(extra)
                if by_time:
                    cols[_TIME] = pc.take(order_instants(batch, view), idx)
                    cols["_id"] = pc.cast(pc.take(batch.column("id"), idx), pa.string())
                for c in (_COLUMN, _REASON):
                    cols.setdefault(c, pa.nulls(n, pa.string()))
                cols.setdefault(_REJECTED, pa.nulls(n, pa.bool_()))
                parts.append(pa.table({name: cols[name] for name in names}))
            for part in parts:
                yield from part.to_batches()

    return keys


def _small(pa: Any, t: Any) -> Any:
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_large_list(t):
        return pa.list_(_small(pa, t.value_type))
    if pa.types.is_list(t):
        return pa.list_(_small(pa, t.value_type))
    return t


class _Plan(NamedTuple):
    cached: Any  # the keys pass, persisted: what `entries` and `invalid` read
    entries: Any  # (arrival, carry, bucket[, _t, _id]) per (member, leaf)
    invalid: Any
    rejected: Any
    order: list[str]  # the columns of the members' total order
    view: View


def _plan(
    df: Any,
    view: View,
    arrival: list[str],
    order: str | None,
    on_invalid: OnInvalid,
    max_tiles: int,
    carry: Sequence[str] = (),
) -> _Plan:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    if order is not None:
        if order not in ("arrival", "timestamp"):
            raise LdesfragError(f"order must be 'arrival' or 'timestamp', not {order!r}")
        view = replace(view, order=order)  # type: ignore[arg-type]
    # Checks the options here, on the driver, with the fragmenter's own messages.
    Fragmenter(view, on_invalid=on_invalid, max_tiles=max_tiles)
    missing = [c for c in arrival if c not in df.columns]
    if missing:
        raise ColumnError(f"arrival column(s) {missing} not in the DataFrame")
    by_time = view.order == "timestamp"
    if by_time and "id" not in df.columns:
        raise ColumnError("no column 'id' (needed to identify members)")
    needed = _needed(view, df.columns)
    carry = [c for c in carry if c not in arrival]
    schema = _keys_schema(df, arrival, carry, by_time)
    names = [f.name for f in schema.fields]
    # Keys only: the core's page numbers of a partition are dropped, so arrival order suffices.
    keys_json = replace(view, order="arrival").to_json()
    worker_on_invalid = "reject" if on_invalid == "raise" else on_invalid
    fn = _keys_function(
        keys_json, worker_on_invalid, max_tiles, arrival, needed, carry, by_time, names
    )
    source = df.select(*dict.fromkeys([*arrival, *needed, *carry]))
    rows = source.mapInArrow(fn, schema).persist(StorageLevel.MEMORY_AND_DISK)
    entries = rows.where(F.col(_BUCKET).isNotNull())
    bad = rows.where(F.col(_BUCKET).isNull()).select(
        *arrival,
        F.col(_COLUMN).alias("column"),
        F.col(_REASON).alias("reason"),
        F.col(_REJECTED).alias("rejected"),
    )
    rejected = bad.where(F.col("rejected")).select(
        *arrival, F.concat_ws(": ", "column", "reason").alias("reason")
    )
    cols = [_TIME, "_id", *arrival] if by_time else arrival
    if on_invalid == "raise":
        first = bad.orderBy(*arrival).limit(1).collect()
        if first:
            r = first[0]
            row = ", ".join(f"{c}={r[c]!r}" for c in arrival)
            rows.unpersist()
            raise InvalidMemberError(f"row {row}: {r['column']}: {r['reason']}")
    return _Plan(rows, entries, bad, rejected, cols, view)


def _structure(
    plan: _Plan,
    df: Any,
    arrival: list[str],
    on_invalid: OnInvalid,
    max_tiles: int,
    closed: bool,
) -> tuple[Table, Table, Any]:
    """(pages, relations, counts) from the distinct leaf buckets, on the driver.

    The bucket tree and its relations follow from the order in which leaves first appear: a
    fragmenter on the driver is given each leaf's first member (in the members' order; every
    leaf then first appears in the same member, so the tree is made in the same order), and
    the page chains and page states follow from each leaf's member count."""
    import pyarrow as pa
    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    view = plan.view
    # One job: each leaf's member count and first member (O(leaves) rows to the driver).
    firsts = (
        plan.entries.groupBy(_BUCKET)
        .agg(F.count(F.lit(1)).alias("n"), F.min(F.struct(*plan.order)).alias("first"))
        .collect()
    )
    counts = {r[_BUCKET]: r["n"] for r in firsts}
    keys = sorted({tuple(r["first"]) for r in firsts})  # in the members' order
    needed = _needed(view, df.columns)
    width = len(plan.order) - len(arrival)  # (_t, _id) first in timestamp order
    members = pa.table({c: [] for c in needed})
    if keys:
        spark = df.sparkSession
        arrival_schema = StructType([df.schema[c] for c in arrival])
        wanted = spark.createDataFrame([k[width:] for k in keys], arrival_schema)
        got = (
            df.select(*dict.fromkeys([*arrival, *needed]))
            .join(F.broadcast(wanted), on=arrival, how="left_semi")
            .toArrow()
        )
        # In the members' order (keys are sorted so), by the arrival columns.
        where = {k[width:]: i for i, k in enumerate(keys)}
        at = zip(*(got[c].to_pylist() for c in arrival), strict=True)
        members = got.select(needed).take(pa.array(_argsort([where[tuple(a)] for a in at])))
    members = members.cast(
        pa.schema(pa.field(f.name, _small(pa, f.type), f.nullable) for f in members.schema)
    )
    frag = _ldesfrag.Fragmenter(
        replace(view, order="arrival").to_json(), on_invalid=on_invalid, max_tiles=max_tiles
    )
    if members.num_rows:
        frag.assign(members)
    rel = pa.table(frag.relations())
    tree = rel.filter(rel["child_page"].is_null())
    # Leaves in the order the core lists them (bucket creation order).
    leaves = pa.table(frag.pages())["bucket"].to_pylist()
    size = view.page_size
    b, p, m, im = [], [], [], []
    parent, ppage, cpage = [], [], []
    for leaf in leaves:
        n = counts[leaf]
        last = -(-n // size)
        for page in range(1, last + 1):
            b.append(leaf)
            p.append(page)
            m.append(size if page < last else n - (last - 1) * size)
            im.append(page < last or closed)
            parent.append(leaf)
            ppage.append(page - 1 or None)
            cpage.append(page)
    pages = pa.table(
        {"bucket": b, "page": p, "members": m, "immutable": im},
        schema=pa.table(frag.pages()).schema,
    )
    k = len(parent)
    chain = pa.table(
        {
            "parent": parent,
            "parent_page": ppage,
            "child": parent,
            "child_page": cpage,
            "type": [_RELATION] * k,
            "path": pa.nulls(k, pa.string()),
            "value": pa.nulls(k, pa.string()),
            "datatype": pa.nulls(k, pa.string()),
        },
        schema=rel.schema,
    )
    relations = pa.concat_tables([tree, chain])
    return Table.from_arrow(pages), Table.from_arrow(relations), counts


_RELATION = "https://w3id.org/tree#Relation"


def _argsort(values: list[int]) -> list[int]:
    return sorted(range(len(values)), key=values.__getitem__)


def assign_with_report(
    df: Any,
    view: View,
    *,
    arrival: str | Sequence[str] = "seq",
    order: str | None = None,
    on_invalid: OnInvalid = "unknown",
    max_tiles: int = DEFAULT_MAX_TILES,
) -> SparkAssignment:
    """:meth:`Fragmenter.assign_with_report` of a Spark DataFrame of members: every member's
    leaf buckets and pages, its invalid values and rejections, and the structure (pages,
    relations), equal to ``Fragmenter(view).assign`` on the same members in the same order.

    ``arrival`` names the column(s) giving the members' arrival order, a total order (a
    sequence number, or file and position). ``order`` (default: the view's) is ``"arrival"``
    or ``"timestamp"`` (``(timestamp, id)`` order, as the view's option). ``on_invalid`` and
    ``max_tiles`` as in :class:`Fragmenter`; ``"raise"`` raises
    :class:`~ldesfrag.InvalidMemberError` for the first invalid member in arrival order.

    Bucket keys are computed per partition by the Rust kernels (``mapInArrow``), page numbers
    by a window over each leaf bucket; the bucket tree and relations on the driver from the
    distinct buckets (docs/spark.md). The ``assigned`` DataFrame is lazy over a persisted
    intermediate.
    """
    return _assign(df, view, _arrival(arrival), order, on_invalid, max_tiles)[0]


def _assign(
    df: Any,
    view: View,
    arrival: list[str],
    order: str | None,
    on_invalid: OnInvalid,
    max_tiles: int,
    carry: Sequence[str] = (),
    closed: bool = False,
) -> tuple[SparkAssignment, _Plan]:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    view = View.coerce(view)
    plan = _plan(df, view, arrival, order, on_invalid, max_tiles, carry)
    pages, relations, _ = _structure(plan, df, arrival, on_invalid, max_tiles, closed)
    size = plan.view.page_size
    window = Window.partitionBy(_BUCKET).orderBy(*plan.order)
    paged = plan.entries.withColumn(
        "page",
        (F.floor((F.row_number().over(window) - 1) / F.lit(size)) + 1).cast("int"),
    )
    assigned = paged.select(*arrival, *[c for c in carry if c not in arrival], _BUCKET, "page")
    return SparkAssignment(assigned, plan.invalid, plan.rejected, pages, relations), plan


def assign(
    df: Any,
    view: View,
    *,
    arrival: str | Sequence[str] = "seq",
    order: str | None = None,
    on_invalid: OnInvalid = "unknown",
    max_tiles: int = DEFAULT_MAX_TILES,
) -> Any:
    """A DataFrame of (``arrival`` columns, ``bucket``, ``page``): the members' leaf buckets
    and pages, equal to ``Fragmenter(view).assign`` on the same members in the same order. See
    :func:`assign_with_report` (which also gives the invalid members and the structure)."""
    return assign_with_report(
        df, view, arrival=arrival, order=order, on_invalid=on_invalid, max_tiles=max_tiles
    ).assigned
