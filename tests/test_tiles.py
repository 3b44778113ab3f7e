"""Point → tile against mercantile, scalar and vectorised."""

import math

import mercantile
import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import ldesfrag
from ldesfrag import InvalidCoordinateError, LdesfragError

LAT_LIMIT = 85.0511287798066
zooms = st.integers(min_value=0, max_value=28)
lons = st.floats(min_value=-180, max_value=180, allow_nan=False)
lats = st.floats(min_value=-89.999999, max_value=89.999999, allow_nan=False)


def mercantile_or_none(lon, lat, z):
    try:
        return tuple(mercantile.tile(lon, lat, z))
    except (mercantile.InvalidLatitudeError, ValueError, OverflowError):
        return None


@given(lons, lats, zooms)
def test_scalar_equals_mercantile(lon, lat, z):
    expected = mercantile_or_none(lon, lat, z)
    assume(expected is not None)
    assert tuple(ldesfrag.tile(lon, lat, z)) == expected


@given(st.integers(min_value=0, max_value=2**28), zooms, st.sampled_from([-1, 0, 1]))
def test_tile_edges_equal_mercantile(i, z, ulps):
    n = 2**z
    k = i % (n + 1)
    lon = k / n * 360.0 - 180.0
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * k / n))))
    lon = float(np.nextafter(lon, math.copysign(math.inf, ulps))) if ulps else lon
    lat = float(np.nextafter(lat, math.copysign(math.inf, ulps))) if ulps else lat
    lon = min(max(lon, -180.0), 180.0)
    expected = mercantile_or_none(lon, lat, z)
    assume(expected is not None)
    assert tuple(ldesfrag.tile(lon, lat, z)) == expected
    got = ldesfrag.tiles_for_points(np.array([lon]), np.array([lat]), z).to_pylist()
    assert got == [{"x": expected[0], "y": expected[1]}]


@pytest.mark.parametrize("lon", [-180.0, 180.0, 179.9999999999, -179.9999999999, 0.0])
@pytest.mark.parametrize("lat", [LAT_LIMIT, -LAT_LIMIT, 85.06, -85.06, 89.9, -89.9, 0.0])
@pytest.mark.parametrize("z", [0, 1, 15, 28, 30])
def test_grid_edges_clamp_like_mercantile(lon, lat, z):
    assert tuple(ldesfrag.tile(lon, lat, z)) == tuple(mercantile.tile(lon, lat, z))


@given(st.lists(st.tuples(lons, lats), min_size=0, max_size=300), zooms)
def test_vectorised_equals_mercantile(points, z):
    lon = np.array([p[0] for p in points], dtype=np.float64)
    lat = np.array([p[1] for p in points], dtype=np.float64)
    got = ldesfrag.tiles_for_points(lon, lat, z).to_pylist()
    for (lo, la), g in zip(points, got, strict=True):
        expected = mercantile_or_none(lo, la, z)
        if expected is not None:
            assert g == {"x": expected[0], "y": expected[1]}


edge_offsets = st.sampled_from([-1e-9, -1e-12, -1e-13, -1e-14, 0.0, 1e-14, 1e-13, 1e-12, 1e-9])
edge_points = st.tuples(
    st.integers(min_value=0, max_value=2**30),
    st.integers(min_value=0, max_value=2**30),
    edge_offsets,
    edge_offsets,
)


@given(st.lists(edge_points, min_size=1, max_size=200), zooms)
def test_vectorised_near_tile_edges_equals_mercantile(edges, z):
    """Points within 1e-9..1e-14 degrees of column and row edges, many per call."""
    n = 2**z
    lon = [min(max((i % (n + 1)) / n * 360.0 - 180.0 + dx, -180.0), 180.0) for i, _, dx, _ in edges]
    lat = [
        math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (j % (n + 1)) / n)))) + dy
        for _, j, _, dy in edges
    ]
    got = ldesfrag.tiles_for_points(np.array(lon), np.array(lat), z).to_pylist()
    for lo, la, g in zip(lon, lat, got, strict=True):
        expected = mercantile_or_none(lo, la, z)
        if expected is not None:
            assert g == {"x": expected[0], "y": expected[1]}, (lo, la)


invalid_points = st.sampled_from(
    [(math.nan, 0.0), (0.0, 90.5), (math.inf, 10.0), (10.0, -math.inf), (0.0, -91.0)]
)


@given(st.lists(st.one_of(st.tuples(lons, lats), invalid_points), max_size=300), zooms)
def test_vectorised_nulls_exactly_where_invalid(points, z):
    lon = np.array([p[0] for p in points], dtype=np.float64)
    lat = np.array([p[1] for p in points], dtype=np.float64)
    out = pa.array(ldesfrag.tiles_for_points(lon, lat, z))
    for (lo, la), g in zip(points, out.to_pylist(), strict=True):
        assert (g is not None) == (math.isfinite(lo) and math.isfinite(la) and abs(la) <= 90)
    if out.null_count == 0:
        assert out.buffers()[0] is None  # no validity bitmap when every point is valid


def test_vectorised_dense_band_at_every_zoom():
    """A million points through the parallel path, checked against mercantile on a sample."""
    rng = np.random.default_rng(7)
    lon = rng.uniform(-180, 180, 1_000_000)
    lat = rng.uniform(-85.2, 85.2, 1_000_000)
    for z in (3, 14, 22, 30):
        got = pa.array(ldesfrag.tiles_for_points(lon, lat, z))
        xs = got.field("x").to_numpy()
        ys = got.field("y").to_numpy()
        for i in range(0, 1_000_000, 997):
            assert (xs[i], ys[i]) == tuple(mercantile.tile(lon[i], lat[i], z))[:2]


def test_accepts_arrow_polars_and_numpy_with_nulls():
    lon = pa.array([4.7, None, 4.7, float("nan")], type=pa.float64())
    lat = pa.array([50.9, 50.9, 95.0, 50.9], type=pa.float64())
    expected = mercantile.tile(4.7, 50.9, 12)
    out = pa.array(ldesfrag.tiles_for_points(lon, lat, 12))
    assert out.type == pa.struct(
        [pa.field("x", pa.uint32(), False), pa.field("y", pa.uint32(), False)]
    )
    assert out.to_pylist() == [{"x": expected.x, "y": expected.y}, None, None, None]
    pl_out = ldesfrag.tiles_for_points(pl.Series([4.7]), pl.Series([50.9]), 12)
    assert pa.array(pl_out).to_pylist() == [{"x": expected.x, "y": expected.y}]
    f32 = ldesfrag.tiles_for_points(
        pa.array([4.7], pa.float32()), pa.array([50.9], pa.float32()), 12
    )
    assert len(f32) == 1


def test_empty_input():
    assert len(ldesfrag.tiles_for_points(np.array([]), np.array([]), 5)) == 0


@pytest.mark.parametrize(
    ("lon", "lat", "z"),
    [
        (math.nan, 0, 1),
        (0, math.nan, 1),
        (math.inf, 0, 1),
        (0, -math.inf, 1),
        (0, 90.000001, 1),
        (0, -90.5, 1),
        (0, 91, 1),
        (0, 0, -1),
        (0, 0, 31),
    ],
)
def test_scalar_rejects(lon, lat, z):
    with pytest.raises(InvalidCoordinateError) as e:
        ldesfrag.tile(lon, lat, z)
    assert isinstance(e.value, LdesfragError)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("lon", [-180.0, -3.5, 0.0, 179.0, 180.0])
@pytest.mark.parametrize("lat", [90.0, -90.0])
@pytest.mark.parametrize("z", [0, 1, 14, 30])
def test_the_poles_take_the_edge_rows_in_tile_points_and_cover(lon, lat, z):
    # mercantile has no answer at a pole (1 - sin(lat) is 0); its row just short of it is the
    # edge row, and tile, tiles_for_points and cover all take that row.
    near = 89.99999 if lat > 0 else -89.99999
    expected = tuple(mercantile.tile(lon, near, z))
    assert tuple(ldesfrag.tile(lon, lat, z)) == expected
    got = ldesfrag.tiles_for_points(np.array([lon]), np.array([lat]), z).to_pylist()
    assert got == [{"x": expected[0], "y": expected[1]}]
    covered = pa.array(ldesfrag.cover(pa.array([f"POINT ({lon} {lat})"]), z)).to_pylist()
    assert covered == [[{"x": expected[0], "y": expected[1]}]]


def test_vectorised_rejects_bad_zoom_and_mismatched_lengths():
    with pytest.raises(InvalidCoordinateError):
        ldesfrag.tiles_for_points(np.array([0.0]), np.array([0.0]), 31)
    with pytest.raises(ldesfrag.ColumnError):
        ldesfrag.tiles_for_points(np.array([0.0, 1.0]), np.array([0.0]), 3)
    with pytest.raises(ldesfrag.ColumnError):
        ldesfrag.tiles_for_points(pa.array(["a"]), pa.array(["b"]), 3)


def test_tile_is_a_named_tuple_like_mercantile():
    t = ldesfrag.tile(5.47236, 50.9642, 15)
    assert t == (16882, 10975, 15)
    assert (t.x, t.y, t.z) == (16882, 10975, 15)
