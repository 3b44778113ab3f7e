"""The ``ldesfrag`` command line.

``ldesfrag assign MEMBERS --view VIEW --out OUT`` reads a Parquet, Arrow IPC or CSV file of
members in batches, assigns them, writes the assignments ``{row, bucket, page}`` to a Parquet
file (and the members with a missing or invalid value to ``OUT`` with ``.invalid.parquet``),
and prints a per-bucket summary. Memory is bounded by the batch size, not the file size.

``ldesfrag publish INPUT... --view VIEW --out DIR --base-url URL`` turns RDF dumps into a static
LDES directory (see :func:`ldesfrag.publish`), or appends to one. With ``--store URL
--collection NAME`` instead of ``--out``, it loads them into the live server's store
(``ldesfrag.server.bulk``): no files, the pages ``ldesfrag server --store URL`` then serves.

``ldesfrag spark-publish INPUT... --view VIEW --out DIR --base-url URL [--master URL]`` writes the
same directory on Apache Spark (``ldesfrag.spark``; docs/spark.md).

``ldesfrag export --store URL --collection NAME --out DIR --base-url URL`` writes a stored view
as the static tree ``publish --out`` writes (``ldesfrag.server.bulk.export``).

``ldesfrag serve DIR [--host 127.0.0.1] [--port 8000] [--path PREFIX]`` serves a published LDES
directory with RDF content types and its ``_headers`` cache headers at its base URL's path, or
at ``PREFIX`` (see ``ldesfrag._serve``).

``ldesfrag server [--store sqlite:///ldes.db] [--config STREAM.ttl] [--host 127.0.0.1]
[--port 8080] [--base-url URL] [--retention-interval S] [--mqtt-broker HOST:PORT
--mqtt-topic TOPIC=COLLECTION… [--mqtt-format turtle]]`` runs the live LDES server
(``ldesfrag.server``): the reference server's admin API, ingest and fetch URLs, on a store.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ldesfrag import __version__
from ldesfrag._formats import FORMAT_ALIASES, FORMATS
from ldesfrag._fragmenter import Fragmenter
from ldesfrag._publish.open_pages import DEFAULT_OPEN_PAGES_BUDGET
from ldesfrag._rdf import DEFAULT_MAX_BYTES
from ldesfrag._view import View
from ldesfrag.exceptions import InputError, LdesfragError, ReplicationError

if TYPE_CHECKING:
    import pyarrow as pa

# Columns read as plain strings from CSV, so that the kernels see the lexical forms.
_STRING_COLUMNS = ("id", "geometry", "timestamp", "reference")
_SHOWN_PROBLEMS = 10  # problem rows publish prints; the summary has them all


def _require_pyarrow() -> Any:
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "ldesfrag assign reads files with pyarrow: pip install 'ldesfrag[cli]'"
        ) from None
    return pa


def read_batches(path: Path, batch_size: int) -> tuple[Iterator[pa.RecordBatch], int | None]:
    """Batches of a members file and its row count when the format tells it up front.

    A file that is not what its name says (garbage, truncated, ragged CSV rows, text that is not
    UTF-8), found when opening it or at any later batch, raises :class:`InputError`.
    """
    pa = _require_pyarrow()
    if batch_size < 1:
        raise LdesfragError(f"--batch-size must be at least 1, not {batch_size}")
    suffix = path.suffix.lower()
    try:
        batches, total = _open_batches(pa, path, suffix, batch_size)
    except (pa.ArrowException, UnicodeDecodeError, OSError) as e:
        raise _unreadable(path, e) from None
    return _reading(pa, path, batches), total


def _open_batches(
    pa: Any, path: Path, suffix: str, batch_size: int
) -> tuple[Iterator[pa.RecordBatch], int | None]:
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(path)
        return pf.iter_batches(batch_size=batch_size), pf.metadata.num_rows
    if suffix in (".arrow", ".feather", ".ipc", ".arrows"):
        try:
            reader = pa.ipc.open_file(path)
            return (reader.get_batch(i) for i in range(reader.num_record_batches)), None
        except pa.ArrowInvalid:
            return iter(pa.ipc.open_stream(path)), None
    if suffix == ".csv":
        import pyarrow.csv as pcsv

        # Columns the input lacks are ignored here.
        types = {c: pa.string() for c in _STRING_COLUMNS}
        reader = pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=max(1 << 20, batch_size * 256)),
            convert_options=pcsv.ConvertOptions(column_types=types),
        )
        return iter(reader), None
    raise LdesfragError(f"{path}: members are read from .parquet, .arrow/.ipc or .csv files")


def _reading(pa: Any, path: Path, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches, with a read error at any of them raised as :class:`InputError`."""
    try:
        yield from batches
    except (pa.ArrowException, UnicodeDecodeError, OSError) as e:
        raise _unreadable(path, e) from None


def _unreadable(path: Path, e: Exception) -> Exception:
    """An :class:`InputError` for what pyarrow says of the file's content (a plain OSError
    without an errno among it); a system error (missing file, permissions) stays itself."""
    if isinstance(e, OSError) and e.errno is not None:
        return e
    kind = {".pq": "Parquet", ".parquet": "Parquet", ".csv": "CSV"}.get(
        path.suffix.lower(), "Arrow IPC"
    )
    why = " ".join(str(e).split()) or type(e).__name__
    return InputError(f"{path}: not a readable {kind} file: {why}")


def _progress(done: int, total: int | None, started: float) -> None:
    rate = done / max(time.perf_counter() - started, 1e-9)
    share = f" ({100 * done / total:5.1f} %)" if total else ""
    print(f"\r  {done:,} members{share}, {rate:,.0f} members/s", end="", file=sys.stderr)


def assign(args: argparse.Namespace) -> int:
    pa = _require_pyarrow()
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    view = View.load(args.view)
    fragmenter = (
        Fragmenter.from_state(view, Path(args.state).read_bytes(), on_invalid=args.on_invalid)
        if args.state and Path(args.state).exists()
        else Fragmenter(view, on_invalid=args.on_invalid or "unknown")
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    invalid_out = out.with_name(out.name.removesuffix(".parquet") + ".invalid.parquet")
    batches, total = read_batches(Path(args.members), args.batch_size)
    show_progress = total is None or total >= args.progress_threshold
    started = time.perf_counter()
    members = assigned_rows = 0
    reasons: Counter[str] = Counter()
    rejected = 0
    # Written next to the target and renamed at the end, so OUT is never half written.
    tmp, tmp_invalid = (
        out.with_name(out.name + ".tmp"),
        invalid_out.with_name(invalid_out.name + ".tmp"),
    )
    row_field = pa.field("row", pa.uint64(), False)
    try:
        with (
            pq.ParquetWriter(tmp, _assignment_schema(pa)) as writer,
            pq.ParquetWriter(tmp_invalid, _invalid_schema(pa)) as invalid_writer,
        ):
            for batch in batches:
                report = fragmenter.assign_with_report(batch)
                result = pa.table(report.assigned)
                offset = pa.scalar(members, pa.uint64())
                result = result.set_column(0, row_field, pc.add(result["row"], offset))
                writer.write_table(result)
                inv = pa.table(report.invalid)
                if inv.num_rows:
                    inv = inv.set_column(0, row_field, pc.add(inv["row"], offset))
                    invalid_writer.write_table(inv)
                    reasons.update(
                        f"{c}: {r}"
                        for c, r in zip(
                            inv["column"].to_pylist(), inv["reason"].to_pylist(), strict=True
                        )
                    )
                    rejected += sum(inv["rejected"].to_pylist())
                members += batch.num_rows
                assigned_rows += result.num_rows
                if show_progress:
                    _progress(members, total, started)
    except BaseException:
        tmp.unlink(missing_ok=True)
        tmp_invalid.unlink(missing_ok=True)
        if show_progress and members:
            print(file=sys.stderr)  # the error goes on a line of its own
        raise
    tmp.replace(out)
    tmp_invalid.replace(invalid_out)
    if args.state:
        state_tmp = Path(args.state + ".tmp")
        state_tmp.write_bytes(fragmenter.state())
        state_tmp.replace(args.state)
    elapsed = time.perf_counter() - started
    if show_progress:
        print(file=sys.stderr)
    print_summary(fragmenter, members, assigned_rows, rejected, reasons, elapsed, out, invalid_out)
    return 0


def _assignment_schema(pa: Any) -> pa.Schema:
    return pa.schema(
        [
            pa.field("row", pa.uint64(), False),
            pa.field("bucket", pa.string(), False),
            pa.field("page", pa.uint32(), False),
        ]
    )


def _invalid_schema(pa: Any) -> pa.Schema:
    return pa.schema(
        [
            pa.field("row", pa.uint64(), False),
            pa.field("column", pa.string(), False),
            pa.field("reason", pa.string(), False),
            pa.field("rejected", pa.bool_(), False),
        ]
    )


def print_summary(
    fragmenter: Fragmenter,
    members: int,
    assigned_rows: int,
    rejected: int,
    reasons: Counter[str],
    elapsed: float,
    out: Path,
    invalid_out: Path,
) -> None:
    pa = _require_pyarrow()
    pages = pa.table(fragmenter.pages()).to_pylist()
    per_bucket: dict[str, list[int]] = {}
    for p in pages:
        entry = per_bucket.setdefault(p["bucket"], [0, 0, 0])
        entry[0] += p["members"]
        entry[1] += 1
        entry[2] += p["immutable"]
    rate = members / max(elapsed, 1e-9)
    immutable = sum(v[2] for v in per_bucket.values())
    print(f"{members:,} members → {assigned_rows:,} assignments in {elapsed:.2f} s", end="")
    print(f" ({rate:,.0f} members/s)")
    print(f"{len(per_bucket):,} leaf buckets, {len(pages):,} pages ({immutable:,} immutable)")
    if reasons:
        print(
            f"{sum(reasons.values()):,} invalid values ({rejected:,} members left out), by reason:"
        )
        for reason, n in reasons.most_common(10):
            print(f"  {n:>8,}  {reason}")
    shown = sorted(per_bucket.items(), key=lambda kv: (-kv[1][0], kv[0]))[:15]
    width = max((len(b) for b, _ in shown), default=6)
    print(f"\n{'bucket':<{width}}  {'members':>8}  {'pages':>5}  {'immutable':>9}")
    for bucket, (n, npages, nimm) in shown:
        print(f"{bucket or '(root)':<{width}}  {n:>8,}  {npages:>5,}  {nimm:>9,}")
    if len(per_bucket) > len(shown):
        print(f"… and {len(per_bucket) - len(shown):,} more buckets")
    print(f"\nassignments: {out}\ninvalid members: {invalid_out}")


def publish(args: argparse.Namespace) -> int:
    from ldesfrag._publish import print_progress
    from ldesfrag._publish import publish as run_publish

    if (args.out is None) == (args.store is None):
        raise LdesfragError("publish into a directory (--out DIR) or a store (--store URL)")
    if args.store is not None:
        return _publish_to_store(args)
    for flag, value in (("--collection", args.collection), ("--config", args.config)):
        if value is not None:
            raise LdesfragError(f"{flag} goes with --store")
    if not args.view or len(args.view) > 1:
        raise LdesfragError("publish --out takes one view (--view VIEW)")
    args.view = args.view[0]
    urls = [i for i in args.inputs if i.startswith(("http://", "https://"))]
    if urls:
        if len(args.inputs) != 1:
            raise LdesfragError("publish takes one LDES URL as INPUT, or files")
        return _publish_from_url(args, urls[0])
    versions = None
    if args.create_versions:
        from ldesfrag import CreateVersions

        versions = CreateVersions(delimiter=args.version_delimiter or "/")
    elif args.version_delimiter is not None:
        raise LdesfragError("--version-delimiter goes with --create-versions")
    summary = run_publish(
        args.inputs,
        args.view,
        args.out,
        base_url=args.base_url,
        format=args.format or "turtle",
        stream=args.stream,
        member=args.member,
        member_type=args.member_type,
        timestamp_path=args.timestamp_path,
        version_of_path=args.version_of_path,
        versions=versions,
        batch_size=args.batch_size,
        close=args.close,
        restart_input=args.restart_input,
        max_line_bytes=args.max_line_bytes,
        max_member_bytes=args.max_member_bytes,
        progress=None if args.quiet else print_progress,
        open_pages_budget=args.open_pages_budget,
    )
    if not args.quiet and summary.members_read:
        print(file=sys.stderr)
    rate = summary.members_read / max(summary.seconds, 1e-9)
    print(
        f"{summary.members_this_run:,} members published in {summary.seconds:.2f} s "
        f"({rate:,.0f} members/s read); {summary.members:,} in the stream"
        + (" (closed)" if summary.closed else "")
    )
    if summary.members_read != summary.members_this_run:
        # Say what happened to the members read that were not published.
        parts = [f"{summary.members_this_run:,} published"]
        if summary.already_published:
            parts.append(f"{summary.already_published:,} already published (read again)")
        if summary.rejected_this_run:
            parts.append(f"{summary.rejected_this_run:,} rejected (reasons below)")
        print(f"of {summary.members_read:,} members read: {', '.join(parts)}")
    print(
        f"{summary.buckets:,} leaf buckets, {summary.pages:,} pages "
        f"({summary.immutable_pages:,} immutable); {summary.files_written:,} files, "
        f"{summary.bytes_written:,} bytes written"
    )
    for title, counts in (
        ("rejected members in the stream", summary.rejected),
        ("problems", summary.problems),
    ):
        if counts:
            print(f"{sum(counts.values()):,} {title}, by reason:")
            for reason, n in Counter(counts).most_common(10):
                print(f"  {n:>8,}  {reason}")
    _print_problems(summary.problem_rows)
    return 0


def _replication_args(args: argparse.Namespace) -> dict[str, Any]:
    bbox = None
    if args.bbox is not None:
        bbox = args.bbox.split(",")
        if len(bbox) != 4:
            raise LdesfragError(f"--bbox: W,S,E,N, not {args.bbox!r}")
    return {
        "follow": args.follow,
        "poll_interval": args.poll_interval,
        "after": args.after,
        "before": args.before,
        "bbox": bbox,
        "order": args.order,
        "concurrency": args.concurrency,
        "timeout": args.timeout,
        "retries": args.retries,
        "batch_size": args.batch_size,
        "backoff": args.backoff,
    }


def replicate(args: argparse.Namespace) -> int:
    import signal

    from ldesfrag.replicate import Replication
    from ldesfrag.replicate._output import Output

    try:
        rep = Replication(
            args.url,
            state=args.state,
            progress=not args.quiet and sys.stderr.isatty(),
            **_replication_args(args),
        )
    except LdesfragError:
        raise
    except (ValueError, TypeError) as e:  # a bad option value
        raise LdesfragError(str(e)) from e
    if args.follow and args.out.lower().endswith(".parquet"):
        raise LdesfragError("--follow never ends: write to a directory, .nq or .nq.gz")
    out = Output(args.out, args.part_format, rep.output_state, resumed=args.state is not None)
    interrupted = []

    def stop(signum: int, frame: object) -> None:
        interrupted.append(signum)
        rep.stop()

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with rep:
            for batch in rep:
                out.write(batch)
                rep.commit()
    except ReplicationError as e:
        print(f"{e.url}: {e.reason}", file=sys.stderr)
        return 1
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    st = rep.stats
    if interrupted and not args.follow:
        print(
            f"interrupted after {st.members:,} members"
            + ("; rerun with the same --state to continue" if args.state else ""),
            file=sys.stderr,
        )
        return 130
    out.finish()
    if not args.quiet:
        print(
            f"{st.members:,} members from {st.pages:,} pages ({st.not_modified:,} not modified, "
            f"{st.retries:,} retries, {st.bytes:,} bytes) to {args.out}",
            file=sys.stderr,
        )
    return 0


def _publish_from_url(args: argparse.Namespace, url: str) -> int:
    """publish with an LDES URL as INPUT: replicate it into a temporary N-Quads dump (its
    members named by tree:member), then publish that."""
    import tempfile

    from ldesfrag.replicate import Replication
    from ldesfrag.replicate._output import nquads

    stream = "urn:ldesfrag:replicated"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=Path(args.out).parent) as tmp:
        dump = Path(tmp) / "members.nq"
        n = 0
        with Replication(url, progress=not args.quiet and sys.stderr.isatty()) as rep:
            with open(dump, "wb") as f:
                for batch in rep:
                    f.write(nquads(batch, n, stream=stream))
                    n += batch.num_rows
            tpath = rep.timestamp_path
        if not args.quiet:
            print(f"{n:,} members replicated from {url}", file=sys.stderr)
        args.inputs = [str(dump)]
        if args.member is None:
            args.member = "tree-member"
        if args.timestamp_path is None and tpath is not None:
            args.timestamp_path = tpath
        args.view = [args.view]
        return publish(args)


def _mib(text: str) -> int | None:
    """``--open-pages-budget``: MiB (a positive number) or 'none', in bytes."""
    if text.strip().lower() == "none":
        return None
    try:
        mib = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: MiB (a number) or 'none'") from None
    if not mib > 0 or mib == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: more than 0 MiB, or 'none'")
    return max(1, int(mib * (1 << 20)))


def _print_problems(rows: Sequence[Any]) -> None:
    if rows:
        print(f"problems this run, where ({len(rows):,}):")
        for row in rows[:_SHOWN_PROBLEMS]:
            print(f"  {row}")
        if len(rows) > _SHOWN_PROBLEMS:
            print(f"  … and {len(rows) - _SHOWN_PROBLEMS:,} more")


def _publish_to_store(args: argparse.Namespace) -> int:
    """``publish --store``: the dumps into a live server's store (``ldesfrag.server.bulk``)."""
    from ldesfrag._publish import print_progress
    from ldesfrag.server import open_store, parse_stream
    from ldesfrag.server.bulk import IGNORED, bulk_load, stream_config

    if args.collection is None:
        raise LdesfragError("publish --store needs --collection NAME")
    for flag, value in (
        ("--format", args.format),
        ("--stream", args.stream),
        ("--member", args.member),
        ("--member-type", args.member_type),
        ("--close", args.close or None),
        ("--restart-input", args.restart_input or None),
    ):
        if value is not None:
            raise LdesfragError(
                f"{flag} goes with --out: a store's pages follow its stream's configuration"
            )
    stream_flags = args.timestamp_path or args.version_of_path or args.create_versions
    if args.config and (args.view or stream_flags or args.version_delimiter):
        raise LdesfragError("--config says the stream and its views: no --view or stream options")
    config = None
    if args.config:
        config = parse_stream(Path(args.config).read_bytes(), "text/turtle", args.base_url)
    elif args.view:
        views = []
        for item in args.view:
            name, sep, file = item.partition("=")
            if not sep:  # a file alone: the view is named after it (by-tile.toml → by-tile)
                name, file = Path(item).name.split(".")[0], item
            views.append((name, View.load(file)))
        config = stream_config(
            args.collection,
            args.base_url if args.base_url.endswith("/") else args.base_url + "/",
            views,
            timestamp_path=args.timestamp_path,
            version_of_path=args.version_of_path,
            create_versions=args.create_versions,
            version_delimiter=args.version_delimiter,
        )
    elif stream_flags or args.version_delimiter:
        raise LdesfragError("the stream options go with --view, for a new collection")
    store = open_store(args.store)
    try:
        summary = bulk_load(
            store,
            args.base_url,
            args.collection,
            args.inputs,
            config=config,
            batch_size=args.batch_size,
            max_line_bytes=args.max_line_bytes,
            max_member_bytes=args.max_member_bytes,
            progress=None if args.quiet else print_progress,
        )
    finally:
        store.close()
    if not args.quiet and summary.read:
        print(file=sys.stderr)
    rate = summary.read / max(summary.seconds, 1e-9)
    print(
        f"{summary.members:,} members stored in {summary.seconds:.2f} s ({rate:,.0f} members/s "
        f"read), {summary.transactions:,} transactions; {summary.in_stream:,} in "
        f"{args.collection!r}" + (" (created)" if summary.created else "")
    )
    if summary.ignored:
        print(f"{summary.ignored:,} ignored: {IGNORED}")
        for iri in summary.ignored_members[:_SHOWN_PROBLEMS]:
            print(f"  <{iri}>")
        if summary.ignored > _SHOWN_PROBLEMS:
            print(f"  … and {summary.ignored - _SHOWN_PROBLEMS:,} more")
    if summary.unknown:
        print(f"{sum(summary.unknown.values()):,} members in an unknown bucket, by reason:")
        for (view, path, reason), n in summary.unknown.most_common(10):
            print(f"  {n:>8,}  {view}: {path}: {reason}")
    _print_problems(summary.problems)
    return 0


def export(args: argparse.Namespace) -> int:
    from ldesfrag.server import open_store
    from ldesfrag.server.bulk import export as run_export

    store = open_store(args.store)
    try:
        summary = run_export(
            store,
            args.collection,
            args.out,
            base_url=args.base_url,
            view=args.view,
            stream=args.stream,
        )
    finally:
        store.close()
    print(
        f"view {summary.view!r} of {args.collection!r}: {summary.nodes:,} nodes, "
        f"{summary.members:,} members written to {args.out} "
        f"(serve it: ldesfrag serve {args.out} --path {summary.path})"
    )
    return 0


def serve(args: argparse.Namespace) -> int:
    from ldesfrag._serve import LdesServer

    server = LdesServer(args.directory, args.host, args.port, log_requests=True, path=args.path)
    print(f"serving {server.directory} at {server.url} (Ctrl-C to stop)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print(file=sys.stderr)
    return 0


def server(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ldesfrag.server import create_app, listen, open_store
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise SystemExit(
            f"ldesfrag server needs the server extra ({e.name} is missing): "
            "pip install 'ldesfrag[server]'"
        ) from None
    config = None
    if args.config:
        path = Path(args.config)
        types = {
            ".ttl": "text/turtle",
            ".nq": "application/n-quads",
            ".jsonld": "application/ld+json",
            ".nt": "application/n-triples",
        }
        config = (path.read_bytes(), types.get(path.suffix.lower(), "text/turtle"))
    mqtt = None
    if args.mqtt_broker or args.mqtt_topic:
        from ldesfrag.server.mqtt import MqttConfig, parse_broker, parse_topic

        if not (args.mqtt_broker and args.mqtt_topic):
            raise LdesfragError("--mqtt-broker and --mqtt-topic go together")
        host, mqtt_port = parse_broker(args.mqtt_broker)
        topics = dict(parse_topic(t) for t in args.mqtt_topic)
        mqtt = MqttConfig(host, mqtt_port, topics, format=args.mqtt_format)
    store = open_store(args.store or "sqlite:///ldesfrag-server.db")
    # Bound first, so that port 0 names the port really served (for the base URL).
    sock = listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    base_url = args.base_url or f"http://{shown}:{port}/"
    app = create_app(
        store,
        base_url,
        config=config,
        max_body=args.max_body,
        retention_interval=args.retention_interval or None,
        mqtt=mqtt,
    )
    print(
        f"ldesfrag server: {base_url} on {shown}:{port} (Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    uvicorn_server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    uvicorn_server.run(sockets=[sock])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ldesfrag",
        description="Fragments Linked Data Event Streams. Static: `publish --out DIR` writes a "
        "directory of files, `serve DIR` serves it. Live: `server` ingests and serves members "
        "from a store, `publish --store URL` bulk-loads dumps into that store, `export` writes "
        "a stored view as a static directory.",
    )
    parser.add_argument("--version", action="version", version=f"ldesfrag {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("assign", help="assign a file of members to buckets and pages")
    a.add_argument("members", help="a .parquet, .arrow/.ipc or .csv file of members")
    a.add_argument("--view", required=True, help="a .toml or .json view description")
    a.add_argument("--out", required=True, help="the Parquet file of assignments to write")
    # No default: a resumed run keeps the policy its state was saved with.
    a.add_argument("--on-invalid", choices=["unknown", "reject", "raise"], default=None)
    a.add_argument("--batch-size", type=int, default=1 << 16)
    a.add_argument("--state", help="a state file: resumed from when it exists, written at the end")
    a.add_argument("--progress-threshold", type=int, default=1_000_000, help=argparse.SUPPRESS)
    p = sub.add_parser(
        "publish",
        help="RDF dumps → a static LDES directory (--out), or into a live server's store "
        "(--store); appends",
        description="Publishes RDF dumps as a static LDES directory (--out DIR, served by "
        "`ldesfrag serve` or any static host), or loads them into the store of the live server "
        "(--store URL --collection NAME, served by `ldesfrag server --store URL`), in large "
        "transactions, with the pages the server would make. Either appends to what is there.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        help="N-Triples, N-Quads, Turtle or TriG files (or globs), or one LDES URL "
        "(http(s)://…: replicated, then published)",
    )
    p.add_argument(
        "--view",
        action="append",
        help="a .toml, .json or RDF (.ttl) view description; with --store, [NAME=]FILE, "
        "repeatable: the views of a new collection (NAME: the file's name without extension)",
    )
    where = p.add_argument_group("destination (one of)")
    where.add_argument("--out", metavar="DIR", help="the directory to publish into")
    where.add_argument("--store", metavar="URL", help="the live server's store: sqlite:///FILE.db")
    p.add_argument(
        "--base-url",
        required=True,
        help="the URL at which DIR is served; with --store, the live server's --base-url "
        "(its stored pages name it)",
    )
    p.add_argument("--collection", help="with --store: the event stream to load into")
    p.add_argument(
        "--config",
        help="with --store: the event stream configuration (Turtle, as the server's admin API "
        "takes it) of a new collection, instead of --view",
    )
    p.add_argument(
        "--format",
        choices=[*FORMATS, *FORMAT_ALIASES],
        metavar="{" + ",".join(FORMATS) + "}",
        help="the pages' format, which names their extension (default: turtle, .ttl); "
        f"{', '.join(FORMAT_ALIASES)} are accepted for {', '.join(FORMAT_ALIASES.values())}",
    )
    p.add_argument("--stream", help="the event stream IRI (default: BASE_URL#stream)")
    p.add_argument(
        "--member",
        "--members",  # the spelling of the publish issue's synopsis
        choices=["version-of", "tree-member", "named-graph", "type", "subject", "document"],
        help="how members are found (default: version-of; subject with --create-versions)",
    )
    p.add_argument("--member-type", help="the class of members, with --member type")
    p.add_argument("--timestamp-path", help="default: the time fragmentation's path")
    p.add_argument("--version-of-path", help="default: dct:isVersionOf with --member version-of")
    p.add_argument("--create-versions", action="store_true", help="state objects → versions")
    p.add_argument("--version-delimiter", help="between state IRI and timestamp (default /)")
    p.add_argument("--batch-size", type=int, default=1 << 16)
    for what in ("line", "member"):
        p.add_argument(
            f"--max-{what}-bytes",
            type=int,
            default=DEFAULT_MAX_BYTES,
            help=f"a longer {what} is left out and reported (default %(default)s)",
        )
    p.add_argument("--close", action="store_true", help="close the stream: all pages immutable")
    p.add_argument(
        "--open-pages-budget",
        type=_mib,
        default=DEFAULT_OPEN_PAGES_BUDGET,
        metavar="MIB",
        help="MiB of open pages' members held in memory; pages past it are read back from the "
        f"state when they change (default {DEFAULT_OPEN_PAGES_BUDGET >> 20}; 'none': no limit)",
    )
    p.add_argument(
        "--restart-input",
        action="store_true",
        help="forget the partial progress of an input an interrupted run read part of, if it "
        "changed or is not given: read it again from the start (its published members are "
        "skipped), or give it up",
    )
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    r = sub.add_parser(
        "replicate",
        help="replicate an LDES over HTTP: every member once, into N-Quads, Parquet or a "
        "directory of parts; resumable (--state), synchronising (--follow)",
    )
    r.add_argument("url", help="the event stream, a view, or any node of it")
    r.add_argument(
        "--out",
        required=True,
        help="a .nq, .nq.gz or .parquet file, or a directory (one file per batch)",
    )
    r.add_argument("--state", metavar="DIR", help="keep the state here: stop any time, rerun")
    r.add_argument("--follow", action="store_true", help="keep polling mutable pages")
    r.add_argument("--poll-interval", type=float, metavar="S", help="instead of max-age")
    r.add_argument("--after", metavar="T", help="only members with a timestamp after T")
    r.add_argument("--before", metavar="T", help="only members with a timestamp before T")
    r.add_argument("--bbox", metavar="W,S,E,N", help="only members whose geometry touches it")
    r.add_argument("--order", choices=["none", "ascending"], default="none")
    r.add_argument("--concurrency", type=int, default=8, help="fetches at once (default 8)")
    r.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    r.add_argument("--retries", type=int, default=5, help="per page, on 5xx/timeouts/resets")
    r.add_argument("--backoff", type=float, default=0.5, help=argparse.SUPPRESS)
    r.add_argument("--batch-size", type=int, default=10_000, help="members per batch")
    r.add_argument(
        "--part-format",
        choices=["nq.gz", "nq", "parquet"],
        default="nq.gz",
        help="the part files of a directory OUT (default nq.gz)",
    )
    r.add_argument("--quiet", action="store_true", help="no summary on stderr")
    from ldesfrag.spark._cli import add_parser as add_spark_publish
    from ldesfrag.spark._cli import run as spark_publish

    add_spark_publish(sub)
    e = sub.add_parser(
        "export",
        help="write a live server's stored view as a static LDES directory (as publish --out)",
    )
    e.add_argument("--store", required=True, metavar="URL", help="sqlite:///FILE.db")
    e.add_argument("--collection", required=True, help="the event stream")
    e.add_argument("--view", help="the view to export (default: the stream's only view)")
    e.add_argument("--out", required=True, metavar="DIR", help="a new (or empty) directory")
    e.add_argument("--base-url", required=True, help="the URL at which DIR is served")
    e.add_argument("--stream", help="the event stream IRI (default: BASE_URL#stream)")
    s = sub.add_parser(
        "serve",
        help="serve a static LDES directory (publish --out, export) over HTTP (local use)",
    )
    s.add_argument("directory", help="the directory to serve")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument(
        "--path",
        metavar="PREFIX",
        help="the URL path to serve DIR at (default: its base URL's path, or / if unpublished)",
    )
    v = sub.add_parser(
        "server",
        help="run the live LDES server (admin API, ingest, fetch; on a store); "
        "publish --store bulk-loads its store",
    )
    v.add_argument("--store", help="sqlite:///FILE.db (default: ./ldesfrag-server.db)")
    v.add_argument("--config", help="an event stream configuration (Turtle) to create at start")
    v.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    v.add_argument("--port", type=int, default=8080)
    v.add_argument("--base-url", help="the URL the pages name (default: http://HOST:PORT/)")
    v.add_argument("--max-body", type=int, default=16 << 20, help="largest request body, bytes")
    v.add_argument(
        "--retention-interval",
        type=float,
        default=3600.0,
        metavar="S",
        help="seconds between retention passes (default: 3600; 0: none)",
    )
    v.add_argument("--mqtt-broker", metavar="HOST:PORT", help="ingest from this MQTT broker")
    v.add_argument(
        "--mqtt-topic",
        action="append",
        metavar="TOPIC=COLLECTION",
        help="a topic filter whose messages are members of COLLECTION (repeatable)",
    )
    v.add_argument("--mqtt-format", default="turtle", help="the messages' RDF format")
    args = parser.parse_args(argv)
    commands = {
        "assign": assign,
        "publish": publish,
        "replicate": replicate,
        "spark-publish": spark_publish,
        "export": export,
        "serve": serve,
        "server": server,
    }
    try:
        return commands[args.command](args)
    except (LdesfragError, OSError) as e:
        print(f"ldesfrag: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
