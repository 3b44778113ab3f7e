"""The exceptions ldesfrag raises: all are `LdesfragError`, itself a `ValueError`."""

from __future__ import annotations

__all__ = [
    "ColumnError",
    "InputError",
    "InvalidCoordinateError",
    "InvalidMemberError",
    "LdesfragError",
    "NodeUrlError",
    "RdfError",
    "ReplicationError",
    "StateError",
    "StreamClosedError",
    "ViewError",
]


class LdesfragError(ValueError):
    """Base class of every error raised by ldesfrag."""


class InvalidCoordinateError(LdesfragError):
    """A longitude, latitude or zoom level outside the domain of the tile grid."""


class ViewError(LdesfragError):
    """A view description that cannot be used (bad values, duplicate bucket keys, …)."""


class ColumnError(LdesfragError):
    """A member column that is missing or has a type ldesfrag cannot read, or input that is not
    Arrow data at all."""


class InputError(LdesfragError):
    """An input file that cannot be read as its format says: garbage, truncated, ragged CSV
    rows, text that is not UTF-8."""


class InvalidMemberError(LdesfragError):
    """A member with a missing or invalid value, with ``on_invalid="raise"``.

    ``row`` is the member's index in the call's input and ``reason`` says what is wrong.
    Nothing of the call was assigned.
    """

    def __init__(self, message: str, row: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.reason = reason


class StateError(LdesfragError):
    """A saved state that is corrupt, from another version, or from another view."""


class StreamClosedError(LdesfragError):
    """A member was offered to a fragmenter whose stream was closed."""


class RdfError(LdesfragError):
    """RDF input that cannot be read at all: an unknown format or member mode, a bad IRI."""


class NodeUrlError(LdesfragError):
    """A URL that names no node under the given base (a foreign or malformed node URL), or
    arguments no node URL can be made of."""


class ReplicationError(LdesfragError):
    """A stream that could not be replicated whole: a page answered 4xx, could not be parsed, or
    kept failing after the retries. ``url`` is the page, ``reason`` says why; the message is
    ``URL: reason``. A replication never ends short without raising this."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
