"""Fragmenter state: corruption is refused, options survive the round trip."""

from __future__ import annotations

import resource

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ldesfrag
from ldesfrag import Fragmenter, Geospatial, HierarchicalTime, Reference, View

VIEW = View(
    [Reference(), Geospatial(10), HierarchicalTime("day", timezone="Europe/Brussels")],
    page_size=3,
)


def members(n: int, start: int = 0) -> pa.Table:
    return pa.table(
        {
            "id": [f"http://ex.org/m/{start + i}" for i in range(n)],
            "geometry": [
                None if i % 17 == 0 else f"POINT ({3 + (i % 7) * 0.05} {51 + (i % 5) * 0.05})"
                for i in range(n)
            ],
            "timestamp": pa.array(
                [1_680_000_000_000_000 + i * 7_000_000_000 for i in range(n)],
                pa.timestamp("us", "UTC"),
            ),
            "reference": [f"http://ex.org/r/{i % 4}" if i % 13 else "relative" for i in range(n)],
        }
    )


def saved(on_invalid: str = "unknown") -> bytes:
    f = Fragmenter(VIEW, on_invalid=on_invalid)  # type: ignore[arg-type]
    f.assign(members(80))
    return f.state()


STATE = saved()


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


# One edit of a real state: a flipped bit, an inserted, replaced or deleted byte, a cut.
edits = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, len(STATE) - 1), st.integers(0, 7)),
    st.tuples(st.just("insert"), st.integers(0, len(STATE)), st.integers(0, 255)),
    st.tuples(st.just("replace"), st.integers(0, len(STATE) - 1), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, len(STATE) - 1), st.just(0)),
    st.tuples(st.just("cut"), st.integers(0, len(STATE) - 1), st.just(0)),
)


def edit(state: bytes, kind: str, at: int, value: int) -> bytes:
    b = bytearray(state)
    if kind == "insert":
        b.insert(at % (len(b) + 1), value)
        return bytes(b)
    if not b:
        return state
    at %= len(b)  # earlier edits may have shortened it
    if kind == "flip":
        b[at] ^= 1 << value
    elif kind == "replace":
        b[at] = value
    elif kind == "delete":
        del b[at]
    else:
        del b[at:]
    return bytes(b)


@settings(max_examples=400)
@given(st.lists(edits, min_size=1, max_size=4))
def test_any_damaged_state_is_refused_without_a_crash_or_a_large_allocation(changes):
    damaged = STATE
    for change in changes:
        damaged = edit(damaged, *change)
    if damaged == STATE:  # e.g. a byte replaced by itself
        return
    before = max_rss_bytes()
    with pytest.raises(ldesfrag.StateError):
        Fragmenter.from_state(VIEW, damaged)
    assert max_rss_bytes() - before < 256 << 20


def test_the_checksum_names_the_damage():
    with pytest.raises(ldesfrag.StateError, match="checksum"):
        Fragmenter.from_state(VIEW, STATE[:-1])
    with pytest.raises(ldesfrag.StateError, match="LDESFRAG"):
        Fragmenter.from_state(VIEW, b"PAR1" + STATE)
    with pytest.raises(ldesfrag.StateError, match="version 7"):
        Fragmenter.from_state(VIEW, STATE[:8] + b"\x07\x00" + STATE[10:])


@pytest.mark.parametrize("mode", ["unknown", "reject", "raise"])
def test_on_invalid_and_max_tiles_survive_the_round_trip(mode):
    f = Fragmenter(VIEW, on_invalid=mode, max_tiles=5)
    g = Fragmenter.from_state(VIEW, f.state())
    assert (g.on_invalid, g.max_tiles) == (mode, 5)
    assert Fragmenter.from_state(VIEW, f.state(), on_invalid=mode).on_invalid == mode
    for other in {"unknown", "reject", "raise"} - {mode}:
        with pytest.raises(ldesfrag.StateError, match=f"on_invalid {mode}"):
            Fragmenter.from_state(VIEW, f.state(), on_invalid=other)  # type: ignore[arg-type]


def test_a_restored_reject_fragmenter_still_rejects():
    """The defect: a "reject" fragmenter came back as "unknown" and put the next invalid
    members into unknown buckets."""
    f = Fragmenter.from_state(VIEW, saved("reject"))
    out = pa.table(f.assign(members(30, start=80)))
    rejected = set(pa.table(f.rejected())["row"].to_pylist())
    assert rejected
    assert not rejected & set(out["row"].to_pylist())
    assert not any("unknown" in b for b in out["bucket"].to_pylist())


def test_a_restored_state_continues_and_saves_the_same_bytes():
    f = Fragmenter.from_state(VIEW, STATE)
    assert f.state() == STATE
    one = Fragmenter(VIEW)
    one.assign(members(80))
    one.assign(members(20, start=80))
    f.assign(members(20, start=80))
    assert f.state() == one.state()
