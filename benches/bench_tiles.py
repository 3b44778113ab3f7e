"""Point → tile: ldesfrag vs a numpy-vectorised twin vs a mercantile loop (same points)."""

import mercantile
import numpy as np
import pytest

import ldesfrag

N = 2_000_000
ZOOM = 14


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(1)
    return rng.uniform(2.5, 6.4, N), rng.uniform(49.5, 51.5, N)


def numpy_tiles(lon, lat, zoom):
    """mercantile's formula, vectorised (without its epsilon/edge handling)."""
    z2 = 2.0**zoom
    x = np.floor((lon / 360.0 + 0.5) * z2)
    s = np.sin(np.radians(lat))
    y = np.floor((0.5 - 0.25 * np.log((1.0 + s) / (1.0 - s)) / np.pi) * z2)
    return np.clip(x, 0, z2 - 1).astype(np.uint32), np.clip(y, 0, z2 - 1).astype(np.uint32)


def test_ldesfrag(benchmark, measure, points):
    measure(
        benchmark, "tiles_for_points z14", "ldesfrag", N, ldesfrag.tiles_for_points, *points, ZOOM
    )


def test_numpy_twin(benchmark, measure, points):
    measure(benchmark, "tiles_for_points z14", "ref:numpy", N, numpy_tiles, *points, ZOOM)


def test_mercantile_loop(benchmark, measure, points):
    lon, lat = points[0][:20_000].tolist(), points[1][:20_000].tolist()

    def loop():
        return [mercantile.tile(a, b, ZOOM) for a, b in zip(lon, lat, strict=True)]

    measure(benchmark, "tiles_for_points z14", "ref:mercantile", 20_000, loop)


def test_same_tiles_as_the_references(points):
    lon, lat = points[0][:100_000], points[1][:100_000]
    got = ldesfrag.tiles_for_points(lon, lat, ZOOM).to_pylist()
    x, y = numpy_tiles(lon, lat, ZOOM)
    assert [(g["x"], g["y"]) for g in got] == list(zip(x.tolist(), y.tolist(), strict=True))
