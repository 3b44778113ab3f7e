"""Node URLs: a (bucket, page) as a URL and back, in the two layouts an LDES is served with.

``"path"``: the static layout :func:`~ldesfrag.publish` writes (the rules are in
:mod:`ldesfrag._publish.paths`, the one place for them): ``{base}/tile=15_2F16882_2F10975/
page-2.ttl``. ``"query"``: the reference server's fetch URLs, the bucket id as the query with
``pageNumber`` last: ``{base}?tile=15/16882/10975&year=2023&pageNumber=2``.
"""

from __future__ import annotations

import re
from typing import Literal, TypeAlias
from urllib.parse import quote, unquote_to_bytes, urlsplit

from ldesfrag._formats import FILE_EXTENSIONS, RdfFormat, rdf_format
from ldesfrag._publish.paths import base_path, bucket_path, check_base_url, node_path
from ldesfrag.exceptions import NodeUrlError

__all__ = ["UrlStyle", "node_url", "parse_node_url"]

UrlStyle: TypeAlias = Literal["path", "query"]

#: What a bucket id value keeps unencoded (docs/semantics.md, "Percent-encoding"); ``quote``
#: keeps ASCII letters, digits and ``_.-~`` besides.
_ID_SAFE = "/:@!$'()*,;?"
_PAGE = "pageNumber"
_KEY = re.compile(r"[A-Za-z0-9\-_.~]+")
_FILE = re.compile(r"(?:index|page-([1-9][0-9]*))\.([a-z]+)")
_EXTENSIONS = {ext[1:] for ext in FILE_EXTENSIONS.values()}


def _style(style: object) -> UrlStyle:
    if style not in ("path", "query"):
        raise NodeUrlError(f"style must be 'path' or 'query', not {style!r}")
    return "path" if style == "path" else "query"


def _page(page: object) -> int | None:
    if page is None:
        return None
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        raise NodeUrlError(f"page must be None or an int of at least 1, not {page!r}")
    return page


def _query_base(base: str) -> str:
    if not isinstance(base, str) or not urlsplit(base).scheme:
        raise NodeUrlError(f"base {base!r}: not an absolute URL (e.g. https://host/ldes/view)")
    if "?" in base or "#" in base:
        raise NodeUrlError(f"base {base!r}: the query style needs a base without '?' or '#'")
    return base


def node_url(
    base: str,
    bucket: str,
    page: int | None = None,
    style: UrlStyle = "path",
    *,
    format: RdfFormat = "turtle",
) -> str:
    """The URL of a node: a bucket's own node (``page`` None) or one of its pages (from 1).

    ``"path"``: the file :func:`~ldesfrag.publish` writes, under ``base`` (``/`` added), with
    the extension of ``format``; the root node is ``base`` itself, as publish names it.
    ``"query"``: ``{base}?{bucket}&pageNumber={page}``, the bucket id as it is (already
    percent-encoded, docs/semantics.md "Bucket ids"); the root is ``base`` (``base?pageNumber=1``
    for its first page).
    """
    page = _page(page)
    if not isinstance(bucket, str):
        raise NodeUrlError(f"bucket must be a bucket id string, not {type(bucket).__name__}")
    if _style(style) == "path":
        try:
            base = check_base_url(base)
        except ValueError as e:
            raise NodeUrlError(str(e)) from e
        if not bucket and page is None:
            return base
        return base + node_path(bucket, page, FILE_EXTENSIONS[rdf_format(format)][1:])
    query = "&".join(p for p in (bucket, None if page is None else f"{_PAGE}={page}") if p)
    return _query_base(base) + ("?" + query if query else "")


def _canonical_pair(pair: str, url: str) -> tuple[str, str]:
    key, eq, value = pair.partition("=")
    key = unquote_to_bytes(key).decode("utf-8", "replace")
    if not eq or not _KEY.fullmatch(key):
        raise NodeUrlError(f"{url!r}: {pair!r} is not a key=value pair of a bucket id")
    try:
        text = unquote_to_bytes(value).decode()
    except UnicodeDecodeError:
        raise NodeUrlError(f"{url!r}: the value of {key!r} is not UTF-8") from None
    return key, quote(text, safe=_ID_SAFE)


def _same_origin(base: str, url: str) -> bool:
    b, u = urlsplit(base), urlsplit(url)
    return (b.scheme.lower(), b.netloc.lower()) == (u.scheme.lower(), u.netloc.lower())


def _parse_query(base: str, url: str) -> tuple[str, int | None]:
    base = _query_base(base)
    parts = urlsplit(url)
    if parts.fragment or not _same_origin(base, url):
        raise NodeUrlError(f"{url!r} is not a node URL under {base!r}")
    if base_path(parts._replace(query="").geturl()) != base_path(base):
        raise NodeUrlError(f"{url!r} is not a node URL under {base!r}")
    pairs = [_canonical_pair(p, url) for p in parts.query.split("&")] if parts.query else []
    page = None
    if pairs and pairs[-1][0] == _PAGE:
        number = pairs.pop()[1]
        if not number.isascii() or not number.isdigit() or number.startswith("0"):
            raise NodeUrlError(f"{url!r}: pageNumber must be a number from 1, not {number!r}")
        page = int(number)
    if any(k == _PAGE for k, _ in pairs):
        raise NodeUrlError(f"{url!r}: pageNumber must come last")
    return "&".join(f"{k}={v}" for k, v in pairs), page


def _unescape(segment: str) -> str:
    """The inverse of the file-system escaping of :func:`bucket_path` (``_XX`` per byte)."""
    out = bytearray()
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "_":
            out.append(int(segment[i + 1 : i + 3], 16))
            i += 3
        else:
            out.extend(c.encode())
            i += 1
    return out.decode()


def _parse_path(base: str, url: str) -> tuple[str, int | None]:
    try:
        base = check_base_url(base)
    except ValueError as e:
        raise NodeUrlError(str(e)) from e
    foreign = NodeUrlError(f"{url!r} is not a node URL under {base!r}")
    parts = urlsplit(url)
    if parts.query or parts.fragment or not _same_origin(base, url):
        raise foreign
    prefix = base_path(base)
    path = base_path(parts.geturl())
    if not path.startswith(prefix):
        raise foreign
    try:
        rest = unquote_to_bytes(path[len(prefix) :]).decode()
    except UnicodeDecodeError:
        raise foreign from None
    if not rest:
        return "", None
    directory, _, name = rest.rpartition("/")
    file = _FILE.fullmatch(name)
    if file is None or file[2] not in _EXTENSIONS:
        raise foreign
    page = int(file[1]) if file[1] else None
    pairs: list[str] = []
    pending = ""
    for segment in directory.split("/") if directory else []:
        if segment.endswith("~"):
            pending += segment[:-1]
            continue
        pairs.append(pending + segment)
        pending = ""
    try:
        decoded = [_unescape(p) for p in pairs]
    except (ValueError, UnicodeDecodeError):
        raise foreign from None
    if not all(_KEY.fullmatch(p.partition("=")[0]) and "=" in p for p in decoded):
        raise foreign
    bucket = "&".join(decoded)
    # One path per bucket: anything the publisher would not have written is foreign.
    if pending or bucket_path(bucket) != (directory + "/" if directory else ""):
        raise foreign
    return bucket, page


def parse_node_url(base: str, url: str, style: UrlStyle = "path") -> tuple[str, int | None]:
    """The ``(bucket, page)`` a URL of :func:`node_url` names (``page`` None: the bucket's own
    node); the inverse of :func:`node_url` for either ``style``.

    Percent-encoding is normalised: ``tile=14%2F8368%2F5458`` and ``tile=14/8368/5458`` give the
    same bucket id, its canonical form. Raises :class:`~ldesfrag.NodeUrlError` for a URL that
    is not under ``base`` or that no node has (a foreign path, a file publish never writes, a
    query that is not a bucket id).
    """
    if not isinstance(url, str):
        raise NodeUrlError(f"url must be a string, not {type(url).__name__}")
    if _style(style) == "path":
        return _parse_path(base, url)
    return _parse_query(base, url)
