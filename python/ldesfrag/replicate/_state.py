"""The replication's state directory: ``state.json`` (the nodes, what was written, the output
numbering) and ``member-ids.log`` (the digests of the members emitted, append-only).

``state.json`` is replaced atomically (temp file + fsync + rename) after each batch; it is the
commit point. It records how long the log was at that moment, so a log that grew past it (a
kill between the two writes) is cut back on load: the state is always that of one batch
boundary.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ldesfrag._member_ids import MemberIds
from ldesfrag.exceptions import StateError

STATE_FILE = "state.json"
LOG_FILE = "member-ids.log"
VERSION = 1


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


class StateDir:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.log_path = self.path / LOG_FILE

    def load(self) -> tuple[dict[str, Any] | None, MemberIds]:
        """The last committed state (None: a fresh directory) and the emitted ids."""
        state_file = self.path / STATE_FILE
        if not state_file.exists():
            self.log_path.unlink(missing_ok=True)
            return None, MemberIds()
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise StateError(f"{state_file}: not a replication state ({e})") from e
        if not isinstance(state, dict) or state.get("version") != VERSION:
            raise StateError(f"{state_file}: not a replication state of version {VERSION}")
        size = int(state.get("log_bytes", 0))
        data = self.log_path.read_bytes() if self.log_path.exists() else b""
        if len(data) < size:
            raise StateError(f"{self.log_path}: {len(data)} bytes, the state says {size}")
        if len(data) > size:  # written after the last commit: not part of the state
            with open(self.log_path, "r+b") as f:
                f.truncate(size)
            data = data[:size]
        return state, MemberIds.from_log(data)

    def append_log(self, segment: bytes) -> int:
        """Appends a log segment (durably); the log's new length."""
        with open(self.log_path, "ab") as f:
            f.write(segment)
            f.flush()
            os.fsync(f.fileno())
            return f.tell()

    def log_size(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def commit(self, state: dict[str, Any]) -> None:
        state = {"version": VERSION, **state}
        write_atomic(self.path / STATE_FILE, json.dumps(state, separators=(",", ":")).encode())
