"""Relation bounds: what a relation tells of the members below it, for pruning (``after``,
``before``, ``bbox``) and for emitting in timestamp order.

Time bounds are microseconds since the epoch (UTC). A zone-less bound is widened by 14 hours
(the widest UTC offset) in the direction that keeps every member it could mean; an
``xsd:date``/``gYearMonth``/``gYear`` bound covers its whole day/month/year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise

from ldesfrag.replicate._page import TREE, Relation, Term

WIDEN = timedelta(hours=14)
_US = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZONE = re.compile(r"(Z|[+-]\d\d:\d\d)$")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_PAIR = re.compile(rf"({_NUMBER})\s+({_NUMBER})")
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def _us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


def _instant_range(lexical: str) -> tuple[int, int] | None:
    """The first and last microsecond a time value can mean (a zone-less value ±14 h; a date
    its whole day, a ``gYearMonth`` its month, a ``gYear`` its year); None if unreadable."""
    s = lexical.strip()
    zone = _ZONE.search(s)
    body = s[: zone.start()] if zone else s
    tz = (
        None
        if zone is None
        else UTC
        if zone.group(1) == "Z"
        else datetime.strptime(zone.group(1).replace(":", ""), "%z").tzinfo
    )
    try:
        if "T" in body:
            start = datetime.fromisoformat(body)
            end = start
        elif re.fullmatch(r"\d{4}-\d\d-\d\d", body):
            start = datetime.fromisoformat(body)
            end = start + timedelta(days=1) - timedelta(microseconds=1)
        elif re.fullmatch(r"\d{4}-\d\d", body):
            start = datetime.fromisoformat(body + "-01")
            nxt = start.replace(day=28) + timedelta(days=4)
            end = nxt.replace(day=1) - timedelta(microseconds=1)
        elif re.fullmatch(r"\d{4}", body):
            start = datetime(int(body), 1, 1)
            end = datetime(int(body) + 1, 1, 1) - timedelta(microseconds=1)
        else:
            return None
    except ValueError:
        return None
    if start.tzinfo is not None:  # fromisoformat read a zone we did not strip
        return _us(start), _us(end)
    if tz is None:
        return _us(start.replace(tzinfo=UTC) - WIDEN), _us(end.replace(tzinfo=UTC) + WIDEN)
    return _us(start.replace(tzinfo=tz)), _us(end.replace(tzinfo=tz))


def parse_instant(value: object, name: str) -> int:
    """``after``/``before`` as microseconds: an aware datetime or an ISO string with a zone (a
    zone-less one is read as UTC)."""
    if isinstance(value, datetime):
        t = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return _us(t)
    if isinstance(value, str):
        s = value.strip().replace("z", "Z")
        try:
            t = datetime.fromisoformat(s)
        except ValueError:
            raise ValueError(f"{name}: not an ISO 8601 date-time: {value!r}") from None
        return _us(t if t.tzinfo is not None else t.replace(tzinfo=UTC))
    raise TypeError(f"{name}: a datetime or an ISO string, not {type(value).__name__}")


@dataclass(frozen=True)
class Bounds:
    """What every member below a node satisfies: timestamp in [lo, hi] (µs, None: open), and
    geometry inside ``box`` (W, S, E, N; None: anywhere)."""

    lo: int | None = None
    hi: int | None = None
    box: tuple[float, float, float, float] | None = None

    def to_json(self) -> list[object]:
        return [self.lo, self.hi, list(self.box) if self.box else None]

    @classmethod
    def from_json(cls, v: list[object]) -> Bounds:
        lo, hi, box = v
        return cls(lo, hi, tuple(box) if box else None)  # type: ignore[arg-type]


def _wkt_box(t: Term) -> tuple[float, float, float, float] | None:
    if t.kind != "literal":
        return None
    split = _without_crs(t.value)
    if split is None:
        return None  # another CRS: no pruning on it
    text, swap = split
    pairs = [(float(a), float(b)) for a, b in _PAIR.findall(text)]
    if not pairs:
        return None
    if swap:
        pairs = [(b, a) for a, b in pairs]
    xs = [p[0] for p in pairs]
    ys = [p[1] for p in pairs]
    return (min(xs), min(ys), max(xs), max(ys))


def relation_bounds(
    parent: Bounds, relations: list[Relation], timestamp_path: str | None
) -> Bounds:
    """The bounds of a node reached from ``parent`` by ``relations`` (all of the parent's
    relations to it: TREE reads them together)."""
    lo, hi, box = parent.lo, parent.hi, parent.box
    for r in relations:
        path = r.path.value if r.path is not None and r.path.kind == "iri" else None
        for kind in r.types:
            if not kind.startswith(TREE):
                continue
            name = kind[len(TREE) :]
            for v in r.values:
                if name == "GeospatiallyContainsRelation":
                    b = _wkt_box(v)
                    if b is not None:
                        box = (
                            b
                            if box is None
                            else (
                                max(box[0], b[0]),
                                max(box[1], b[1]),
                                min(box[2], b[2]),
                                min(box[3], b[3]),
                            )
                        )
                    continue
                if timestamp_path is None or path != timestamp_path or v.kind != "literal":
                    continue
                rng = _instant_range(v.value)
                if rng is None:
                    continue
                if name in ("GreaterThanRelation", "GreaterThanOrEqualToRelation"):
                    lo = rng[0] if lo is None else max(lo, rng[0])
                elif name in ("LessThanRelation", "LessThanOrEqualToRelation"):
                    hi = rng[1] if hi is None else min(hi, rng[1])
                elif name in ("EqualToRelation", "InBetweenRelation"):
                    lo = rng[0] if lo is None else max(lo, rng[0])
                    hi = rng[1] if hi is None else min(hi, rng[1])
    return Bounds(lo, hi, box)


def excluded(
    b: Bounds,
    after: int | None,
    before: int | None,
    bbox: tuple[float, float, float, float] | None,
) -> bool:
    """Whether no member below a node with bounds ``b`` can be in the window or the box
    (members: ``after < timestamp < before``)."""
    if after is not None and b.hi is not None and b.hi <= after:
        return True
    if before is not None and b.lo is not None and b.lo >= before:
        return True
    if bbox is not None and b.box is not None:
        w, s, e, n = bbox
        bw, bs, be, bn = b.box
        if be < w or bw > e or bn < s or bs > n:
            return True
    return False


# ---- members' geometries against the box --------------------------------------------------

_WKT_LITERAL = re.compile(
    r'"((?:[^"\\]|\\.)*)"\^\^<http://www\.opengis\.net/ont/geosparql#wktLiteral>'
)
_RING = re.compile(r"\(([^()]*)\)")


def _inside(x: float, y: float, box: tuple[float, float, float, float]) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def _segment_hits(
    a: tuple[float, float], b: tuple[float, float], box: tuple[float, float, float, float]
) -> bool:
    """Liang-Barsky: does the segment from a to b touch the box?"""
    (x0, y0), (x1, y1) = a, b
    dx, dy = x1 - x0, y1 - y0
    t0, t1 = 0.0, 1.0
    for p, q in ((-dx, x0 - box[0]), (dx, box[2] - x0), (-dy, y0 - box[1]), (dy, box[3] - y0)):
        if p == 0:
            if q < 0:
                return False
            continue
        r = q / p
        if p < 0:
            t0 = max(t0, r)
        else:
            t1 = min(t1, r)
        if t0 > t1:
            return False
    return True


def _in_ring(x: float, y: float, ring: list[tuple[float, float]]) -> bool:
    inside = False
    for (x0, y0), (x1, y1) in pairwise([*ring, ring[0]]):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def _without_crs(wkt: str) -> tuple[str, bool] | None:
    """A WKT literal without its CRS IRI, and whether its axes are (lat, lon) (EPSG:4326);
    None for a CRS other than CRS84 and EPSG:4326."""
    text = wkt.strip()
    if not text.startswith("<"):
        return text, False
    crs, _, text = text[1:].partition(">")
    if crs.rstrip("/").endswith("EPSG/0/4326"):
        return text, True
    return (text, False) if crs == CRS84 else None


def wkt_hits_box(wkt: str, box: tuple[float, float, float, float]) -> bool | None:
    """Whether a WKT geometry (CRS84 or EPSG:4326; other CRSs: None) touches the box: a
    vertex inside it, an edge crossing it, or a polygon ring holding its corner."""
    split = _without_crs(wkt)
    if split is None:
        return None
    text, swap = split
    polygon = "POLYGON" in text.upper()
    for ring_text in _RING.findall(text):
        pts = [(float(a), float(b)) for a, b in _PAIR.findall(ring_text)]
        if swap:
            pts = [(b, a) for a, b in pts]
        if any(_inside(x, y, box) for x, y in pts):
            return True
        if any(_segment_hits(a, b, box) for a, b in pairwise(pts)):
            return True
        if polygon and len(pts) >= 3 and _in_ring(box[0], box[1], pts):
            return True
    return False


def member_in_box(payload: str, box: tuple[float, float, float, float]) -> bool:
    """Whether any ``geo:wktLiteral`` of the member's description touches the box."""
    return any(wkt_hits_box(m.group(1), box) for m in _WKT_LITERAL.finditer(payload))
