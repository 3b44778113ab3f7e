"""One publish run over a directory: load the state, read the inputs in batches (extract →
assign → render the changed nodes → commit), write ``_headers``."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ldesfrag import _ldesfrag
from ldesfrag._formats import FILE_EXTENSIONS, FORMAT_ALIASES, rdf_format
from ldesfrag._fragmenter import Fragmenter
from ldesfrag._publish.inputs import plan, prefetched
from ldesfrag._publish.open_pages import (
    DEFAULT_OPEN_PAGES_BUDGET,
    Landing,
    OpenPages,
    ipc,
    node_key,
)
from ldesfrag._publish.paths import STATE_DIR, base_path, node_path
from ldesfrag._publish.state import STATE_FILE, FileSum, InputRecord, PublishState
from ldesfrag._publish.writer import STATE_TMP, Writer, finish_swaps, pending_file
from ldesfrag._rdf import CreateVersions, MemberReader, describe_problem
from ldesfrag._render import cache_control
from ldesfrag._view import View
from ldesfrag.exceptions import LdesfragError, StateError, StreamClosedError, ViewError

__all__ = ["DUPLICATE", "PublishSummary", "Publisher", "headers_file"]

#: The rejection reason of a member whose IRI the stream has already published.
DUPLICATE = "id: a member with this IRI was published before (the first is kept)"
_MAX_SEGMENTS = 32  # files per log in the state before it is compacted
_ID_SEGMENT = b"LDESSEEN"  # how a segment of the id log starts (rust/src/ids.rs)
# Bytes of pages a batch may stage while the commit before is in flight (group commit).
_MAX_STAGED = 128 << 20


def headers_file(base_url: str, ext: str, headers: dict[str, tuple[str, str]]) -> bytes:
    """``_headers``: the ``Cache-Control`` and ``ETag`` of each file, by URL path (a host reads
    them from its site root: they start with the base URL's path)."""
    prefix = base_path(base_url)
    lines: list[str] = []
    for path, (cache, etag) in sorted(headers.items()):
        # The root is fetched by its folder URL (the base URL) too.
        root = path == node_path("", None, ext)
        urls = [prefix, prefix + path] if root else [prefix + path]
        lines.extend(f"{u}\n  Cache-Control: {cache}\n  ETag: {etag}\n" for u in urls)
    return "\n".join(lines).encode()


class RdfProblem(NamedTuple):
    """An RDF problem met this run: where (input file, line), whose (member IRI, where known),
    why, and whether a statement or member was left out for it."""

    file: str
    line: int | None
    member: str | None
    reason: str
    dropped: bool

    def __str__(self) -> str:
        return describe_problem(self.file, self.line, self.member, self.reason)


@dataclass
class PublishSummary:
    """What a :func:`publish` run did. ``members``, ``rejected`` and ``problems`` count over the
    whole stream; the others this run."""

    members: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    problems: dict[str, int] = field(default_factory=dict)
    buckets: int = 0
    pages: int = 0
    immutable_pages: int = 0
    files_written: int = 0  # this run
    bytes_written: int = 0  # this run
    seconds: float = 0.0  # this run
    members_this_run: int = 0  # published (admitted) this run
    closed: bool = False
    members_read: int = 0  # input members read this run: published, already published or rejected
    #: Members read again after ``restart_input`` that the interrupted run had published: skipped,
    #: not repeats.
    already_published: int = 0
    rejected_this_run: int = 0
    #: This run's RDF problems, each with its file, line and member (``problems`` counts them by
    #: reason over the stream).
    problem_rows: list[RdfProblem] = field(default_factory=list)
    #: Open pages dropped from memory past ``open_pages_budget``, and read back (this run).
    open_pages_dropped: int = 0
    open_pages_read_back: int = 0


class Publisher:
    def __init__(
        self,
        out: Path,
        view: View,
        settings: dict[str, Any],
        reader_options: dict[str, Any],
        versions: CreateVersions | None,
        batch_size: int,
        progress: Callable[[int, float], None] | None,
        open_pages_budget: int | None = DEFAULT_OPEN_PAGES_BUDGET,
    ) -> None:
        try:
            import pyarrow as pa
            import pyarrow.compute as pc
        except ImportError:  # pragma: no cover - depends on the environment
            raise LdesfragError("publish needs pyarrow: pip install 'ldesfrag[cli]'") from None
        self.pa, self.pc = pa, pc
        self.out = out
        self.view = view
        self.settings = settings
        self.reader_options = reader_options
        self.versions = versions
        self.batch_size = batch_size
        self.progress = progress
        self.open_pages_budget = open_pages_budget
        self.format = rdf_format(settings["format"])
        self.ext = FILE_EXTENSIONS[self.format][1:]
        self.base: str = settings["base_url"]
        self.stream: str = settings["stream"]
        self.nodes: dict[tuple[str, int | None], tuple[str, str]] = {}
        self.state_dir = out / STATE_DIR
        self.committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ldesfrag-commit")
        # Log segments are encoded (LZ4) beside the commit's file writes, not before them.
        self.encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ldesfrag-encode")
        self.committing: Future[list[tuple[int, str]]] | None = None
        self.landing: Landing | None = None  # what the commit in flight logs of the open pages
        self.members_read = 0
        self.already_published = 0
        self.started = time.perf_counter()
        self.reading: InputRecord | None = None  # the input being read
        self.merges: list[tuple[str, list[str]]] = []  # id segments to merge at the next commit
        self._load()

    def close(self) -> None:
        """Lets a commit in flight complete (its state is consistent), also after an error."""
        self.committer.shutdown(wait=True)
        self.encoder.shutdown(wait=True)

    # ---- state -----------------------------------------------------------------------------
    def _read_file(self, name: str) -> bytes:
        """A state file listed by the state, checked against its committed size and digest."""
        path = self.state_dir / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StateError(
                f"{path}: missing from the publish state; restore the directory from a copy "
                "or publish into a new one"
            ) from None
        return self.state.check_file(name, data, path)

    def _read_table(self, name: str) -> Any:
        pa = self.pa
        data = self._read_file(name)
        try:
            return pa.ipc.open_file(pa.BufferReader(data)).read_all()
        except (pa.ArrowInvalid, OSError) as e:
            raise StateError(f"{self.state_dir / name}: corrupt publish state: {e}") from None

    def _load(self) -> None:
        pa, pc = self.pa, self.pc
        path = self.state_dir / STATE_FILE
        if not path.exists():
            strays = sorted(
                f.name
                for f in self.state_dir.iterdir()
                if f.name not in ("lock", "tmp", f"{STATE_FILE}.tmp")
            )
            if strays:
                raise StateError(
                    f"{path}: missing, while {self.state_dir} holds other state files "
                    f"({', '.join(strays[:3])}…); restore the directory from a copy or publish "
                    "into a new one"
                )
            # A new directory: its state is committed before any page is written.
            self.state = PublishState(view=self.view.to_dict(), settings=self.settings)
            self.writer = Writer(self.out)
            self.writer.write_now(path, self.state.to_bytes())
            lost: list[str] = []
        else:
            self.state = PublishState.from_bytes(path.read_bytes(), path)
            # A crash may have left swaps of the committed generation undone.
            swaps = self._pending(self.state.generation)
            lost = finish_swaps(self.out, swaps) if swaps else []
            self.writer = Writer(self.out)
        state = self.state
        if state.view != self.view.to_dict():
            raise ViewError(f"{self.out} was published with another view: {json.dumps(state.view)}")
        for key in ("base_url", "format", "stream"):
            was = state.settings.get(key)
            if key == "format" and isinstance(was, str):
                # A directory published before the format names were unified says ``ttl``, …
                was = FORMAT_ALIASES.get(was, was)
            if was != self.settings[key]:
                raise LdesfragError(
                    f"{self.out} was published with {key} {state.settings.get(key)!r}, "
                    f"not {self.settings[key]!r}"
                )
        self.fresh = state.generation == 0
        if self.fresh:
            self.fragmenter = Fragmenter(self.view)
        else:
            name = state.fragmenter_file
            try:
                self.fragmenter = Fragmenter.from_state(self.view, self._read_file(name))
            except StateError as e:
                raise StateError(f"{self.state_dir / name}: {e}") from None
        pages = self._pages()
        mutable = pages.filter(pc.invert(pages["immutable"]))
        self.open = OpenPages(
            pa,
            pc,
            dict(zip(mutable["key"].to_pylist(), mutable["members"].to_pylist(), strict=True)),
            self.open_pages_budget,
            self.state_dir,
        )
        self.open.load(state.logs.open, self._read_table)
        self.headers: dict[str, tuple[str, str]] = {}
        self.logged_headers = 0
        for name in state.logs.headers:
            t = self._read_table(name)
            entries = zip(t["cache_control"].to_pylist(), t["etag"].to_pylist(), strict=True)
            self.headers.update(zip(t["path"].to_pylist(), entries, strict=True))
            self.logged_headers += t.num_rows
        self.new_headers: dict[str, tuple[str, str]] = {}
        # Member IRIs published so far (a log of 16-byte digests).
        self.seen = _ldesfrag.SeenIds()
        for name in state.logs.ids:
            try:
                self.seen.load(self._read_file(name))
            except StateError as e:
                raise StateError(f"{self.state_dir / name}: {e}") from None
        self.new_ids: list[bytes] = []
        # Sizes and digests of the committed state files (owned by the committing thread).
        self.sums = dict(state.files)
        self.repaired = self._repair(set(lost))
        # The listed files of the state on disk (owned by the committing thread from now on).
        self.committed = state.listed()
        self._remove_unlisted(
            self.committed | {STATE_FILE, "lock", pending_file(state.generation + 1)}
        )

    def _remove_unlisted(self, keep: set[str]) -> None:
        """Drops state files of other generations (replaced, or left by a killed commit)."""
        for f in self.state_dir.iterdir():
            if f.is_file() and f.name not in keep:
                f.unlink()

    def _pending(self, gen: int) -> list[list[Any]]:
        """The entries of generation ``gen``'s pending file ([] if none, or cut while written:
        then no page was written after it)."""
        try:
            entries = json.loads((self.state_dir / pending_file(gen)).read_bytes())
        except (FileNotFoundError, ValueError, UnicodeDecodeError):
            return []
        if not isinstance(entries, list) or not all(
            isinstance(e, list) and len(e) == 3 and isinstance(e[0], str) and isinstance(e[1], str)
            for e in entries
        ):
            return []
        return entries

    def _repair(self, lost: set[str]) -> bool:
        """Puts back the committed version of every page a killed commit had changed (listed in
        its ``pending`` file), and removes the files it had created: the tree is then the
        committed one, whatever the run reads next (the same input resumed, an input restarted,
        or others). ``lost``: committed pages to render again too. Returns whether anything was
        staged."""
        paths = {e[0] for e in self._pending(self.state.generation + 1)}
        changed = {p for p in paths if p in self.headers} | lost
        for rel in sorted(paths - changed):  # created by the killed commit
            target = self.out / rel
            target.unlink(missing_ok=True)
            for parent in target.parents:  # directories it alone needed
                if parent == self.out:
                    break
                try:
                    parent.rmdir()
                except OSError:
                    break
        if not changed:
            return False
        pa, pc = self.pa, self.pc
        pages = self._pages()
        rel = pa.table(self.fragmenter.relations())
        candidates = {("", 0)}
        candidates.update(zip(pages["bucket"].to_pylist(), pages["page"].to_pylist(), strict=True))
        for b, p in (("parent", "parent_page"), ("child", "child_page")):
            pairs = zip(rel[b].to_pylist(), rel[p].to_pylist(), strict=True)
            candidates.update((c, n or 0) for c, n in pairs)
        keys = [
            f"{bucket}\n{page}"
            for bucket, page in sorted(candidates)
            if self.node(bucket, page or None)[1] in changed
        ]
        frozen = pages.filter(pages["immutable"])["key"].to_pylist()
        rel = rel.append_column("key", node_key(pa, pc, rel["parent"], rel["parent_page"]))
        rel = rel.filter(pc.is_in(rel["key"], value_set=pa.array(keys, pa.string())))
        self._render(keys, set(frozen) & set(keys), rel, force=changed)
        return True

    def _ipc(self, table: Any) -> bytes:
        """One segment of a log (a segment is never rewritten, only dropped)."""
        return ipc(self.pa, table.schema, table.to_batches())

    def _encode(self, schema: Any, batches: list[Any]) -> Callable[[], bytes]:
        """A segment of the open members' log, encoded beside the commit's file writes."""
        return self.encoder.submit(ipc, self.pa, schema, batches).result

    def _merge_ids(self, names: list[str], extra: bytes) -> bytes:
        """One id log holding the digests of the segments ``names`` and of ``extra``
        (committing thread: the files are checked against the committed sums). Segments are
        concatenated, as a log may be (each digest is admitted once, and loading a log makes a
        set anyway): no second digest set in memory. A log of bare digests (written before
        segments) is merged through a set."""
        parts = []
        for name in names:
            path = self.state_dir / name
            expected = self.sums[name]
            data = path.read_bytes()
            if FileSum.of(data) != expected:
                raise StateError(f"{path}: changed since it was committed")
            parts.append(data)
        parts.append(extra)
        if all(p.startswith(_ID_SEGMENT) for p in parts if p):
            return b"".join(parts)
        merged = _ldesfrag.SeenIds()
        for data in parts:
            merged.load(data)
        return merged.records()

    def _commit(self, force: bool = True) -> None:
        """Writes the batch's pages, then the state, atomically and last, in the committing
        thread while the next batch is read and rendered; waits for the previous commit first,
        so commits happen in order and at most one is in flight.

        Without ``force``, while the commit before is still in flight (its sync waits for the
        device), the batch is left staged for the next commit: batches then commit in groups,
        a page changed by several of them is written once, and the reader is not held up by
        the disk. A crash redoes at most the uncommitted group (the state says where it began).

        The open members, the page headers and the member ids are logs: a commit appends the
        batch's segment, or, when a log has many segments or mostly dead rows, one compacted
        segment replaces it. So a commit writes O(batch), amortised.
        """
        busy = self.committing is not None and not self.committing.done()
        if not force and busy and self.writer.staged_bytes < _MAX_STAGED:
            return
        compact = self.open.compaction_due(self.batch_size, _MAX_SEGMENTS)
        if compact:  # it reads the log as the commit before leaves it
            self.wait()
        pa = self.pa
        state = self.state
        logs = state.logs
        staged = self.writer.take()
        gen = state.generation + 1
        fragmenter = self.fragmenter.state()
        outputs: list[tuple[str, Callable[[], bytes]]] = [
            (f"fragmenter-{gen}.bin", lambda: fragmenter)
        ]
        segments, landing = self.open.log(gen, compact, self._encode)
        outputs += segments
        logs.open = list(self.open.names)
        if (
            self.logged_headers + len(self.new_headers) > 2 * len(self.headers) + 1000
            or len(logs.headers) >= _MAX_SEGMENTS
        ):
            entries, logs.headers = self.headers, []
            self.logged_headers = 0
        else:
            entries = self.new_headers
        if entries:
            paths = sorted(entries)
            table = pa.table(
                {
                    "path": pa.array(paths, pa.string()),
                    "cache_control": pa.array([entries[p][0] for p in paths], pa.string()),
                    "etag": pa.array([entries[p][1] for p in paths], pa.string()),
                }
            )
            name = f"headers-{gen}.arrow"
            outputs.append((name, self.encoder.submit(self._ipc, table).result))
            logs.headers = [*logs.headers, name]
            self.logged_headers += table.num_rows
        self.new_headers = {}
        outputs += self._ids_segments(gen)
        for name, names in self.merges:
            outputs.append((name, functools.partial(self._merge_ids, names, b"")))
        self.merges = []
        state.generation = gen
        snapshot = copy.deepcopy(state)
        listed = snapshot.listed()

        def commit() -> list[tuple[int, str]]:
            sums = {n: s for n, s in self.sums.items() if n in listed}

            def produced() -> Iterator[tuple[str, bytes]]:
                # One state file in memory at a time (a compacted log may be large).
                for name, make in outputs:
                    data = make()
                    sums[name] = FileSum.of(data)
                    yield name, data

            def state_bytes() -> bytes:
                assert set(sums) == listed, (sorted(sums), sorted(listed))
                snapshot.files = sums
                return snapshot.to_bytes()

            before = self.committed
            # Once the commit before is durable, the files only its predecessors listed go.
            keep = before | listed | {STATE_FILE, STATE_TMP, "lock", pending_file(gen)}
            spares = self.writer.commit(
                staged,
                self.state_dir,
                gen,
                produced(),
                state_bytes,
                durable=lambda: self._remove_unlisted(keep),
            )
            self.sums = sums
            self.committed = listed
            return spares

        self.wait()
        self.committing = self.committer.submit(commit)
        self.landing = landing

    def _ids_segments(self, gen: int) -> list[tuple[str, Callable[[], bytes]]]:
        """The id log's new segment (the digests admitted since the last commit), or its
        compaction: one segment for the inputs read before, one for the input being read (so
        that a restart can tell what the interrupted read published)."""
        logs = self.state.logs
        data = b"".join(self.new_ids)
        self.new_ids = []
        own = self.reading.ids if self.reading is not None else None
        if len(logs.ids) + bool(data) <= _MAX_SEGMENTS:
            if not data:
                return []
            name = f"ids-{gen}.bin"
            logs.ids = [*logs.ids, name]
            if own is not None:
                own.append(name)
            return [(name, functools.partial(bytes, data))]
        mine = set(own or ())
        groups = [[n for n in logs.ids if n not in mine], [n for n in logs.ids if n in mine]]
        extras = [b"", data] if own is not None else [data, b""]
        outputs: list[tuple[str, Callable[[], bytes]]] = []
        logs.ids = []
        for i, (names, extra) in enumerate(zip(groups, extras, strict=True)):
            if not names and not extra:
                continue
            name = f"ids-{gen}-{i}.bin"
            outputs.append((name, functools.partial(self._merge_ids, names, extra)))
            logs.ids.append(name)
            if i == 1 and own is not None:
                own[:] = [name]
        return outputs

    def _finish(self) -> None:
        """Makes the last commit durable; then the files only the state before listed go."""
        self.writer.sync()
        self._remove_unlisted(self.committed | {STATE_FILE, "lock"})

    def wait(self) -> None:
        """Waits for the commit in flight (raising its error, if any)."""
        if self.committing is not None:
            committing, self.committing = self.committing, None
            self.writer.give_back(committing.result())
            if self.landing is not None:
                self.open.land(self.landing)
                self.landing = None

    # ---- structure -------------------------------------------------------------------------
    def _pages(self) -> Any:
        pages = self.pa.table(self.fragmenter.pages())
        return pages.append_column(
            "key", node_key(self.pa, self.pc, pages["bucket"], pages["page"])
        )

    def node(self, bucket: str, page: int | None) -> tuple[str, str]:
        """A node's IRI and file path, remembered: each batch links to many of the same
        nodes again."""
        known = self.nodes.get((bucket, page))
        if known is None:
            path = node_path(bucket, page, self.ext)
            known = (self.base + path if bucket or page else self.base, path)
            self.nodes[(bucket, page)] = known
        return known

    # ---- one batch -------------------------------------------------------------------------
    def add(self, batch: Any, rejected: Counter[str], reread: Any | None) -> None:
        """Assigns a batch of extracted members; renders and writes what changed. ``reread``:
        (the ids an interrupted read of this input published, the repeats seen so far in this
        read) when the input is read again after a restart."""
        pa, pc = self.pa, self.pc
        table = pa.table(batch)
        first, records = self.seen.admit(table["id"])
        self.new_ids.append(records)
        first = pa.array(first)
        repeats = len(first) - (pc.sum(first).as_py() or 0)
        if repeats:  # published before, in this batch or earlier: the first one stays
            already = 0
            if reread is not None:
                earlier, seen_again = reread
                ids = table["id"].filter(pc.invert(first))
                once = pa.array(seen_again.admit(ids)[0])
                # Each id reaches `earlier` once: its admit() is a lookup here.
                new = pa.array(earlier.admit(ids.filter(once))[0])
                already = len(new) - (pc.sum(new).as_py() or 0)
            self.already_published += already
            if repeats - already:
                rejected[DUPLICATE] += repeats - already
            table = table.filter(first)
        report = self.fragmenter.assign_with_report(table)
        assigned = pa.table(report.assigned)
        for r in pa.table(report.rejected)["reason"].to_pylist():
            rejected[r] += 1
        rows = assigned["row"]
        seq = pc.add(rows, pa.scalar(self.state.members, pa.uint64()))
        keys = pc.binary_join_element_wise(
            assigned["bucket"], pc.cast(assigned["page"], pa.string()), "\n"
        )
        ts = (
            pc.cast(table["timestamp"], pa.string())
            if self.settings["timestamp_path"] and "timestamp" in table.column_names
            else pa.nulls(table.num_rows, pa.string())
        )
        columns = {"id": table["id"], "payload": table["payload"], "timestamp": ts}
        # One leaf per member, in order (points, no rejections): no copy needed.
        identity = assigned.num_rows == table.num_rows and (
            table.num_rows < 2
            or pc.all(pc.equal(pc.pairwise_diff(rows.combine_chunks()), 1)).as_py()
        )
        if not identity:
            columns = {name: pc.take(c, rows) for name, c in columns.items()}
        self.open.add(pa.table({"key": keys, "seq": seq, **columns}))
        self.state.members += table.num_rows
        self._render_changed()

    def _render_changed(self) -> None:
        """Renders the nodes the fragmenter changed since the last call (new members, new
        relations, newly immutable: these get their last rendering, with `ldes:immutable`)."""
        pa = self.pa
        nodes, rel = (pa.table(t) for t in self.fragmenter.changes())
        keys = node_key(pa, self.pc, nodes["bucket"], nodes["page"]).to_pylist()
        immutable: set[str] = set()
        is_page = nodes["page"].is_valid().to_pylist()
        flags = nodes["immutable"].to_pylist()
        members = nodes["members"].to_pylist()
        mutable = self.open.mutable
        for key, page, frozen, n in zip(keys, is_page, flags, members, strict=True):
            if frozen:
                immutable.add(key)
                mutable.pop(key, None)
            elif page:
                mutable[key] = n
        rel = rel.append_column("key", node_key(pa, self.pc, rel["parent"], rel["parent_page"]))
        self._render(keys, immutable, rel, sizes=dict(zip(keys, members, strict=True)))
        if self.committing is not None and self.committing.done():
            self.wait()  # its log segments are on disk: pages in them can be dropped
        # Rows of immutable pages are dead, and pages past the budget are dropped from memory.
        self.open.shrink(self.batch_size)

    def _summary_counts(self) -> tuple[int, int, int]:
        """(buckets with pages, pages, immutable pages)."""
        pc = self.pc
        pages = self._pages()
        if not pages.num_rows:
            return 0, 0, 0
        frozen = pc.sum(pages["immutable"]).as_py()
        return pc.count_distinct(pages["bucket"]).as_py(), pages.num_rows, frozen

    def _render(
        self,
        keys: list[str],
        immutable: set[str],
        rel: Any,
        force: set[str] | None = None,
        sizes: dict[str, int] | None = None,
    ) -> None:
        """Renders the nodes ``keys`` (in parallel, in Rust) and stages those that changed (and
        those whose paths are in ``force``); ``sizes``: members of each, where known. With a
        budget for open pages, in groups whose members fit it."""
        pa, pc = self.pa, self.pc
        groups = self.open.groups(keys, sizes or {})
        if len(groups) == 1:
            self._render_group(keys, immutable, rel, force)
            return
        pending = set(keys)
        for group in groups:
            mine = pc.is_in(rel["key"], value_set=pa.array(group, pa.string()))
            self._render_group(group, immutable, rel.filter(mine), force)
            pending.difference_update(group)
            self.open.shrink(self.batch_size, frozenset(pending))

    def _render_group(
        self, keys: list[str], immutable: set[str], rel: Any, force: set[str] | None
    ) -> None:
        pa, pc = self.pa, self.pc
        want = pa.array(keys, pa.string())
        table = self.open.members(set(keys))
        self.open.touch(keys)
        # The rows of each page's members, by arrival (only row numbers: render_pages reads the
        # members through them).
        order, starts, counts = _ldesfrag.page_rows(table.select(["key", "seq"]), want)
        children = zip(rel["child"].to_pylist(), rel["child_page"].to_pylist(), strict=True)
        # Most children were linked to before: their IRIs straight from the cache (a batch
        # renders ~16 k relations, mostly the same again).
        known = self.nodes
        child_iris = [(known.get(c) or self.node(*c))[0] for c in children]
        relations = pa.table(
            {
                "page": pc.cast(pc.index_in(rel["key"], value_set=want), pa.uint32()),
                "type": rel["type"],
                "node": pa.array(child_iris, pa.string()),
                "path": rel["path"],
                "value": rel["value"],
                "datatype": rel["datatype"],
            }
        )
        nodes, paths = [], []
        for key in keys:
            bucket, page_text = key.rsplit("\n", 1)
            iri, path = self.node(bucket, int(page_text) or None)
            nodes.append(iri)
            paths.append(path)
        pages = pa.table(
            {
                "node": pa.array(nodes, pa.string()),
                "start": pa.array(starts),
                "count": pa.array(counts),
                "immutable": pa.array([k in immutable for k in keys], pa.bool_()),
                "root": pa.array([k == "\n0" for k in keys], pa.bool_()),
            }
        )
        with_ts = bool(self.settings["timestamp_path"])
        columns = ["id", "payload", "timestamp"] if with_ts else ["id", "payload"]
        bodies, etags = _ldesfrag.render_pages(
            pages,
            stream=self.stream,
            members=table.select(columns),
            order=order,
            relations=relations,
            view_json=self.view.to_json(),
            timestamp_path=self.settings["timestamp_path"],
            version_of_path=self.settings["version_of_path"],
            format=self.format,
        )
        cache = {True: cache_control(True), False: cache_control(False)}
        force = force or set()
        for key, path, body, tag in zip(keys, paths, bodies, etags, strict=True):
            entry = (cache[key in immutable], tag)
            if self.headers.get(path) == entry and path not in force:
                continue  # unchanged (and immutable pages never change)
            new = path not in self.headers and key != "\n0"  # the root: always atomic
            self.headers[path] = self.new_headers[path] = entry
            self.writer.stage(path, body, tag, new)

    # ---- runs ------------------------------------------------------------------------------
    def run(self, files: list[Path], close: bool, restart: bool) -> PublishSummary:
        pa = self.pa
        state = self.state
        members_before = state.members
        rejected_before = sum(state.rejected.values())
        the_plan = plan(state, files, restart, versions=self.versions is not None)
        if the_plan.todo and state.closed:
            raise StreamClosedError(f"{self.out}: the stream is closed; no members can be added")
        for i, record in enumerate(the_plan.forgotten):
            # What it published is remembered per path, so that reading it again skips those
            # members as already published rather than counting them as repeats.
            names = [*record.ids]
            if record.path in state.earlier:
                names.append(state.earlier[record.path])
            if names:
                name = f"earlier-{state.generation + 1}-{i}.bin"
                self.merges.append((name, names))
                state.earlier[record.path] = name
        if self.fresh or the_plan.todo or the_plan.forgotten or self.repaired:
            # Registers the inputs (and renders the root of a new directory) before any batch.
            self._render_changed()
            self._commit()
        rejected: Counter[str] = Counter(state.rejected)
        problems: Counter[str] = Counter(state.problems)
        problem_rows: list[RdfProblem] = []
        for record in the_plan.todo:
            reread = None
            if record.path in state.earlier:
                self.wait()  # the earlier segment is committed
                earlier = _ldesfrag.SeenIds()
                earlier.load(self._read_file(state.earlier[record.path]))
                reread = (earlier, _ldesfrag.SeenIds())
            self.reading = record
            options = dict(self.reader_options)
            if self.versions is not None:
                stamp = self.versions.timestamp or record.version_time
                options["versions"] = dataclasses.replace(self.versions, timestamp=stamp)
            reader = MemberReader(record.path, self.view, batch_size=self.batch_size, **options)
            skip = record.members
            for batch in prefetched(reader):
                n = batch.num_rows
                if skip >= n:
                    skip -= n
                    continue
                if skip:
                    batch = pa.table(batch).slice(skip)
                    n -= skip
                    skip = 0
                self.add(batch, rejected, reread)
                record.members += n
                self.members_read += n
                state.rejected = dict(rejected)
                self._commit(force=False)
                if self.progress:
                    self.progress(self.members_read, time.perf_counter() - self.started)
            for p in pa.table(reader.problems()).to_pylist():
                problems[("dropped: " if p["dropped"] else "") + p["reason"]] += 1
                problem_rows.append(
                    RdfProblem(p["file"], p["line"], p["member"], p["reason"], p["dropped"])
                )
            state.problems = dict(problems)
            record.done = True
            record.ids = []
            state.earlier.pop(record.path, None)
            self.reading = None
            self._commit()
        if close and not state.closed:
            self.fragmenter.close()
            state.closed = True
            self._render_changed()
            self._commit()
        self.wait()
        self._finish()
        self._write_headers()
        buckets, pages, immutable = self._summary_counts()
        return PublishSummary(
            members=state.members,
            rejected=dict(rejected),
            problems=dict(problems),
            buckets=buckets,
            pages=pages,
            immutable_pages=immutable,
            files_written=self.writer.written,
            bytes_written=self.writer.bytes,
            seconds=time.perf_counter() - self.started,
            members_this_run=state.members - members_before,
            closed=state.closed,
            members_read=self.members_read,
            already_published=self.already_published,
            rejected_this_run=sum(rejected.values()) - rejected_before,
            problem_rows=problem_rows,
            open_pages_dropped=self.open.evicted,
            open_pages_read_back=self.open.read_back,
        )

    def _write_headers(self) -> None:
        data = headers_file(self.base, self.ext, self.headers)
        target = self.out / "_headers"
        if not target.exists() or target.read_bytes() != data:
            self.writer.write_now(target, data)
            self.writer.written += 1
            self.writer.bytes += len(data)
