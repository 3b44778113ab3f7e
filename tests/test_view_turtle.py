"""The reference server's view description (RDF) as a view.

See docs/ldes-rules.md, "View descriptions".
"""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ldesfrag import (
    GEO_AS_WKT,
    PROV_GENERATED_AT_TIME,
    RDF_TYPE,
    Fragmenter,
    Geospatial,
    HierarchicalTime,
    Reference,
    View,
    ViewError,
)

PREFIXES = """
@prefix tree: <https://w3id.org/tree#> .
@prefix ldes: <https://w3id.org/ldes#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix prov: <http://www.w3.org/ns/prov#> .
@prefix server: <http://localhost:8080/mobility-hindrances/> .
@prefix viewName: <http://localhost:8080/mobility-hindrances/geospatial/> .
"""

# The reference server's view_multiple_fragmentations.ttl, re-indented (docs/ldes-rules.md,
# "View descriptions").
SERVER_EXAMPLE = (
    PREFIXES
    + """
server:geospatial a tree:Node ; tree:viewDescription viewName:description .
viewName:description a tree:ViewDescription ;
    tree:pageSize "100"^^xsd:int ;
    tree:fragmentationStrategy (
        [ a tree:GeospatialFragmentation ; tree:maxZoom "15" ;
          tree:fragmentationPath "http://www.opengis.net/ont/geosparql#asWKT" ]
        [ a tree:HierarchicalTimeBasedFragmentation ; tree:maxGranularity "day" ;
          tree:fragmentationPath "http://www.w3.org/ns/prov#generatedAtTime" ] ) .
"""
)


def test_the_reference_servers_example():
    view = View.from_rdf(SERVER_EXAMPLE)
    assert view == View(
        [
            Geospatial(max_zoom=15, path=GEO_AS_WKT),
            HierarchicalTime("day", path=PROV_GENERATED_AT_TIME),
        ],
        page_size=100,
    )


def test_paths_as_iris_blank_description_and_reference():
    text = (
        PREFIXES
        + """
<v> tree:viewDescription [
    tree:pageSize 7 ;
    tree:fragmentationStrategy (
        [ a tree:ReferenceFragmentation ; tree:fragmentationKey "version" ;
          tree:fragmentationPath <http://purl.org/dc/terms/isVersionOf> ]
        [ a tree:HierarchicalTimeBasedFragmentation ; tree:maxGranularity "hour" ;
          tree:fragmentationPath prov:generatedAtTime ; tree:linearTimeCachingEnabled true ;
          tree:fragmentationSubjectFilter ".*" ]
        [ a tree:ReferenceFragmentation ] ) ] .
"""
    )
    view = View.from_rdf(text, base="http://example.org/")
    assert view == View(
        [
            Reference(path="http://purl.org/dc/terms/isVersionOf", key="version"),
            HierarchicalTime("hour", path=PROV_GENERATED_AT_TIME),
            Reference(path=RDF_TYPE, key="reference"),
        ],
        page_size=7,
    )


def test_properties_are_matched_by_local_name():
    text = """
@prefix x: <http://other.example/vocab#> .
[] x:pageSize "3" ; x:fragmentationStrategy ( [ a x:GeospatialFragmentation ; x:maxZoom 9 ] ) .
"""
    assert View.from_rdf(text) == View([Geospatial(max_zoom=9)], page_size=3)


def test_no_strategy_is_plain_pagination_and_defaults_apply():
    assert View.from_rdf(PREFIXES + '[] tree:pageSize "42"^^xsd:int .') == View(page_size=42)
    assert View.from_rdf(PREFIXES + "[] tree:fragmentationStrategy () .") == View()


def test_other_rdf_formats_and_load(tmp_path):
    nt = (
        '_:d <https://w3id.org/tree#pageSize> "5" .\n'
        "_:d <https://w3id.org/tree#fragmentationStrategy> _:l .\n"
        "_:l <http://www.w3.org/1999/02/22-rdf-syntax-ns#first> _:g .\n"
        "_:l <http://www.w3.org/1999/02/22-rdf-syntax-ns#rest> "
        "<http://www.w3.org/1999/02/22-rdf-syntax-ns#nil> .\n"
        "_:g <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> "
        "<https://w3id.org/tree#GeospatialFragmentation> .\n"
        '_:g <https://w3id.org/tree#maxZoom> "12" .\n'
    )
    expected = View([Geospatial(max_zoom=12)], page_size=5)
    assert View.from_rdf(nt, format="nt") == expected
    assert View.from_rdf(nt, format="ntriples") == expected  # the name every API takes
    assert View.from_rdf(nt, format="nquads") == expected
    (tmp_path / "view.nt").write_text(nt)
    assert View.load(tmp_path / "view.nt") == expected
    (tmp_path / "view.ttl").write_text(SERVER_EXAMPLE)
    assert View.load(tmp_path / "view.ttl") == View.from_rdf(SERVER_EXAMPLE)
    (tmp_path / "view.xml").write_text("<x/>")
    with pytest.raises(ViewError, match=r"\.toml, \.json or \.ttl"):
        View.load(tmp_path / "view.xml")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_jsonld_by_its_name_and_its_rdflib_name():
    import rdflib

    g = rdflib.Graph().parse(data=SERVER_EXAMPLE, format="turtle")
    text = g.serialize(format="json-ld")
    expected = View.from_rdf(SERVER_EXAMPLE)
    assert View.from_rdf(text, format="jsonld") == expected
    assert View.from_rdf(text, format="json-ld") == expected
    with pytest.raises(ViewError, match="invalid RDF"):
        View.from_rdf(text, format="no-such-parser")


def test_the_loaded_view_fragments_like_the_equivalent_toml():
    import pyarrow as pa

    toml = View.from_toml(
        'page_size = 100\n[[fragmentations]]\ntype = "Geospatial"\nmax_zoom = 15\n'
        '[[fragmentations]]\ntype = "HierarchicalTime"\nmax_granularity = "day"\n'
    )
    members = pa.table(
        {
            "id": ["http://ex.org/1", "http://ex.org/2"],
            "geometry": ["POINT (5.47236 50.9642)", None],
            "timestamp": ["2023-05-12T14:00:00Z", "2023-05-12T16:00:00+02:00"],
        }
    )
    a = pa.table(Fragmenter(View.from_rdf(SERVER_EXAMPLE)).assign(members))
    b = pa.table(Fragmenter(toml).assign(members))
    assert a.equals(b)
    assert a["bucket"].to_pylist()[0] == "tile=15/16882/10975&year=2023&month=05&day=12"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "[] tree:fragmentationStrategy ( [ a tree:PaginationFragmentation ; "
            'tree:memberLimit "100" ] ) .',
            "PaginationFragmentation .* tree:pageSize",
        ),
        (
            "[] tree:fragmentationStrategy ( [ a tree:SubstringFragmentation ] ) .",
            "expected one type",
        ),
        ("[] tree:fragmentationStrategy ( [ tree:maxZoom 3 ] ) .", "expected one type"),
        (
            "[] tree:fragmentationStrategy ( [ a tree:GeospatialFragmentation ; "
            'tree:maxZoom "x" ] ) .',
            "maxZoom: expected an integer",
        ),
        (
            "[] tree:fragmentationStrategy ( [ a tree:GeospatialFragmentation ] ) .",
            "max_zoom",
        ),
        (
            "[] tree:fragmentationStrategy ( [ a tree:GeospatialFragmentation ; tree:maxZoom 3 ; "
            'tree:fragmenterSubjectFilter "http://ex.org/.*" ] ) .',
            "only '.\\*' is supported",
        ),
        (
            "[] tree:fragmentationStrategy ( [ a tree:GeospatialFragmentation ; tree:maxZoom 3 ; "
            "tree:zoomLevel 4 ] ) .",
            "unknown property",
        ),
        (
            "[] tree:fragmentationStrategy ( [ a tree:HierarchicalTimeBasedFragmentation ; "
            'tree:maxGranularity "week" ] ) .',
            "week",
        ),
        (
            "[] tree:fragmentationStrategy ( [ a tree:GeospatialFragmentation ; tree:maxZoom 3 ; "
            'tree:fragmentationPath "asWKT" ] ) .',
            "expected an IRI",
        ),
        ("[] tree:fragmentationStrategy [ a tree:GeospatialFragmentation ] .", "RDF list"),
        ('[] tree:pageSize "0" .', "page"),
        ("[] tree:pageSize 1 . [] tree:pageSize 2 .", "2 view descriptions"),
        ("[] tree:pageSize 1, 2 .", "2 values of pageSize"),
        ("<a> <b> <c> .", "no view description"),
        ("[] tree:pageSize 1 ", "invalid RDF"),
        (
            "[] tree:fragmentationStrategy ( [ a tree:GeospatialFragmentation ; tree:maxZoom 3 ] "
            "[ a tree:GeospatialFragmentation ; tree:maxZoom 5 ] ) .",
            "tile",
        ),
    ],
)
def test_errors(body, message):
    with pytest.raises(ViewError, match=message):
        View.from_rdf(PREFIXES + body)


@settings(max_examples=50)  # each example is an rdflib parse
@given(
    zoom=st.integers(1, 30),
    granularity=st.sampled_from(["year", "month", "day", "hour", "minute", "second"]),
    page_size=st.integers(1, 10_000),
    geo_first=st.booleans(),
    key=st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
        lambda k: k not in ("tile", "year", "month", "day", "hour", "minute", "second", "unknown")
    ),
)
def test_generated_descriptions_read_back(zoom, granularity, page_size, geo_first, key):
    geo = f'[ a tree:GeospatialFragmentation ; tree:maxZoom "{zoom}" ]'
    time = f'[ a tree:HierarchicalTimeBasedFragmentation ; tree:maxGranularity "{granularity}" ]'
    ref = f'[ a tree:ReferenceFragmentation ; tree:fragmentationKey "{key}" ]'
    parts = [geo, time, ref] if geo_first else [ref, time, geo]
    text = (
        PREFIXES
        + f"[] tree:pageSize {page_size} ; tree:fragmentationStrategy ( {' '.join(parts)} ) ."
    )
    frags = [Geospatial(max_zoom=zoom), HierarchicalTime(granularity), Reference(key=key)]
    assert View.from_rdf(text) == View(frags if geo_first else frags[::-1], page_size=page_size)
