"""Bad input: a clear LdesfragError or a reported row, never a crash or a lost member."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ldesfrag
from ldesfrag import (
    ColumnError,
    Fragmenter,
    Geospatial,
    HierarchicalTime,
    InvalidCoordinateError,
    LdesfragError,
    Reference,
    View,
    ViewError,
)

VIEW = View([Geospatial(14), HierarchicalTime("day"), Reference()], page_size=2)


def test_empty_batches_and_streams():
    t = pa.table(
        {
            "id": pa.array([], pa.string()),
            "geometry": pa.array([], pa.string()),
            "timestamp": pa.array([], pa.string()),
            "reference": pa.array([], pa.string()),
        }
    )
    f = Fragmenter(VIEW)
    out = pa.table(f.assign(t))
    assert out.num_rows == 0
    assert out.schema.names == ["row", "bucket", "page"]
    assert pa.table(f.relations()).num_rows == 0
    reader = pa.RecordBatchReader.from_batches(t.schema, [])
    assert pa.table(f.assign(reader)).num_rows == 0


def test_all_null_columns_go_to_unknown_buckets_with_reasons():
    n = 5
    t = pa.table(
        {
            "id": [f"m{i}" for i in range(n)],
            "geometry": pa.nulls(n, pa.string()),
            "timestamp": pa.nulls(n, pa.timestamp("ms")),
            "reference": pa.nulls(n, pa.string()),
        }
    )
    f = Fragmenter(VIEW)
    out = pa.table(f.assign(t))
    assert set(out["bucket"].to_pylist()) == {"tile=unknown&year=unknown&reference=unknown"}
    assert out["page"].to_pylist() == [1, 1, 2, 2, 3]
    inv = pa.table(f.invalid())
    assert inv.num_rows == 3 * n
    assert set(inv["reason"].to_pylist()) == {
        "missing geometry",
        "missing timestamp",
        "missing reference",
    }
    assert not any(inv["rejected"].to_pylist())


@pytest.mark.parametrize("missing", ["id", "geometry", "timestamp", "reference"])
def test_missing_columns_are_a_clear_error(missing):
    cols = {
        "id": ["a"],
        "geometry": ["POINT (4 51)"],
        "timestamp": ["2023-01-01"],
        "reference": ["urn:a"],
    }
    del cols[missing]
    f = Fragmenter(VIEW)
    with pytest.raises(ColumnError, match=repr(missing).replace("'", '"')):
        f.assign(pa.table(cols))
    assert pa.table(f.relations()).num_rows == 0


@pytest.mark.parametrize(
    ("column", "values"),
    [
        ("id", pa.array([1.5])),
        ("geometry", pa.array([4])),
        ("timestamp", pa.array([True])),
        ("reference", pa.array([b"x"])),
    ],
)
def test_wrong_types_are_a_clear_error(column, values):
    cols = {
        "id": ["a"],
        "geometry": ["POINT (4 51)"],
        "timestamp": ["2023-01-01"],
        "reference": ["urn:a"],
    }
    cols[column] = values
    with pytest.raises(ColumnError, match="has type"):
        Fragmenter(VIEW).assign(pa.table(cols))


garbage = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "POINT",
            "POINT (1e400 0)",
            "POINT (nan 0)",
            "POINT (1 2 3 4 5)",
            "POLYGON ((0 0, 1 1))",
            "LINESTRING (0 0)",
            "POINT (1000000 1000000)",
            "<http://www.opengis.net/def/crs/EPSG/0/28992> POINT (1 2)",
            "GEOMETRYCOLLECTION (" * 100,
            "POINT (a121375 0)",
        ]
    ),
)
dates = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", "-11-09T00:00:00Z", "2023-02-30T00:00:00Z", "2023-01-01T25:00:00Z", "9" * 40]
    ),
)


@given(st.lists(st.tuples(st.one_of(st.none(), garbage), st.one_of(st.none(), dates)), max_size=30))
def test_garbage_never_crashes_and_never_loses_a_member(rows):
    t = pa.table(
        {
            "id": [f"m{i}" for i in range(len(rows))],
            "geometry": pa.array([r[0] for r in rows], pa.string()),
            "timestamp": pa.array([r[1] for r in rows], pa.string()),
            "reference": pa.array(["urn:x"] * len(rows), pa.string()),
        }
    )
    for mode in ("unknown", "reject"):
        f = Fragmenter(VIEW, on_invalid=mode)
        out = pa.table(f.assign(t))
        assigned = set(out["row"].to_pylist())
        rejected = set(pa.table(f.rejected())["row"].to_pylist())
        assert assigned | rejected == set(range(len(rows)))
    # The vectorised kernels take the same garbage.
    ldesfrag.cover(pa.array([r[0] for r in rows], pa.string()), 12)
    ldesfrag.parse_datetime(pa.array([r[1] for r in rows], pa.string()))


def test_raise_names_the_row_and_reason_and_assigns_nothing():
    t = pa.table(
        {
            "id": ["a", "b"],
            "geometry": ["POINT (4 51)", "POINT (x y)"],
            "timestamp": ["2023-01-01T00:00:00Z", "2023-01-01T00:00:00Z"],
            "reference": ["urn:a", "urn:a"],
        }
    )
    f = Fragmenter(VIEW, on_invalid="raise")
    with pytest.raises(ldesfrag.InvalidMemberError) as e:
        f.assign(t)
    assert e.value.row == 1
    assert "geometry" in str(e.value)
    assert pa.table(f.pages()).num_rows == 0


def test_members_without_id_are_rejected_even_in_unknown_mode():
    t = pa.table(
        {
            "id": ["a", None],
            "geometry": ["POINT (4 51)"] * 2,
            "timestamp": ["2023-01-01"] * 2,
            "reference": ["urn:a"] * 2,
        }
    )
    f = Fragmenter(VIEW)
    assert pa.table(f.assign(t))["row"].to_pylist() == [0]
    assert pa.table(f.rejected()).to_pylist() == [{"row": 1, "reason": "id: missing member id"}]


def test_huge_coordinates_are_clamped_for_points_like_mercantile():
    t = pa.table({"id": ["a", "b"], "lon": [1e300, -1e300], "lat": [89.99, -89.99]})
    out = pa.table(Fragmenter(View([Geospatial(3)])).assign(t))
    assert out["bucket"].to_pylist() == ["tile=3/7/0", "tile=3/0/7"]


def test_corrupt_state_and_foreign_view():
    f = Fragmenter(VIEW)
    state = f.state()
    with pytest.raises(ldesfrag.StateError):
        Fragmenter.from_state(VIEW, b"nonsense")
    with pytest.raises(ldesfrag.StateError, match="version"):
        Fragmenter.from_state(VIEW, state[:8] + b"\x09\x00" + state[10:])
    with pytest.raises(ldesfrag.StateError):
        Fragmenter.from_state(VIEW, state[:12])
    with pytest.raises(ldesfrag.StateError, match="another view"):
        Fragmenter.from_state(View([Geospatial(3)]), state)


@pytest.mark.parametrize(
    "bad",
    [
        {"fragmentations": [{"type": "Geospatial", "max_zoom": 0}]},
        {"fragmentations": [{"type": "Geospatial", "max_zoom": 31}]},
        {"fragmentations": [{"type": "HierarchicalTime", "max_granularity": "week"}]},
        {
            "fragmentations": [
                {"type": "HierarchicalTime", "max_granularity": "day", "timezone": "Nowhere/City"}
            ]
        },
        {"fragmentations": [{"type": "Reference", "key": "tile"}]},
        {
            "fragmentations": [
                {"type": "Geospatial", "max_zoom": 4},
                {"type": "Geospatial", "max_zoom": 5},
            ]
        },
        {"fragmentations": [{"type": "Pagination"}]},
        {"fragmentations": [{"type": "Geospatial", "maxZoom": 4}]},
        {"fragmentations": [], "page_size": 0},
        {"fragmentations": [], "page_size": -1},
        {"fragmentations": [], "order": "random"},
        {"fragmentations": [], "pagesize": 3},
        [],
    ],
)
def test_bad_views_raise_view_error(bad):
    with pytest.raises(ViewError):
        View.from_dict(bad)


def test_errors_are_value_errors_rooted_at_ldesfrag_error():
    for name in ldesfrag.exceptions.__all__:
        cls = getattr(ldesfrag, name)
        if issubclass(cls, Warning):  # RdfWarning: a warning category, not an error
            continue
        assert issubclass(cls, LdesfragError)
        assert issubclass(cls, ValueError)
    with pytest.raises(LdesfragError):
        Fragmenter(VIEW, on_invalid="ignore")  # type: ignore[arg-type]


# ---- arguments of the wrong kind --------------------------------------------------------------

POINTS = (np.array([4.0, 5.0]), np.array([51.0, 50.0]))


@pytest.mark.parametrize("bad", [[4.0, 5.0], "POINT (4 51)", None, 5, {"a": 1}, object()])
def test_input_that_is_not_arrow_is_a_column_error(bad):
    calls = {
        "lon": lambda: ldesfrag.tiles_for_points(bad, POINTS[1], 5),
        "lat": lambda: ldesfrag.tiles_for_points(POINTS[0], bad, 5),
        "geometries": lambda: ldesfrag.cover(bad, 5),
        "values": lambda: ldesfrag.parse_datetime(bad),
    }
    for name, call in calls.items():
        with pytest.raises(ColumnError, match=f"^{name}: expected an Arrow array"):
            call()


def test_strided_and_float32_numpy_coordinates_are_accepted():
    lon, lat = np.linspace(-170, 170, 40), np.linspace(-80, 80, 40)
    expected = pa.array(ldesfrag.tiles_for_points(lon[::3].copy(), lat[::3].copy(), 9))
    assert pa.array(ldesfrag.tiles_for_points(lon[::3], lat[::3], 9)).equals(expected)
    assert pa.array(ldesfrag.tiles_for_points(np.arange(10.0)[::2], np.zeros(5), 3)).equals(
        pa.array(ldesfrag.tiles_for_points(np.array([0.0, 2, 4, 6, 8]), np.zeros(5), 3))
    )
    strided32 = ldesfrag.tiles_for_points(lon.astype(np.float32)[::3], lat[::3].copy(), 9)
    assert pa.array(strided32).equals(
        pa.array(ldesfrag.tiles_for_points(lon.astype(np.float32)[::3].copy(), lat[::3], 9))
    )
    with pytest.raises(ColumnError):  # not one dimension
        ldesfrag.tiles_for_points(np.zeros((2, 2))[:, ::2], np.zeros(2), 3)


@pytest.mark.parametrize("zoom", [10**30, -(10**30), 2**63, 5.7, 5.0, "5", None, True, 31, -1])
def test_a_zoom_must_be_an_int_in_range(zoom):
    calls = [
        lambda: ldesfrag.tile(4.0, 51.0, zoom),
        lambda: ldesfrag.tiles_for_points(*POINTS, zoom),
        lambda: ldesfrag.cover(pa.array(["POINT (4 51)"]), zoom),
    ]
    for call in calls:
        with pytest.raises(InvalidCoordinateError, match="zoom"):
            call()


def test_numpy_integer_zooms_are_ints():
    assert ldesfrag.tile(4.0, 51.0, np.int64(5)) == ldesfrag.tile(4.0, 51.0, 5)
    assert pa.array(ldesfrag.cover(pa.array(["POINT (4 51)"]), np.uint8(5))).equals(
        pa.array(ldesfrag.cover(pa.array(["POINT (4 51)"]), 5))
    )


@pytest.mark.parametrize("bad", [-1, 2**64, 1.5, "10", None])
def test_max_tiles_must_be_a_non_negative_int(bad):
    with pytest.raises(LdesfragError, match="max_tiles"):
        ldesfrag.cover(pa.array(["POINT (4 51)"]), 5, max_tiles=bad)


def test_max_tiles_0_covers_nothing():
    assert pa.array(ldesfrag.cover(pa.array(["POINT (4 51)"]), 5, max_tiles=0)).to_pylist() == [
        None
    ]


@pytest.mark.parametrize(("lon", "lat"), [("east", 51.0), (4.0, None), (10**400, 51.0)])
def test_a_coordinate_that_is_not_a_number_is_an_invalid_coordinate(lon, lat):
    with pytest.raises(InvalidCoordinateError):
        ldesfrag.tile(lon, lat, 5)


@pytest.mark.parametrize("bad", [None, "Geospatial", 5, b"x", {"max_zoom": 3}])
def test_a_view_needs_a_sequence_of_fragmentations(bad):
    with pytest.raises(ViewError, match="fragmentations"):
        View(bad)


def test_view_values_json_cannot_hold_are_view_errors():
    with pytest.raises(ViewError):
        View([Geospatial(max_zoom=object())])  # type: ignore[arg-type]
    with pytest.raises(ViewError):
        View(page_size=object())  # type: ignore[arg-type]
    with pytest.raises(ViewError, match="fragmentations"):
        View.from_dict({"fragmentations": None})


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (View.from_json, "[" * 100_000 + "]" * 100_000),
        (View.from_json, '{"page_size": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        (
            View.from_json,
            '{"fragmentations": [{"type": "Geospatial", "max_zoom": '
            + "[" * 900
            + "]" * 900
            + "}]}",
        ),
        (View.from_toml, "page_size = " + "[" * 100_000 + "]" * 100_000),
        (View.from_toml, "page_size = " + "{a = " * 5_000 + "1" + "}" * 5_000),
    ],
)
def test_a_deeply_nested_view_is_a_view_error(parse, text):
    with pytest.raises(ViewError):
        parse(text)


def test_coerce_takes_a_view_or_its_mapping_and_names_anything_else():
    view = View([Geospatial(14), HierarchicalTime("day")], page_size=20)
    assert View.coerce(view) is view
    assert View.coerce(view.to_dict()) == view
    for bad in ("x", None, 5, ["Geospatial"]):
        with pytest.raises(ViewError, match="view must be a View"):
            View.coerce(bad)
    with pytest.raises(ViewError, match="page_size"):
        View.coerce({"page_size": -1})


def test_a_view_file_that_is_not_utf8_is_a_view_error(tmp_path):
    path = tmp_path / "view.toml"
    path.write_bytes("# é\npage_size = 5\n".encode("latin-1"))
    with pytest.raises(ViewError, match="not UTF-8"):
        View.load(path)


@pytest.mark.parametrize("view", [None, "sample/view.toml", 3])
def test_a_fragmenter_of_no_view_is_a_view_error(view):
    with pytest.raises(ldesfrag.ViewError):
        ldesfrag.Fragmenter(view)


@pytest.mark.parametrize("members", [[1, 2], None, "id,timestamp", {"id": ["a"]}])
def test_non_arrow_members_are_a_column_error(members):
    f = ldesfrag.Fragmenter(ldesfrag.View([], page_size=2))
    with pytest.raises(ldesfrag.ColumnError, match="members"):
        f.assign(members)
    assert pa.table(f.pages()).num_rows == 0


@pytest.mark.parametrize("bad", [5.7, -1, "10", None])
def test_fragmenter_max_tiles_must_be_a_non_negative_int(bad):
    with pytest.raises(LdesfragError, match="max_tiles"):
        ldesfrag.Fragmenter(ldesfrag.View([ldesfrag.Geospatial(5)]), max_tiles=bad)
