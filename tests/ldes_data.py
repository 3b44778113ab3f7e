"""Generated LDES members as N-Triples (shared by the publish and interop tests)."""

from __future__ import annotations

import random
from pathlib import Path

DCT_IS_VERSION_OF = "http://purl.org/dc/terms/isVersionOf"
PROV_TIME = "http://www.w3.org/ns/prov#generatedAtTime"
GEO_WKT = "http://www.opengis.net/ont/geosparql#asWKT"
WKT_LITERAL = "http://www.opengis.net/ont/geosparql#wktLiteral"
XSD_DATETIME = "http://www.w3.org/2001/XMLSchema#dateTime"
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"


def member_iri(i: int) -> str:
    return f"http://example.org/obs/{i // 3}/v{i}"


def members_nt(start: int, count: int, seed: int = 1) -> str:
    """``count`` version objects numbered from ``start``: points and multi-tile linestrings
    around Ghent, a few days of May 2023, 1 in 25 without a geometry, 1 in 30 without a time,
    some with a nested blank-node geometry (reached through a blank node, as in real data)."""
    lines = []
    for i in range(start, start + count):
        rng = random.Random(seed * 1_000_003 + i)  # a member's values depend on i alone
        m = f"<{member_iri(i)}>"
        lines.append(f"{m} <{DCT_IS_VERSION_OF}> <http://example.org/obs/{i // 3}> .")
        lines.append(f'{m} <{RDFS_LABEL}> "member {i} \\"quoted\\" é" .')
        if i % 30 != 7:
            day, hour, minute = 10 + i % 3, rng.randrange(24), rng.randrange(60)
            stamp = f"2023-05-{day:02d}T{hour:02d}:{minute:02d}:00Z"
            lines.append(f'{m} <{PROV_TIME}> "{stamp}"^^<{XSD_DATETIME}> .')
        if i % 25 != 3:
            lon, lat = 3.70 + rng.random() * 0.06, 51.03 + rng.random() * 0.04
            if i % 4 == 0:
                wkt = f"LINESTRING ({lon:.6f} {lat:.6f}, {lon + 0.02:.6f} {lat + 0.01:.6f})"
            else:
                wkt = f"POINT ({lon:.6f} {lat:.6f})"
            literal = f'"{wkt}"^^<{WKT_LITERAL}>'
            if i % 5 == 1:
                lines.append(f"{m} <http://www.w3.org/ns/locn#geometry> _:g{i} .")
                lines.append(f"_:g{i} <{GEO_WKT}> {literal} .")
            else:
                lines.append(f"{m} <{GEO_WKT}> {literal} .")
    return "\n".join(lines) + "\n"


def write_members(path: Path, start: int, count: int, seed: int = 1) -> Path:
    path.write_text(members_nt(start, count, seed), encoding="utf-8")
    return path
