"""Bulk load: RDF dumps straight into a live server's store (``ldesfrag publish --store``);
export: a store's view as the static tree ``publish --out`` writes (``ldesfrag export``).

A bulk load is the server's ingest without HTTP, in large transactions: the stream's reader
options (as :func:`ldesfrag.server.engine._read` sets them), its duplicate rule (a member IRI
the stream has is ignored and reported), one ``assign`` per view, the fragmenters saved by
:func:`~ldesfrag.server.engine.save_fragmenter`, the same member, assignment and node rows and
the same rendered bodies. What differs is how the changed nodes are rendered: all of a batch's
at once (``render_pages``, in parallel) from the members of the open pages kept in memory
(publish's ``OpenPages``), instead of one query and one rendering per node. A batch is one
transaction, durable when it commits; a killed load leaves the batches before it, and a rerun
ignores (and reports) the members already stored.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ldesfrag import _ldesfrag
from ldesfrag._member_ids import MemberIds
from ldesfrag._publish.inputs import expand, prefetched
from ldesfrag._publish.open_pages import OpenPages, node_key
from ldesfrag._publish.publisher import RdfProblem
from ldesfrag._rdf import DEFAULT_MAX_BYTES, CreateVersions, MemberReader
from ldesfrag._render import render_page
from ldesfrag._urls import node_url
from ldesfrag._view import PROV_GENERATED_AT_TIME, HierarchicalTime, View
from ldesfrag.exceptions import LdesfragError
from ldesfrag.server.config import StreamConfig, parse_stream
from ldesfrag.server.engine import (
    Engine,
    LiveStream,
    LiveView,
    assign_batch,
    render_rows,
    save_fragmenter,
)
from ldesfrag.server.store import MemberRow, NodeRow, Store, Transaction

__all__ = ["IGNORED", "BulkSummary", "bulk_load", "stream_config"]

#: Why a member was not stored: the server's words (``ignored_reason`` of an ingest report).
IGNORED = "a member with this IRI is in the stream already"
_LDES = "https://w3id.org/ldes#"
_TREE = "https://w3id.org/tree#"


@dataclass
class BulkSummary:
    """What a :func:`bulk_load` run did."""

    members: int = 0  # stored this run
    read: int = 0  # members read: stored or ignored
    ignored: int = 0  # repeats of a member IRI the stream has (or had earlier in the run)
    ignored_members: list[str] = field(default_factory=list)  # the first 100
    #: Members in an unknown bucket, by (view, path, reason); stored all the same.
    unknown: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    problems: list[RdfProblem] = field(default_factory=list)
    transactions: int = 0
    seconds: float = 0.0
    in_stream: int = 0  # members in the stream after the run
    created: bool = False  # the collection was created by this run


# ---- the stream's configuration ------------------------------------------------------------
def stream_config(
    name: str,
    base_url: str,
    views: Sequence[tuple[str, View]],
    *,
    timestamp_path: str | None = None,
    version_of_path: str | None = None,
    create_versions: bool = False,
    version_delimiter: str | None = None,
) -> StreamConfig:
    """The configuration the admin API would take for a stream with these views, made as its
    Turtle and read by :func:`~ldesfrag.server.config.parse_stream` (one reader of stream
    configurations). ``timestamp_path`` defaults to the first time fragmentation's path (as
    ``publish`` takes it). A view the admin vocabulary cannot say raises."""
    import rdflib
    from rdflib import RDF, BNode, Literal, URIRef

    if not views:
        raise LdesfragError("a new collection needs at least one view (--view) or --config")
    if timestamp_path is None:
        times = [f for _, v in views for f in v.fragmentations if isinstance(f, HierarchicalTime)]
        timestamp_path = times[0].path if times else None
    es_iri = base_url + name
    g = rdflib.Graph()
    es = URIRef(es_iri)
    g.add((es, RDF.type, URIRef(_LDES + "EventStream")))
    if timestamp_path:
        g.add((es, URIRef(_LDES + "timestampPath"), URIRef(timestamp_path)))
    if version_of_path:
        g.add((es, URIRef(_LDES + "versionOfPath"), URIRef(version_of_path)))
    if create_versions:
        g.add((es, URIRef(_LDES + "createVersions"), Literal(True)))
        g.add((es, URIRef(_LDES + "versionDelimiter"), Literal(version_delimiter or "/")))
    elif version_delimiter is not None:
        raise LdesfragError("a version delimiter goes with create_versions")
    for view_name, view in views:
        node = f"{es_iri}/{view_name}"
        # The root node's description is the view in the admin vocabulary.
        root = render_page(node, stream=es_iri, root=True, view=view, format="ntriples")
        rg = rdflib.Graph().parse(data=root.body, format="nt")
        desc = rg.value(URIRef(node), URIRef(_TREE + "viewDescription"))
        assert desc is not None
        g.add((es, URIRef(_TREE + "view"), URIRef(node)))
        g.add((URIRef(node), URIRef(_TREE + "viewDescription"), desc))
        todo, seen = [desc], set()
        while todo:
            s = todo.pop()
            if s in seen:
                continue
            seen.add(s)
            for p, o in rg.predicate_objects(s):
                g.add((s, p, o))
                if isinstance(o, BNode):
                    todo.append(o)
    cfg = parse_stream(g.serialize(format="turtle"), "text/turtle", base_url)
    got = {v.name: v.view.to_dict() for v in cfg.views}
    for view_name, view in views:
        if got.get(view_name) != view.to_dict():
            raise LdesfragError(
                f"view {view_name}: the server's configuration vocabulary cannot say it "
                f"({view.to_json()})"
            )
    return cfg


def _check_same(s: LiveStream, cfg: StreamConfig) -> None:
    """A rerun names the stream it loaded into: its settings and views must be the same."""
    differ = [k for k, v in cfg.settings().items() if s.settings.get(k) != v]
    if differ:
        raise LdesfragError(
            f"collection {s.name!r} exists with other settings ({', '.join(differ)}): leave out "
            "--view/--config and the stream options to load into it as it is"
        )
    given = {v.name: v.view.to_dict() for v in cfg.views}
    have = {name: v.view.to_dict() for name, v in s.views.items()}
    if given != have:
        raise LdesfragError(
            f"collection {s.name!r} exists with the views {sorted(have)}, not these "
            f"{sorted(given)} (or they differ): leave out --view/--config to load into it, or "
            "add views through the server's admin API"
        )


# ---- reading ---------------------------------------------------------------------------------
def _batches(
    s: LiveStream,
    path: Path,
    batch_size: int,
    max_line_bytes: int,
    max_member_bytes: int,
    problems: list[RdfProblem],
) -> Iterator[pa.Table]:
    """A dump's members with every column the stream's views need, read as the server reads an
    ingest body (``engine._read``); its problems are added to ``problems`` at the end. State
    objects become versions stamped with the file's modification time when they have no time
    of their own (the server stamps a request's arrival), so a rerun makes the same IRIs."""
    settings = s.settings
    versions = None
    if settings["create_versions"]:
        stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        versions = CreateVersions(
            delimiter=settings["version_delimiter"],
            timestamp=stamp,
            version_of_path=settings["version_of_path"],
            timestamp_path=s.timestamp_path or PROV_GENERATED_AT_TIME,
        )
    readers = [
        MemberReader(
            path,
            view,
            batch_size=batch_size,
            version_of_path=settings["version_of_path"],
            timestamp_path=s.timestamp_path,
            versions=versions,
            max_line_bytes=max_line_bytes,
            max_member_bytes=max_member_bytes,
        )
        for view in s.reading
    ]
    # Two views reading tiles or times from different paths: one reader each, zipped.
    for got in zip(*readers, strict=True):
        table = pa.table(got[0])
        for other in got[1:]:
            more = pa.table(other)
            if more["id"] != table["id"]:  # the same reader on the same file: cannot happen
                raise LdesfragError(f"{path}: read differently for two views")
            for name in more.column_names:
                if name not in table.column_names:
                    table = table.append_column(name, more[name])
        yield table
    for p in pa.table(readers[0].problems()).to_pylist():
        problems.append(RdfProblem(p["file"], p["line"], p["member"], p["reason"], p["dropped"]))


# ---- loading ----------------------------------------------------------------------------------
class _Loader:
    def __init__(
        self, engine: Engine, s: LiveStream, summary: BulkSummary, batch_size: int
    ) -> None:
        self.engine, self.s, self.summary = engine, s, summary
        self.batch_size = batch_size
        self.store = engine.store
        self.ids = MemberIds()  # the IRIs stored by this run
        self.had_members = s.next_seq > 0  # whose IRIs the store is asked about
        self.open = {name: self._open_pages(v) for name, v in s.views.items()}
        self.urls: dict[str, dict[tuple[str, int | None], str]] = {n: {} for n in s.views}

    def _open_pages(self, v: LiveView) -> OpenPages:
        """The members of the view's mutable pages (read back from the store on a rerun): the
        pages a batch may render again."""
        pages = pa.table(v.fragmenter.pages())
        pages = pages.filter(pc.invert(pages["immutable"]))
        keys = node_key(pa, pc, pages["bucket"], pages["page"]).to_pylist()
        counts = pages["members"].to_pylist()
        op = OpenPages(pa, pc, dict(zip(keys, counts, strict=True)))
        rows: list[tuple[str, MemberRow]] = []
        for key, bucket, page in zip(
            keys, pages["bucket"].to_pylist(), pages["page"].to_pylist(), strict=True
        ):
            found = self.store.node(self.s.id, v.id, bucket, page)
            rows.extend((key, m) for m in (found[1] if found else []))
        if rows:
            op.keep(
                pa.table(
                    {
                        "key": pa.array([k for k, _ in rows], pa.string()),
                        "seq": pa.array([m.seq for _, m in rows], pa.uint64()),
                        "id": pa.array([m.iri for _, m in rows], pa.string()),
                        "payload": pa.array([m.payload for _, m in rows], pa.string()),
                        "timestamp": pa.array([m.timestamp for _, m in rows], pa.string()),
                    }
                )
            )
        return op

    def add(self, table: pa.Table) -> None:
        """One batch: the new members stored, assigned, and the changed nodes rendered, in one
        transaction."""
        summary = self.summary
        summary.read += table.num_rows
        first = pa.array(self.ids.admit(table["id"]).first)
        if self.had_members:
            # Members stored before this run: the store knows them (one lookup per new IRI).
            candidates = table["id"].filter(first).to_pylist()
            known = self.store.known_iris(self.s.id, candidates) if candidates else set()
            if known:
                first = pc.and_(first, pc.invert(pc.is_in(table["id"], pa.array(list(known)))))
        kept = table.filter(first)
        repeats = table.num_rows - kept.num_rows
        if repeats:
            summary.ignored += repeats
            room = 100 - len(summary.ignored_members)
            if room > 0:
                ignored = table["id"].filter(pc.invert(first)).slice(0, room).to_pylist()
                summary.ignored_members.extend(ignored)
        if kept.num_rows:
            self._store(kept)

    def _store(self, table: pa.Table) -> None:
        s = self.s
        base = s.next_seq
        n = table.num_rows
        seq = pa.array(range(base, base + n), pa.uint64())
        ts = (
            pc.cast(table["timestamp"], pa.string())
            if "timestamp" in table.column_names
            else pa.nulls(n, pa.string())
        )
        members = pa.table(
            {"seq": seq, "id": table["id"], "payload": table["payload"], "timestamp": ts}
        )
        try:
            with self.store.transaction() as tx:
                tx.add_members(
                    s.id,
                    [
                        MemberRow(*row)
                        for row in zip(
                            range(base, base + n),
                            table["id"].to_pylist(),
                            table["payload"].to_pylist(),
                            ts.to_pylist(),
                            strict=True,
                        )
                    ],
                )
                for name, v in s.views.items():
                    got, assigned, _ = assign_batch(tx, v, table, base)
                    rows = assigned["row"]
                    invalid = pa.table(got.invalid)
                    for column, reason in zip(
                        invalid["column"].to_pylist(), invalid["reason"].to_pylist(), strict=True
                    ):
                        # The column is named "{kind} {path}" (extraction_view).
                        self.summary.unknown[(name, column.partition(" ")[2], reason)] += 1
                    keys = node_key(pa, pc, assigned["bucket"], assigned["page"])
                    placed = members.take(rows)
                    self.open[name].keep(placed.add_column(0, "key", keys))
                    self._render_changes(tx, v, self.open[name], self.urls[name])
                    save_fragmenter(tx, v)
        except BaseException:
            self.engine._reload(s)
            raise
        s.next_seq = base + n
        self.summary.members += n
        self.summary.transactions += 1

    def _render_changes(
        self,
        tx: Transaction,
        v: LiveView,
        open_pages: OpenPages,
        urls: dict[tuple[str, int | None], str],
    ) -> None:
        """The nodes the view's fragmenter changed, rendered at once: the same node rows and
        stored bodies as ``Engine._render_changes`` writes."""
        s = self.s
        nodes, rels = (pa.table(t) for t in v.fragmenter.changes())
        keys = node_key(pa, pc, nodes["bucket"], nodes["page"]).to_pylist()
        buckets = nodes["bucket"].to_pylist()
        pages = nodes["page"].to_pylist()
        flags = nodes["immutable"].to_pylist()
        counts = nodes["members"].to_pylist()
        mutable = open_pages.mutable
        for key, page, frozen, n in zip(keys, pages, flags, counts, strict=True):
            if frozen:
                mutable.pop(key, None)
            elif page is not None:
                mutable[key] = n

        def url(bucket: str, page: int | None) -> str:
            known = urls.get((bucket, page))
            if known is None:
                known = urls[(bucket, page)] = node_url(v.url, bucket, page, "query")
            return known

        targets = [
            url(c, p)
            for c, p in zip(rels["child"].to_pylist(), rels["child_page"].to_pylist(), strict=True)
        ]
        rel_keys = node_key(pa, pc, rels["parent"], rels["parent_page"])
        by_parent: dict[str, list[dict[str, Any]]] = {}
        for k, type_, target, path, value, datatype in zip(
            rel_keys.to_pylist(),
            rels["type"].to_pylist(),
            targets,
            rels["path"].to_pylist(),
            rels["value"].to_pylist(),
            rels["datatype"].to_pylist(),
            strict=True,
        ):
            by_parent.setdefault(k, []).append(
                {"type": type_, "node": target, "path": path, "value": value, "datatype": datatype}
            )
        want = pa.array(keys, pa.string())
        table = open_pages.members(set(keys))
        order, starts, counts_ = _ldesfrag.page_rows(table.select(["key", "seq"]), want)
        roots = [k == "\n0" for k in keys]
        page_table = pa.table(
            {
                "node": pa.array([url(b, p) for b, p in zip(buckets, pages, strict=True)]),
                "start": pa.array(starts),
                "count": pa.array(counts_),
                # A root is never rendered immutable (render_node), whatever its flag says.
                "immutable": pa.array([f and not r for f, r in zip(flags, roots, strict=True)]),
                "root": pa.array(roots, pa.bool_()),
            }
        )
        relations = pa.table(
            {
                "page": pc.cast(pc.index_in(rel_keys, value_set=want), pa.uint32()),
                "type": rels["type"],
                "node": pa.array(targets, pa.string()),
                "path": rels["path"],
                "value": rels["value"],
                "datatype": rels["datatype"],
            }
        )
        node_rows = [
            NodeRow(b, p or 0, bool(f), json.dumps(by_parent.get(k, [])))
            for k, b, p, f in zip(keys, buckets, pages, flags, strict=True)
        ]
        # As the server stores them: bucket nodes and immutable pages (a mutable page is
        # rendered when fetched, from its rows).
        rendered = [
            r
            for r in render_rows(
                s, v, self.engine.formats, page_table, table, order, relations, node_rows
            )
            if r.immutable or r.page == 0
        ]
        tx.put_nodes(v.id, node_rows)
        tx.put_rendered(v.id, rendered)
        # Rows of immutable pages are dead; dropped from memory once they are the majority.
        open_pages.compact_if_mostly_dead(self.batch_size)


def bulk_load(
    store: Store,
    base_url: str,
    collection: str,
    inputs: Sequence[str | PathLike[str]],
    *,
    config: StreamConfig | None = None,
    batch_size: int = 65_536,
    max_line_bytes: int = DEFAULT_MAX_BYTES,
    max_member_bytes: int = DEFAULT_MAX_BYTES,
    progress: Callable[[int, float], None] | None = None,
) -> BulkSummary:
    """Loads the members of RDF dumps into ``collection`` of ``store``, as ingesting them
    through ``ldesfrag server`` at ``base_url`` would (the same pages, page numbers, relations
    and rendered bodies), in one transaction per ``batch_size`` members.

    The collection is created from ``config`` when the store has none of that name; when it
    exists, ``config`` (if given) must describe it as it is. ``base_url`` must be the one the
    server runs with: the stored pages name it. A member IRI the stream has (from an earlier
    run, earlier in the dumps, or through the server) is ignored and reported, as the server
    does; members the reader cannot use (a bad line, a member too large) are left out whole
    and listed with their file and line, as ``publish`` lists them.
    """
    if batch_size < 1:
        raise LdesfragError(f"batch size {batch_size}: at least 1")
    started = time.perf_counter()
    files = expand(inputs)
    engine = Engine(store, base_url)
    engine._load()
    summary = BulkSummary()
    s = engine.streams.get(collection)
    if config is not None and config.name != collection:
        raise LdesfragError(f"the configuration is of {config.name!r}, not {collection!r}")
    if s is None:
        if config is None:
            raise LdesfragError(
                f"the store has no collection {collection!r}: give its views (--view) or its "
                "configuration (--config)"
            )
        s = engine.create_stream(config)
        summary.created = True
    else:
        if config is not None:
            _check_same(s, config)
        engine.check_base_url(s)
    if s.closed:
        raise LdesfragError(f"event stream {collection!r} is closed")
    loader = _Loader(engine, s, summary, batch_size)
    for path in files:
        for table in prefetched(
            _batches(s, path, batch_size, max_line_bytes, max_member_bytes, summary.problems)
        ):
            loader.add(table)
            if progress:
                progress(summary.read, time.perf_counter() - started)
    summary.in_stream = s.next_seq
    summary.seconds = time.perf_counter() - started
    return summary


# ---- export -----------------------------------------------------------------------------------
@dataclass
class ExportSummary:
    view: str
    nodes: int
    members: int  # member links written (a member in two leaves counts twice)
    path: str  # the base URL's path: where `ldesfrag serve DIR --path` serves it


#: Nodes rendered (and their members held) at once by :func:`export`.
_EXPORT_CHUNK = 2_000


def export(
    store: Store,
    collection: str,
    out: str | PathLike[str],
    *,
    base_url: str,
    view: str | None = None,
    stream: str | None = None,
) -> ExportSummary:
    """Writes a stored view as the static tree ``publish --out`` writes (one Turtle file per
    node, path-style URLs under ``base_url``, ``_headers``), from the view's committed state:
    its structure from the saved fragmenter (as publish renders from its own), each page's
    members from the store. ``out`` must be new or empty; no publish state is written, so the
    tree is served by ``ldesfrag serve DIR --path {base URL's path}`` (or any static host),
    not appended to by ``publish``."""
    from ldesfrag._formats import FILE_EXTENSIONS
    from ldesfrag._publish.paths import base_path, check_base_url, node_path
    from ldesfrag._publish.publisher import headers_file
    from ldesfrag._render import cache_control

    base = check_base_url(base_url)
    engine = Engine(store, "http://export.invalid/")  # stored bodies are not read
    engine._load()
    s = engine.streams.get(collection)
    if s is None:
        raise LdesfragError(f"the store has no collection {collection!r}")
    if view is None:
        if len(s.views) != 1:
            raise LdesfragError(
                f"collection {collection!r} has the views {sorted(s.views)}: name one (--view)"
            )
        view = next(iter(s.views))
    v = s.views.get(view)
    if v is None:
        raise LdesfragError(f"collection {collection!r} has no view {view!r}")
    root_dir = Path(out)
    if root_dir.exists() and any(root_dir.iterdir()):
        raise LdesfragError(f"{root_dir}: not empty")
    root_dir.mkdir(parents=True, exist_ok=True)
    ext = FILE_EXTENSIONS["turtle"][1:]
    f = v.fragmenter
    pages = pa.table(f.pages())
    rels = pa.table(f.relations())
    nodes: set[tuple[str, int]] = {("", 0)}
    nodes.update(zip(pages["bucket"].to_pylist(), pages["page"].to_pylist(), strict=True))
    for b, p in (("parent", "parent_page"), ("child", "child_page")):
        nodes.update(
            (c, n or 0) for c, n in zip(rels[b].to_pylist(), rels[p].to_pylist(), strict=True)
        )
    order = sorted(nodes)

    def iri(bucket: str, page: int) -> str:
        return base + node_path(bucket, page or None, ext) if bucket or page else base

    position = {node: i for i, node in enumerate(order)}
    rel_page = [
        position[(c, n or 0)]
        for c, n in zip(rels["parent"].to_pylist(), rels["parent_page"].to_pylist(), strict=True)
    ]
    rel_node = [
        iri(c, n or 0)
        for c, n in zip(rels["child"].to_pylist(), rels["child_page"].to_pylist(), strict=True)
    ]
    relations = pa.table(
        {
            "page": pa.array(rel_page, pa.uint32()),
            "type": rels["type"],
            "node": pa.array(rel_node, pa.string()),
            "path": rels["path"],
            "value": rels["value"],
            "datatype": rels["datatype"],
        }
    )
    writer = _ldesfrag.FileWriter(root_dir)
    headers: dict[str, tuple[str, str]] = {}
    linked = 0
    for at in range(0, len(order), _EXPORT_CHUNK):
        chunk = order[at : at + _EXPORT_CHUNK]
        ids: list[str] = []
        payloads: list[str] = []
        stamps: list[str | None] = []
        starts, counts, frozen = [], [], []
        for bucket, page in chunk:
            found = store.node(s.id, v.id, bucket, page)
            if found is None:
                raise LdesfragError(
                    f"view {view!r}: node ({bucket!r}, {page}) is in the fragmenter's state but "
                    "not in the store"
                )
            node, members = found
            starts.append(len(ids))
            counts.append(len(members))
            frozen.append(node.immutable and bool(bucket or page))
            ids += [m.iri for m in members]
            payloads += [m.payload for m in members]
            stamps += [m.timestamp for m in members]
        linked += len(ids)
        mine = pc.and_(
            pc.greater_equal(relations["page"], at),
            pc.less(relations["page"], at + len(chunk)),
        )
        chunk_rels = relations.filter(mine)
        chunk_rels = chunk_rels.set_column(
            0, "page", pc.cast(pc.subtract(chunk_rels["page"], at), pa.uint32())
        )
        bodies, etags = _ldesfrag.render_pages(
            pa.table(
                {
                    "node": pa.array([iri(b, p) for b, p in chunk], pa.string()),
                    "start": pa.array(starts, pa.uint64()),
                    "count": pa.array(counts, pa.uint64()),
                    "immutable": pa.array(frozen, pa.bool_()),
                    "root": pa.array([not b and not p for b, p in chunk], pa.bool_()),
                }
            ),
            stream=stream or base + "#stream",
            members=pa.table(
                {
                    "id": pa.array(ids, pa.string()),
                    "payload": pa.array(payloads, pa.string()),
                    "timestamp": pa.array(stamps, pa.string()),
                }
            ),
            relations=chunk_rels,
            view_json=v.view.to_json(),
            timestamp_path=s.timestamp_path,
            version_of_path=s.settings["version_of_path"],
            format="turtle",
        )
        paths = [node_path(b, p or None, ext) for b, p in chunk]
        writer.create([root_dir / p for p in paths], bodies)
        for path, tag, immutable in zip(paths, etags, frozen, strict=True):
            headers[path] = (cache_control(immutable), tag)
    (root_dir / "_headers").write_bytes(headers_file(base, ext, headers))
    writer.sync()
    return ExportSummary(view, len(order), linked, base_path(base))
