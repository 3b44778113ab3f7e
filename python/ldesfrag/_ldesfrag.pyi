# Stubs of the native module (checked against it with mypy.stubtest).
import os
from collections.abc import Sequence
from typing import final

from arro3.core import Array, Table

from ldesfrag._fragmenter import MembersLike
from ldesfrag._kernels import ArrayLike

__all__ = [
    "DEFAULT_MAX_TILES",
    "FileWriter",
    "Fragmenter",
    "MemberReader",
    "SeenIds",
    "__version__",
    "_gil_hold_below",
    "cover",
    "etag",
    "jsonld_to_nquads",
    "page_rows",
    "parse_datetime",
    "render_page",
    "render_pages",
    "tile",
    "tiles_for_points",
    "validate_view",
]
__version__: str
DEFAULT_MAX_TILES: int

def tile(lon: float, lat: float, zoom: int) -> tuple[int, int, int]: ...
def tiles_for_points(lon: ArrayLike, lat: ArrayLike, zoom: int) -> Array: ...
def cover(geometries: ArrayLike, zoom: int, *, max_tiles: int = ...) -> Array: ...
def parse_datetime(values: ArrayLike, *, naive: str = "utc") -> Array: ...
def validate_view(view_json: str) -> None: ...
def _gil_hold_below(units: int | None = None) -> int: ...
def render_page(
    node: str,
    *,
    stream: str,
    members: MembersLike | None = None,
    relations: MembersLike | None = None,
    relation_rows: list[tuple[str, str, str | None, str | None, str | None, int | None]]
    | None = None,
    immutable: bool = False,
    root: bool = False,
    view_json: str | None = None,
    timestamp_path: str | None = None,
    version_of_path: str | None = None,
    shape: str | None = None,
    format: str = "turtle",
) -> tuple[bytes, str]: ...
def render_pages(
    pages: MembersLike,
    *,
    stream: str,
    members: MembersLike | None = None,
    order: ArrayLike | None = None,
    relations: MembersLike | None = None,
    view_json: str | None = None,
    timestamp_path: str | None = None,
    version_of_path: str | None = None,
    shape: str | None = None,
    format: str = "turtle",
) -> tuple[list[bytes], list[str]]: ...
def page_rows(members: MembersLike, keys: ArrayLike) -> tuple[Array, Array, Array]: ...
def etag(body: bytes) -> str: ...

@final
class FileWriter:
    def __new__(cls, root: str | os.PathLike[str]) -> FileWriter: ...
    def write(
        self,
        paths: Sequence[str | os.PathLike[str]],
        bodies: Sequence[bytes],
        *,
        truncate: bool = False,
    ) -> None: ...
    def create(
        self, paths: Sequence[str | os.PathLike[str]], bodies: Sequence[bytes]
    ) -> list[int]: ...
    def swap(
        self, spares: Sequence[str | os.PathLike[str]], targets: Sequence[str | os.PathLike[str]]
    ) -> list[int]: ...
    def rename(
        self, sources: Sequence[str | os.PathLike[str]], targets: Sequence[str | os.PathLike[str]]
    ) -> None: ...
    def sync(self) -> None: ...

@final
class Fragmenter:
    def __new__(
        cls, view_json: str, *, on_invalid: str = "unknown", max_tiles: int = ...
    ) -> Fragmenter: ...
    @staticmethod
    def from_state(
        view_json: str,
        state: bytes,
        *,
        journal: Sequence[bytes] = ...,
        on_invalid: str | None = None,
    ) -> Fragmenter: ...
    @property
    def view_json(self) -> str: ...
    @property
    def on_invalid(self) -> str: ...
    @property
    def max_tiles(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def close(self) -> None: ...
    def assign(self, members: MembersLike) -> Table: ...
    def invalid(self) -> Table: ...
    def rejected(self) -> Table: ...
    def relations(self) -> Table: ...
    def changes(self, relations: str = "from_changed") -> tuple[Table, Table]: ...
    def commit(self) -> bytes: ...
    def drop_pages(self, through: list[tuple[str, int]]) -> Table: ...
    def pages(self) -> Table: ...
    def state(self) -> bytes: ...

@final
class SeenIds:
    def __new__(cls) -> SeenIds: ...
    def load(self, records: bytes) -> None: ...
    def load_segments(self, records: bytes) -> None: ...
    def records(self) -> bytes: ...
    def admit(self, ids: ArrayLike) -> tuple[Array, bytes]: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: str, /) -> bool: ...

@final
class MemberReader:
    def __new__(
        cls,
        inputs: list[tuple[str, str, bytes | None]],
        *,
        member: str,
        member_type: str | None,
        version_of_path: str,
        columns: list[tuple[str, str, str]],
        versions: tuple[str, str | None, str, str, str] | None,
        batch_size: int,
        window: int,
        base_iri: str | None,
        max_line_bytes: int,
        max_member_bytes: int,
    ) -> MemberReader: ...
    def next_batch(self) -> Table | None: ...
    def empty(self) -> Table: ...
    def problems(self) -> Table: ...

def jsonld_to_nquads(
    data: bytes, *, base_iri: str | None = None, contexts: dict[str, bytes] = ...
) -> bytes: ...
