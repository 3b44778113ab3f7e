"""MemberIds: each member IRI admitted once, across calls and a log round trip."""

from __future__ import annotations

import itertools
import threading

import polars as pl
import pyarrow as pa
import pytest
from arro3.core import Array
from hypothesis import given
from hypothesis import strategies as st

import ldesfrag
from ldesfrag import ColumnError, InvalidMemberError, LdesfragError, MemberIds, StateError

IRIS = st.lists(st.sampled_from([f"http://ex.org/m/{i}" for i in range(12)] + ["", "é"]))


def first_occurrences(ids: list[str]) -> list[bool]:
    seen: set[str] = set()
    out = []
    for iri in ids:
        out.append(iri not in seen)
        seen.add(iri)
    return out


@given(ids=IRIS, cuts=st.lists(st.integers(0, 60)))
def test_any_batches_give_the_masks_of_one_call_and_the_set_of_a_log_round_trip(ids, cuts):
    bounds = sorted({0, len(ids), *(c for c in cuts if c <= len(ids))})
    batches = [ids[a:b] for a, b in itertools.pairwise(bounds)]
    whole = MemberIds().admit(pa.array(ids, pa.string()))
    assert whole.first.to_pylist() == first_occurrences(ids)
    assert whole.first.type == ldesfrag._ldesfrag.SeenIds().admit(pa.array([], pa.string()))[0].type
    split = MemberIds()
    masks, segments = [], []
    for batch in batches:
        first, segment = split.admit(batch)
        masks += first.to_pylist()
        assert (segment == b"") == (not any(first.to_pylist()))
        segments.append(segment)
    assert masks == whole.first.to_pylist()
    assert len(split) == len(set(ids))
    assert all(iri in split for iri in ids)
    # Segments in any order, and the compacted log, restore the same set.
    for log in (b"".join(segments), b"".join(reversed(segments)), split.log()):
        restored = MemberIds.from_log(log)
        assert len(restored) == len(set(ids))
        assert restored.log() == split.log()
        assert restored.admit(ids).first.to_pylist() == [False] * len(ids)


def test_segments_grow_with_the_new_ids_not_the_set():
    ids = MemberIds()
    big = ids.admit([f"http://ex.org/m/{i}" for i in range(10_000)]).segment
    one = ids.admit(["http://ex.org/m/0", "http://ex.org/new"]).segment
    assert ids.admit(["http://ex.org/new"]).segment == b""
    assert len(one) < 100 < len(big)
    assert len(ids) == 10_001
    assert "http://ex.org/new" in ids
    assert "http://ex.org/other" not in ids
    assert 1 not in ids  # not an IRI
    assert MemberIds().log() == b""
    assert len(MemberIds.from_log(b"")) == 0


def test_inputs_of_any_arrow_kind():
    expected = [True, False, True]
    for ids in (
        pa.array(["a", "a", "b"]),
        pa.array(["a", "a", "b"], pa.large_string()),
        pa.chunked_array([["a"], ["a", "b"]]),
        pl.Series(["a", "a", "b"]),
        Array(["a", "a", "b"], ldesfrag._member_ids.DataType.string()),
        ["a", "a", "b"],
    ):
        first = MemberIds().admit(ids).first
        assert first.to_pylist() == expected, type(ids)
        assert first.null_count == 0


@given(data=st.data())
def test_a_corrupt_log_is_refused(data):
    ids = MemberIds()
    segments = [ids.admit([f"http://ex.org/{n}/{i}" for i in range(n)]).segment for n in (3, 9)]
    log = b"".join(segments)
    at = data.draw(st.integers(0, len(log) - 1))
    change = data.draw(st.sampled_from(["flip", "insert", "delete", "cut", "append"]))
    bad = bytearray(log)
    if change == "flip":
        bad[at] ^= 1 << data.draw(st.integers(0, 7))
    elif change == "insert":
        bad.insert(at, data.draw(st.integers(0, 255)))
    elif change == "delete":
        del bad[at]
    elif change == "cut":
        # Each segment is stored whole: a cut between two leaves the log of the first.
        bad = bad[: max(at, 1)] if at != len(segments[0]) else bad[:1]
    else:
        bad += data.draw(st.binary(min_size=1, max_size=40))
    with pytest.raises(StateError, match="corrupt member-id log"):
        MemberIds.from_log(bytes(bad))
    assert len(MemberIds.from_log(segments[0])) == 3


def test_bare_digests_are_not_a_log():
    """Without a segment header no checksum guards the bytes: refused, not read as digests."""
    with pytest.raises(StateError):
        MemberIds.from_log(bytes(32))
    with pytest.raises(LdesfragError, match="bytes, not str"):
        MemberIds.from_log("log")  # type: ignore[arg-type]
    segment = MemberIds().admit(["http://ex.org/a"]).segment
    assert "http://ex.org/a" in MemberIds.from_log(bytearray(segment))
    assert "http://ex.org/a" in MemberIds.from_log(memoryview(segment))


def test_a_null_id_admits_nothing():
    ids = MemberIds()
    ids.admit(["http://ex.org/a"])
    for given_ids in (
        pa.array(["http://ex.org/b", None, "http://ex.org/c"]),
        pa.chunked_array([["http://ex.org/b"], [None, "http://ex.org/c"]]),
        ["http://ex.org/b", None, "http://ex.org/c"],
    ):
        with pytest.raises(InvalidMemberError, match="null") as e:
            ids.admit(given_ids)
        assert e.value.row == 1
    assert len(ids) == 1
    assert "http://ex.org/b" not in ids


def test_ids_must_be_strings():
    ids = MemberIds()
    for bad in (pa.array([1, 2]), [b"http://ex.org/a"], 42, "http://ex.org/a"):
        with pytest.raises(ColumnError):
            ids.admit(bad)
    assert len(ids) == 0


def test_threads_admit_each_iri_once():
    ids = MemberIds()
    iris = [f"http://ex.org/m/{i}" for i in range(2_000)]
    masks: list[list[bool]] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        barrier.wait(timeout=60)
        got = []
        for k in range(0, len(iris), 100):
            got += ids.admit(iris[k : k + 100]).first.to_pylist()
        masks.append(got)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(masks) == 4
    # Every IRI was admitted by exactly one thread.
    assert [sum(m[i] for m in masks) for i in range(len(iris))] == [1] * len(iris)
    assert len(ids) == len(iris)
