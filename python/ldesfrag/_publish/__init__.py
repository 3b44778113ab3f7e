"""``publish``: RDF dumps → a static LDES directory, incrementally and crash-safely.

Each batch of members goes through extract (:class:`MemberReader`) → assign (:class:`Fragmenter`) →
render (as :func:`render_page` does, many pages at once, in parallel); only the pages a batch
changed (new members, a new relation, newly immutable) are rendered and written. Between batches
only the members of the mutable pages are kept, up to a budget (``open_pages_budget``; past it
they are read back from the state when their page changes), so memory follows the batch size and
the budget, not the stream (docs/architecture.md, "Memory").

Layout under DIR (one file per node; path-style URLs, no query strings; see ``paths``):

- ``index.<ext>``: the root (view) node, served for the base URL, with ``<stream> tree:view``;
- ``<pair>/…/<pair>/index.<ext>``: a bucket's own node; ``<pair>/…/page-<n>.<ext>``: its pages;
- ``_headers``: ``Cache-Control`` and ``ETag`` of every file (Netlify/Cloudflare style);
- ``.ldesfrag/``: the state (settings, fragmenter state, open pages, input progress; ``state``).

Crash safety: a batch's pages are written (spare files, synced, atomic swaps or renames; see
``writer``), then the state is committed atomically, last. A rerun resumes at the committed
input position; rendering is deterministic, so pages rewritten by the rerun are byte-identical
and the tree equals that of one uninterrupted run. Pages a killed commit had changed are put back
first, so the rerun may also read other inputs.

The modules: ``paths`` (file and URL of each node, shared with ``_serve``), ``state`` (the
checked state files), ``writer`` (atomic, durable writes), ``open_pages`` (members of the mutable
pages), ``inputs`` (globs, resume and restart, read-ahead), ``publisher`` (one run).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from ldesfrag._formats import RdfFormat, rdf_format
from ldesfrag._publish.inputs import expand
from ldesfrag._publish.open_pages import DEFAULT_OPEN_PAGES_BUDGET
from ldesfrag._publish.paths import STATE_DIR, base_path, bucket_path, check_base_url, node_path
from ldesfrag._publish.publisher import DUPLICATE, Publisher, PublishSummary, RdfProblem
from ldesfrag._rdf import DCT_IS_VERSION_OF, DEFAULT_MAX_BYTES, CreateVersions, MemberMode
from ldesfrag._view import HierarchicalTime, View
from ldesfrag.exceptions import LdesfragError, ViewError

__all__ = [
    "DEFAULT_OPEN_PAGES_BUDGET",
    "DUPLICATE",
    "STATE_DIR",
    "PublishSummary",
    "RdfProblem",
    "base_path",
    "bucket_path",
    "node_path",
    "print_progress",
    "publish",
]


def _view(view: Any) -> View:
    """A :class:`View`, or one read from a ``.toml``, ``.json`` or RDF view file."""
    if isinstance(view, View):
        return view
    if isinstance(view, str | PathLike):
        path = Path(view)
        if not path.is_file():
            raise ViewError(
                f"view {str(view)!r}: no such file (give a View, or the path of a .toml, .json "
                "or RDF view description)"
            )
        return View.load(path)
    raise ViewError(
        f"view: a View or the path of a .toml, .json or RDF view description, not "
        f"{type(view).__name__}"
    )


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
    view: View | str | PathLike[str],
    out: str | PathLike[str],
    *,
    base_url: str,
    format: RdfFormat | str = "turtle",
    stream: str | None = None,
    member: MemberMode | None = None,
    member_type: str | None = None,
    timestamp_path: str | None = None,
    version_of_path: str | None = None,
    versions: CreateVersions | None = None,
    batch_size: int = 65_536,
    close: bool = False,
    restart_input: bool = False,
    max_line_bytes: int = DEFAULT_MAX_BYTES,
    max_member_bytes: int = DEFAULT_MAX_BYTES,
    progress: Callable[[int, float], None] | None = None,
    open_pages_budget: int | None = DEFAULT_OPEN_PAGES_BUDGET,
) -> PublishSummary:
    """Publishes the members of RDF files (N-Triples, N-Quads, Turtle, TriG; globs) as a static
    LDES in ``out``, or appends them to the one already there.

    ``view`` is a :class:`View` or the path of a view file (as :meth:`View.load` reads).
    ``base_url`` is where ``out`` is served (the root node's IRI; no query or fragment);
    ``stream`` the event stream's IRI (default ``{base_url}#stream``). ``timestamp_path``
    defaults to the path of the view's time fragmentation; ``version_of_path`` to
    ``dct:isVersionOf`` for version objects. ``versions`` (a :class:`CreateVersions`) turns
    state objects into version objects. ``close=True`` closes the stream: every page becomes
    immutable. ``progress(members read, seconds)`` is called after each batch.

    ``format`` is what the pages are written in, and names their files' extension: ``turtle``
    (``.ttl``, the default), ``ntriples`` (``.nt``), ``nquads`` (``.nq``), ``trig`` or
    ``jsonld``; ``ttl``, ``nt``, ``nq`` and ``json-ld`` are accepted for the same. A directory
    keeps the format it was first published in.

    A run interrupted while reading an input resumes it where it stopped. If that input has
    changed since, or is not among ``inputs``, the run is refused, unless
    ``restart_input=True``: then its partial progress is forgotten and it is read again from the
    start (if given); the members it published stay and are skipped, counted as
    ``already_published`` (a member IRI is published once).

    ``max_line_bytes`` and ``max_member_bytes`` bound the reader's memory (as in
    :class:`MemberReader`): a longer line or a larger member is left out and reported. Every RDF
    problem of the run is in the summary's ``problem_rows``, with its input file, line and member.

    ``open_pages_budget`` bounds, in bytes, the members of open (mutable) pages held in memory
    between batches (default 256 MiB; None: no limit): past it, the least recently changed pages
    are dropped from memory and read back from the state's log when they change again, so
    memory does not grow with the number of open pages. The output does not depend on it.
    """
    format = rdf_format(format)
    if batch_size < 1:
        raise LdesfragError(f"batch size {batch_size}: at least 1")
    if open_pages_budget is not None and (
        isinstance(open_pages_budget, bool)
        or not isinstance(open_pages_budget, int)
        or open_pages_budget < 1
    ):
        raise LdesfragError(
            f"open_pages_budget {open_pages_budget!r}: bytes (an int, at least 1) or None"
        )
    for name, limit in (("max_line_bytes", max_line_bytes), ("max_member_bytes", max_member_bytes)):
        if limit < 1:
            raise LdesfragError(f"{name} {limit}: at least 1")
    view = _view(view)
    base_url = check_base_url(base_url)
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
    options: dict[str, Any] = {
        "member": member,
        "member_type": member_type,
        "max_line_bytes": max_line_bytes,
        "max_member_bytes": max_member_bytes,
    }
    if version_of_path is not None:
        options["version_of_path"] = version_of_path
    if timestamp_path is not None:
        options["timestamp_path"] = timestamp_path
    files = expand(inputs)
    root = Path(out)
    if root.exists() and not (root / STATE_DIR).exists() and any(root.iterdir()):
        raise LdesfragError(f"{root}: not empty and not a publish directory")
    root.mkdir(parents=True, exist_ok=True)
    with _locked(root):
        publisher = Publisher(
            root, view, settings, options, versions, batch_size, progress, open_pages_budget
        )
        try:
            return publisher.run(files, close, restart_input)
        finally:
            publisher.close()


def print_progress(members: int, seconds: float) -> None:
    rate = members / max(seconds, 1e-9)
    print(f"\r  {members:,} members, {rate:,.0f} members/s", end="", file=sys.stderr)
