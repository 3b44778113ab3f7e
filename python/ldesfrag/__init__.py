"""ldesfrag: fragment Linked Data Event Streams (tiles, time buckets, references, pages).

The hot paths are Rust kernels over Arrow data; any object exporting the Arrow PyCapsule
interface (pyarrow, polars, arro3, duckdb, …) goes in, and ``arro3.core`` tables and arrays,
which export the same interface, come out.
"""

from ldesfrag._formats import RdfFormat, RdfInputFormat
from ldesfrag._fragmenter import (
    Assignment,
    ChangedRelations,
    Changes,
    Fragmenter,
    MembersLike,
    OnInvalid,
)
from ldesfrag._kernels import ArrayLike, Tile, cover, parse_datetime, tile, tiles_for_points
from ldesfrag._ldesfrag import __version__
from ldesfrag._member_ids import Admission, MemberIds
from ldesfrag._publish import PublishSummary, RdfProblem, publish
from ldesfrag._rdf import (
    DCT_IS_VERSION_OF,
    CreateVersions,
    MemberMode,
    MemberReader,
    RdfSource,
    RdfWarning,
    create_versions,
    read_members,
)
from ldesfrag._render import (
    CONTENT_TYPES,
    FILE_EXTENSIONS,
    NodeUrlFunction,
    RelationsLike,
    RenderedPage,
    cache_control,
    etag,
    if_none_match,
    render_page,
)
from ldesfrag._serve import LdesServer, serve
from ldesfrag._urls import UrlStyle, node_url, parse_node_url
from ldesfrag._view import (
    GEO_AS_WKT,
    PROV_GENERATED_AT_TIME,
    RDF_TYPE,
    Fragmentation,
    Geospatial,
    Granularity,
    HierarchicalTime,
    Reference,
    View,
)
from ldesfrag.exceptions import (
    ColumnError,
    InputError,
    InvalidCoordinateError,
    InvalidMemberError,
    LdesfragError,
    NodeUrlError,
    RdfError,
    ReplicationError,
    StateError,
    StreamClosedError,
    ViewError,
)
from ldesfrag.replicate import Replication, ReplicationStats, replicate

__all__ = [
    "CONTENT_TYPES",
    "DCT_IS_VERSION_OF",
    "FILE_EXTENSIONS",
    "GEO_AS_WKT",
    "PROV_GENERATED_AT_TIME",
    "RDF_TYPE",
    "Admission",
    "ArrayLike",
    "Assignment",
    "ChangedRelations",
    "Changes",
    "ColumnError",
    "CreateVersions",
    "Fragmentation",
    "Fragmenter",
    "Geospatial",
    "Granularity",
    "HierarchicalTime",
    "InputError",
    "InvalidCoordinateError",
    "InvalidMemberError",
    "LdesServer",
    "LdesfragError",
    "MemberIds",
    "MemberMode",
    "MemberReader",
    "MembersLike",
    "NodeUrlError",
    "NodeUrlFunction",
    "OnInvalid",
    "PublishSummary",
    "RdfError",
    "RdfFormat",
    "RdfInputFormat",
    "RdfProblem",
    "RdfSource",
    "RdfWarning",
    "Reference",
    "RelationsLike",
    "RenderedPage",
    "Replication",
    "ReplicationError",
    "ReplicationStats",
    "StateError",
    "StreamClosedError",
    "Tile",
    "UrlStyle",
    "View",
    "ViewError",
    "__version__",
    "cache_control",
    "cover",
    "create_versions",
    "etag",
    "if_none_match",
    "node_url",
    "parse_datetime",
    "parse_node_url",
    "publish",
    "read_members",
    "render_page",
    "replicate",
    "serve",
    "tile",
    "tiles_for_points",
]
