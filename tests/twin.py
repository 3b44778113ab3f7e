"""A pure-Python twin of the fragmenter for point members, built on mercantile and zoneinfo.

It is the oracle of the property tests: it shares no code with the Rust kernels.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from urllib.parse import quote
from zoneinfo import ZoneInfo

import mercantile

import ldesfrag

KEYS = ["year", "month", "day", "hour", "minute", "second"]


def tile_pair(lon, lat, zoom):
    if lon is None or lat is None or not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    if abs(lat) > 90:
        return None
    # mercantile has no answer at a pole; the row just short of it is the edge row (the pole's).
    t = mercantile.tile(lon, max(-89.99999, min(89.99999, lat)), zoom)
    return f"tile={zoom}/{t.x}/{t.y}"


def time_pairs(us, granularity, zone):
    if us is None:
        return "year=unknown"
    local = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)
    local = local.astimezone(ZoneInfo(zone))
    values = [
        f"{local.year:04d}",
        f"{local.month:02d}",
        f"{local.day:02d}",
        f"{local.hour:02d}",
        f"{local.minute:02d}",
        f"{local.second:02d}",
    ]
    depth = KEYS.index(granularity) + 1
    return "&".join(f"{k}={v}" for k, v in zip(KEYS[:depth], values[:depth], strict=True))


def ref_pair(value, key):
    if value is None or ":" not in value:
        return f"{key}=unknown"
    return f"{key}=" + quote(value, safe="-._~/:@!$'()*,;?")


def leaf(member, view: ldesfrag.View):
    parts = []
    for f in view.fragmentations:
        if isinstance(f, ldesfrag.Geospatial):
            parts.append(tile_pair(member["lon"], member["lat"], f.max_zoom) or "tile=unknown")
        elif isinstance(f, ldesfrag.HierarchicalTime):
            parts.append(time_pairs(member["timestamp"], f.max_granularity, f.timezone))
        else:
            parts.append(ref_pair(member["reference"], f.key))
    return "&".join(parts)


def assign(members, view: ldesfrag.View):
    """[(row, bucket, page)] for members in arrival order (one leaf per point member)."""
    counts = defaultdict(int)
    out = []
    for row, m in enumerate(members):
        b = leaf(m, view)
        out.append((row, b, counts[b] // view.page_size + 1))
        counts[b] += 1
    return out


def bounds_utc(start_local: dt.datetime, granularity: str, zone: str):
    """[start, end) of a local bucket as UTC datetimes (fold=0: earliest occurrence)."""
    tz = ZoneInfo(zone)
    if granularity == "year":
        end_local = start_local.replace(year=start_local.year + 1)
    elif granularity == "month":
        y, m = divmod(start_local.month, 12)
        end_local = start_local.replace(year=start_local.year + y, month=m + 1)
    else:
        step = {
            "day": dt.timedelta(days=1),
            "hour": dt.timedelta(hours=1),
            "minute": dt.timedelta(minutes=1),
            "second": dt.timedelta(seconds=1),
        }[granularity]
        end_local = start_local + step  # naive wall-clock arithmetic

    def utc(naive):
        return naive.replace(tzinfo=tz).astimezone(dt.UTC)

    return utc(start_local), utc(end_local)
