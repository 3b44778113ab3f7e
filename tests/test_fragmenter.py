"""The fragmenter against the pure-Python twin, and its invariants as properties."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import twin
from hypothesis import given, settings
from hypothesis import strategies as st

import ldesfrag
from ldesfrag import Fragmenter, Geospatial, HierarchicalTime, Reference, View

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Members spread over a few tiles of Flanders, a few days around a DST change, a few types.
member_st = st.fixed_dictionaries(
    {
        "lon": st.one_of(st.none(), st.floats(3.0, 3.2), st.sampled_from([float("nan"), 200.0])),
        "lat": st.one_of(st.floats(50.9, 51.1), st.sampled_from([95.0, -90.0])),
        "timestamp": st.one_of(
            st.none(),
            st.integers(1_679_700_000_000_000, 1_680_000_000_000_000),  # 2023-03-25..28
        ),
        "reference": st.one_of(
            st.none(),
            st.sampled_from(["http://ex.org/A", "http://ex.org/B?x=1&y=2", "relative", "urn:x:y"]),
        ),
    }
)
views = st.sampled_from(
    [
        View([Geospatial(9), HierarchicalTime("day")], page_size=3),
        View([HierarchicalTime("hour", timezone="Europe/Brussels"), Geospatial(10)], page_size=2),
        View([Reference(), Geospatial(8), HierarchicalTime("month")], page_size=4),
        View([HierarchicalTime("minute")], page_size=5),
        View([], page_size=7),
    ]
)


def table(members, start=0):
    return pa.table(
        {
            "id": [f"http://ex.org/m/{start + i}" for i in range(len(members))],
            "lon": pa.array([m["lon"] for m in members], pa.float64()),
            "lat": pa.array([m["lat"] for m in members], pa.float64()),
            "timestamp": pa.array([m["timestamp"] for m in members], pa.timestamp("us", "UTC")),
            "reference": pa.array([m["reference"] for m in members], pa.string()),
        }
    )


def rows(result):
    t = pa.table(result)
    return list(
        zip(t["row"].to_pylist(), t["bucket"].to_pylist(), t["page"].to_pylist(), strict=True)
    )


@given(st.lists(member_st, max_size=60), views)
def test_equals_the_python_twin(members, view):
    f = Fragmenter(view)
    assert rows(f.assign(table(members))) == twin.assign(members, view)


@given(st.lists(member_st, max_size=60), views, st.data())
def test_any_split_with_state_round_trips_equals_one_call(members, view, data):
    one = Fragmenter(view)
    expected = rows(one.assign(table(members)))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(members)), max_size=4)))
    f = Fragmenter(view)
    got = []
    start = 0
    for cut in [*cuts, len(members)]:
        part = members[start:cut]
        got += [(r + start, b, p) for r, b, p in rows(f.assign(table(part, start)))]
        if data.draw(st.booleans()):
            f = Fragmenter.from_state(view, f.state())
        start = cut
    assert got == expected
    assert pa.table(f.relations()).equals(pa.table(one.relations()))
    assert pa.table(f.pages()).equals(pa.table(one.pages()))


@given(st.lists(member_st, max_size=80), views)
def test_no_member_lost_and_pages_are_full_but_the_last(members, view):
    for mode in ("unknown", "reject"):
        f = Fragmenter(view, on_invalid=mode)
        assigned = {r for r, _, _ in rows(f.assign(table(members)))}
        rejected = set(pa.table(f.rejected())["row"].to_pylist())
        assert assigned | rejected == set(range(len(members)))
        assert not assigned & rejected
        if mode == "unknown":
            assert not rejected
    pages = pa.table(f.pages()).to_pylist()
    by_bucket = defaultdict(list)
    for p in pages:
        by_bucket[p["bucket"]].append(p)
    for bucket_pages in by_bucket.values():
        numbers = [p["page"] for p in bucket_pages]
        assert numbers == list(range(1, len(numbers) + 1))
        for p in bucket_pages[:-1]:
            assert p["members"] == view.page_size
            assert p["immutable"]
        assert 1 <= bucket_pages[-1]["members"] <= view.page_size
        assert not bucket_pages[-1]["immutable"]


@given(st.lists(member_st, min_size=1, max_size=40), views)
def test_close_makes_every_page_immutable_and_refuses_members(members, view):
    f = Fragmenter(view)
    f.assign(table(members))
    f.close()
    assert f.closed
    assert all(p["immutable"] for p in pa.table(f.pages()).to_pylist())
    with pytest.raises(ldesfrag.StreamClosedError):
        f.assign(table(members))
    assert Fragmenter.from_state(view, f.state()).closed


@given(st.lists(member_st, max_size=60), views)
def test_relations_form_a_tree_reaching_every_page(members, view):
    f = Fragmenter(view)
    f.assign(table(members))
    rels = pa.table(f.relations()).to_pylist()
    pages = pa.table(f.pages()).to_pylist()
    incoming = Counter((r["child"], r["child_page"]) for r in rels)
    # Every node but the root has exactly one parent node (relations to it may be two: GTE + LT).
    parents = defaultdict(set)
    for r in rels:
        parents[(r["child"], r["child_page"])].add((r["parent"], r["parent_page"]))
    assert all(len(p) == 1 for p in parents.values())
    assert ("", None) not in incoming
    for p in pages:
        node = (p["bucket"], p["page"])
        seen = set()
        while node != ("", None):
            assert node not in seen
            seen.add(node)
            assert node in parents, node
            (node,) = parents[node]


def node_states(f):
    """Every node ((bucket, page), page 0 the bucket's own) → (members, immutable, relations
    from it), from the full snapshots."""
    states = {("", 0): [0, False, []]}
    rels = pa.table(f.relations()).to_pylist()
    for r in rels:
        for node in ((r["parent"], r["parent_page"] or 0), (r["child"], r["child_page"] or 0)):
            states.setdefault(node, [0, False, []])
    for p in pa.table(f.pages()).to_pylist():
        state = states.setdefault((p["bucket"], p["page"]), [0, False, []])
        state[:2] = p["members"], p["immutable"]
    for r in rels:
        states[(r["parent"], r["parent_page"] or 0)][2].append(r)
    return states


@given(st.lists(st.lists(member_st, max_size=30), max_size=5), views, st.data())
def test_changes_are_what_differs_between_snapshots(calls, view, data):
    """changes() after each call (and a close) names exactly the nodes whose members,
    immutability or relations differ from before, with every relation from them; a restored
    fragmenter starts with none."""
    f = Fragmenter(view)
    first = f.changes()
    assert pa.table(first.nodes).to_pylist() == [
        {"bucket": "", "page": None, "members": 0, "immutable": False}
    ]
    assert pa.table(first.relations).num_rows == 0
    before = node_states(f)
    start = 0
    for members in [*calls, None]:
        if members is None:
            f.close()
        else:
            if data.draw(st.booleans()):
                f = Fragmenter.from_state(view, f.state())
                assert pa.table(f.changes().nodes).num_rows == 0
            f.assign(table(members, start))
            start += len(members)
        after = node_states(f)
        changed = sorted(k for k, v in after.items() if before.get(k) != v)
        nodes, relations = (pa.table(t) for t in f.changes())
        got = [(n["bucket"], n["page"] or 0) for n in nodes.to_pylist()]
        assert sorted(got) == changed
        for n in nodes.to_pylist():
            members_, immutable, _ = after[(n["bucket"], n["page"] or 0)]
            assert (n["members"], n["immutable"]) == (members_, immutable)
        expected = [r for k in changed for r in after[k][2]]

        def by_parent(r):
            return r["parent"], r["parent_page"] or 0

        assert sorted(relations.to_pylist(), key=by_parent) == sorted(expected, key=by_parent)
        before = after


def test_geo_relations_carry_the_tile_bbox_and_time_bounds_are_utc():
    view = View([Geospatial(15), HierarchicalTime("day", timezone="Europe/Brussels")])
    f = Fragmenter(view)
    us = int((dt.datetime(2023, 10, 29, 1, 30, tzinfo=dt.UTC) - EPOCH).total_seconds() * 1e6)
    f.assign(table([{"lon": 5.47236, "lat": 50.9642, "timestamp": us, "reference": None}]))
    rels = pa.table(f.relations()).to_pylist()
    geo = [r for r in rels if r["type"].endswith("GeospatiallyContainsRelation")]
    assert len(geo) == 1
    assert geo[0]["parent"] == "tile=0/0/0"
    assert geo[0]["child"] == "tile=15/16882/10975"
    assert geo[0]["path"] == ldesfrag.GEO_AS_WKT
    assert geo[0]["value"] == (
        "<http://www.opengis.net/def/crs/OGC/1.3/CRS84> POLYGON ((5.482177734375 50.9653463216377, "
        "5.482177734375 50.95842672335991, 5.47119140625 50.95842672335991, "
        "5.47119140625 50.9653463216377, 5.482177734375 50.9653463216377))"
    )
    day = [r for r in rels if r["child"].endswith("day=29") and r["child_page"] is None]
    assert [(r["type"].rsplit("#")[1], r["value"]) for r in day] == [
        ("GreaterThanOrEqualToRelation", "2023-10-28T22:00:00Z"),
        ("LessThanRelation", "2023-10-29T23:00:00Z"),  # the 25-hour day of the fall back
    ]
    assert all(r["datatype"] == "http://www.w3.org/2001/XMLSchema#dateTime" for r in day)
    assert all(r["path"] == ldesfrag.PROV_GENERATED_AT_TIME for r in day)
    root = [r for r in rels if r["parent"] == ""]
    assert [(r["child"], r["type"]) for r in root] == [
        ("tile=0/0/0", "https://w3id.org/tree#Relation")
    ]


@given(st.lists(member_st, max_size=40))
def test_time_relations_match_zoneinfo(members):
    view = View([HierarchicalTime("hour", timezone="Europe/Brussels")])
    f = Fragmenter(view)
    f.assign(table(members))
    for r in pa.table(f.relations()).to_pylist():
        if r["value"] is None:
            continue
        pairs = dict(kv.split("=") for kv in r["child"].split("&"))
        depth = len(pairs)
        gran = twin.KEYS[depth - 1]
        values = [int(pairs[k]) for k in twin.KEYS[:depth]]
        start_local = dt.datetime(*values, *[0, 1, 1, 0, 0, 0][depth:])
        start, end = twin.bounds_utc(start_local, gran, "Europe/Brussels")
        expected = start if r["type"].endswith("GreaterThanOrEqualToRelation") else end
        assert r["value"] == expected.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_reference_buckets_hub_and_encoding():
    view = View([Reference(key="type")], page_size=2)
    f = Fragmenter(view)
    refs = ["http://ex.org/A", "http://ex.org/B?x=1&y=2", None, "http://ex.org/A"]
    t = pa.table({"id": ["a", "b", "c", "d"], "reference": refs})
    assert rows(f.assign(t)) == [
        (0, "type=http://ex.org/A", 1),
        (1, "type=http://ex.org/B?x%3D1%26y%3D2", 1),
        (2, "type=unknown", 1),
        (3, "type=http://ex.org/A", 1),
    ]
    rels = pa.table(f.relations()).to_pylist()
    eq = [r for r in rels if r["type"].endswith("EqualToRelation")]
    assert [(r["parent"], r["value"]) for r in eq] == [
        ("type=", "http://ex.org/A"),
        ("type=", "http://ex.org/B?x=1&y=2"),
    ]
    assert {r["datatype"] for r in eq} == {"http://www.w3.org/2001/XMLSchema#anyURI"}


def test_multi_valued_references_and_multi_tile_members_fan_out():
    view = View([Reference(), Geospatial(11)])
    t = pa.table(
        {
            "id": ["m"],
            "reference": pa.array([["http://ex.org/A", "http://ex.org/B"]]),
            "geometry": [
                "LINESTRING(-4.118006229400634 51.20099982929344,-4.123067557811736 "
                "51.099449367759576,-3.434469401836395 51.09963969871836,-3.451254665851592 "
                "51.20536257947589)"
            ],
        }
    )
    out = rows(Fragmenter(view).assign(t))
    assert len(out) == 2 * 7
    assert {r for r, _, _ in out} == {0}


def test_timestamp_order_sorts_each_call_by_time_then_id():
    view = View([], page_size=2, order="timestamp")
    t = pa.table(
        {
            "id": ["c", "b", "a", "z"],
            "timestamp": pa.array([3, 1, 1, None], pa.timestamp("s", "UTC")),
        }
    )
    assert rows(Fragmenter(view).assign(t)) == [
        (2, "", 1),
        (1, "", 1),
        (0, "", 2),
        (3, "", 2),
    ]


def test_members_as_polars_record_batches_and_streams():
    import polars as pl

    view = View([Geospatial(12)])
    df = pl.DataFrame({"id": ["a", "b"], "lon": [4.0, 4.1], "lat": [51.0, 51.0]})
    expected = rows(Fragmenter(view).assign(df.to_arrow()))
    assert rows(Fragmenter(view).assign(df)) == expected
    batch = df.to_arrow().to_batches()[0]
    assert rows(Fragmenter(view).assign(batch)) == expected
    reader = pa.RecordBatchReader.from_batches(batch.schema, [batch.slice(0, 1), batch.slice(1)])
    assert rows(Fragmenter(view).assign(reader)) == expected


def big_members(seed, n):
    """`n` random members (enough for several parallel chunks), with every kind of invalid value,
    as lon/lat + Arrow timestamps and as WKT points + xsd:dateTime strings."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(3.0, 3.6, n)
    lat = rng.uniform(50.9, 51.1, n)
    us = rng.integers(1_679_700_000_000_000, 1_680_000_000_000_000, n)  # 2023-03-25..28
    no_lon = rng.random(n) < 0.02
    no_ts = rng.random(n) < 0.02
    no_id = rng.random(n) < 0.01
    ids = pa.array([None if m else f"http://ex.org/m/{i}" for i, m in enumerate(no_id)])
    stamps = pa.array(us, pa.timestamp("us", "UTC"), mask=no_ts)
    iso = np.datetime_as_string(us.astype("datetime64[us]"), unit="us")
    points = pa.table(
        {
            "id": ids,
            "lon": pa.array(lon, mask=no_lon),
            "lat": lat,
            "timestamp": stamps,
        }
    )
    text = pa.table(
        {
            "id": ids,
            "geometry": pa.array(
                [
                    None if m else f"POINT ({x!r} {y!r})"
                    for x, y, m in zip(lon.tolist(), lat.tolist(), no_lon, strict=True)
                ]
            ),
            "timestamp": pa.array(
                [None if m else f"{t}Z" for t, m in zip(iso, no_ts, strict=True)], pa.string()
            ),
        }
    )
    return points, text


arrival_views = [
    View([Geospatial(12), HierarchicalTime("hour")], page_size=3),
    View([HierarchicalTime("day", timezone="Europe/Brussels"), Geospatial(14)], page_size=5),
]
# Timestamp order sorts each call: not split-invariant, but the same on both paths.
big_views = st.sampled_from(
    [
        *arrival_views,
        View([Geospatial(10), HierarchicalTime("minute")], page_size=2, order="timestamp"),
    ]
)


@settings(max_examples=12)
@given(
    st.integers(0, 2**32),
    st.integers(4_000, 30_000),
    big_views,
    st.sampled_from(["unknown", "reject"]),
)
def test_points_and_timestamps_agree_with_wkt_and_strings(seed, n, view, mode):
    """The one-key-per-level path (lon/lat, Arrow timestamps) against the general one (WKT,
    xsd:dateTime strings) on the same members, over several parallel chunks."""
    points, text = big_members(seed, n)
    fast, general = Fragmenter(view, on_invalid=mode), Fragmenter(view, on_invalid=mode)
    assert pa.table(fast.assign(points)).equals(pa.table(general.assign(text)))
    assert pa.table(fast.rejected())["row"].equals(pa.table(general.rejected())["row"])
    assert pa.table(fast.pages()).equals(pa.table(general.pages()))
    assert pa.table(fast.relations()).equals(pa.table(general.relations()))


@settings(max_examples=12)
@given(st.integers(0, 2**32), st.integers(4_000, 30_000), st.sampled_from(arrival_views), st.data())
def test_large_calls_split_anywhere_equal_one_call(seed, n, view, data):
    """Batch-split and state round-trip invariance across the parallel chunks of large calls,
    and pages that follow the member counts of their buckets."""
    points, _ = big_members(seed, n)
    one = Fragmenter(view, on_invalid="reject")
    expected = rows(one.assign(points))
    cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
    f = Fragmenter(view, on_invalid="reject")
    got = []
    start = 0
    for cut in [*cuts, n]:
        part = points.slice(start, cut - start)
        got += [(r + start, b, p) for r, b, p in rows(f.assign(part))]
        if data.draw(st.booleans()):
            f = Fragmenter.from_state(view, f.state(), on_invalid="reject")
        start = cut
    assert got == expected
    assert pa.table(f.pages()).equals(pa.table(one.pages()))
    counts = Counter()
    for _, bucket, page in expected:
        assert page == counts[bucket] // view.page_size + 1
        counts[bucket] += 1


@pytest.mark.parametrize("gil", ["held", "released"])
def test_a_fragmenter_that_failed_inside_assign_is_refused_afterwards(gil):
    """A panic inside assign (forced here by a test hook, as a bug would) may leave the
    structure half-updated: every later call raises instead of computing on it. The panic is
    caught whether the GIL is held (a small input, the default here) or released."""
    view = View([Geospatial(9), HierarchicalTime("day")], page_size=3)
    member = {"lon": 3.1, "lat": 51.0, "timestamp": 1_679_700_000_000_000, "reference": None}
    members = table([member] * 10)
    f = Fragmenter(view)
    f.assign(members)
    saved = f.state()
    f._inner._fail_next_assign()
    before = ldesfrag._ldesfrag._gil_hold_below(0 if gil == "released" else None)
    try:
        with pytest.raises(ldesfrag.LdesfragError, match="internal error"):
            f.assign(members)
    finally:
        ldesfrag._ldesfrag._gil_hold_below(before)
    calls = [
        lambda: f.assign(members),
        f.pages,
        f.relations,
        f.changes,
        f.state,
        f.close,
        lambda: f.closed,
    ]
    for call in calls:
        with pytest.raises(ldesfrag.LdesfragError, match="cannot be used"):
            call()
    g = Fragmenter.from_state(view, saved)
    g.assign(members)
    assert [p["members"] for p in pa.table(g.pages()).to_pylist()] == [3] * 6 + [2]


def test_max_tiles_0_tiles_nothing_like_cover():
    """cover(max_tiles=0) gives null; the fragmenter with max_tiles=0 agrees, for WKT and for
    lon/lat points alike: every member goes to tile=unknown with the same reason."""
    assert ldesfrag.cover(pa.array(["POINT (3 51)"]), 9, max_tiles=0).to_pylist() == [None]
    view = View([Geospatial(9)])
    points = pa.table({"id": ["a", "b"], "lon": [3.0, None], "lat": [51.0, 51.0]})
    wkt = pa.table({"id": ["a", "b"], "geometry": ["POINT (3 51)", "LINESTRING (3 51, 4 52)"]})
    for members in (points, wkt):
        f = Fragmenter(view, max_tiles=0)
        assert set(pa.table(f.assign(members))["bucket"].to_pylist()) == {"tile=unknown"}
        reasons = pa.table(f.invalid())["reason"].to_pylist()
        assert len(reasons) == 2
        assert "the geometry covers more than 0 tiles" in reasons
    with pytest.raises(ldesfrag.LdesfragError, match="max_tiles"):
        Fragmenter(view, max_tiles=-1)


def test_the_default_max_tiles_is_the_rust_one():
    from ldesfrag import _kernels, _ldesfrag

    assert _kernels.DEFAULT_MAX_TILES == _ldesfrag.DEFAULT_MAX_TILES
    assert Fragmenter(View([Geospatial(9)])).max_tiles == _ldesfrag.DEFAULT_MAX_TILES
    # The one place the docs name the number (the contract) says the Rust constant's value.
    semantics = (Path(__file__).resolve().parents[1] / "docs" / "semantics.md").read_text()
    assert f"`max_tiles` (default {_ldesfrag.DEFAULT_MAX_TILES:,}, per geometry" in semantics


# ---- assign_with_report: one call's result, whole -------------------------------------------

GOOD = {"lon": 3.1, "lat": 51.0, "timestamp": 1_679_700_000_000_000, "reference": None}
NO_TIME = {**GOOD, "timestamp": None}
OFF_GRID = {**GOOD, "lat": 95.0}


def report_rows(t):
    return sorted(tuple(r.values()) for r in pa.table(t).to_pylist())


@pytest.mark.parametrize("on_invalid", ["unknown", "reject"])
def test_assign_with_report_returns_the_calls_invalid_and_rejected(on_invalid):
    view = View([Geospatial(9), HierarchicalTime("day")], page_size=3)
    members = table([GOOD, NO_TIME, OFF_GRID, GOOD])
    without_id = table([GOOD, GOOD, OFF_GRID, GOOD], start=4).set_column(
        0, "id", pa.array(["http://ex.org/a", None, "http://ex.org/c", "http://ex.org/d"])
    )
    plain, reported = (
        Fragmenter(view, on_invalid=on_invalid),
        Fragmenter(view, on_invalid=on_invalid),
    )
    for batch in (members, without_id):
        report = reported.assign_with_report(batch)
        assert isinstance(report, ldesfrag.Assignment)
        assigned, invalid, rejected = report  # a NamedTuple
        assert (assigned, invalid, rejected) == (report.assigned, report.invalid, report.rejected)
        # The same as assign followed by invalid() and rejected().
        assert rows(assigned) == rows(plain.assign(batch))
        assert report_rows(invalid) == report_rows(plain.invalid())
        assert report_rows(rejected) == report_rows(plain.rejected())
        assert pa.table(invalid).column_names == ["row", "column", "reason", "rejected"]
        assert pa.table(rejected).column_names == ["row", "reason"]
    assert pa.table(reported.pages()) == pa.table(plain.pages())
    # The second call: row 1 has no id (always left out), row 2 is off the grid.
    invalid_rows = {(r["row"], r["rejected"]) for r in pa.table(invalid).to_pylist()}
    assert invalid_rows == {(1, True), (2, on_invalid == "reject")}
    assert {r["row"] for r in pa.table(rejected).to_pylist()} == (
        {1, 2} if on_invalid == "reject" else {1}
    )
    left_out = {r["row"] for r in pa.table(rejected).to_pylist()}
    assert {r for r, _, _ in rows(assigned)} == {0, 1, 2, 3} - left_out


def test_a_report_stays_the_calls_own_after_later_calls():
    view = View([Geospatial(9), HierarchicalTime("day")])
    f = Fragmenter(view, on_invalid="reject")
    first = f.assign_with_report(table([NO_TIME, GOOD]))
    f.assign(table([GOOD], start=2))
    assert pa.table(f.invalid()).num_rows == 0  # invalid() is the last call's
    assert [r["row"] for r in pa.table(first.invalid).to_pylist()] == [0]
    assert [r["row"] for r in pa.table(first.rejected).to_pylist()] == [0]


def test_assign_with_report_raises_as_assign_does():
    f = Fragmenter(View([HierarchicalTime("day")]), on_invalid="raise")
    with pytest.raises(ldesfrag.InvalidMemberError) as e:
        f.assign_with_report(table([GOOD, NO_TIME]))
    assert e.value.row == 1
    assert pa.table(f.pages()).num_rows == 0  # nothing assigned
    f.close()
    with pytest.raises(ldesfrag.StreamClosedError):
        f.assign_with_report(table([GOOD]))


def test_reports_stay_with_their_calls_when_threads_share_a_fragmenter():
    """Each thread's report is of its own call, whatever the interleaving."""
    from concurrent.futures import ThreadPoolExecutor

    f = Fragmenter(
        View([Geospatial(9), HierarchicalTime("day")], page_size=50), on_invalid="reject"
    )
    calls = 40

    def run(bad: int) -> list[tuple[int, int, int]]:
        # Every call of this thread has `bad` members without a time among 10.
        batch = table([NO_TIME] * bad + [GOOD] * (10 - bad))
        out = []
        for _ in range(calls):
            assigned, invalid, rejected = f.assign_with_report(batch)
            out.append(
                (
                    pa.table(assigned).num_rows,
                    pa.table(invalid).num_rows,
                    pa.table(rejected).num_rows,
                )
            )
        return out

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(run, [0, 3, 7]))
    for bad, got in zip([0, 3, 7], results, strict=True):
        assert got == [(10 - bad, bad, bad)] * calls
    pages = pa.table(f.pages())
    assert sum(pages["members"].to_pylist()) == calls * (10 + 7 + 3)


# ---- one fragmenter shared by threads ------------------------------------------------------


def test_threads_sharing_a_fragmenter_serialise_and_end_as_a_serial_run():
    """Assigning threads and threads reading pages, relations, changes, state and reports at
    the same time: no call fails (the native object refuses a second user with "Already
    borrowed"), and the end result is a serial run's. Page fill is order-free (each batch's
    members go to the same buckets), so any interleaving of the batches gives the same pages."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    view = View([Geospatial(9), HierarchicalTime("day")], page_size=7)
    batches = [table([GOOD, NO_TIME, GOOD] * (1 + i % 4), start=100 * i) for i in range(4 * 30)]
    shared = Fragmenter(view)
    serial = Fragmenter(view)
    for batch in batches:
        serial.assign(batch)
    done = threading.Event()

    def assign(k: int) -> int:
        n = 0
        for batch in batches[k::4]:
            n += pa.table(shared.assign(batch)).num_rows
        return n

    def read(_: int) -> int:
        reads = 0
        # Bounded: the assigners finish in any case, and the readers read at least once.
        while not done.is_set() or reads == 0:
            shared.pages()
            shared.relations()
            shared.changes()
            Fragmenter.from_state(view, shared.state())
            shared.invalid()
            shared.rejected()
            assert not shared.closed
            assert shared.on_invalid == "unknown"
            assert shared.max_tiles > 0
            reads += 1
        return reads

    with ThreadPoolExecutor(max_workers=7) as pool:
        readers = [pool.submit(read, i) for i in range(3)]
        try:
            assigned = sum(pool.map(assign, range(4)))
        finally:
            done.set()  # also when an assigner failed: the readers stop
        assert all(r.result(timeout=600) > 0 for r in readers)
    assert assigned == sum(b.num_rows for b in batches)
    assert pa.table(shared.pages()) == pa.table(serial.pages())
    assert sorted(pa.table(shared.relations()).to_pylist(), key=repr) == sorted(
        pa.table(serial.relations()).to_pylist(), key=repr
    )
    shared.close()
    assert all(pa.table(shared.pages())["immutable"].to_pylist())


@pytest.mark.parametrize("method", ["assign", "assign_with_report"])
def test_an_assign_that_raises_leaves_the_fragmenter_unchanged(method):
    """on_invalid="raise": the failing call assigns nothing, and the state is byte for byte
    the one before it, so the caller may go on with the same fragmenter."""
    view = View([Geospatial(9), HierarchicalTime("day")], page_size=3)
    f = Fragmenter(view, on_invalid="raise")
    f.assign(table([GOOD] * 5))
    f.changes()
    before = f.state()
    pages = pa.table(f.pages())
    with pytest.raises(ldesfrag.InvalidMemberError) as e:
        getattr(f, method)(table([GOOD, GOOD, NO_TIME, GOOD], start=5))
    assert e.value.row == 2
    assert f.state() == before
    assert pa.table(f.pages()) == pages
    assert pa.table(f.changes().nodes).num_rows == 0
    # The same fragmenter goes on as if the failed call never happened.
    g = Fragmenter.from_state(view, before)
    good = table([GOOD] * 4, start=9)
    assert rows(f.assign(good)) == rows(g.assign(good))
    assert f.state() == g.state()
