"""``ldesfrag spark-publish`` (and ``python -m ldesfrag.spark``, or its file under
``spark-submit``): RDF dumps → the static LDES ``ldesfrag publish`` writes, on Spark. pyspark
is imported only when the command runs."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from ldesfrag._formats import FORMAT_ALIASES, FORMATS
from ldesfrag.exceptions import LdesfragError

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "spark-publish",
        help="RDF dumps → a static LDES directory on Apache Spark (as publish --out)",
        description="Publishes RDF dumps as the static LDES `ldesfrag publish` writes (the same "
        "files), reading, assigning and rendering on Spark (docs/spark.md). Local mode by "
        "default; give --master (or run under spark-submit) for a cluster.",
    )
    p.add_argument("inputs", nargs="+", help="N-Triples, N-Quads, Turtle or TriG files (or globs)")
    p.add_argument("--view", required=True, help="a .toml, .json or RDF (.ttl) view description")
    p.add_argument("--out", required=True, help="a new directory, or a URI pyarrow writes (s3://…)")
    p.add_argument("--base-url", required=True, help="the URL at which OUT is served")
    p.add_argument("--master", help="Spark master (default: spark-submit's, else local[*])")
    p.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting"
    )
    p.add_argument(
        "--format",
        choices=[*FORMATS, *FORMAT_ALIASES],
        metavar="{" + ",".join(FORMATS) + "}",
        default="turtle",
        help="the pages' format (default: turtle)",
    )
    p.add_argument("--stream", help="the event stream IRI (default: BASE_URL#stream)")
    p.add_argument(
        "--member",
        choices=["version-of", "tree-member", "named-graph", "type", "subject", "document"],
        help="how members are found (default: version-of)",
    )
    p.add_argument("--member-type", help="the class of members, with --member type")
    p.add_argument("--timestamp-path", help="default: the time fragmentation's path")
    p.add_argument("--version-of-path", help="default: dct:isVersionOf with --member version-of")
    p.add_argument(
        "--split-bytes",
        type=int,
        default=64 << 20,
        help="N-Triples/N-Quads ranges per task (0: one task per file; default %(default)s)",
    )
    p.add_argument("--close", action="store_true", help="close the stream: all pages immutable")


def run(args: argparse.Namespace) -> int:
    from ldesfrag.spark import publish, session

    conf = {}
    for item in args.conf:
        key, sep, value = item.partition("=")
        if not sep:
            raise LdesfragError(f"--conf {item!r}: KEY=VALUE")
        conf[key] = value
    spark: Any = session(args.master, conf)
    summary = publish(
        args.inputs,
        args.view,
        args.out,
        base_url=args.base_url,
        spark=spark,
        format=args.format,
        stream=args.stream,
        member=args.member,
        member_type=args.member_type,
        timestamp_path=args.timestamp_path,
        version_of_path=args.version_of_path,
        close=args.close,
        split_bytes=args.split_bytes or None,
    )
    rate = summary.members_read / max(summary.seconds, 1e-9)
    print(
        f"{summary.members:,} members published in {summary.seconds:.2f} s "
        f"({rate:,.0f} members/s read)" + (" (closed)" if summary.closed else "")
    )
    print(
        f"{summary.buckets:,} leaf buckets, {summary.pages:,} pages "
        f"({summary.immutable_pages:,} immutable); {summary.files_written:,} files, "
        f"{summary.bytes_written:,} bytes written"
    )
    for title, counts in (("rejected members", summary.rejected), ("problems", summary.problems)):
        if counts:
            print(f"{sum(counts.values()):,} {title}, by reason:")
            for reason, n in Counter(counts).most_common(10):
                print(f"  {n:>8,}  {reason}")
    for row in summary.problem_rows[:10]:
        print(f"  {row}")
    return 0
