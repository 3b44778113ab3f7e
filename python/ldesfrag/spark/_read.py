"""``read_members`` on Spark: RDF dumps read in parallel by the Rust extractor, N-Triples and
N-Quads by byte ranges cut at member seams, Turtle and TriG (and gzip) by file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from os import PathLike
from typing import Any, NamedTuple

from ldesfrag._publish.inputs import expand
from ldesfrag._rdf import (
    DCT_IS_VERSION_OF,
    DEFAULT_MAX_BYTES,
    MemberMode,
    MemberReader,
    _format_of,
)
from ldesfrag._view import View
from ldesfrag.exceptions import LdesfragError

__all__ = ["ARRIVAL", "SparkMembers", "read_members", "seam"]

#: The arrival columns of :func:`read_members`: the file's number (in the order of the
#: expanded paths), the range's number in the file, the member's position in the range.
ARRIVAL = ("source", "chunk", "position")
_BLOCK = 1 << 16


class SparkMembers(NamedTuple):
    """What :func:`read_members` returns: ``members`` (the columns :class:`MemberReader`
    gives, plus the :data:`ARRIVAL` columns) and ``problems`` (``file, line, member, reason,
    dropped``, as :meth:`MemberReader.problems`)."""

    members: Any
    problems: Any


def _subject(line: bytes) -> bytes | None:
    """The IRI subject of an N-Triples/N-Quads statement line (None: a blank-node subject, a
    comment or an empty line)."""
    text = line.lstrip()
    if not text.startswith(b"<"):
        return None
    end = text.find(b">")
    return text[: end + 1] if end > 0 else None


def seam(f: Any, at: int, size: int) -> int:
    """The first line start at or after ``at`` whose statement has an IRI subject other than
    the statement before it (blank-node lines belong to the statement before them): where a
    range may begin without cutting a subject's statements apart. ``size`` at the end."""
    if at <= 0:
        return 0
    if at >= size:
        return size
    # The line holding byte at-1: the statement before the first candidate.
    back = at
    while True:
        back = max(0, back - _BLOCK)
        f.seek(back)
        head: bytes = f.read(at - back)
        nl = head.rfind(b"\n", 0, len(head) - 1) if head.endswith(b"\n") else head.rfind(b"\n")
        if nl >= 0 or back == 0:
            line_start = back + nl + 1
            break
    f.seek(line_start)
    pos = line_start
    previous = None
    first = True
    while True:
        line: bytes = f.readline()
        if not line:
            return size
        subject = _subject(line)
        if not first and pos >= at and subject is not None and subject != previous:
            return pos
        if subject is not None:
            previous = subject
        elif line.lstrip().startswith(b"_:") and previous is None:
            previous = b"_:"
        first = False
        pos += len(line)


def _reader_function(view_json: str, options: dict[str, Any], schema: Any) -> Any:
    def read(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        view = View.from_json(view_json)
        for batch in batches:
            for task in batch.to_pylist():
                yield from _read_task(pa, view, options, schema, task)

    return read


def _read_task(
    pa: Any, view: View, options: dict[str, Any], schema: Any, task: dict[str, Any]
) -> Iterator[Any]:
    path, fmt = task["path"], task["format"]
    start, end = task["start"], task["end"]
    skipped_lines = 0
    if end < 0:  # the whole file
        reader = MemberReader(path, view, format=fmt, **options)
    else:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            begin, stop = seam(f, start, size), seam(f, end, size)
            f.seek(begin)
            data = f.read(stop - begin)
            # Problems name lines of the file: count the lines before the range.
            f.seek(0)
            while f.tell() < begin:
                skipped_lines += f.read(min(_BLOCK << 4, begin - f.tell())).count(b"\n")
        reader = MemberReader(None, view, data=data, format=fmt, **options)
    position = 0
    for table in reader:
        t = pa.table(table)
        n = t.num_rows
        t = t.append_column("source", pa.array([task["source"]] * n, pa.int32()))
        t = t.append_column("chunk", pa.array([task["chunk"]] * n, pa.int32()))
        t = t.append_column("position", pa.array(range(position, position + n), pa.int64()))
        position += n
        yield from _shaped(pa, t, schema).to_batches()
    problems = pa.table(reader.problems())
    if problems.num_rows:
        lines = [None if x is None else x + skipped_lines for x in problems["line"].to_pylist()]
        p = pa.table(
            {
                "_file": pa.array([path] * problems.num_rows, pa.string()),
                "_line": pa.array(lines, pa.int64()),
                "_member": problems["member"],
                "_reason": problems["reason"],
                "_dropped": problems["dropped"],
            }
        )
        yield from _shaped(pa, p, schema).to_batches()


def _shaped(pa: Any, table: Any, schema: Any) -> Any:
    """``table`` in the output schema: the columns it lacks are nulls."""
    n = table.num_rows
    return pa.table(
        {
            f.name: table[f.name] if f.name in table.column_names else pa.nulls(n, f.type)
            for f in schema
        },
        schema=schema,
    )


def read_members(
    spark: Any,
    paths: str | PathLike[str] | Sequence[str | PathLike[str]],
    view: View,
    *,
    format: str | None = None,
    member: MemberMode | None = None,
    member_type: str | None = None,
    timestamp_path: str | None = None,
    version_of_path: str = DCT_IS_VERSION_OF,
    split_bytes: int | None = 64 << 20,
    max_line_bytes: int = DEFAULT_MAX_BYTES,
    max_member_bytes: int = DEFAULT_MAX_BYTES,
) -> SparkMembers:
    """Reads RDF dumps into a DataFrame of members, in parallel, with :class:`MemberReader`
    (the Rust extractor) on the executors; the options as there.

    N-Triples and N-Quads files (not gzipped) are split into ranges of about ``split_bytes``
    (``None``: by file), each cut at a seam: a line whose IRI subject differs from the
    statement before (blank-node statements stay with the statement before them). So the
    members equal one machine's when each member's statements (its own, then its blank
    nodes') lie together, as in dumps written subject by subject; for dumps that interleave
    members, or N-Quads with a named graph per member, read by file. Turtle, TriG and gzip
    files are read by file. The paths must be readable by every executor (a shared or
    replicated filesystem). ``members`` has the :data:`ARRIVAL` columns (their order is the
    files' order, as :func:`ldesfrag.publish` reads them).
    """
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema

    view = View.coerce(view)
    if split_bytes is not None and split_bytes < 1:
        raise LdesfragError(f"split_bytes {split_bytes}: at least 1 (or None: by file)")
    items = [paths] if isinstance(paths, str | PathLike) else list(paths)
    files = expand(items)
    options: dict[str, Any] = {
        "member": member,
        "member_type": member_type,
        "version_of_path": version_of_path,
        "timestamp_path": timestamp_path,
        "max_line_bytes": max_line_bytes,
        "max_member_bytes": max_member_bytes,
    }
    empty = pa.table(
        MemberReader(None, view, data=b"", format="ntriples", **options).empty()
    ).schema
    schema = pa.schema(
        [
            *(pa.field(f.name, f.type, True) for f in empty),
            pa.field("source", pa.int32()),
            pa.field("chunk", pa.int32()),
            pa.field("position", pa.int64()),
            pa.field("_file", pa.string()),
            pa.field("_line", pa.int64()),
            pa.field("_member", pa.string()),
            pa.field("_reason", pa.string()),
            pa.field("_dropped", pa.bool_()),
        ]
    )
    tasks = []
    for i, path in enumerate(files):
        fmt = _format_of(str(path), None if format is None else format)  # type: ignore[arg-type]
        size = path.stat().st_size
        whole = split_bytes is None or fmt not in ("ntriples", "nquads") or path.suffix == ".gz"
        cuts = [0] if whole else list(range(0, max(size, 1), split_bytes or 1))
        for j, start in enumerate(cuts):
            end = -1 if whole else min(start + (split_bytes or 0), size)
            tasks.append((i, j, str(path), fmt, start, end))
    plan = spark.createDataFrame(
        tasks, "source int, chunk int, path string, format string, start long, end long"
    )
    plan = plan.repartition(max(1, len(tasks)))
    fn = _reader_function(view.to_json(), options, schema)
    rows = plan.mapInArrow(fn, from_arrow_schema(schema)).cache()
    members = rows.where("_reason IS NULL").drop("_file", "_line", "_member", "_reason", "_dropped")
    problems = rows.where("_reason IS NOT NULL").select(
        "source",
        "chunk",
        rows["_file"].alias("file"),
        rows["_line"].alias("line"),
        rows["_member"].alias("member"),
        rows["_reason"].alias("reason"),
        rows["_dropped"].alias("dropped"),
    )
    return SparkMembers(members, problems)
