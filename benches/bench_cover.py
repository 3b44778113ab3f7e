"""Geometry → tiles at z14: ldesfrag.cover vs the shapely oracle (intersects per bbox tile)."""

import mercantile
import numpy as np
import pyarrow as pa
import pytest
import shapely

import ldesfrag

ZOOM = 14


def roads(rng, n):
    """Road-like linestrings: 5-20 vertices, a few km, in Flanders."""
    out = []
    for _ in range(n):
        lon, lat = rng.uniform(2.6, 5.9), rng.uniform(50.7, 51.35)
        steps = rng.normal(0, 0.003, size=(rng.integers(5, 21), 2)).cumsum(axis=0)
        out.append(
            "LINESTRING (" + ", ".join(f"{lon + a:.6f} {lat + b:.6f}" for a, b in steps) + ")"
        )
    return out


def parcels(rng, n):
    """Building/parcel polygons: 6-12 vertices, 20-400 m across, some with a courtyard hole."""
    out = []
    for i in range(n):
        lon, lat = rng.uniform(2.6, 5.9), rng.uniform(50.7, 51.35)
        k = rng.integers(6, 13)
        ang = np.sort(rng.uniform(0, 2 * np.pi, k))
        r = rng.uniform(0.0002, 0.004) * rng.uniform(0.6, 1.0, k)
        ring = [
            (lon + a * np.cos(t), lat + a * np.sin(t) * 0.63) for a, t in zip(r, ang, strict=True)
        ]
        ring.append(ring[0])
        text = "(" + ", ".join(f"{x:.7f} {y:.7f}" for x, y in ring) + ")"
        if i % 5 == 0:
            h = r.min() * 0.3
            hole = [
                (lon + h * np.cos(t), lat + h * np.sin(t) * 0.63)
                for t in np.linspace(0, 2 * np.pi, 7)
            ]
            hole[-1] = hole[0]
            text += ", (" + ", ".join(f"{x:.7f} {y:.7f}" for x, y in hole[::-1]) + ")"
        out.append(f"POLYGON ({text})")
    return out


def shapely_cover(wkts, zoom):
    """The oracle: every tile of the bbox range whose polygon the geometry intersects."""
    out = []
    for g in shapely.from_wkt(wkts):
        w, s, e, n = g.bounds
        tiles = list(mercantile.tiles(w, s, e, n, zoom))
        boxes = shapely.box(*np.array([mercantile.bounds(t) for t in tiles]).T)
        hit = shapely.intersects(g, boxes)
        out.append(sorted((t.x, t.y) for t, h in zip(tiles, hit, strict=True) if h))
    return out


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    return {"roads": roads(rng, 20_000), "parcels": parcels(rng, 20_000)}


@pytest.mark.parametrize("kind", ["roads", "parcels"])
def test_ldesfrag(benchmark, measure, data, kind):
    arr = pa.array(data[kind])
    measure(benchmark, f"cover z14 {kind}", "ldesfrag", len(arr), ldesfrag.cover, arr, ZOOM)


@pytest.mark.parametrize("kind", ["roads", "parcels"])
def test_shapely_oracle(benchmark, measure, data, kind):
    wkts = data[kind][:2_000]
    measure(benchmark, f"cover z14 {kind}", "ref:shapely", len(wkts), shapely_cover, wkts, ZOOM)


@pytest.mark.parametrize("kind", ["roads", "parcels"])
def test_same_tiles_as_the_oracle(data, kind):
    wkts = data[kind][:300]
    got = ldesfrag.cover(pa.array(wkts), ZOOM).to_pylist()
    assert [sorted((t["x"], t["y"]) for t in g) for g in got] == shapely_cover(wkts, ZOOM)
