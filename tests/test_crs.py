"""Native reprojection (EPSG:3857 Web Mercator, EPSG:31370 Belgian Lambert 72) against pyproj.

ldesfrag exposes no reprojection function, so it is observed through `ldesfrag.cover` of a
point at zoom 24 (tiles of ~2.4 m at Belgium's latitude): the tile must be mercantile's tile of
pyproj's lon/lat, except when pyproj's point lies within 0.5 m of the tile ldesfrag chose (an
edge case the tolerance allows for). pyproj's default EPSG:31370 → EPSG:4326 operation is the
Helmert transformation EPSG:15929 ("BD72 to WGS 84 (3)"), which ldesfrag implements.
"""

import math
import re
from pathlib import Path

import mercantile
import numpy as np
import pyarrow as pa
import pyproj
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import ldesfrag
from ldesfrag import Fragmenter, Geospatial, View

REFERENCE = Path(__file__).parent / "data" / "examples"
GIPOD_FILES = [
    "Server4J_geospatial_ldes-member-bucketising_gipod-lambert72.nq",
    "E2E_039-default-bucket_member2_valid-lambert72.ttl",
]
# docs/ldes-rules.md, "Geospatial test vectors": the reference server's tiles of the GIPOD
# polygon at z15.
GIPOD_TILES = {(16743, 11009), (16744, 11009), (16743, 11010), (16742, 11010)}

ZOOM = 24
TOLERANCE_M = 0.5
HALF_WORLD = math.pi * 6_378_137  # EPSG:3857 x of the antimeridian
GEOD = pyproj.Geod(ellps="WGS84")
TO_WGS84 = {code: pyproj.Transformer.from_crs(code, 4326, always_xy=True) for code in (3857, 31370)}


def iri(code):
    return f"<http://www.opengis.net/def/crs/EPSG/0/{code}>"


def covers(wkts, z):
    """`ldesfrag.cover` of a list of WKT, as lists of (x, y) or None."""
    rows = pa.array(ldesfrag.cover(pa.array(wkts, pa.string()), z)).to_pylist()
    return [None if r is None else [(t["x"], t["y"]) for t in r] for r in rows]


def metres_to_tile(lon, lat, tile, z):
    """Distance in metres from a WGS 84 point to a tile's rectangle (0 inside it)."""
    b = mercantile.bounds(tile[0], tile[1], z)
    near_lon = min(max(lon, b.west), b.east)
    near_lat = min(max(lat, b.south), b.north)
    return GEOD.inv(lon, lat, near_lon, near_lat)[2]


def check_points(code, xs, ys):
    """ldesfrag's z24 tile of each point agrees with pyproj + mercantile, up to 0.5 m; returns
    the largest distance from a pyproj point to the tile ldesfrag chose (0 when all agree)."""
    lons, lats = TO_WGS84[code].transform(np.asarray(xs, float), np.asarray(ys, float))
    got = covers([f"{iri(code)} POINT ({x!r} {y!r})" for x, y in zip(xs, ys, strict=True)], ZOOM)
    worst = 0.0
    for x, y, lon, lat, tiles in zip(xs, ys, lons, lats, got, strict=True):
        assert tiles is not None, (x, y)
        assert len(tiles) == 1, (x, y)
        want = mercantile.tile(lon, lat, ZOOM)
        if tiles[0] != (want.x, want.y):
            d = metres_to_tile(lon, lat, tiles[0], ZOOM)
            assert d <= TOLERANCE_M, (x, y, lon, lat, tiles[0], want, d)
            worst = max(worst, d)
    return worst


lambert_x = st.floats(20_000, 300_000)
lambert_y = st.floats(15_000, 250_000)
mercator = st.floats(-HALF_WORLD, HALF_WORLD)


@given(lambert_x, lambert_y)
@example(150_000.0, 170_000.0)  # Brussels
@example(121_375.83, 157_725.02)  # the GIPOD polygon's first vertex
@example(20_000.0, 15_000.0)
@example(300_000.0, 250_000.0)
def test_lambert72_points_match_pyproj(x, y):
    check_points(31370, [x], [y])


@given(mercator, mercator)
@example(0.0, 0.0)
@example(HALF_WORLD, HALF_WORLD)
@example(-HALF_WORLD, -HALF_WORLD)
@example(485_318.0, 6_594_361.0)  # Brussels
def test_web_mercator_points_match_pyproj(x, y):
    check_points(3857, [x], [y])


def test_many_points_match_pyproj():
    """A seeded batch through one `cover` call: Belgium in Lambert 72, the world in 3857."""
    rng = np.random.default_rng(31370)
    n = 20_000
    worst = check_points(
        31370, rng.uniform(20_000, 300_000, n).tolist(), rng.uniform(15_000, 250_000, n).tolist()
    )
    worst = max(
        worst,
        check_points(
            3857,
            rng.uniform(-HALF_WORLD, HALF_WORLD, n).tolist(),
            rng.uniform(-HALF_WORLD, HALF_WORLD, n).tolist(),
        ),
    )
    assert worst <= TOLERANCE_M


def gipod_wkt(name):
    text = (REFERENCE / name).read_text()
    (wkt,) = re.findall(r'"(<http://www\.opengis\.net/def/crs/EPSG/[^"]*)"', text)
    return wkt


@pytest.mark.parametrize("name", GIPOD_FILES)
def test_gipod_lambert72_polygon_cover(name):
    wkt = gipod_wkt(name)
    assert wkt.startswith("<http://www.opengis.net/def/crs/EPSG/9.9.1/31370> POLYGON ((")
    assert set(covers([wkt], 15)[0]) == GIPOD_TILES


def test_gipod_lambert72_polygon_equals_its_pyproj_reprojection():
    """Reprojecting every vertex with pyproj first, then covering as CRS84, gives the same
    tiles: at z15 and down to ~1 m tiles."""
    wkt = gipod_wkt(GIPOD_FILES[0])
    body = wkt.split("> ", 1)[1]
    nums = [float(v) for v in re.findall(r"[-0-9.e]+", body)]
    lons, lats = TO_WGS84[31370].transform(nums[0::2], nums[1::2])
    ring = ", ".join(f"{lon!r} {lat!r}" for lon, lat in zip(lons, lats, strict=True))
    crs84 = f"POLYGON (({ring}))"
    for z in [15, 18, 21, 25]:
        lambert, lonlat = covers([wkt, crs84], z)
        assert lambert == lonlat, z


def test_gipod_lambert72_polygon_through_the_fragmenter():
    members = pa.table(
        {
            "id": [f"https://ex.org/gipod/{i}" for i in range(len(GIPOD_FILES))],
            "geometry": [gipod_wkt(name) for name in GIPOD_FILES],
        }
    )
    f = Fragmenter(View([Geospatial(15)]))
    out = pa.table(f.assign(members))
    want = {f"tile=15/{x}/{y}" for x, y in GIPOD_TILES}
    pairs = list(zip(out["row"].to_pylist(), out["bucket"].to_pylist(), strict=True))
    for row in range(len(GIPOD_FILES)):
        assert {b for r, b in pairs if r == row} == want
    assert pa.table(f.invalid()).num_rows == 0


@pytest.mark.parametrize(
    "text",
    [
        "SRID=31370;POINT (150000 170000)",
        "<http://www.opengis.net/def/crs/EPSG/9.9.1/31370> POINT (150000 170000)",
        f"{iri(31370)} POINT (150000 170000)",
    ],
)
def test_lambert72_prefixes(text):
    lon, lat = TO_WGS84[31370].transform(150_000, 170_000)
    t = mercantile.tile(lon, lat, 17)
    assert covers([text], 17) == [[(t.x, t.y)]]


@pytest.mark.parametrize(
    "text",
    [
        f"{iri(31370)} POINT (5000000 170000)",  # far outside Belgium
        f"{iri(31370)} LINESTRING (150000 170000, 150000 -2000000)",
        "SRID=31370;POINT (1e300 0)",
        f"{iri(3857)} POINT (21000000 0)",  # beyond the antimeridian
        f"{iri(3857)} POINT (nan 0)",
        f"{iri(28992)} POINT (155000 463000)",  # Amersfoort / RD New: unsupported
        f"{iri(3035)} POINT (3962799 3101016)",
    ],
)
def test_out_of_area_and_other_crs_give_none(text):
    assert covers([text], 10) == [None]


def test_out_of_area_goes_to_the_unknown_tile_with_a_reason():
    members = pa.table(
        {
            "id": ["a", "b"],
            "geometry": [f"{iri(31370)} POINT (5000000 170000)", f"{iri(28992)} POINT (1 2)"],
        }
    )
    f = Fragmenter(View([Geospatial(12)]))
    assert pa.table(f.assign(members))["bucket"].to_pylist() == ["tile=unknown"] * 2
    reasons = pa.table(f.invalid())["reason"].to_pylist()
    assert "outside" in reasons[0]
    assert "unsupported CRS" in reasons[1]
