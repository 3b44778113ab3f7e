"""Views: the ordered list of fragmentations, then pagination (docs/semantics.md, "Views")."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal, TypeAlias

from ldesfrag import _ldesfrag
from ldesfrag._formats import FILE_EXTENSIONS, FORMAT_ALIASES, FORMATS, RdfFormat, rdf_format
from ldesfrag.exceptions import ViewError

__all__ = [
    "GEO_AS_WKT",
    "PROV_GENERATED_AT_TIME",
    "RDF_TYPE",
    "Fragmentation",
    "Geospatial",
    "Granularity",
    "HierarchicalTime",
    "Reference",
    "View",
]

GEO_AS_WKT = "http://www.opengis.net/ont/geosparql#asWKT"
PROV_GENERATED_AT_TIME = "http://www.w3.org/ns/prov#generatedAtTime"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"

Granularity: TypeAlias = Literal["year", "month", "day", "hour", "minute", "second"]


@dataclass(frozen=True)
class Geospatial:
    """Slippy-map tiles at ``max_zoom`` of every geometry of a member.

    The members' ``column`` holds WKT strings (or lists of them); without it, float ``lon`` and
    ``lat`` columns are read as points.
    """

    max_zoom: int
    path: str = GEO_AS_WKT
    column: str = "geometry"


@dataclass(frozen=True)
class HierarchicalTime:
    """Nested year → … → ``max_granularity`` buckets in the local time of ``timezone``.

    Zone-less timestamps (no offset; Arrow timestamps without a zone; dates) are read as
    wall-clock time in ``timezone`` (docs/semantics.md, "Zone-less timestamps").
    """

    max_granularity: Granularity
    path: str = PROV_GENERATED_AT_TIME
    column: str = "timestamp"
    timezone: str = "UTC"


@dataclass(frozen=True)
class Reference:
    """One bucket per IRI value of ``column``, under the bucket key ``key``."""

    path: str = RDF_TYPE
    key: str = "reference"
    column: str = "reference"


Fragmentation: TypeAlias = Geospatial | HierarchicalTime | Reference

_KINDS: dict[str, type[Geospatial] | type[HierarchicalTime] | type[Reference]] = {
    "Geospatial": Geospatial,
    "HierarchicalTime": HierarchicalTime,
    "Reference": Reference,
}
# The reference server's names (its `tree:fragmentationStrategy` types) are accepted too.
_ALIASES = {
    "GeospatialFragmentation": "Geospatial",
    "HierarchicalTimeBasedFragmentation": "HierarchicalTime",
    "ReferenceFragmentation": "Reference",
}


@dataclass(frozen=True)
class View:
    """A fragmentation list (outermost first) and the page size of every leaf bucket.

    ``order="timestamp"`` paginates each call's members in ``(timestamp, id)`` order instead of
    arrival order.
    """

    fragmentations: Sequence[Fragmentation] = field(default_factory=tuple)
    page_size: int = 250
    order: Literal["arrival", "timestamp"] = "arrival"

    def __post_init__(self) -> None:
        if isinstance(self.fragmentations, str | bytes | Mapping) or not isinstance(
            self.fragmentations, Iterable
        ):
            raise ViewError(
                "fragmentations must be a sequence of Geospatial, HierarchicalTime or "
                f"Reference, not {type(self.fragmentations).__name__}"
            )
        frags = tuple(self.fragmentations)
        for f in frags:
            if not isinstance(f, Geospatial | HierarchicalTime | Reference):
                raise ViewError(f"not a fragmentation: {f!r}")
        object.__setattr__(self, "fragmentations", frags)
        size = self.page_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size < 2**32:
            raise ViewError(f"page_size must be an int in 1..2**32, not {size!r}")
        try:
            text = self.to_json()
        except (TypeError, ValueError, RecursionError) as e:
            # A value JSON cannot hold (an object, a nest too deep): the checks below need JSON.
            raise ViewError(f"not a valid view: {type(e).__name__}: {e}") from None
        _ldesfrag.validate_view(text)

    @classmethod
    def coerce(cls, view: object) -> View:
        """``view`` as a :class:`View`: a view itself, or a mapping of its fields (the JSON and
        TOML form, see :meth:`from_dict`). Anything else raises :class:`~ldesfrag.ViewError`
        (read a file with :meth:`load`)."""
        if isinstance(view, View):
            return view
        if isinstance(view, Mapping):
            return cls.from_dict(view)
        raise ViewError(
            "view must be a View or a mapping of its fields (View.load reads a file), "
            f"not {type(view).__name__} {view!r:.80}"
        )

    def to_dict(self) -> dict[str, Any]:
        """A plain dict, the same shape as the JSON and TOML forms."""
        return {
            "fragmentations": [
                {"type": type(f).__name__, **asdict(f)} for f in self.fragmentations
            ],
            "page_size": self.page_size,
            "order": self.order,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> View:
        if not isinstance(data, Mapping):
            raise ViewError(f"a view is a mapping, not {type(data).__name__}")
        unknown = set(data) - {"fragmentations", "page_size", "order"}
        if unknown:
            raise ViewError(f"unknown view keys: {sorted(unknown)}")
        listed = data.get("fragmentations", [])
        if isinstance(listed, str | bytes | Mapping) or not isinstance(listed, Iterable):
            raise ViewError(f"fragmentations is a list, not {type(listed).__name__}")
        frags = []
        for i, f in enumerate(listed):
            if not isinstance(f, Mapping) or "type" not in f:
                raise ViewError(f"fragmentation {i} needs a 'type'")
            args = dict(f)
            kind = str(args.pop("type"))
            kind = _ALIASES.get(kind, kind)
            if kind not in _KINDS:
                raise ViewError(f"fragmentation {i}: unknown type {kind!r}")
            try:
                frags.append(_KINDS[kind](**args))
            except TypeError as e:
                raise ViewError(f"fragmentation {i} ({kind}): {e}") from None
        kwargs: dict[str, Any] = {"fragmentations": frags}
        for key in ("page_size", "order"):
            if key in data:
                kwargs[key] = data[key]
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> View:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ViewError(f"invalid JSON: {e}") from None
        except RecursionError:
            raise ViewError("invalid JSON: nested too deeply") from None
        return cls.from_dict(data)

    @classmethod
    def from_toml(cls, text: str) -> View:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise ViewError(f"invalid TOML: {e}") from None
        except RecursionError:
            raise ViewError("invalid TOML: nested too deeply") from None
        return cls.from_dict(data)

    @classmethod
    def from_rdf(
        cls, text: str, *, format: RdfFormat | str = "turtle", base: str | None = None
    ) -> View:
        """Reads the reference server's view description (``tree:fragmentationStrategy``,
        ``tree:pageSize``, …), also found on a published root page. Needs rdflib.

        ``format`` is ``turtle`` (the default), ``ntriples``, ``nquads``, ``trig`` or
        ``jsonld`` (``ttl``, ``nt``, ``nq`` and ``json-ld`` are accepted for the same), or
        another rdflib parser name (``xml``, ``n3``, …); ``base`` resolves relative IRIs.
        """
        from ldesfrag._view_turtle import view_dict_from_rdf

        if format in FORMATS or format in FORMAT_ALIASES:
            format = _RDFLIB_NAMES[rdf_format(format)]
        return cls.from_dict(view_dict_from_rdf(text, format=format, base=base))

    @classmethod
    def load(cls, path: str | PathLike[str]) -> View:
        """Reads a view description: ``.toml``, ``.json``, or RDF (``.ttl``, ``.nt``, ``.nq``,
        ``.trig``, ``.jsonld``) in the reference server's vocabulary."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ViewError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
        suffix = p.suffix.lower()
        if suffix == ".json":
            return cls.from_json(text)
        if suffix == ".toml":
            return cls.from_toml(text)
        if suffix in _RDF_FORMATS:
            return cls.from_rdf(text, format=_RDF_FORMATS[suffix], base=p.resolve().as_uri())
        raise ViewError(f"{p}: a view file ends in .toml, .json or {', '.join(_RDF_FORMATS)}")


_RDF_FORMATS: dict[str, RdfFormat] = {ext: f for f, ext in FILE_EXTENSIONS.items()}
#: rdflib's parser name of each format.
_RDFLIB_NAMES: dict[RdfFormat, str] = {
    "turtle": "turtle",
    "ntriples": "nt",
    "nquads": "nquads",
    "trig": "trig",
    "jsonld": "json-ld",
}
