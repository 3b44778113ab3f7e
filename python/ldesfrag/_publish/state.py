"""The state of a publish directory (``.ldesfrag/``): what it was published with, how far each
input was read, and the files that hold the rest (fragmenter state, logs).

``state.json`` is written last and atomically by each commit and names every other state file
with its size and BLAKE2b digest; its own content carries a digest too. Loading checks all of
them and the bounds of every count, so a changed, cut, emptied or missing state file is refused
with a :class:`~ldesfrag.StateError` naming it, never read into a different tree.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ldesfrag.exceptions import StateError

__all__ = ["FileSum", "InputRecord", "Logs", "PublishState", "digest"]

STATE_FILE = "state.json"
_VERSION = 2
_DIGEST_SIZE = 16
# The names of the files a state lists: made by publish, never a path elsewhere.
# (A compacted log's segments are numbered within their generation: ``open-7-2.arrow``.)
_NAME = re.compile(r"(fragmenter|ids|earlier)-\d+(-\d+)?\.bin|(open|headers)-\d+(-\d+)?\.arrow")


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=_DIGEST_SIZE).hexdigest()


@dataclass
class FileSum:
    """Size and digest of one state file."""

    size: int
    blake2b: str

    @classmethod
    def of(cls, data: bytes) -> FileSum:
        return cls(len(data), digest(data))


@dataclass
class InputRecord:
    """One input file of the stream and how far it was read."""

    path: str
    size: int
    mtime_ns: int
    members: int = 0  # rows read (and committed) from the start of the file
    done: bool = False
    #: The time versions made without a timestamp of their own get (``versions=``): the time
    #: the input was registered, kept when an interrupted run is resumed or restarted.
    version_time: str | None = None
    #: While the file is being read: the id-log segments of the members admitted from it (so a
    #: restart can tell them from real repeats).
    ids: list[str] = field(default_factory=list)

    def same_file(self, other: InputRecord) -> bool:
        return (self.path, self.size, self.mtime_ns) == (other.path, other.size, other.mtime_ns)


@dataclass
class Logs:
    """Append-only logs, each a list of segment files (a segment is never rewritten)."""

    open: list[str] = field(default_factory=list)  # members of the mutable pages
    headers: list[str] = field(default_factory=list)  # Cache-Control and ETag per file
    ids: list[str] = field(default_factory=list)  # digests of the member IRIs admitted


@dataclass
class PublishState:
    view: dict[str, Any]
    settings: dict[str, Any]
    generation: int = 0
    inputs: list[InputRecord] = field(default_factory=list)
    members: int = 0  # admitted, over the stream
    rejected: dict[str, int] = field(default_factory=dict)  # over the stream, by reason
    problems: dict[str, int] = field(default_factory=dict)  # over the stream, by reason
    closed: bool = False
    logs: Logs = field(default_factory=Logs)
    #: Input path → the id segment of the members that given-up partial reads of it published.
    earlier: dict[str, str] = field(default_factory=dict)
    #: Every state file named above (fragmenter state, log segments) → its size and digest.
    files: dict[str, FileSum] = field(default_factory=dict)

    @property
    def fragmenter_file(self) -> str:
        return f"fragmenter-{self.generation}.bin"

    def listed(self) -> set[str]:
        """The state files this state needs (beside ``state.json``)."""
        names = {*self.logs.open, *self.logs.headers, *self.logs.ids, *self.earlier.values()}
        if self.generation:
            names.add(self.fragmenter_file)
        return names

    # ---- bytes -----------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        # One flat object (``ldesfrag serve`` reads ``settings.base_url``), with the digest of
        # all the rest.
        body = {"version": _VERSION, **asdict(self)}
        return json.dumps(
            {**body, "blake2b": _body_digest(body)}, indent=1, sort_keys=True
        ).encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: Path) -> PublishState:
        """Parses and checks ``state.json`` (``where`` names it in errors). Files it lists are
        checked by :meth:`check_file` when read."""

        def bad(what: str) -> StateError:
            return StateError(
                f"{where}: corrupt publish state ({what}); restore the directory "
                "from a copy or publish into a new one"
            )

        try:
            top = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise bad(f"not JSON: {e}") from None
        if not isinstance(top, dict):
            raise bad("not a JSON object")
        if top.get("version") == 1 and "blake2b" not in top:
            return _from_v1(top, bad)
        if top.get("version") != _VERSION:
            raise StateError(
                f"{where}: publish state version {top.get('version')!r}, not {_VERSION} "
                "(written by another ldesfrag?)"
            )
        checksum = top.pop("blake2b", None)
        if checksum is None or checksum != _body_digest(top):
            raise bad("checksum mismatch")
        del top["version"]
        try:
            state = _parse(top)
        except (KeyError, TypeError, ValueError) as e:
            raise bad(str(e) or type(e).__name__) from None
        problem = state._bounds(checked=True)
        if problem:
            raise bad(problem)
        return state

    def check_file(self, name: str, data: bytes, where: Path) -> bytes:
        """``data`` (the content of the listed state file ``name``), if it is what this state
        committed; else a StateError naming ``where``."""
        expected = self.files.get(name)
        if expected is None:  # a state from before the checksums (version 1): taken as it is
            self.files[name] = FileSum.of(data)
            return data
        if len(data) != expected.size:
            raise StateError(
                f"{where}: corrupt publish state ({len(data):,} bytes, committed with "
                f"{expected.size:,}); restore the directory from a copy or publish into a new one"
            )
        if digest(data) != expected.blake2b:
            raise StateError(
                f"{where}: corrupt publish state (checksum mismatch); restore the directory "
                "from a copy or publish into a new one"
            )
        return data

    def _bounds(self, checked: bool) -> str | None:
        """What is out of bounds, if anything (``checked``: the files have checksums)."""
        if self.generation < 0:
            return f"generation {self.generation}"
        counts = [self.members, *self.rejected.values(), *self.problems.values()]
        counts += [n for r in self.inputs for n in (r.size, r.members)]
        if any(n < 0 for n in counts):
            return "a negative count"
        read = sum(r.members for r in self.inputs)
        if self.members > read:
            return f"{self.members:,} members admitted of {read:,} read"
        names = [*self.logs.open, *self.logs.headers, *self.logs.ids, *self.earlier.values()]
        if self.generation:
            names.append(self.fragmenter_file)
        bad = [n for n in names if not _NAME.fullmatch(n)]
        if bad:
            return f"file name {bad[0]!r}"
        if checked and set(self.files) != set(names):
            return "the checksums do not match the files listed"
        if any(set(r.ids) - set(self.logs.ids) for r in self.inputs):
            return "an input's id segments are not in the id log"
        if sum(1 for r in self.inputs if r.members and not r.done) > 1:
            return "more than one input read in part"
        return None


def _body_digest(body: Any) -> str:
    return digest(json.dumps(body, sort_keys=True, indent=1).encode())


def _typed(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    # bool is an int in Python: counts must not be booleans.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{what}: {type(value).__name__}")
    return value


def _strs(value: Any, what: str) -> list[str]:
    return [_typed(v, str, what) for v in _typed(value, list, what)]


def _counts(value: Any, what: str) -> dict[str, int]:
    items = _typed(value, dict, what).items()
    return {_typed(k, str, what): _typed(v, int, what) for k, v in items}


def _parse(d: dict[str, Any]) -> PublishState:
    known = {f for f in PublishState.__dataclass_fields__}
    if set(d) != known:
        raise ValueError(f"fields {sorted(set(d) ^ known)}")
    inputs = []
    for r in _typed(d["inputs"], list, "inputs"):
        r = _typed(r, dict, "input")
        if set(r) != set(InputRecord.__dataclass_fields__):
            raise ValueError("input fields")
        vt = r["version_time"]
        inputs.append(
            InputRecord(
                path=_typed(r["path"], str, "input path"),
                size=_typed(r["size"], int, "input size"),
                mtime_ns=_typed(r["mtime_ns"], int, "input mtime"),
                members=_typed(r["members"], int, "input members"),
                done=_typed(r["done"], bool, "input done"),
                version_time=None if vt is None else _typed(vt, str, "version time"),
                ids=_strs(r["ids"], "input ids"),
            )
        )
    logs = _typed(d["logs"], dict, "logs")
    if set(logs) != {"open", "headers", "ids"}:
        raise ValueError("logs")
    files = {}
    for name, s in _typed(d["files"], dict, "files").items():
        s = _typed(s, dict, "file")
        if set(s) != {"size", "blake2b"}:
            raise ValueError("file checksum fields")
        files[name] = FileSum(_typed(s["size"], int, "size"), _typed(s["blake2b"], str, "digest"))
    earlier = _typed(d["earlier"], dict, "earlier")
    return PublishState(
        view=_typed(d["view"], dict, "view"),
        settings=_typed(d["settings"], dict, "settings"),
        generation=_typed(d["generation"], int, "generation"),
        inputs=inputs,
        members=_typed(d["members"], int, "members"),
        rejected=_counts(d["rejected"], "rejected"),
        problems=_counts(d["problems"], "problems"),
        closed=_typed(d["closed"], bool, "closed"),
        logs=Logs(*(_strs(logs[k], f"{k} log") for k in ("open", "headers", "ids"))),
        earlier={_typed(k, str, "earlier"): _typed(v, str, "earlier") for k, v in earlier.items()},
        files=files,
    )


def _from_v1(top: dict[str, Any], bad: Any) -> PublishState:
    """A state written before checksums (version 1): read as it is (there is nothing to check it
    against); the next commit writes version 2."""
    try:
        body = {
            "view": top["view"],
            "settings": top["settings"],
            "generation": top["generation"],
            "inputs": [
                {"version_time": None, "ids": [], **r} for r in _typed(top["inputs"], list, "in")
            ],
            "members": top["members"],
            "rejected": top["rejected"],
            "problems": top["problems"],
            "closed": top["closed"],
            "logs": {"ids": [], **top["logs"]},
            "earlier": {},
            "files": {},
        }
        state = _parse(body)
    except (KeyError, TypeError, ValueError) as e:
        raise bad(str(e) or type(e).__name__) from None
    problem = state._bounds(checked=False)
    if problem:
        raise bad(problem)
    return state
