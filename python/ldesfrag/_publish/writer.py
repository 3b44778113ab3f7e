"""Atomic, durable file writes for publish: a batch's pages, then the state that counts on them.

Each page goes to a spare file in the state directory, the spares are made durable, then each
is swapped with its target in one step. Swapping (``renameat2(RENAME_EXCHANGE)`` on Linux)
leaves the target's old inode behind as a spare for a later write, which overwrites it in
place, so rewriting a page neither frees blocks (milliseconds per file on ext4 with ``discard``,
common on VMs) nor creates a file. A spare is picked no larger than the new content, so it only
grows and is never truncated. Where swapping is not supported, a plain rename replaces the
target (equally atomic, only slower).

A file never published before is written in place instead, before the batch's first sync: the
pages that link to it are swapped in only after that sync.

Durability covers exactly what was written: the files and the directories whose entries
changed are synced (in Rust, from many threads, without the GIL), never the whole machine.
A commit has three barriers: (1) new pages and spares; (2) the swaps, the new state files and
``state.json``'s temporary file; (3) ``state.json``'s rename. Every I/O error names its path.
"""

from __future__ import annotations

import bisect
import os
import signal
from pathlib import Path

from ldesfrag import _ldesfrag
from ldesfrag._publish.paths import STATE_DIR

__all__ = ["KILL_AT", "Staged", "Writer"]

KILL_AT = "_LDESFRAG_PUBLISH_KILL_AT_WRITE"  # tests: SIGKILL this process at the Nth file write

#: A batch's staged pages: (spare, target, body) to swap in, (target, body) to create.
Staged = tuple[list[tuple[str, str, bytes]], list[tuple[str, bytes]]]


class Writer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / STATE_DIR / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.files = _ldesfrag.FileWriter()
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
        self.written = 0  # files staged or written (this run)
        self.bytes = 0
        kill = os.environ.get(KILL_AT)
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
        """Queues ``data`` for ``rel``, written by the :meth:`put_pages` of a commit. ``new``:
        no file was ever published at ``rel`` and none links to it yet, so it is written in
        place (no spare, no rename)."""
        target = f"{self.root}/{rel}"
        if new:
            self.pending_new.append((target, data))
        else:
            self.pending.append((f"{self.tmp}/{self._spare(len(data))}", target, data))
        self.written += 1
        self.bytes += len(data)

    def take(self) -> Staged:
        """The staged pages, for :meth:`put_pages`; staging starts over."""
        staged = (self.pending, self.pending_new)
        self.pending, self.pending_new = [], []
        return staged

    def put_pages(self, staged: Staged) -> list[tuple[int, str]]:
        """Writes new pages in place and the others to their spares, makes them durable, then
        swaps (or renames) the spares into place; the swaps are made durable by the
        :meth:`put_state` that follows. Returns the spares that now hold old versions, for
        :meth:`give_back`. Runs in the committing thread: it touches no state but the files
        named."""
        pending, new = staged
        if not pending and not new:
            return []
        files = self.files
        leftovers: list[tuple[str, str]] = []
        if new:
            new_targets = [t for t, _ in new]
            new_bodies = [b for _, b in new]
            # A file there already is a killed run's, which may be linked from a page that run
            # swapped in: it is replaced atomically, by a rename after the sync.
            existed = files.create(new_targets, new_bodies)
            leftovers = [(f"{self.tmp}/new-{i}", new_targets[i]) for i in existed]
            files.write([t for t, _ in leftovers], [new_bodies[i] for i in existed], truncate=True)
        spares = [s for s, _, _ in pending]
        targets = [t for _, t, _ in pending]
        files.write(spares, [b for _, _, b in pending])
        files.sync()  # barrier 1: the content before anything links to it
        if leftovers:
            files.rename([s for s, _ in leftovers], [t for _, t in leftovers])
        if self.kill_at is None:
            old = files.swap(spares, targets)
        else:  # tests: one file at a time, to be killed between any two
            old = []
            for spare, target in zip(spares, targets, strict=True):
                self._checkpoint()
                old += files.swap([spare], [target])
        return [(n, s.rsplit("/", 1)[1]) for s, n in zip(spares, old, strict=True) if n >= 0]

    def put_state(self, state_dir: Path, files: list[tuple[str, bytes]], state: bytes) -> None:
        """Writes the new state files (names no committed state lists) and then ``state.json``
        atomically, durable with the swaps of the :meth:`put_pages` before."""
        writer = self.files
        for name, data in files:
            self._checkpoint()
            writer.write([state_dir / name], [data], truncate=True)
        self._checkpoint()
        tmp = state_dir / "state.json.tmp"
        writer.write([tmp], [state], truncate=True)
        writer.sync()  # barrier 2: swaps, state files, the new state.json
        writer.rename([tmp], [state_dir / "state.json"])
        writer.sync()  # barrier 3: the rename, before old state files are removed

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
