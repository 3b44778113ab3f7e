"""State objects → version objects (docs/ldes-rules.md, "Version objects"), checked with
rdflib."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import rdflib
from rdflib import XSD, BNode, Literal, URIRef
from test_read_members import _rows, same_graph

from ldesfrag import (
    DCT_IS_VERSION_OF,
    PROV_GENERATED_AT_TIME,
    CreateVersions,
    Fragmenter,
    HierarchicalTime,
    RdfError,
    RdfWarning,
    View,
    create_versions,
    read_members,
)

# rdflib 7 warns about its own use of Dataset.default_context on every quad.
pytestmark = pytest.mark.filterwarnings("ignore:Dataset.default_context:DeprecationWarning")
EXAMPLES = Path(__file__).parent / "data" / "examples"
STATE = EXAMPLES / "Server4J_integration-test_two-observations_verkeersmetingen-state.template.ttl"
PARK_AND_RIDE = EXAMPLES / "E2E_019_park-and-ride-gent_offset-timestamp.ttl"
VERSION_OF = URIRef(DCT_IS_VERSION_OF)
AT = URIRef(PROV_GENERATED_AT_TIME)
MODIFIED = URIRef("http://purl.org/dc/terms/modified")


def expected_versions(state: rdflib.Graph, stamp) -> rdflib.Graph:
    """The version-object rules written out in rdflib: `stamp(subject)` gives (version IRI,
    timestamp)."""
    out = rdflib.Graph()
    subjects = {s for s in state.subjects() if isinstance(s, URIRef)}
    version = {s: stamp(s) for s in subjects}
    for s, p, o in state:
        out.add((version[s][0] if s in version else s, p, o))
    for s, (v, ts) in version.items():
        out.add((v, VERSION_OF, s))
        out.add((v, AT, Literal(ts, datatype=XSD.dateTime)))
    return out


def test_given_timestamp_on_the_reference_servers_state_objects():
    state = rdflib.Graph().parse(STATE, format="turtle")
    when = datetime(2024, 5, 3, 12, 15, 30, 123456, tzinfo=timezone(timedelta(hours=2)))
    ts = "2024-05-03T10:15:30.123Z"
    got = create_versions(state, CreateVersions(timestamp=when))
    want = expected_versions(state, lambda s: (URIRef(f"{s}/{ts}"), ts))
    assert same_graph(got, want)
    # two state objects → two versions, each with its nested blank nodes
    versions = set(got.subjects(VERSION_OF, None))
    assert len(versions) == 2
    assert all(any(isinstance(o, BNode) for o in got.objects(v, None)) for v in versions)


def test_timestamp_property_rebuilds_the_real_park_and_ride_iri():
    # The real member IRI is `{isVersionOf}#{dct:modified}` (LDIO's VersionObjectCreator).
    member = rdflib.Graph().parse(PARK_AND_RIDE, format="turtle")
    (m, entity) = next(iter(member.subject_objects(VERSION_OF)))
    state = rdflib.Graph()
    for s, p, o in member:
        if p != VERSION_OF:
            state.add((entity if s == m else s, p, o))
    versions = CreateVersions(delimiter="#", timestamp_property=str(MODIFIED))
    got = create_versions(state, versions)
    assert set(got.subjects(VERSION_OF, None)) == {m}
    want = rdflib.Graph()
    for t in member:
        want.add(t)
    want.add((m, AT, Literal("2023-12-21T13:44:56+01:00", datatype=XSD.dateTime)))
    assert same_graph(got, want)


def test_default_timestamp_is_now_in_utc_with_milliseconds():
    g = rdflib.Graph()
    g.add((URIRef("http://ex.org/s"), URIRef("http://ex.org/p"), Literal("x")))
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(milliseconds=1)
    got = create_versions(g, CreateVersions(delimiter="&version="))
    after = datetime.now(UTC)
    (v,) = got.subjects(VERSION_OF, URIRef("http://ex.org/s"))
    ts = str(v).removeprefix("http://ex.org/s&version=")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ts)
    assert before <= datetime.fromisoformat(ts) <= after
    assert (v, AT, Literal(ts, datatype=XSD.dateTime)) in got


def test_read_members_with_versions_feeds_the_fragmenter(tmp_path):
    view = View([HierarchicalTime("day")])
    versions = CreateVersions(timestamp="2024-02-29T23:30:00-01:00")
    t = read_members(STATE, view, versions=versions)
    subjects = sorted(
        {
            str(s)
            for s in rdflib.Graph().parse(STATE, format="turtle").subjects()
            if isinstance(s, URIRef)
        }
    )
    assert sorted(t["id"].to_pylist()) == [f"{s}/2024-02-29T23:30:00-01:00" for s in subjects]
    assert t["timestamp"].to_pylist() == ["2024-02-29T23:30:00-01:00"] * 2
    a = _rows(Fragmenter(view).assign(t))
    assert {r["bucket"] for r in a} == {"year=2024&month=03&day=01"}


def test_bad_versions_arguments():
    g = rdflib.Graph()
    with pytest.raises(RdfError, match="timestamp"):
        create_versions(g, CreateVersions(timestamp="yesterday"))
    with pytest.raises(RdfError):
        create_versions(g, "not versions")  # type: ignore[arg-type]
    with pytest.raises(RdfError):
        create_versions("not a graph", CreateVersions())  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RdfWarning)
        assert len(create_versions(g, CreateVersions())) == 0
