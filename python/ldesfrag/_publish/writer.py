"""Atomic, durable file writes for publish: a batch's pages and the state that counts on them.

A rewritten page goes to a spare file in the state directory, which is then swapped with its
target in one step. Swapping (``renameat2(RENAME_EXCHANGE)`` on Linux) leaves the target's old
inode behind as a spare for a later write, which overwrites it in place, so rewriting a page
neither frees blocks (milliseconds per file on ext4 with ``discard``, common on VMs) nor creates
a file. A spare is picked no larger than the new content, so it only grows and is never
truncated. Where swapping is not supported, a plain rename replaces the target (equally atomic,
only slower). A file never published before is written in place: the pages that link to it are
swapped in only after it is durable.

Durability covers the output's file system, never the whole machine (``syncfs``, in Rust,
without the GIL; why not per-file ``fsync``: ``rust/src/fs.rs``), and a commit waits for it once
(a barrier costs a device flush: seconds beside a busy disk writer):

1. ``pending-<gen>.json`` (each page's target, ETag and spare), the new pages, the spares, the
   new state files and ``state.json.tmp`` are written; one sync (which also covers the swaps and
   renames of the commit before);
2. the spares are swapped into place and ``state.json.tmp`` renamed to ``state.json``, without
   waiting: the next commit's sync (or the run's last) makes them durable, and only then are the
   previous generation's state files removed.

After a crash, the state on disk is the new one or the one before, and ``pending`` tells which
pages may be out of step: :func:`finish_swaps` completes the swaps of a committed
generation (a page whose content is not its ETag's is swapped with its spare again), and the
publisher puts back the pages of an uncommitted one. Every I/O error names its path.
"""

from __future__ import annotations

import bisect
import json
import os
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ldesfrag import _ldesfrag
from ldesfrag._publish.paths import STATE_DIR

__all__ = ["KILL_AT", "STATE_TMP", "Staged", "Writer", "pending_file"]

KILL_AT = "_LDESFRAG_PUBLISH_KILL_AT_WRITE"  # tests: SIGKILL this process at the Nth file write
STATE_TMP = "state.json.tmp"

#: A batch's staged pages: (spare, target, body, etag) to swap in, (target, body, etag) to create.
Staged = tuple[list[tuple[str, str, bytes, str]], list[tuple[str, bytes, str]]]


def pending_file(gen: int) -> str:
    return f"pending-{gen}.json"


class Writer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / STATE_DIR / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.files = _ldesfrag.FileWriter(root)
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
        # Staged pages by target: a page staged again before its commit is written once.
        self.pending: dict[str, tuple[tuple[int, str], bytes, str]] = {}  # spare, body, etag
        self.pending_new: dict[str, tuple[bytes, str]] = {}  # body, etag
        self.staged_bytes = 0
        self.count = 0
        self.written = 0  # files staged or written (this run)
        self.bytes = 0
        kill = os.environ.get(KILL_AT)
        self.kill_at = int(kill) if kill else None

    def _checkpoint(self) -> None:
        self.count += 1
        if self.kill_at is not None and self.count >= self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def _spare(self, size: int) -> tuple[int, str]:
        """The largest spare no larger than ``size`` (its size and name), or a new one."""
        i = bisect.bisect_right(self.spares, (size, "\uffff"))
        if i:
            return self.spares.pop(i - 1)
        self.next_spare += 1
        return (0, f"spare-{self.next_spare - 1}")

    def stage(self, rel: str, data: bytes, etag: str, new: bool = False) -> None:
        """Queues ``data`` (whose ETag is ``etag``) for ``rel``, written by the next
        :meth:`commit`, replacing what was staged there before. ``new``: no file was ever
        published at ``rel`` and none links to it yet, so it is written in place (no spare, no
        rename)."""
        target = f"{self.root}/{rel}"
        if target in self.pending_new:  # still never published: in place
            self.staged_bytes -= len(self.pending_new[target][0])
            self.pending_new[target] = (data, etag)
        elif new:
            self.pending_new[target] = (data, etag)
        else:
            before = self.pending.pop(target, None)
            if before is not None:
                self.staged_bytes -= len(before[1])
                bisect.insort(self.spares, before[0])
            self.pending[target] = (self._spare(len(data)), data, etag)
        self.staged_bytes += len(data)

    def take(self) -> Staged:
        """The staged pages, for :meth:`commit`; staging starts over."""
        tmp = self.tmp
        staged: Staged = (
            [(f"{tmp}/{s[1]}", t, b, e) for t, (s, b, e) in self.pending.items()],
            [(t, b, e) for t, (b, e) in self.pending_new.items()],
        )
        self.written += len(self.pending) + len(self.pending_new)
        self.bytes += self.staged_bytes
        self.pending, self.pending_new, self.staged_bytes = {}, {}, 0
        return staged

    def commit(
        self,
        staged: Staged,
        state_dir: Path,
        gen: int,
        state_files: Iterable[tuple[str, bytes]],
        state: bytes | Callable[[], bytes],
        durable: Callable[[], None],
    ) -> list[tuple[int, str]]:
        """Commits generation ``gen``: its pages, its new state files (names no committed state
        lists; made one at a time as they are written) and ``state.json`` (``state``, or made by
        it once they are; see the module docs). ``durable`` is called once everything
        before this commit is durable. Returns the spares that now hold old versions, for
        :meth:`give_back`. Runs in the committing thread: it touches no state but the files
        named."""
        pending, new = staged
        files = self.files
        root = len(str(self.root)) + 1
        if pending or new:  # what a crash may leave out of step, for the next run
            entries: list[list[str | None]] = [[t[root:], e, s[root:]] for s, t, _, e in pending]
            entries += [[t[root:], e, None] for t, _, e in new]
            files.write(
                [state_dir / pending_file(gen)], [json.dumps(entries).encode()], truncate=True
            )
        leftovers: list[tuple[str, str]] = []
        if new:
            new_targets = [t for t, _, _ in new]
            new_bodies = [b for _, b, _ in new]
            # A file there already is a killed run's, which may be linked from a page that run
            # swapped in: it is replaced atomically, by a rename after the sync.
            existed = files.create(new_targets, new_bodies)
            leftovers = [(f"{self.tmp}/new-{i}", new_targets[i]) for i in existed]
            files.write([t for t, _ in leftovers], [new_bodies[i] for i in existed], truncate=True)
        spares = [s for s, _, _, _ in pending]
        targets = [t for _, t, _, _ in pending]
        files.write(spares, [b for _, _, b, _ in pending])
        for name, data in state_files:
            self._checkpoint()
            files.write([state_dir / name], [data], truncate=True)
        if callable(state):
            state = state()
        files.write([state_dir / STATE_TMP], [state], truncate=True)
        files.sync()  # the barrier: this commit's content, the commit before's swaps
        durable()
        if leftovers:
            files.rename([s for s, _ in leftovers], [t for _, t in leftovers])
        if self.kill_at is None:
            old = files.swap(spares, targets)
        else:  # tests: one file at a time, to be killed between any two
            old = []
            for spare, target in zip(spares, targets, strict=True):
                self._checkpoint()
                old += files.swap([spare], [target])
        self._checkpoint()
        files.rename([state_dir / STATE_TMP], [state_dir / "state.json"])
        return [(n, s.rsplit("/", 1)[1]) for s, n in zip(spares, old, strict=True) if n >= 0]

    def sync(self) -> None:
        """Makes every commit so far durable."""
        self.files.sync()

    def give_back(self, spares: list[tuple[int, str]]) -> None:
        for spare in spares:
            bisect.insort(self.spares, spare)

    def write_now(self, target: Path, data: bytes) -> None:
        """One atomic, durable write (temp file, sync, rename, sync)."""
        self._checkpoint()
        tmp = self.tmp / f"now-{target.name}"
        self.files.write([tmp], [data], truncate=True)
        self.files.sync()
        self.files.rename([tmp], [target])
        self.files.sync()


def finish_swaps(root: Path, entries: list[list[Any]]) -> list[str]:
    """Completes the swaps of a committed generation after a crash (``entries`` from its
    ``pending`` file): a page whose content is not its ETag's is swapped with its spare if that
    holds it. Returns the pages neither holds (to render again). Runs before the spares are
    listed (a swap changes a spare's size)."""
    files = _ldesfrag.FileWriter(root)
    lost: list[str] = []

    def holds(path: Path, etag: str) -> bool:
        try:
            return _ldesfrag.etag(path.read_bytes()) == etag
        except FileNotFoundError:
            return False

    for rel, etag, spare in entries:
        target = root / rel
        if holds(target, etag):
            continue
        if spare is not None and holds(root / spare, etag):
            files.swap([root / spare], [target])
        else:
            lost.append(rel)
    files.sync()
    return lost
