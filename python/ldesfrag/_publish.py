"""``publish``: RDF dumps → a static LDES directory, incrementally and crash-safely.

Each batch of members goes through extract (:class:`MemberReader`) → assign (:class:`Fragmenter`) →
render (as :func:`render_page` does, many pages at once, in parallel); only the pages a batch
changed (new members, a new relation, newly immutable) are rendered and written. Between batches
only the members of the mutable pages are kept, so memory follows the batch size and the number of
open pages.

Layout under DIR (one file per node; path-style URLs, no query strings):

- ``index.<ext>``: the root (view) node, served for the base URL, with ``<stream> tree:view``;
- ``<pair>/…/<pair>/index.<ext>``: a bucket's own node; ``<pair>/…/page-<n>.<ext>``: its pages.
  A pair is one ``key=value`` of the canonical bucket id, with every byte outside
  ``[A-Za-z0-9-.=]`` written ``_XX`` (so ``/ : ? # %`` never reach the host's URL decoding), split
  into directories ending in ``~`` when long. ``tile=15/16882/10975&year=2023`` →
  ``tile=15_2F16882_2F10975/year=2023/``;
- ``_headers``: ``Cache-Control`` and ``ETag`` of every file (Netlify/Cloudflare style);
- ``.ldesfrag/``: the state (settings, fragmenter state, open pages, input progress).

Crash safety: a batch's pages are written (spare file, one sync, atomic swap or rename), then the
state is committed atomically, last. A rerun resumes at the committed input position; rendering is
deterministic, so pages rewritten by the rerun are byte-identical and the tree equals that of one
uninterrupted run.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import functools
import glob
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from queue import Full, Queue
from typing import TYPE_CHECKING, Any

from ldesfrag import _ldesfrag
from ldesfrag._fragmenter import Fragmenter
from ldesfrag._rdf import DCT_IS_VERSION_OF, CreateVersions, MemberMode, MemberReader
from ldesfrag._render import FILE_EXTENSIONS, RdfFormat, cache_control
from ldesfrag._view import HierarchicalTime, View
from ldesfrag.exceptions import LdesfragError, StateError, StreamClosedError, ViewError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["FORMATS", "PublishSummary", "bucket_path", "node_path", "publish"]

#: File extension → the format name of :func:`~ldesfrag.render_page`.
FORMATS: dict[str, RdfFormat] = {ext[1:]: f for f, ext in FILE_EXTENSIONS.items()}
STATE_DIR = ".ldesfrag"
_STATE_VERSION = 1
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.=")
_SEGMENT = 180  # characters per path segment, under every file name limit
_MAX_SEGMENTS = 32  # files per log in the state before it is compacted
_KILL_AT = "_LDESFRAG_PUBLISH_KILL_AT_WRITE"  # tests: SIGKILL this process at the Nth file write
#: The rejection reason of a member whose IRI the stream has already published.
DUPLICATE = "id: a member with this IRI was published before (the first is kept)"


def _escape(text: str) -> list[str]:
    """The escaped form of ``text``, one token (``c`` or ``_XX``) per byte."""
    return [
        chr(b) if b in _SAFE and not (i == 0 and b == ord(".")) else f"_{b:02X}"
        for i, b in enumerate(text.encode())
    ]


# ASCII → its escaped form, for the common all-ASCII pair (str.translate, no per-byte loop).
_ASCII_ESCAPES = {b: chr(b) if b in _SAFE else f"_{b:02X}" for b in range(128)}


@functools.lru_cache(maxsize=1 << 16)
def bucket_path(bucket: str) -> str:
    """The directory (relative, ``/``-terminated, ``""`` for the root) of a canonical bucket id."""
    if not bucket:
        return ""
    parts: list[str] = []
    for pair in bucket.split("&"):
        if pair.isascii() and not pair.startswith("."):
            escaped = pair.translate(_ASCII_ESCAPES)
            if len(escaped) <= _SEGMENT:
                parts.append(escaped)
                continue
        segment = ""
        for token in _escape(pair):
            if len(segment) + len(token) > _SEGMENT:
                parts.append(segment + "~")
                segment = ""
            segment += token
        parts.append(segment)
    return "/".join(parts) + "/"


@functools.lru_cache(maxsize=1 << 17)
def node_path(bucket: str, page: int | None, ext: str) -> str:
    """The file of a node: a bucket's own node (``page`` None or 0) or one of its pages."""
    name = f"page-{page}" if page else "index"
    return f"{bucket_path(bucket)}{name}.{ext}"


@dataclass
class PublishSummary:
    """What a :func:`publish` run did (counts over the whole stream unless said otherwise)."""

    members: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    problems: dict[str, int] = field(default_factory=dict)
    buckets: int = 0
    pages: int = 0
    immutable_pages: int = 0
    files_written: int = 0  # this run
    bytes_written: int = 0  # this run
    seconds: float = 0.0  # this run
    members_this_run: int = 0
    closed: bool = False


_Staged = tuple[list[tuple[str, str, bytes]], list[tuple[str, bytes]]]


class _Writer:
    """Atomic file writes: each file goes to a spare file in the state directory, the batch is
    synced once, then each spare is swapped with its target in one step.

    Swapping (``renameat2(RENAME_EXCHANGE)`` on Linux) leaves the target's old inode behind as a
    spare for a later write, which overwrites it in place. So rewriting a page neither frees
    blocks (milliseconds per file on ext4 with ``discard``, common on VMs) nor creates a file.
    A spare is picked no larger than the new content, so it only grows and is never truncated.
    Spares stay in the state directory between runs. Where swapping is not supported, a plain
    rename replaces the target (equally atomic, only slower). Writing and swapping run in Rust,
    without the GIL.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / STATE_DIR / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        # Spares, as sorted (size, name); a killed run's half-written files are spares too.
        self.spares: list[tuple[int, str]] = []
        self.next_spare = 0
        for f in self.tmp.iterdir():
            if f.name.startswith("spare-") and f.name[6:].isdigit():
                self.spares.append((f.stat().st_size, f.name))
                self.next_spare = max(self.next_spare, int(f.name[6:]) + 1)
            else:
                f.unlink()
        self.spares.sort()
        self.pending: list[tuple[str, str, bytes]] = []  # spare, target, body
        self.pending_new: list[tuple[str, bytes]] = []  # target, body
        self.count = 0
        self.files = 0
        self.bytes = 0
        kill = os.environ.get(_KILL_AT)
        self.kill_at = int(kill) if kill else None

    def _checkpoint(self) -> None:
        self.count += 1
        if self.kill_at is not None and self.count >= self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def _spare(self, size: int) -> str:
        """The largest spare no larger than ``size``, or a new one."""
        i = bisect.bisect_right(self.spares, (size, "\uffff"))
        if i:
            return self.spares.pop(i - 1)[1]
        self.next_spare += 1
        return f"spare-{self.next_spare - 1}"

    def stage(self, rel: str, data: bytes, new: bool = False) -> None:
        """Queues ``data`` for ``rel``, written by the :meth:`put` of a commit. ``new``: no
        file was ever published at ``rel`` and none links to it yet, so it is written in place
        (no spare, no rename; the pages linking to it are swapped in after the batch's sync)."""
        target = f"{self.root}/{rel}"
        if new:
            self.pending_new.append((target, data))
        else:
            self.pending.append((f"{self.tmp}/{self._spare(len(data))}", target, data))
        self.files += 1
        self.bytes += len(data)

    def take(self) -> _Staged:
        """The staged files, for :meth:`put`; staging starts over."""
        staged = (self.pending, self.pending_new)
        self.pending, self.pending_new = [], []
        return staged

    def put(self, staged: _Staged) -> list[tuple[int, str]]:
        """Writes new files in place and the others to their spares, makes them durable, then
        swaps (or renames) the spares into place. Returns the spares that now hold old
        versions, for :meth:`give_back`. Runs in the committing thread: it touches no state but
        the files named."""
        pending, new = staged
        if not pending and not new:
            return []
        leftovers: list[tuple[str, str]] = []
        if new:
            new_targets = [t for t, _ in new]
            new_bodies = [b for _, b in new]
            # A file there already is a killed run's, which may be linked from a page that run
            # swapped in: it is replaced atomically, by a rename after the sync.
            existed = _ldesfrag.write_new_files(new_targets, new_bodies)
            leftovers = [(f"{self.tmp}/new-{i}", new_targets[i]) for i in existed]
            _ldesfrag.write_files([tmp for tmp, _ in leftovers], [new_bodies[i] for i in existed])
        spares = [s for s, _, _ in pending]
        targets = [t for _, t, _ in pending]
        _ldesfrag.write_files(spares, [b for _, _, b in pending])
        os.sync()  # one sync for the batch instead of one fsync per page
        for tmp, target in leftovers:
            os.replace(tmp, target)
        if self.kill_at is None:
            old = _ldesfrag.swap_files(spares, targets)
        else:  # tests: one file at a time, to be killed between any two
            old = []
            for spare, target in zip(spares, targets, strict=True):
                self._checkpoint()
                old += _ldesfrag.swap_files([spare], [target])
        if spares or leftovers:
            os.sync()  # the swaps are durable before the state that counts on them
        return [(n, s.rsplit("/", 1)[1]) for s, n in zip(spares, old, strict=True) if n >= 0]

    def give_back(self, spares: list[tuple[int, str]]) -> None:
        for spare in spares:
            bisect.insort(self.spares, spare)

    def write_now(self, target: Path, data: bytes) -> None:
        """One atomic, durable write (temp + fsync + rename + directory fsync)."""
        self._checkpoint()
        tmp = self.tmp / f"now-{target.name}"
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(target)
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _pa() -> Any:
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - depends on the environment
        raise LdesfragError("publish needs pyarrow: pip install 'ldesfrag[cli]'") from None
    return pa


def _expand(inputs: Sequence[str | PathLike[str]]) -> list[Path]:
    files: list[Path] = []
    for item in inputs:
        text = os.fspath(item)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        if not matches:
            raise LdesfragError(f"{text}: no file matches")
        for m in matches:
            p = Path(m).resolve()
            if not p.is_file():
                raise LdesfragError(f"{m}: not a file")
            if p not in files:  # a file named twice is read once
                files.append(p)
    return files


def _prefetched(batches: Iterable[Any]) -> Iterator[Any]:
    """The batches, each read in a background thread while the previous one is processed (the
    reader releases the GIL)."""
    queue: Queue[tuple[str, Any]] = Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for batch in batches:
                while not stop.is_set():
                    try:
                        queue.put(("batch", batch), timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(("end", None))
        except BaseException as e:  # handed to the consumer
            queue.put(("error", e))

    thread = threading.Thread(target=produce, name="ldesfrag-read", daemon=True)
    thread.start()
    try:
        while True:
            kind, item = queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _now() -> str:
    t = datetime.now(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _identity(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class _Publisher:
    def __init__(
        self,
        out: Path,
        view: View,
        settings: dict[str, Any],
        reader_options: dict[str, Any],
        versions: CreateVersions | None,
        batch_size: int,
        progress: Callable[[int, float], None] | None,
    ) -> None:
        self.pa = _pa()
        import pyarrow.compute as pc

        self.pc = pc
        self.out = out
        self.view = view
        self.settings = settings
        self.reader_options = reader_options
        self.versions = versions
        self.batch_size = batch_size
        self.progress = progress
        self.ext: str = settings["format"]
        self.base: str = settings["base_url"]
        self.nodes: dict[tuple[str, int | None], tuple[str, str]] = {}
        self.stream: str = settings["stream"]
        self.state_dir = out / STATE_DIR
        self.writer = _Writer(out)
        self.committer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ldesfrag-commit")
        # Log segments are encoded (LZ4) beside the commit's file writes, not before them.
        self.encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ldesfrag-encode")
        self.committing: Future[list[tuple[int, str]]] | None = None
        self.members_this_run = 0
        self.started = time.perf_counter()
        self._load()

    # ---- state -----------------------------------------------------------------------------
    def _load(self) -> None:
        pc = self.pc
        path = self.state_dir / "state.json"
        self.headers: dict[str, tuple[str, str]] = {}
        if not path.exists():
            self.state: dict[str, Any] = {
                "version": _STATE_VERSION,
                "view": self.view.to_dict(),
                "settings": self.settings,
                "generation": 0,
                "inputs": [],
                "members": 0,
                "rejected": {},
                "problems": {},
                "closed": False,
                "logs": {"open": [], "headers": [], "ids": []},
            }
            self.fragmenter = Fragmenter(self.view)
            self.fresh = True
        else:
            try:
                state = json.loads(path.read_text(encoding="utf-8"))
                if state.get("version") != _STATE_VERSION:
                    raise StateError(f"{path}: state version {state.get('version')!r}")
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise StateError(f"{path}: corrupt state: {e}") from None
            if state["view"] != self.view.to_dict():
                raise ViewError(
                    f"{self.out} was published with another view: {json.dumps(state['view'])}"
                )
            for key in ("base_url", "format", "stream"):
                if state["settings"][key] != self.settings[key]:
                    raise LdesfragError(
                        f"{self.out} was published with {key} {state['settings'][key]!r}, "
                        f"not {self.settings[key]!r}"
                    )
            self.state = state
            self.fragmenter = Fragmenter.from_state(
                self.view, (self.state_dir / f"fragmenter-{state['generation']}.bin").read_bytes()
            )
            self.fresh = False
        self._remove_unlisted(self._state_files())
        pages = self._pages()
        mutable = pages.filter(pc.invert(pages["immutable"]))
        # The mutable pages (key → members), kept current from the fragmenter's changes.
        self.mutable: dict[str, int] = dict(
            zip(mutable["key"].to_pylist(), mutable["members"].to_pylist(), strict=True)
        )
        # Open members: the logged rows of pages that are still mutable.
        logged = [self._read(n) for n in self.state["logs"]["open"]]
        # Open members in chunks, each with the set of its page keys (so rendering a batch reads
        # only the chunks holding its pages).
        self.open_chunks: list[tuple[pa.Table, set[str]]] = []
        mutable_keys = self._mutable_keys()
        for t in logged:
            self._keep_open(t.filter(pc.is_in(t["key"], value_set=mutable_keys)))
        self.open_rows = sum(t.num_rows for t, _ in self.open_chunks)
        self.logged_open = sum(t.num_rows for t in logged)
        self.logged_headers = 0
        for name in self.state["logs"]["headers"]:
            t = self._read(name)
            entries = zip(t["cache_control"].to_pylist(), t["etag"].to_pylist(), strict=True)
            self.headers.update(zip(t["path"].to_pylist(), entries, strict=True))
            self.logged_headers += t.num_rows
        self.new_open: list[Any] = []
        self.new_headers: dict[str, tuple[str, str]] = {}
        # Member IRIs published so far (a log of 16-byte digests; none in older states).
        self.state["logs"].setdefault("ids", [])
        self.seen = _ldesfrag.SeenIds()
        for name in self.state["logs"]["ids"]:
            self.seen.load((self.state_dir / name).read_bytes())
        self.new_ids: list[bytes] = []

    def _read(self, name: str) -> pa.Table:
        with self.pa.OSFile(str(self.state_dir / name)) as f:
            return self.pa.ipc.open_file(f).read_all()

    def _ipc(self, table: pa.Table) -> bytes:
        """One segment of a log (a segment is never rewritten, only dropped)."""
        pa = self.pa
        sink = pa.BufferOutputStream()
        # LZ4: payloads are N-Triples text, a fraction of their size compressed, at GB/s.
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        with pa.ipc.new_file(sink, table.schema, options=options) as w:
            w.write_table(table)
        return bytes(sink.getvalue().to_pybytes())

    def _state_files(self) -> set[str]:
        keep = {f"fragmenter-{self.state['generation']}.bin", "state.json", "lock"}
        keep.update(n for names in self.state["logs"].values() for n in names)
        return keep

    def _remove_unlisted(self, keep: set[str]) -> None:
        """Drops state files of other generations (replaced, or left by a killed commit)."""
        for f in self.state_dir.iterdir():
            if f.is_file() and f.name not in keep:
                f.unlink()

    def _commit(self) -> None:
        """Writes the batch's pages, then the state, atomically and last, in the committing
        thread while the next batch is read and rendered; waits for the previous commit first,
        so commits happen in order and at most one is in flight.

        The open members and the page headers are logs: a commit appends the batch's segment,
        or, when most logged rows are dead (pages now immutable, headers rewritten), one
        compacted segment replaces the log. So a commit writes O(batch), amortised.
        """
        pa = self.pa
        files = self.writer.take()
        gen = self.state["generation"] + 1
        fragmenter = self.fragmenter.state()
        segments: list[tuple[str, Any]] = []  # (file, table)
        logs = self.state["logs"]
        live = self.open_rows
        if self.logged_open > 2 * live + self.batch_size or len(logs["open"]) >= _MAX_SEGMENTS:
            table = self._compact_open()
            segments.append((f"open-{gen}.arrow", table))
            logs["open"] = [f"open-{gen}.arrow"]
            self.logged_open = table.num_rows
        elif self.new_open:
            table = pa.concat_tables(self.new_open)
            segments.append((f"open-{gen}.arrow", table))
            logs["open"] = [*logs["open"], f"open-{gen}.arrow"]
            self.logged_open += table.num_rows
        self.new_open = []
        if (
            self.logged_headers + len(self.new_headers) > 2 * len(self.headers) + 1000
            or len(logs["headers"]) >= _MAX_SEGMENTS
        ):
            entries, logs["headers"] = self.headers, []
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
            segments.append((f"headers-{gen}.arrow", table))
            logs["headers"] = [*logs["headers"], f"headers-{gen}.arrow"]
            self.logged_headers += table.num_rows
        self.new_headers = {}
        raw: list[tuple[str, bytes]] = []  # (file, bytes)
        if len(logs["ids"]) >= _MAX_SEGMENTS:
            raw.append((f"ids-{gen}.bin", self.seen.records()))
            logs["ids"] = [f"ids-{gen}.bin"]
        elif any(self.new_ids):
            raw.append((f"ids-{gen}.bin", b"".join(self.new_ids)))
            logs["ids"] = [*logs["ids"], f"ids-{gen}.bin"]
        self.new_ids = []
        self.state["generation"] = gen
        text = json.dumps(self.state, indent=1, sort_keys=True).encode()
        keep = self._state_files()
        encoded = [(name, self.encoder.submit(self._ipc, table)) for name, table in segments]

        def commit() -> list[tuple[int, str]]:
            spares = self.writer.put(files)
            self.writer.write_now(self.state_dir / f"fragmenter-{gen}.bin", fragmenter)
            for name, data in raw:
                self.writer.write_now(self.state_dir / name, data)
            for name, segment in encoded:
                self.writer.write_now(self.state_dir / name, segment.result())
            self.writer.write_now(self.state_dir / "state.json", text)
            self._remove_unlisted(keep)
            return spares

        self.wait()
        self.committing = self.committer.submit(commit)

    def wait(self) -> None:
        """Waits for the commit in flight (raising its error, if any)."""
        if self.committing is not None:
            committing, self.committing = self.committing, None
            self.writer.give_back(committing.result())

    # ---- structure -------------------------------------------------------------------------
    def _keep_open(self, table: pa.Table) -> None:
        self.open_chunks.append((table, set(self.pc.unique(table["key"]).to_pylist())))

    def _open_members(self, keys: set[str] | None = None) -> pa.Table:
        """The open members (of the pages ``keys`` and maybe others), as one table."""
        chunks = [t for t, ks in self.open_chunks if keys is None or not keys.isdisjoint(ks)]
        return self.pa.concat_tables(chunks) if chunks else self._empty_open()

    def _compact_open(self) -> pa.Table:
        """Keeps in memory only the rows of mutable pages, as one chunk."""
        table = self._open_members()
        table = table.filter(self.pc.is_in(table["key"], value_set=self._mutable_keys()))
        self.open_chunks = []
        self._keep_open(table.combine_chunks())
        return self.open_chunks[0][0]

    def _empty_open(self) -> pa.Table:
        pa = self.pa
        return pa.table(
            {
                "key": pa.array([], pa.string()),
                "seq": pa.array([], pa.uint64()),
                "id": pa.array([], pa.string()),
                "payload": pa.array([], pa.string()),
                "timestamp": pa.array([], pa.string()),
            }
        )

    def _key(self, bucket: Any, page: Any) -> Any:
        """Per row, the key of a node: its bucket and page (0 for the bucket's own node),
        joined by a newline."""
        pc, pa = self.pc, self.pa
        page = pc.fill_null(page, pa.scalar(0, pa.uint32()))
        return pc.binary_join_element_wise(bucket, pc.cast(page, pa.string()), "\n")

    def _pages(self) -> pa.Table:
        pages = self.pa.table(self.fragmenter.pages())
        return pages.append_column("key", self._key(pages["bucket"], pages["page"]))

    def _mutable_keys(self) -> Any:
        return self.pa.array(list(self.mutable), self.pa.string())

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
    def add(self, batch: Any, rejected: Counter[str]) -> None:
        """Assigns a batch of extracted members; renders and writes what changed."""
        pa, pc = self.pa, self.pc
        table = pa.table(batch)
        first, records = self.seen.admit(table["id"])
        self.new_ids.append(records)
        first = pa.array(first)
        repeats = len(first) - (pc.sum(first).as_py() or 0)
        if repeats:  # published before, in this batch or earlier: the first one stays
            rejected[DUPLICATE] += repeats
            table = table.filter(first)
        assigned = pa.table(self.fragmenter.assign(table))
        for r in pa.table(self.fragmenter.rejected())["reason"].to_pylist():
            rejected[r] += 1
        rows = assigned["row"]
        seq = pc.add(rows, pa.scalar(self.state["members"], pa.uint64()))
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
        new = pa.table({"key": keys, "seq": seq, **columns})
        self._keep_open(new)
        self.new_open.append(new)
        self.state["members"] += table.num_rows
        self._render_changed()

    def _render_changed(self) -> None:
        """Renders the nodes the fragmenter changed since the last call (new members, new
        relations, newly immutable: these get their last rendering, with `ldes:immutable`)."""
        pa = self.pa
        nodes, rel = (pa.table(t) for t in self.fragmenter.changes())
        keys = self._key(nodes["bucket"], nodes["page"]).to_pylist()
        immutable: set[str] = set()
        is_page = nodes["page"].is_valid().to_pylist()
        flags = nodes["immutable"].to_pylist()
        members = nodes["members"].to_pylist()
        for key, page, frozen, n in zip(keys, is_page, flags, members, strict=True):
            if frozen:
                immutable.add(key)
                self.mutable.pop(key, None)
            elif page:
                self.mutable[key] = n
        rel = rel.append_column("key", self._key(rel["parent"], rel["parent_page"]))
        self._render(keys, immutable, rel)
        # Rows of immutable pages are dead; dropped from memory once they are the majority.
        self.open_rows = sum(self.mutable.values())
        if sum(t.num_rows for t, _ in self.open_chunks) > 2 * self.open_rows + self.batch_size:
            self._compact_open()

    def _summary_counts(self) -> tuple[int, int, int]:
        """(buckets with pages, pages, immutable pages)."""
        pc = self.pc
        pages = self._pages()
        if not pages.num_rows:
            return 0, 0, 0
        frozen = pc.sum(pages["immutable"]).as_py()
        return pc.count_distinct(pages["bucket"]).as_py(), pages.num_rows, frozen

    def _render(self, keys: list[str], immutable: set[str], rel: pa.Table) -> None:
        """Renders the pages ``keys`` (in parallel, in Rust) and stages those that changed."""
        pa, pc = self.pa, self.pc
        want = pa.array(keys, pa.string())
        table = self._open_members(set(keys))
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
            format=FORMATS[self.ext],
        )
        cache = {True: cache_control(True), False: cache_control(False)}
        for key, path, body, tag in zip(keys, paths, bodies, etags, strict=True):
            entry = (cache[key in immutable], tag)
            if self.headers.get(path) == entry:
                continue  # unchanged (and immutable pages never change)
            new = path not in self.headers and key != "\n0"  # the root: always atomic
            self.headers[path] = self.new_headers[path] = entry
            self.writer.stage(path, body, new)

    # ---- runs ------------------------------------------------------------------------------
    def run(self, files: list[Path], close: bool) -> PublishSummary:
        pa = self.pa

        records = self.state["inputs"]
        todo: list[dict[str, Any]] = []
        for path in files:
            ident = _identity(path)
            same_path = [r for r in records if r["path"] == ident["path"]]
            record = next(
                (
                    r
                    for r in same_path
                    if r["size"] == ident["size"] and r["mtime_ns"] == ident["mtime_ns"]
                ),
                None,
            )
            if record is None:
                if any(not r["done"] for r in same_path):
                    raise LdesfragError(
                        f"{path} changed since an interrupted run read part of it; restore it "
                        "and rerun, or start a new directory"
                    )
                record = {**ident, "members": 0, "done": False}
                if self.versions is not None:
                    # Versions made without a timestamp of their own get the time the input
                    # was registered, also when an interrupted run is resumed.
                    record["version_time"] = _now()
                records.append(record)
            if not record["done"]:
                todo.append(record)
        unfinished = [r for r in records if not r["done"] and r not in todo]
        if unfinished:
            raise LdesfragError(
                f"an interrupted run was reading {unfinished[0]['path']}: rerun with it among "
                "the inputs to finish it first"
            )
        if todo and self.state["closed"]:
            raise StreamClosedError(f"{self.out}: the stream is closed; no members can be added")
        if self.fresh or todo:
            # Registers the inputs (and renders the root of a new directory) before any batch.
            self._render_changed()
            self._commit()
        rejected: Counter[str] = Counter(self.state["rejected"])
        problems: Counter[str] = Counter(self.state["problems"])
        for record in todo:
            options = dict(self.reader_options)
            if self.versions is not None:
                stamp = self.versions.timestamp or record["version_time"]
                options["versions"] = dataclasses.replace(self.versions, timestamp=stamp)
            reader = MemberReader(record["path"], self.view, batch_size=self.batch_size, **options)
            skip = record["members"]
            for batch in _prefetched(reader):
                n = batch.num_rows
                if skip >= n:
                    skip -= n
                    continue
                if skip:
                    batch = pa.table(batch).slice(skip)
                    n -= skip
                    skip = 0
                self.add(batch, rejected)
                record["members"] += n
                self.members_this_run += n
                self.state["rejected"] = dict(rejected)
                self._commit()
                if self.progress:
                    self.progress(self.members_this_run, time.perf_counter() - self.started)
            for p in pa.table(reader.problems()).to_pylist():
                problems[("dropped: " if p["dropped"] else "") + p["reason"]] += 1
            self.state["problems"] = dict(problems)
            record["done"] = True
            self._commit()
        if close and not self.state["closed"]:
            self.fragmenter.close()
            self.state["closed"] = True
            self._render_changed()
            self._commit()
        self.wait()
        self._write_headers()
        buckets, pages, immutable = self._summary_counts()
        return PublishSummary(
            members=self.state["members"],
            rejected=dict(rejected),
            problems=dict(problems),
            buckets=buckets,
            pages=pages,
            immutable_pages=immutable,
            files_written=self.writer.files,
            bytes_written=self.writer.bytes,
            seconds=time.perf_counter() - self.started,
            members_this_run=self.members_this_run,
            closed=self.state["closed"],
        )

    def _write_headers(self) -> None:
        # A host reads these paths from its site root: they start with the base URL's path.
        prefix = base_path(self.base)
        lines: list[str] = []
        for path, (cache, etag) in sorted(self.headers.items()):
            # The root is fetched by its folder URL (the base URL) too.
            root = path == node_path("", None, self.ext)
            urls = [prefix, prefix + path] if root else [prefix + path]
            lines.extend(f"{u}\n  Cache-Control: {cache}\n  ETag: {etag}\n" for u in urls)
        data = "\n".join(lines).encode()
        target = self.out / "_headers"
        if not target.exists() or target.read_bytes() != data:
            self.writer.write_now(target, data)
            self.writer.files += 1
            self.writer.bytes += len(data)


def base_path(base_url: str) -> str:
    """The URL path of a base URL, percent-encoded as in a request (``/`` when it has none);
    node paths are URL-safe, so a node's URL path is this plus its file path."""
    from urllib.parse import quote, urlsplit

    path = urlsplit(base_url).path
    return quote(path, safe="/%!$&'()*+,;=:@") if path.startswith("/") else "/"


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    import fcntl

    (out / STATE_DIR).mkdir(parents=True, exist_ok=True)
    with open(out / STATE_DIR / "lock", "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LdesfragError(f"{out}: another publish is running on it") from None
        yield


def publish(
    inputs: Sequence[str | PathLike[str]],
    view: View,
    out: str | PathLike[str],
    *,
    base_url: str,
    format: str = "ttl",
    stream: str | None = None,
    member: MemberMode | None = None,
    member_type: str | None = None,
    timestamp_path: str | None = None,
    version_of_path: str | None = None,
    versions: CreateVersions | None = None,
    batch_size: int = 65_536,
    close: bool = False,
    progress: Callable[[int, float], None] | None = None,
) -> PublishSummary:
    """Publishes the members of RDF files (N-Triples, N-Quads, Turtle, TriG; globs) as a static
    LDES in ``out``, or appends them to the one already there.

    ``base_url`` is where ``out`` is served (the root node's IRI); ``stream`` the event stream's
    IRI (default ``{base_url}#stream``). ``timestamp_path`` defaults to the path of the view's
    time fragmentation; ``version_of_path`` to ``dct:isVersionOf`` for version objects.
    ``versions`` (a :class:`CreateVersions`) turns state objects into version objects.
    ``close=True`` closes the stream: every page becomes immutable. ``progress(members, seconds)``
    is called after each batch.
    """
    if format not in FORMATS:
        raise LdesfragError(f"format {format!r}: one of {', '.join(FORMATS)}")
    if batch_size < 1:
        raise LdesfragError(f"batch size {batch_size}: at least 1")
    if not base_url.endswith("/"):
        base_url += "/"
    if timestamp_path is None:
        times = [f for f in view.fragmentations if isinstance(f, HierarchicalTime)]
        timestamp_path = times[0].path if times else None
    if versions is not None:
        timestamp_path = timestamp_path or versions.timestamp_path
        version_of_path = version_of_path or versions.version_of_path
    if version_of_path is None and member in (None, "version-of"):
        version_of_path = DCT_IS_VERSION_OF
    settings = {
        "base_url": base_url,
        "format": format,
        "stream": stream or base_url + "#stream",
        "timestamp_path": timestamp_path,
        "version_of_path": version_of_path,
    }
    options: dict[str, Any] = {"member": member, "member_type": member_type}
    if version_of_path is not None:
        options["version_of_path"] = version_of_path
    if timestamp_path is not None:
        options["timestamp_path"] = timestamp_path
    files = _expand(inputs)
    root = Path(out)
    if root.exists() and not (root / STATE_DIR).exists() and any(root.iterdir()):
        raise LdesfragError(f"{root}: not empty and not a publish directory")
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        publisher = _Publisher(root, view, settings, options, versions, batch_size, progress)
        try:
            return publisher.run(files, close)
        finally:
            # A commit in flight completes (its state is consistent) even when the run failed.
            publisher.committer.shutdown(wait=True)
            publisher.encoder.shutdown(wait=True)


def print_progress(members: int, seconds: float) -> None:
    rate = members / max(seconds, 1e-9)
    print(f"\r  {members:,} members, {rate:,.0f} members/s", end="", file=sys.stderr)
