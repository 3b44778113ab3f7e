"""Where each node of a published LDES lives: its file under the output directory, its IRI and
its URL path. Shared by :func:`~ldesfrag.publish` (which writes the files) and
:mod:`ldesfrag._serve` (which serves them).

A node's file: ``<pair>/…/<pair>/index.<ext>`` for a bucket's own node, ``<pair>/…/page-<n>.<ext>``
for its pages, ``index.<ext>`` for the root. A pair is one ``key=value`` of the canonical bucket
id, with every byte outside ``[A-Za-z0-9-.=]`` written ``_XX`` (so ``/ : ? # %`` never reach the
host's URL decoding), split into directories ending in ``~`` when long.
``tile=15/16882/10975&year=2023`` → ``tile=15_2F16882_2F10975/year=2023/``.
"""

from __future__ import annotations

import functools
from urllib.parse import quote, urlsplit

from ldesfrag.exceptions import LdesfragError

__all__ = ["STATE_DIR", "base_path", "bucket_path", "check_base_url", "node_path"]

#: The directory of a publish directory's state (settings, fragmenter state, logs, spares).
STATE_DIR = ".ldesfrag"
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.=")
_SEGMENT = 180  # characters per path segment, under every file name limit


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


def base_path(base_url: str) -> str:
    """The URL path of a base URL, percent-encoded as in a request (``/`` when it has none);
    node paths are URL-safe, so a node's URL path is this plus its file path."""
    path = urlsplit(base_url).path
    return quote(path, safe="/%!$&'()*+,;=:@") if path.startswith("/") else "/"


def check_base_url(base_url: str) -> str:
    """``base_url`` as node IRIs are made from it (ending in ``/``), or an error: it must be
    absolute, and a query or fragment would make every node IRI name the same document."""
    if not isinstance(base_url, str):
        raise LdesfragError(f"base_url: a URL string, not {type(base_url).__name__}")
    parts = urlsplit(base_url)
    if not parts.scheme:
        raise LdesfragError(f"base_url {base_url!r}: not absolute (e.g. https://host/ldes/)")
    for what, there in (("query", "?" in base_url), ("fragment", "#" in base_url)):
        if there:
            raise LdesfragError(
                f"base_url {base_url!r} has a {what}: node IRIs are base_url + file path, so "
                "every page would resolve to one URL; give the directory's URL without "
                "'?' or '#'"
            )
    return base_url if base_url.endswith("/") else base_url + "/"
