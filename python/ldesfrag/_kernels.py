"""Vectorised kernels: point → tile, geometry → tiles, xsd:dateTime → timestamps."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple, TypeAlias

from arro3.core import Array
from arro3.core.types import ArrowArrayExportable, ArrowStreamExportable

from ldesfrag import _ldesfrag

__all__ = ["ArrayLike", "Tile", "cover", "parse_datetime", "tile", "tiles_for_points"]

#: Any Arrow array or stream (pyarrow, polars, arro3, …); numpy float64 arrays for coordinates.
ArrayLike: TypeAlias = ArrowArrayExportable | ArrowStreamExportable | Any

#: Default cap on the tiles of one geometry in :func:`cover` and the geospatial fragmentation
#: (defined once, in the Rust core).
DEFAULT_MAX_TILES: int = _ldesfrag.DEFAULT_MAX_TILES


class Tile(NamedTuple):
    """An XYZ tile, equal to ``mercantile.Tile``."""

    x: int
    y: int
    z: int


def tile(lon: float, lat: float, zoom: int) -> Tile:
    """The tile holding a point, equal to ``mercantile.tile(lon, lat, zoom)``.

    Raises :class:`~ldesfrag.InvalidCoordinateError` for NaN or infinite coordinates,
    ``|lat| >= 90`` and zooms outside ``0..=30``.
    """
    return Tile(*_ldesfrag.tile(float(lon), float(lat), int(zoom)))


def tiles_for_points(lon: ArrayLike, lat: ArrayLike, zoom: int) -> Array:
    """Tiles of many points: a ``struct<x: uint32, y: uint32>`` array, null where invalid."""
    return _ldesfrag.tiles_for_points(lon, lat, int(zoom))


def cover(geometries: ArrayLike, zoom: int, *, max_tiles: int = DEFAULT_MAX_TILES) -> Array:
    """Every tile at ``zoom`` each WKT geometry intersects (touching counts), sorted by (y, x).

    WKT may start with a CRS IRI in angle brackets: CRS84 (the default, lon/lat), EPSG:4326
    (lat/lon), EPSG:3857 and EPSG:31370 (Belgian Lambert 72, reprojected natively). Points map to
    exactly ``mercantile.tile``; lines and polygons cover every tile they touch. A
    ``list<struct<x: uint32, y: uint32>>`` array; null where the WKT is unparseable, has another
    CRS, lies outside its CRS's area, or would cover more than ``max_tiles`` tiles.
    Raises :class:`~ldesfrag.InvalidCoordinateError` for a zoom outside ``0..=30``.
    """
    return _ldesfrag.cover(geometries, int(zoom), max_tiles=int(max_tiles))


def parse_datetime(values: ArrayLike, *, naive: Literal["utc", "reject"] = "utc") -> Array:
    """``xsd:dateTime`` / ``xsd:date`` strings → ``timestamp[us, tz=UTC]``, null where invalid.

    Zone-less values are read as UTC (``naive="utc"``, the reference server's behaviour) or
    become null (``naive="reject"``).
    """
    return _ldesfrag.parse_datetime(values, naive=naive)
