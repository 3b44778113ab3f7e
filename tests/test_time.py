"""xsd:dateTime parsing and local-time buckets, against datetime and zoneinfo only."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import re
from collections import defaultdict
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

import ldesfrag
from ldesfrag import Fragmenter, HierarchicalTime, View

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
US = 1_000_000
HOUR_US = 3_600 * US
KEYS = ["year", "month", "day", "hour", "minute"]
ZONES = ["Europe/Brussels", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"]
START_S = int(dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp())
END_S = int(dt.datetime(2027, 1, 1, tzinfo=dt.UTC).timestamp())
BOUND = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
GTE = "https://w3id.org/tree#GreaterThanOrEqualToRelation"
LT = "https://w3id.org/tree#LessThanRelation"


# --- oracles ---------------------------------------------------------------------------------


def micros(t: dt.datetime) -> int:
    """Exact µs since the epoch of an aware datetime (integer timedelta arithmetic)."""
    return (t - EPOCH) // dt.timedelta(microseconds=1)


def instant(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def at(year, month, day, hour=0, minute=0, second=0, us=0, offset=0):
    """µs of a proleptic Gregorian date-time at UTC offset `offset` (minutes), for any year:
    days from civil by shifting the year whole 400-year cycles (146,097 days) into datetime's
    range."""
    cycles = (year - 2000) // 400
    days = (dt.date(year - 400 * cycles, month, day) - EPOCH.date()).days + cycles * 146_097
    seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset * 60
    return seconds * US + us


def parse_us(values, naive="utc", string_type=None):
    """`ldesfrag.parse_datetime` as a list of µs (int) or None."""
    out = pa.array(ldesfrag.parse_datetime(pa.array(values, string_type), naive=naive))
    assert out.type == pa.timestamp("us", "UTC")
    return out.cast(pa.int64()).to_pylist()


def reached(us: int, zone: str) -> dt.datetime:
    """The latest local wall time reached at or before an instant: its wall time, except in the
    second occurrence (fold=1) of a repeated time, where it is the wall time just before the
    clocks went back (the documented bucketing rule)."""
    tz = ZoneInfo(zone)
    local = instant(us).astimezone(tz)
    if not local.fold:
        return local.replace(tzinfo=None)
    # The transition lies between the first occurrence of this wall time and us: bisect.
    first = local.replace(fold=0)
    lo, hi = micros(first), us
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if instant(mid).astimezone(tz).utcoffset() == first.utcoffset():
            lo = mid
        else:
            hi = mid
    return instant(lo).astimezone(tz).replace(tzinfo=None)


def bucket_of(wall: dt.datetime, granularity: str) -> str:
    """The leaf bucket id of a local wall time."""
    values = [f"{wall.year:04d}", *(f"{v:02d}" for v in wall.timetuple()[1:5])]
    depth = KEYS.index(granularity) + 1
    return "&".join(f"{k}={v}" for k, v in zip(KEYS[:depth], values[:depth], strict=True))


@functools.cache
def transitions(zone: str) -> tuple[int, ...]:
    """UTC seconds in 2020-2026 at which the zone's offset changes, found with zoneinfo."""
    tz = ZoneInfo(zone)

    def offset(s):
        return dt.datetime.fromtimestamp(s, tz).utcoffset()

    found = []
    for lo in range(START_S, END_S, 86_400):
        hi = lo + 86_400
        if offset(lo) != offset(hi):
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(mid) == offset(lo) else (lo, mid)
            found.append(hi)
    return tuple(found)


# --- fragmenter helpers ----------------------------------------------------------------------


def assign(timestamps, zone, granularity="hour"):
    """(fragmenter, leaf bucket of every member) for a timestamp column."""
    f = Fragmenter(View([HierarchicalTime(granularity, timezone=zone)]))
    ids = [f"m{i}" for i in range(len(timestamps))]
    out = pa.table(f.assign(pa.table({"id": ids, "timestamp": timestamps})))
    assert out["row"].to_pylist() == list(range(len(timestamps)))
    return f, out["bucket"].to_pylist()


def bounds(f: Fragmenter) -> dict[str, tuple[int, int]]:
    """[start, end) in µs of every bucket, from its one GTE and one LT relation."""
    found = defaultdict(dict)
    for r in pa.table(f.relations()).to_pylist():
        if r["value"] is None:
            continue
        assert BOUND.fullmatch(r["value"]), r["value"]
        assert r["datatype"] == "http://www.w3.org/2001/XMLSchema#dateTime"
        assert r["type"] not in found[r["child"]], r
        (found[r["child"]][r["type"]],) = parse_us([r["value"]], naive="reject")
    return {bucket: (b[GTE], b[LT]) for bucket, b in found.items()}


def ancestors(bucket: str) -> list[str]:
    parts = bucket.split("&")
    return ["&".join(parts[: k + 1]) for k in range(len(parts))]


def every_ten_minutes(start_us: int, hours: int) -> pa.Array:
    values = range(start_us, start_us + hours * HOUR_US + 1, 600 * US)
    return pa.array(values, pa.timestamp("us", "UTC"))


# --- 1. parse_datetime against datetime ------------------------------------------------------

offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))


def zone_text(t: dt.datetime, z: bool) -> str:
    """The lexical timezone of a datetime: '' (naive), 'Z' or ±hh:mm."""
    off = t.utcoffset()
    if off is None:
        return ""
    if off == dt.timedelta(0) and z:
        return "Z"
    minutes = off // dt.timedelta(minutes=1)
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@st.composite
def lexical_forms(draw):
    """(lexical form, its exact µs with naive read as UTC, naive?) of an xsd:dateTime/date."""
    zones = st.one_of(st.none(), st.just(dt.UTC), offsets)
    t = draw(st.datetimes(timezones=zones))  # years 1..9999
    naive = t.tzinfo is None
    exact = micros(t.replace(tzinfo=dt.UTC) if naive else t)
    form = draw(st.sampled_from(["iso", "date", 0, 1, 2, 3, 4, 5, 6, 9]))
    if form == "iso":
        return t.isoformat(), exact, naive
    if form == "date":  # midnight at the start of the day, in the value's zone
        midnight = exact - micros(t.replace(tzinfo=dt.UTC)) + at(t.year, t.month, t.day)
        return t.date().isoformat() + zone_text(t, draw(st.booleans())), midnight, naive
    digits = f"{t.microsecond:06d}"
    if form == 9:  # digits beyond µs are truncated toward the past, never rounded
        fraction = "." + digits + draw(st.text("0123456789", min_size=3, max_size=12))
    else:
        fraction = "." + digits[:form] if form else ""
    kept = int(digits[:form].ljust(6, "0")) if form < 6 else t.microsecond
    text = t.replace(microsecond=0, tzinfo=None).isoformat() + fraction
    return text + zone_text(t, draw(st.booleans())), exact - t.microsecond + kept, naive


@given(st.lists(lexical_forms(), min_size=1, max_size=20))
def test_lexical_forms_give_the_exact_instant(values):
    texts = [text for text, _, _ in values]
    assert parse_us(texts) == [us for _, us, _ in values]
    assert parse_us(texts, naive="reject") == [None if n else us for _, us, n in values]


def days_in_month(year: int, month: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]


@st.composite
def fixed_width_forms(draw):
    """(text, µs or None with naive read as UTC, naive?) of `YYYY-MM-DDThh:mm:ss[.f](zone)`,
    the shape parsed without the general parser, with every field drawn past its range too."""
    year = draw(st.integers(0, 9999))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = (
        draw(st.integers(0, 25)),
        draw(st.integers(0, 60)),
        draw(st.integers(0, 60)),
    )
    fraction = draw(
        st.one_of(
            st.sampled_from(["", "0", "000", "999", "000000", "123456", "1234567", "5"]),
            st.text("0123456789", min_size=1, max_size=12),  # every length the fast path reads
        )
    )
    sign, oh, om = draw(st.sampled_from("+-")), draw(st.integers(0, 15)), draw(st.integers(0, 60))
    zone = draw(st.sampled_from(["Z", "", f"{sign}{oh:02d}:{om:02d}"]))
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    text += ("." + fraction if fraction else "") + zone
    zoned = zone not in ("Z", "")
    offset = (oh * 60 + om) * (-1 if sign == "-" else 1) if zoned else 0
    end_of_day = hour == 24 and minute == 0 and second == 0 and set(fraction) <= {"0"}
    valid = (
        1 <= month <= 12
        and 1 <= day <= days_in_month(year, month)
        and (hour <= 23 or end_of_day)
        and minute <= 59
        and second <= 59
        and (not zoned or (om <= 59 and oh * 60 + om <= 14 * 60))
    )
    us = int(fraction.ljust(6, "0")[:6]) if fraction else 0
    expected = at(year, month, day, hour, minute, second, us, offset) if valid else None
    return text, expected, zone == ""


@given(st.lists(fixed_width_forms(), min_size=1, max_size=150))
def test_fixed_width_forms_in_and_out_of_range(values):
    texts = [text for text, _, _ in values]
    assert parse_us(texts) == [us for _, us, _ in values]
    assert parse_us(texts, naive="reject") == [None if n else us for _, us, n in values]


# --- 2. edge cases ---------------------------------------------------------------------------

EDGES = [
    # 24:00:00 is midnight of the next day, only with zero minutes, seconds and fraction.
    ("2023-05-12T24:00:00Z", at(2023, 5, 13)),
    ("2023-12-31T24:00:00Z", at(2024, 1, 1)),
    ("2023-02-28T24:00:00Z", at(2023, 3, 1)),
    ("2024-02-28T24:00:00Z", at(2024, 2, 29)),
    ("2024-02-29T24:00:00.000+02:00", at(2024, 3, 1, offset=120)),
    ("2023-05-12T24:00:01Z", None),
    ("2023-05-12T24:01:00Z", None),
    ("2023-05-12T24:00:00.000001Z", None),
    ("2023-05-12T25:00:00Z", None),
    ("2023-05-12T23:60:00Z", None),
    ("2016-12-31T23:59:60Z", None),  # a real leap second: not in the value space
    # Calendar.
    ("2024-02-29T12:00:00Z", at(2024, 2, 29, 12)),
    ("2023-02-29T12:00:00Z", None),
    ("2000-02-29T12:00:00Z", at(2000, 2, 29, 12)),
    ("2100-02-29T12:00:00Z", None),
    ("2023-04-31T00:00:00Z", None),
    ("2023-13-01T00:00:00Z", None),
    ("2023-00-10T00:00:00Z", None),
    ("2023-05-00T00:00:00Z", None),
    ("2023-05-32T00:00:00Z", None),
    # Timezones: ±14:00 at most, 'Z' in upper case only, '-00:00' is UTC.
    ("2023-05-13T04:00:00+14:00", at(2023, 5, 12, 14)),
    ("2023-05-12T00:00:00-14:00", at(2023, 5, 12, 14)),
    ("2023-05-12T14:00:00+14:01", None),
    ("2023-05-12T14:00:00-15:00", None),
    ("2023-05-12T14:00:00+01:60", None),
    ("2023-05-12T14:00:00-00:00", at(2023, 5, 12, 14)),
    ("2023-05-12T14:00:00z", None),
    ("2023-05-12T14:00:00+0100", None),
    ("2023-05-12T14:00:00+01", None),
    ("2023-05-12T14:00:00UTC", None),
    # Whitespace: XML whitespace around the value only.
    (" \t\n2023-05-12T14:00:00Z\r\n ", at(2023, 5, 12, 14)),
    ("\u00a02023-05-12T14:00:00Z", None),
    ("2023-05-12T14:00:00 Z", None),
    ("2023-05-12T14:00 :00Z", None),
    ("2023-05-12 T14:00:00Z", None),
    # Shape.
    ("2023-5-1T00:00:00Z", None),
    ("2023-05-1", None),
    ("2023-05-12 14:00:00Z", None),
    ("2023-05-1214:00:00Z", None),
    ("20230512T140000Z", None),
    ("2023-05-12T14:00Z", None),
    ("2023-05-12T14:00:00Zjunk", None),
    ("2023-05-12T14:00:00+02:00 x", None),
    ("2023-05-12T14:00:00.Z", None),
    ("2023-05-12T14:00:00,5Z", None),
    ("2023-05-12T", None),
    ("", None),
    ("   ", None),
    # Fractions are truncated toward the past.
    ("2023-05-12T14:00:00.5Z", at(2023, 5, 12, 14, us=500_000)),
    ("2023-05-12T14:00:00.1234567899Z", at(2023, 5, 12, 14, us=123_456)),
    ("2023-05-12T23:59:59.9999999999Z", at(2023, 5, 12, 23, 59, 59, 999_999)),
    ("1969-12-31T23:59:59.9999999+00:00", -1),
    # Years: four or more digits, no leading zero beyond four, 0000 = 1 BCE, i64 µs range.
    ("12023-01-01T00:00:00Z", at(12023, 1, 1)),
    ("0000-01-01T00:00:00Z", at(0, 1, 1)),
    ("0000-02-29T00:00:00Z", at(0, 2, 29)),
    ("-0000-01-01T00:00:00Z", at(0, 1, 1)),
    ("-0001-01-01T00:00:00Z", at(-1, 1, 1)),
    ("-0001-02-29T00:00:00Z", None),
    ("-0004-02-29T00:00:00Z", at(-4, 2, 29)),
    ("-12023-06-15T12:00:00+05:00", at(-12023, 6, 15, 12, offset=300)),
    ("012023-01-01T00:00:00Z", None),
    ("00001-01-01T00:00:00Z", None),
    ("-00001-01-01T00:00:00Z", None),
    ("999-01-01T00:00:00Z", None),
    ("1" * 40 + "-01-01T00:00:00Z", None),
    ("-" + "9" * 40 + "-01-01T00:00:00Z", None),
    ("294247-01-10T04:00:54.775807Z", 2**63 - 1),
    ("294247-01-10T04:00:54.775808Z", None),
    ("-290308-12-21T19:59:05.224192Z", -(2**63)),
    ("-290308-12-21T19:59:05.224191Z", None),
    # xsd:date: midnight at the start of the day in its zone.
    ("2023-05-12", at(2023, 5, 12)),
    ("2023-05-12Z", at(2023, 5, 12)),
    ("2023-05-12+02:00", at(2023, 5, 12, offset=120)),
    ("2023-05-12-14:00", at(2023, 5, 12, offset=-840)),
    ("2023-02-29", None),
    ("2023-05-12+14:01", None),
]


@pytest.mark.parametrize(("text", "expected"), EDGES)
def test_edge_cases(text, expected):
    assert parse_us([text]) == [expected]


def test_the_oracle_reaches_the_i64_limits():
    assert at(294247, 1, 10, 4, 0, 54, 775_807) == 2**63 - 1
    assert at(-290308, 12, 21, 19, 59, 5, 224_192) == -(2**63)


@pytest.mark.parametrize("string_type", [pa.string(), pa.large_string(), pa.string_view()])
def test_nulls_stay_null(string_type):
    values = [None, "2023-05-12T14:00:00Z", None, "garbage", "2023-05-12"]
    expected = [None, at(2023, 5, 12, 14), None, None, at(2023, 5, 12)]
    assert parse_us(values, string_type=string_type) == expected
    assert parse_us(values, "reject", string_type) == [*expected[:4], None]


def test_unknown_naive_mode_is_an_error():
    with pytest.raises(ldesfrag.LdesfragError, match="naive"):
        ldesfrag.parse_datetime(pa.array(["2023-05-12"]), naive="local")


# --- 3. buckets against zoneinfo -------------------------------------------------------------


@st.composite
def zone_and_instants(draw):
    """A zone and µs instants in 2020-2026, about half within 3 h of a DST transition."""
    zone = draw(st.sampled_from(ZONES))
    anywhere = st.integers(START_S * US, END_S * US - 1)
    # Zones without DST (Kolkata, UTC) get a few hours around an arbitrary instant instead.
    near = st.builds(
        lambda t, d: t * US + d,
        st.sampled_from(transitions(zone) or (START_S + 3 * 3_600,)),
        st.integers(-3 * HOUR_US, 3 * HOUR_US),
    )
    return zone, draw(st.lists(st.one_of(anywhere, near), min_size=1, max_size=30))


@given(zone_and_instants(), st.sampled_from(["hour", "minute"]))
def test_leaf_bucket_is_the_latest_local_time_reached(zone_instants, granularity):
    zone, instants = zone_instants
    # As strings in the zone's own offset, e.g. 2023-10-29T02:30:00+01:00.
    texts = [instant(us).astimezone(ZoneInfo(zone)).isoformat() for us in instants]
    _, buckets = assign(texts, zone, granularity)
    assert buckets == [bucket_of(reached(us, zone), granularity) for us in instants]


@given(st.lists(st.integers(START_S * 1_000, END_S * 1_000), min_size=1, max_size=30))
def test_zoned_millisecond_timestamps(ms):
    _, buckets = assign(pa.array(ms, pa.timestamp("ms", "Europe/Brussels")), "Europe/Brussels")
    assert buckets == [bucket_of(reached(v * 1_000, "Europe/Brussels"), "hour") for v in ms]


@given(st.lists(st.dates(dt.date(2020, 1, 1), dt.date(2026, 12, 31)), min_size=1, max_size=30))
def test_dates_are_local_midnight(dates):
    _, buckets = assign(pa.array(dates, pa.date32()), "Europe/Brussels")
    assert buckets == [bucket_of(dt.datetime(d.year, d.month, d.day), "hour") for d in dates]
    _, texts = assign([d.isoformat() for d in dates], "Europe/Brussels")
    assert texts == buckets


# --- 3b. zone-less values are wall-clock time in the view's zone ------------------------------


def wall_instant(wall: dt.datetime, zone: str) -> int:
    """zoneinfo's reading of a wall time (fold=0: first occurrence; in a gap, the old offset)."""
    return micros(wall.replace(tzinfo=ZoneInfo(zone)))


def zone_and_walls():
    """A zone and naive wall times: the instants of `zone_and_instants` with their UTC fields
    read as wall times, so that, with offsets of a few hours, the skipped and repeated wall
    times around each transition are drawn often."""
    return zone_and_instants().map(
        lambda zi: (zi[0], [instant(us).replace(tzinfo=None) for us in zi[1]])
    )


@given(zone_and_walls())
def test_zone_less_strings_are_wall_time_in_the_given_zone(zone_walls):
    zone, walls = zone_walls
    texts = [w.isoformat() for w in walls]
    assert parse_us(texts, naive=zone) == [wall_instant(w, zone) for w in walls]
    # Values with an offset are not affected by the zone.
    zoned = [w.isoformat() + "+05:30" for w in walls]
    assert parse_us(zoned, naive=zone) == parse_us(zoned)


@given(zone_and_walls(), st.sampled_from(["hour", "minute"]))
def test_a_view_reads_zone_less_values_in_its_time_zone(zone_walls, granularity):
    zone, walls = zone_walls
    expected = [bucket_of(reached(wall_instant(w, zone), zone), granularity) for w in walls]
    _, buckets = assign([w.isoformat() for w in walls], zone, granularity)
    assert buckets == expected
    naive_us = [micros(w.replace(tzinfo=dt.UTC)) for w in walls]
    _, buckets = assign(pa.array(naive_us, pa.timestamp("us")), zone, granularity)
    assert buckets == expected


def test_zone_less_late_evening_stays_on_its_local_day():
    # Read as UTC, 23:30 would be 01:30 the next day in Brussels (summer, +02:00).
    _, buckets = assign(["2023-05-12T23:30:00", "2023-05-12T23:30:00Z"], "Europe/Brussels", "day")
    assert buckets == ["year=2023&month=05&day=12", "year=2023&month=05&day=13"]
    # Skipped (02:30 on 2023-03-26) and repeated (02:30 on 2023-10-29) wall times.
    assert parse_us(["2023-03-26T02:30:00", "2023-10-29T02:30:00"], naive="Europe/Brussels") == [
        at(2023, 3, 26, 1, 30),
        at(2023, 10, 29, 0, 30),
    ]


def test_the_second_occurrence_stays_in_the_last_minute_reached():
    fall = [at(2023, 10, 29, 0, 30), at(2023, 10, 29, 1, 30), at(2023, 10, 29, 2)]
    f, buckets = assign(pa.array(fall, pa.timestamp("us", "UTC")), "Europe/Brussels", "minute")
    day = "year=2023&month=10&day=29"
    assert buckets == [f"{day}&hour=02&minute={m}" for m in ("30", "59")] + [
        f"{day}&hour=03&minute=00"
    ]
    assert bounds(f)[buckets[1]] == (at(2023, 10, 29, 0, 59), at(2023, 10, 29, 2))


# --- 4. relation bounds ----------------------------------------------------------------------


@given(zone_and_instants(), st.sampled_from(["hour", "minute"]))
def test_bounds_contain_members_and_tile_the_time_line(zone_instants, granularity):
    zone, instants = zone_instants
    f, buckets = assign(pa.array(instants, pa.timestamp("us", "UTC")), zone, granularity)
    found = bounds(f)
    assert all(start < end for start, end in found.values())
    for us, leaf in zip(instants, buckets, strict=True):
        for bucket in ancestors(leaf):
            start, end = found[bucket]
            assert start <= us < end, (bucket, instant(us))
    siblings = defaultdict(list)
    for bucket in found:
        parent, _, pair = bucket.rpartition("&")
        siblings[parent].append((int(pair.split("=")[1]), bucket))
    for group in siblings.values():
        for (k, a), (k_next, b) in itertools.pairwise(sorted(group)):
            assert found[a][1] <= found[b][0], (a, b)  # no overlap
            if k_next == k + 1:
                assert found[a][1] == found[b][0], (a, b)  # adjacent buckets share a bound


def test_brussels_spring_forward_has_no_hour_02():
    f, buckets = assign(every_ten_minutes(at(2023, 3, 25, 22), 6), "Europe/Brussels")
    day = "year=2023&month=03&day=26"
    hours = sorted({b for b in buckets if b.startswith(day)})
    assert [h[-2:] for h in hours] == ["00", "01", "03", "04", "05", "06"]
    found = bounds(f)
    start, end = found[day]
    assert end - start == 23 * HOUR_US
    assert found[f"{day}&hour=01"][1] == found[f"{day}&hour=03"][0] == at(2023, 3, 26, 1)


def test_brussels_fall_back_hour_02_spans_two_real_hours():
    f, buckets = assign(every_ten_minutes(at(2023, 10, 28, 22), 5), "Europe/Brussels")
    hour = "year=2023&month=10&day=29&hour=02"
    assert buckets.count(hour) == 12  # both occurrences of 02:00, 02:10, …, 02:50
    assert bounds(f)[hour] == (at(2023, 10, 29), at(2023, 10, 29, 2))


# --- 5. offsets crossing midnight ------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "text", "expected"),
    [
        ("UTC", "2023-05-12T00:30:00+02:00", "year=2023&month=05&day=11"),
        ("Europe/Brussels", "2023-05-12T00:30:00+02:00", "year=2023&month=05&day=12"),
        ("America/New_York", "2023-05-12T00:30:00+02:00", "year=2023&month=05&day=11"),
        ("Asia/Kolkata", "2023-05-11T23:30:00-01:00", "year=2023&month=05&day=12"),
        ("UTC", "2023-05-12T00:30:00", "year=2023&month=05&day=12"),
        # Zone-less: wall-clock time in the view's zone, so it stays on its own day.
        ("Europe/Brussels", "2023-05-11T23:30:00", "year=2023&month=05&day=11"),
        ("America/New_York", "2023-05-11T23:30:00", "year=2023&month=05&day=11"),
    ],
)
def test_offsets_crossing_midnight(zone, text, expected):
    assert assign([text], zone, "day")[1] == [expected]
