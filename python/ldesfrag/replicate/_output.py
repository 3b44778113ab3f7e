"""Writing replicated members: N-Quads (plain or gzip), Parquet, or a directory of part files,
atomically per batch so that a killed run leaves only whole files and, with a state
directory, a rerun continues exactly where the last committed batch ended."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path
from typing import Any

from arro3.core import Table

from ldesfrag.exceptions import LdesfragError
from ldesfrag.replicate._state import fsync_dir, write_atomic

PART_FORMATS = ("nq.gz", "nq", "parquet")
_SUBJECT_BLANK = re.compile(r"^_:", re.M)
_OBJECT_BLANK = re.compile(r" _:(\S+) \.$", re.M)
_PART = re.compile(r"^part-(\d{6,})\.(nq\.gz|nq|parquet)$")
TREE_MEMBER = "https://w3id.org/tree#member"


def nquads(batch: Table, first: int, stream: str | None = None) -> bytes:
    """The batch's members as N-Quads (default graph): each member's blank nodes are made its
    own (``_:m{n}_…``, ``n`` counting members from ``first``). With ``stream``, each member
    also gets ``<stream> tree:member <member>``."""
    out: list[str] = []
    for n, (iri, payload) in enumerate(
        zip(batch["id"].to_pylist(), batch["payload"].to_pylist(), strict=True), first
    ):
        if "_:" in payload:
            payload = _SUBJECT_BLANK.sub(f"_:m{n}_", payload)
            payload = _OBJECT_BLANK.sub(rf" _:m{n}_\1 .", payload)
        if stream is not None:
            out.append(f"<{stream}> <{TREE_MEMBER}> <{iri}> .\n")
        out.append(payload if payload.endswith("\n") or not payload else payload + "\n")
    return "".join(out).encode("utf-8")


def _parquet(batch: Table) -> Any:
    try:
        import pyarrow as pa
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise LdesfragError("Parquet output needs pyarrow: pip install 'ldesfrag[cli]'") from e
    return pa.table(batch)


class Output:
    """Where batches go. ``state`` is the replication's ``output_state`` (persisted with each
    commit); ``resumed`` says it comes from a state directory."""

    def __init__(self, out: str, part_format: str, state: dict[str, Any], resumed: bool) -> None:
        self.path = Path(out)
        self.state = state
        name = self.path.name.lower()
        if name.endswith(".nq.gz"):
            self.kind = "nq.gz"
        elif name.endswith(".nq"):
            self.kind = "nq"
        elif name.endswith(".parquet"):
            self.kind = "parquet"
        elif self.path.is_dir() or not self.path.suffix:
            self.kind = "dir"
        else:
            raise LdesfragError(f"{out}: OUT is a .nq, .nq.gz or .parquet file or a directory")
        if part_format not in PART_FORMATS:
            raise LdesfragError(f"--part-format: one of {', '.join(PART_FORMATS)}")
        self.part_format = part_format
        self.resumed = resumed and state.get("out") == str(self.path.resolve())
        self.state["out"] = str(self.path.resolve())
        self.state.setdefault("members", 0)
        self._writer: Any = None
        self._tmp: Path | None = None
        if self.kind == "dir":
            self.path.mkdir(parents=True, exist_ok=True)
            existing = sorted(
                int(m.group(1)) for p in self.path.iterdir() if (m := _PART.match(p.name))
            )
            if self.resumed:
                nxt = int(self.state.get("next_part", 1))
                for p in self.path.iterdir():  # written after the last commit: read again
                    m = _PART.match(p.name)
                    if m and int(m.group(1)) >= nxt:
                        p.unlink()
            else:
                nxt = (existing[-1] + 1) if existing else 1
            self.state["next_part"] = nxt
        elif self.kind in ("nq", "nq.gz"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.resumed and self.path.exists():
                with open(self.path, "r+b") as f:  # cut what the last commit did not count
                    f.truncate(int(self.state.get("bytes", 0)))
            else:
                self.path.write_bytes(b"")
                self.state["bytes"] = 0
        else:  # one Parquet file: written whole at the end (parts under a hidden folder)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._parts = self.path.with_name(f".{self.path.name}.parts")
            if not self.resumed and self._parts.exists():
                for p in self._parts.iterdir():
                    p.unlink()
            self._parts.mkdir(exist_ok=True)
            nxt = int(self.state.get("next_part", 1)) if self.resumed else 1
            for p in self._parts.iterdir():
                m = _PART.match(p.name)
                if m and int(m.group(1)) >= nxt:
                    p.unlink()
            self.state["next_part"] = nxt

    def write(self, batch: Table) -> None:
        """Writes one batch whole; the caller commits the replication's state next."""
        first = int(self.state["members"])
        if self.kind in ("dir", "parquet"):
            folder = self.path if self.kind == "dir" else self._parts
            fmt = self.part_format if self.kind == "dir" else "parquet"
            n = int(self.state["next_part"])
            target = folder / f"part-{n:06d}.{fmt}"
            if fmt == "parquet":
                import pyarrow.parquet as pq

                tmp = target.with_name(f".{target.name}.tmp")
                pq.write_table(_parquet(batch), tmp)
                os.replace(tmp, target)
                fsync_dir(folder)
            else:
                data = nquads(batch, first)
                write_atomic(target, gzip.compress(data, 6) if fmt == "nq.gz" else data)
            self.state["next_part"] = n + 1
        else:
            data = nquads(batch, first)
            if self.kind == "nq.gz":
                data = gzip.compress(data, 6)  # gzip members may follow one another
            with open(self.path, "ab") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
                self.state["bytes"] = f.tell()
        self.state["members"] = first + batch.num_rows

    def finish(self) -> None:
        """The crawl ended normally: a single Parquet file is assembled from its parts."""
        if self.kind != "parquet":
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = sorted(p for p in self._parts.iterdir() if _PART.match(p.name))
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        schema = None
        writer = None
        try:
            for p in parts:
                t = pq.read_table(p)
                if writer is None:
                    schema = t.schema
                    writer = pq.ParquetWriter(tmp, schema)
                writer.write_table(t)
            if writer is None:
                from ldesfrag.replicate._replication import _table

                pq.write_table(pa.table(_table([], [], [], [])), tmp)
        finally:
            if writer is not None:
                writer.close()
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)
