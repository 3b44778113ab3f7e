"""Generates the sample members: Flemish traffic-count style members (deterministic).

Two forms of the same members: `sample/members.parquet` (columns for `ldesfrag assign`) and
`sample/members.nq.gz` (version objects in N-Quads for `ldesfrag publish`, the geometry on a
nested blank node as in the real Brugge traffic-count stream).

Counting sites are points and short road segments in Belgium; observations every 15 minutes
over a week around the 2023 spring DST change, with timestamps in `Z`, `+01:00` and `+02:00`
forms, some geometries in Belgian Lambert 72 as in the GIPOD stream. About 1.6 % of rows are
broken the way real streams break (no timestamp, a malformed timestamp, malformed WKT, no
reference) and must end in unknown buckets.

    python scripts/make_sample.py [--out-dir sample] [--members N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TYPES = [
    "https://data.vlaanderen.be/ns/verkeersmetingen#Verkeerstelling",
    "https://data.vlaanderen.be/ns/verkeersmetingen#Verkeerssnelheidsmeting",
]
START = dt.datetime(2023, 3, 22, tzinfo=dt.UTC)


def sites(rng: random.Random, n: int) -> list[str]:
    """WKT of counting sites: points, and 2-5 vertex road segments a few km long."""
    out = []
    for _ in range(n):
        lon, lat = rng.uniform(2.6, 5.9), rng.uniform(50.7, 51.35)
        if rng.random() < 0.6:
            out.append(f"POINT ({lon:.6f} {lat:.6f})")
        else:
            pts = [(lon, lat)]
            for _ in range(rng.randint(1, 4)):
                lon, lat = lon + rng.uniform(-0.02, 0.02), lat + rng.uniform(-0.015, 0.015)
                pts.append((lon, lat))
            out.append("LINESTRING (" + ", ".join(f"{x:.6f} {y:.6f}" for x, y in pts) + ")")
    return out


def lexical(t: dt.datetime, rng: random.Random) -> str:
    """The same instant as `Z`, Brussels local time with its offset, or with milliseconds."""
    form = rng.random()
    if form < 0.4:
        return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    offset = dt.timedelta(hours=2 if t >= dt.datetime(2023, 3, 26, 1, tzinfo=dt.UTC) else 1)
    local = (t + offset).replace(tzinfo=dt.timezone(offset))
    return local.isoformat()


def generate(n: int, seed: int = 2023) -> pa.Table:
    rng = random.Random(seed)
    geoms = sites(rng, 60)
    ids, wkts, times, refs = [], [], [], []
    for i in range(n):
        site = i % len(geoms)
        t = START + dt.timedelta(minutes=15 * (i // len(geoms)))
        ids.append(f"https://geomobility.eu/id/observation/site-{site:03d}/{t:%Y-%m-%dT%H:%M:%SZ}")
        wkts.append(geoms[site])
        times.append(lexical(t, rng))
        refs.append(TYPES[site % 2])
        broken = rng.random()
        if broken < 0.004:
            times[-1] = None
        elif broken < 0.008:
            times[-1] = "-11-09T14:00:00Z"
        elif broken < 0.012:
            wkts[-1] = "POLYGON ((a121375 157725, 121400 157725))"
        elif broken < 0.016:
            wkts[-1] = (
                "<http://www.opengis.net/def/crs/EPSG/9.9.1/31370> POINT (104386.16 193887.48)"
            )
        elif broken < 0.02:
            refs[-1] = None
    return pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "geometry": pa.array(wkts, pa.string()),
            "timestamp": pa.array(times, pa.string()),
            "reference": pa.array(refs, pa.string()),
        }
    )


VM = "https://data.vlaanderen.be/ns/verkeersmetingen#"
XSD = "http://www.w3.org/2001/XMLSchema#"


def nquads(members: pa.Table) -> str:
    """The members as version objects: `dct:isVersionOf` the counting site, the timestamp on
    `prov:generatedAtTime`, the WKT two blank nodes deep, a count as the observed value."""
    lines = []
    rows = zip(*(members.column(c).to_pylist() for c in members.column_names), strict=True)
    for i, (iri, wkt, time, kind) in enumerate(rows):
        site = iri.rsplit("/", 1)[0]
        m, loc, geom = f"<{iri}>", f"_:loc{i}", f"_:geom{i}"
        if kind is not None:
            lines.append(f"{m} <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> <{kind}> .")
        lines.append(f"{m} <http://purl.org/dc/terms/isVersionOf> <{site}> .")
        if time is not None:
            prov = "http://www.w3.org/ns/prov#generatedAtTime"
            lines.append(f'{m} <{prov}> "{time}"^^<{XSD}dateTime> .')
        lines.append(f'{m} <{VM}resultaat> "{(i * 7919) % 480}"^^<{XSD}integer> .')
        lines.append(f"{m} <{VM}geobserveerdObject> {loc} .")
        lines.append(f"{loc} <http://www.w3.org/ns/locn#geometry> {geom} .")
        lines.append(
            f'{geom} <http://www.opengis.net/ont/geosparql#asWKT> "{wkt}"'
            "^^<http://www.opengis.net/ont/geosparql#wktLiteral> ."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default="sample")
    p.add_argument("--members", type=int, default=20_000)
    args = p.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    members = generate(args.members)
    pq.write_table(members, out / "members.parquet", compression="zstd")
    # mtime=0: the same members give the same bytes.
    with gzip.GzipFile(out / "members.nq.gz", "wb", mtime=0) as f:
        f.write(nquads(members).encode())


if __name__ == "__main__":
    main()
