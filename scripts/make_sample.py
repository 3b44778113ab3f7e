"""Generates sample/members.parquet: Flemish traffic-count style members (deterministic).

Counting sites are points and short road segments in Belgium; observations every 15 minutes
over a week around the 2023 spring DST change, with timestamps in `Z`, `+01:00` and `+02:00`
forms, some geometries in Belgian Lambert 72 as in the GIPOD stream. About 1.6 % of rows are
broken the way real streams break (no timestamp, a malformed timestamp, malformed WKT, no
reference) and must end in unknown buckets.

    python scripts/make_sample.py [OUT] [--members N]
"""

from __future__ import annotations

import argparse
import datetime as dt
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", nargs="?", default="sample/members.parquet")
    p.add_argument("--members", type=int, default=20_000)
    args = p.parse_args()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(generate(args.members), args.out, compression="zstd")


if __name__ == "__main__":
    main()
