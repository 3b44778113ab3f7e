"""RDF format names: one canonical name per format, used by every public API and the CLI.

Older spellings (file extensions and rdflib's names) are still accepted as aliases; every API
turns what it is given into the canonical name with :func:`rdf_format`, and only there.
"""

from __future__ import annotations

from typing import Literal, TypeAlias, cast, get_args

from ldesfrag.exceptions import RdfError

__all__ = [
    "CONTENT_TYPES",
    "FILE_EXTENSIONS",
    "FORMATS",
    "FORMAT_ALIASES",
    "INPUT_FORMATS",
    "RdfFormat",
    "RdfInputFormat",
    "rdf_format",
    "rdf_input_format",
]

#: Every RDF format ldesfrag knows: what pages are rendered and published in.
RdfFormat: TypeAlias = Literal["turtle", "ntriples", "nquads", "trig", "jsonld"]
#: The formats members are read from (:func:`~ldesfrag.read_members`, ``publish`` inputs).
RdfInputFormat: TypeAlias = Literal["turtle", "ntriples", "nquads", "trig"]

FORMATS: tuple[RdfFormat, ...] = get_args(RdfFormat)
INPUT_FORMATS: tuple[RdfInputFormat, ...] = get_args(RdfInputFormat)
#: Other spellings accepted for a format: the file extensions ``publish --format`` took, and
#: rdflib's names that :meth:`~ldesfrag.View.from_rdf` took.
FORMAT_ALIASES: dict[str, RdfFormat] = {
    "ttl": "turtle",
    "nt": "ntriples",
    "nq": "nquads",
    "json-ld": "jsonld",
}

#: The media type of each format (what a server sends as ``Content-Type``).
CONTENT_TYPES: dict[RdfFormat, str] = {
    "turtle": "text/turtle",
    "ntriples": "application/n-triples",
    "nquads": "application/n-quads",
    "trig": "application/trig",
    "jsonld": "application/ld+json",
}
#: The usual file extension of each format.
FILE_EXTENSIONS: dict[RdfFormat, str] = {
    "turtle": ".ttl",
    "ntriples": ".nt",
    "nquads": ".nq",
    "trig": ".trig",
    "jsonld": ".jsonld",
}


def _names(formats: tuple[str, ...]) -> str:
    return ", ".join(map(repr, formats))


def rdf_format(value: object, *, supported: tuple[RdfFormat, ...] = FORMATS) -> RdfFormat:
    """The canonical name of a format given by its name or an alias (``ttl`` → ``turtle``).

    Raises :class:`~ldesfrag.RdfError` for a name that is no format, and for a format that is
    not among ``supported``.
    """
    if isinstance(value, str):
        name = FORMAT_ALIASES.get(value, value)
        if name in supported:
            return name
        if name in FORMATS:
            raise RdfError(f"format {value!r} is not supported here, only {_names(supported)}")
    aliases = ", ".join(f"{a!r} for {f!r}" for a, f in FORMAT_ALIASES.items() if f in supported)
    raise RdfError(f"format must be one of {_names(supported)} (or {aliases}), not {value!r}")


def rdf_input_format(value: object) -> RdfInputFormat:
    """:func:`rdf_format` for reading: ``jsonld`` is written, never read."""
    return cast(RdfInputFormat, rdf_format(value, supported=INPUT_FORMATS))
