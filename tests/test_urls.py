"""Node URLs both ways, in the publish layout and the reference server's query style; the bucket
ids come from a real fragmenter, urllib.parse is the oracle for the percent-encoding."""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ldesfrag
from ldesfrag import (
    Fragmenter,
    Geospatial,
    HierarchicalTime,
    NodeUrlError,
    Reference,
    View,
    node_url,
    parse_node_url,
)
from ldesfrag._publish.paths import node_path

PATH_BASE = "https://ex.org/ldes/"
QUERY_BASE = "https://ex.org/collection/by-tile"
BASES = {"path": PATH_BASE, "query": QUERY_BASE}

# Reference values with the characters that need encoding (& = % ? # non-ASCII, _ and ~).
iri_st = st.text(
    st.sampled_from("abcXYZ019-._~:/?#[]@!$&'()*+,;=%é€_"), min_size=0, max_size=12
).map(lambda s: "http://ex.org/" + s)


def bucket_ids(view: View, refs: list[str], points: list[tuple[float, float, int]]) -> set[str]:
    """Every bucket id a real fragmenter makes of these members: hubs, inner buckets, leaves."""
    f = Fragmenter(view)
    n = max(len(refs), len(points))
    members = pa.table(
        {
            "id": [f"http://ex.org/m/{i}" for i in range(n)],
            "reference": [refs[i % len(refs)] for i in range(n)],
            "lon": [points[i % len(points)][0] for i in range(n)],
            "lat": [points[i % len(points)][1] for i in range(n)],
            "timestamp": pa.array(
                [points[i % len(points)][2] for i in range(n)], pa.timestamp("s", "UTC")
            ),
        }
    )
    f.assign(members)
    relations = pa.table(f.relations())
    return {""} | set(relations["parent"].to_pylist()) | set(relations["child"].to_pylist())


VIEWS = [
    View([Reference(), HierarchicalTime("day"), Geospatial(14)]),
    View([Geospatial(14), HierarchicalTime("second")]),
    View([HierarchicalTime("month"), Reference(key="type")]),
]


@settings(max_examples=40, deadline=None)
@given(
    view=st.sampled_from(VIEWS),
    refs=st.lists(iri_st, min_size=1, max_size=4),
    points=st.lists(
        st.tuples(
            st.floats(-180, 180),
            st.floats(-85, 85),
            st.integers(-2_000_000_000, 4_000_000_000),
        ),
        min_size=1,
        max_size=4,
    ),
    page=st.one_of(st.none(), st.integers(1, 10**6)),
    style=st.sampled_from(["path", "query"]),
)
def test_parse_inverts_node_url_for_every_bucket_of_a_fragmenter(view, refs, points, page, style):
    base = BASES[style]
    for bucket in bucket_ids(view, refs, points):
        url = node_url(base, bucket, page, style)
        assert parse_node_url(base, url, style) == (bucket, page)
        if style == "query":
            # Any percent-encoding of the query names the same node (urllib as the oracle).
            query = urlsplit(url).query
            pairs = [p.partition("=") for p in query.split("&")] if query else []
            encoded = "&".join(
                f"{quote(k, safe='')}={quote(unquote(v), safe='')}" for k, _, v in pairs
            )
            again = QUERY_BASE + ("?" + encoded if encoded else "")
            assert parse_node_url(base, again, style) == (bucket, page)
        else:
            # The file publish writes for the node, under the base.
            if bucket or page:
                assert url == PATH_BASE + node_path(bucket, page, "ttl")


def test_the_reference_servers_fetch_urls():
    url = node_url(QUERY_BASE, "tile=14/8368/5458&year=2023&month=05", 2, "query")
    assert url == f"{QUERY_BASE}?tile=14/8368/5458&year=2023&month=05&pageNumber=2"
    expected = ("tile=14/8368/5458&year=2023&month=05", 2)
    assert parse_node_url(QUERY_BASE, url, "query") == expected
    encoded = f"{QUERY_BASE}?tile=14%2F8368%2F5458&year=2023&month=05&pageNumber=2"
    assert parse_node_url(QUERY_BASE, encoded, "query") == expected
    assert parse_node_url(QUERY_BASE, QUERY_BASE, "query") == ("", None)
    assert node_url(QUERY_BASE, "", 1, "query") == QUERY_BASE + "?pageNumber=1"
    # A reference value is kept in its canonical encoding, whichever way it came in.
    bucket = "type=http://ex.org/B?x%3D1%26y%3D2"
    assert parse_node_url(
        QUERY_BASE, f"{QUERY_BASE}?type=http%3A%2F%2Fex.org%2FB%3Fx%3D1%26y%3D2", "query"
    ) == (bucket, None)


def test_the_publish_layout():
    bucket = "tile=15/16882/10975&year=2023&month=05&day=12"
    url = node_url(PATH_BASE, bucket, 1)
    assert url == PATH_BASE + "tile=15_2F16882_2F10975/year=2023/month=05/day=12/page-1.ttl"
    assert node_url(PATH_BASE, bucket, None, format="nquads").endswith("day=12/index.nq")
    assert parse_node_url(PATH_BASE, url) == (bucket, 1)
    assert node_url("https://ex.org/ldes", "") == PATH_BASE  # the root is the base
    assert parse_node_url(PATH_BASE, PATH_BASE + "index.ttl") == ("", None)
    # A percent-encoded request path names the same file.
    assert parse_node_url(PATH_BASE, url.replace("=", "%3D")) == (bucket, 1)
    long = "reference=http://ex.org/" + "x" * 400
    assert parse_node_url(PATH_BASE, node_url(PATH_BASE, long, 3)) == (long, 3)


@pytest.mark.parametrize(
    ("style", "url"),
    [
        ("path", "https://other.org/ldes/index.ttl"),
        ("path", "https://ex.org/elsewhere/index.ttl"),
        ("path", PATH_BASE + "tile=15/1/2/index.ttl"),  # a raw `/` publish never writes
        ("path", PATH_BASE + "tile=15_2F1_2F2/page-0.ttl"),
        ("path", PATH_BASE + "tile=15_2F1_2F2/notes.txt"),
        ("path", PATH_BASE + "tile=15_2f1_2F2/index.ttl"),  # lower-case hex is not canonical
        ("path", PATH_BASE + "tile=15_ZZ/index.ttl"),
        ("path", PATH_BASE + "index.ttl?x=1"),
        ("query", "https://ex.org/collection/other?tile=1/2/3"),
        ("query", QUERY_BASE + "?tile=1/2/3&pageNumber=0"),
        ("query", QUERY_BASE + "?tile=1/2/3&pageNumber=x"),
        ("query", QUERY_BASE + "?pageNumber=2&tile=1/2/3"),
        ("query", QUERY_BASE + "?tile"),
        ("query", QUERY_BASE + "?tile=%FF"),
        ("query", QUERY_BASE + "?tile=1/2/3#frag"),
    ],
)
def test_foreign_urls_are_a_clear_error(style, url):
    with pytest.raises(NodeUrlError):
        parse_node_url(BASES[style], url, style)
    assert issubclass(NodeUrlError, ldesfrag.LdesfragError)


def test_arguments_are_checked():
    with pytest.raises(NodeUrlError, match="style"):
        node_url(PATH_BASE, "", None, "matrix")  # type: ignore[arg-type]
    with pytest.raises(NodeUrlError, match="page"):
        node_url(PATH_BASE, "", 0)
    with pytest.raises(NodeUrlError, match="without '\\?'"):
        node_url(QUERY_BASE + "?a=b", "", 1, "query")
    with pytest.raises(NodeUrlError, match="absolute"):
        node_url("ldes/", "", 1)
