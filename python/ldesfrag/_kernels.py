"""Vectorised kernels: point → tile, geometry → tiles, xsd:dateTime → timestamps."""

from __future__ import annotations

import operator
from typing import Any, Literal, NamedTuple, SupportsIndex, TypeAlias

from arro3.core import Array
from arro3.core.types import ArrowArrayExportable, ArrowStreamExportable

from ldesfrag import _ldesfrag
from ldesfrag.exceptions import InvalidCoordinateError, LdesfragError

__all__ = ["ArrayLike", "Tile", "cover", "parse_datetime", "tile", "tiles_for_points"]

#: Any Arrow array or stream (pyarrow, polars, arro3, …); numpy float64 arrays for coordinates.
ArrayLike: TypeAlias = ArrowArrayExportable | ArrowStreamExportable | Any

#: Default cap on the tiles of one geometry in :func:`cover` and the geospatial fragmentation
#: (defined once, in the Rust core).
DEFAULT_MAX_TILES: int = _ldesfrag.DEFAULT_MAX_TILES
MAX_ZOOM = 30


def _zoom(zoom: object) -> int:
    """A zoom level: an integer (Python or numpy) in ``0..=30``; ``5.7`` is an error, not 5."""
    if isinstance(zoom, bool) or not isinstance(zoom, SupportsIndex):
        raise InvalidCoordinateError(f"zoom must be an integer in 0..={MAX_ZOOM}, not {zoom!r}")
    z = operator.index(zoom)
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidCoordinateError(f"zoom {z} is outside 0..={MAX_ZOOM}")
    return z


def _count(name: str, value: object) -> int:
    """A count argument such as ``max_tiles`` (0 allowed: a cap of 0 tiles covers nothing, in
    :func:`cover` as in the fragmenter)."""
    if isinstance(value, bool) or not isinstance(value, SupportsIndex):
        raise LdesfragError(f"{name} must be a non-negative integer, not {value!r}")
    n = operator.index(value)
    if not 0 <= n < 2**63:
        raise LdesfragError(f"{name} must be a non-negative integer, not {n}")
    return n


def _coordinate(name: str, value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise InvalidCoordinateError(f"{name} must be a number, not {value!r}") from None


class Tile(NamedTuple):
    """An XYZ tile, equal to ``mercantile.Tile``."""

    x: int
    y: int
    z: int


def tile(lon: float, lat: float, zoom: int) -> Tile:
    """The tile holding a point, equal to ``mercantile.tile(lon, lat, zoom)``.

    Raises :class:`~ldesfrag.InvalidCoordinateError` for NaN, infinite or non-numeric
    coordinates, ``|lat| >= 90`` and zooms that are not integers in ``0..=30``.
    """
    return Tile(*_ldesfrag.tile(_coordinate("lon", lon), _coordinate("lat", lat), _zoom(zoom)))


def tiles_for_points(lon: ArrayLike, lat: ArrayLike, zoom: int) -> Array:
    """Tiles of many points: a ``struct<x: uint32, y: uint32>`` array, null where invalid.

    ``lon`` and ``lat`` are Arrow float arrays or numpy float arrays (strided ones are copied).
    Raises :class:`~ldesfrag.ColumnError` for other input and
    :class:`~ldesfrag.InvalidCoordinateError` for a zoom that is not an integer in ``0..=30``.
    """
    return _ldesfrag.tiles_for_points(lon, lat, _zoom(zoom))


def cover(geometries: ArrayLike, zoom: int, *, max_tiles: int = DEFAULT_MAX_TILES) -> Array:
    """Every tile at ``zoom`` each WKT geometry intersects (touching counts), sorted by (y, x).

    WKT may start with a CRS IRI in angle brackets: CRS84 (the default, lon/lat), EPSG:4326
    (lat/lon), EPSG:3857 and EPSG:31370 (Belgian Lambert 72, reprojected natively). Points map to
    exactly ``mercantile.tile``; lines and polygons cover every tile they touch. A
    ``list<struct<x: uint32, y: uint32>>`` array; null where the WKT is unparseable, has another
    CRS, lies outside its CRS's area, or would cover more than ``max_tiles`` tiles.
    Raises :class:`~ldesfrag.InvalidCoordinateError` for a zoom that is not an integer in
    ``0..=30`` and :class:`~ldesfrag.ColumnError` when ``geometries`` is not Arrow strings.
    """
    return _ldesfrag.cover(geometries, _zoom(zoom), max_tiles=_count("max_tiles", max_tiles))


def parse_datetime(values: ArrayLike, *, naive: Literal["utc", "reject"] | str = "utc") -> Array:
    """``xsd:dateTime`` / ``xsd:date`` strings → ``timestamp[us, tz=UTC]``, null where invalid.

    Zone-less values are read as UTC (``naive="utc"``), become null (``naive="reject"``), or are
    read as wall-clock time in an IANA zone (``naive="Europe/Brussels"``: in a repeated hour the
    first occurrence, in a skipped hour the offset from before the change, as ``zoneinfo`` with
    ``fold=0``). A view's time fragmentation reads them in its own ``timezone``
    (docs/semantics.md, "Zone-less timestamps"). Raises :class:`~ldesfrag.ColumnError` when
    ``values`` is not Arrow strings.
    """
    return _ldesfrag.parse_datetime(values, naive=naive)
