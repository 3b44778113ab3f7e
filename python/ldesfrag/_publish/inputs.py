"""Input files: expanding globs, recognising files read before, resuming or restarting the one
an interrupted run read part of, and reading batches ahead."""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path
from queue import Full, Queue
from typing import Any

from ldesfrag._publish.state import InputRecord, PublishState
from ldesfrag.exceptions import LdesfragError

__all__ = ["Plan", "expand", "plan", "prefetched"]

_RESTART = "restart_input=True (ldesfrag publish --restart-input)"


def expand(inputs: Sequence[str | PathLike[str]]) -> list[Path]:
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


def _identity(path: Path) -> InputRecord:
    st = path.stat()
    return InputRecord(path=str(path), size=st.st_size, mtime_ns=st.st_mtime_ns)


def _now() -> str:
    t = datetime.now(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


@dataclass
class Plan:
    """What a run reads (in order; records registered in the state) and what it gave up."""

    todo: list[InputRecord] = field(default_factory=list)
    #: Records of inputs read in part that the run gives up (``restart_input``): their id
    #: segments become the ``earlier`` segment of their path.
    forgotten: list[InputRecord] = field(default_factory=list)


def plan(state: PublishState, files: list[Path], restart: bool, versions: bool) -> Plan:
    """Registers ``files`` in ``state`` (new ones with no progress) and returns the records to
    read. An input an interrupted run read part of is resumed where it stopped; if it changed or
    is not among ``files``, the run is refused unless ``restart``: then its progress is
    forgotten (the members it published stay, and reading it again skips them).

    Inputs registered by an interrupted run but not read at all are simply dropped when absent.
    """
    result = Plan()
    given = {str(p): _identity(p) for p in files}
    kept: list[InputRecord] = []
    for r in state.inputs:
        if r.done:
            kept.append(r)
            continue
        now = given.get(r.path)
        if now is not None and now.same_file(r):
            kept.append(r)  # resumed below
        elif not r.members:
            continue  # registered, never read: nothing to resume
        elif not restart:
            if now is None:
                raise LdesfragError(
                    f"an interrupted run read {r.members:,} members of {r.path}, which is not "
                    f"among the inputs{'' if Path(r.path).exists() else ' (it is gone)'}: rerun "
                    f"with it to finish it, or with {_RESTART} to give up the rest of it (the "
                    "members it published stay)"
                )
            raise LdesfragError(
                f"{r.path} changed since an interrupted run read {r.members:,} of its members: "
                f"restore it and rerun, or rerun with {_RESTART} to read it again from the start "
                "(the members already published are skipped and counted as such)"
            )
        else:
            result.forgotten.append(r)
    state.inputs = kept
    for path in files:
        ident = given[str(path)]
        record = next((r for r in state.inputs if r.same_file(ident)), None)
        if record is None:
            record = ident
            old = next((r for r in result.forgotten if r.path == ident.path), None)
            if versions:
                # Versions made without a timestamp of their own get the time the input was
                # registered, also when an interrupted run is resumed or restarted.
                record.version_time = old.version_time if old and old.version_time else _now()
            state.inputs.append(record)
        if not record.done:
            result.todo.append(record)
    return result


def prefetched(batches: Iterable[Any]) -> Iterator[Any]:
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
