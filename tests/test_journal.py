"""The incremental state: a base plus journal entries (`commit`) is the fragmenter that made
them; entries cost the change; `changes(relations="new")` gives exactly the new relations;
retention (`drop_pages`) drops only immutable pages and survives both."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ldesfrag import (
    Fragmenter,
    Geospatial,
    HierarchicalTime,
    LdesfragError,
    Reference,
    StateError,
    View,
)

VIEW = View(
    [Reference(), Geospatial(10), HierarchicalTime("day", timezone="Europe/Brussels")],
    page_size=3,
)


def members(n: int, start: int = 0) -> pa.Table:
    ids = range(start, start + n)
    return pa.table(
        {
            "id": pa.array([f"http://ex.org/m/{i}" for i in ids], pa.string()),
            "geometry": pa.array(
                [
                    None if i % 17 == 0 else f"POINT ({3 + (i % 7) * 0.05} {51 + (i % 5) * 0.05})"
                    for i in ids
                ],
                pa.string(),
            ),
            "timestamp": pa.array(
                [1_680_000_000_000_000 + i * 7_000_000_000 for i in ids],
                pa.timestamp("us", "UTC"),
            ),
            "reference": pa.array(
                [f"http://ex.org/r/{i % 4}" if i % 13 else "relative" for i in ids], pa.string()
            ),
        }
    )


def structure(f: Fragmenter) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    return pa.table(f.pages()).to_pylist(), pa.table(f.relations()).to_pylist()


def drop_every_other(f: Fragmenter) -> list[tuple[str, int]]:
    """Retention as a server might run it: through an immutable page of every other bucket."""
    immutable = [p for p in pa.table(f.pages()).to_pylist() if p["immutable"]]
    buckets = sorted({p["bucket"] for p in immutable})[::2]
    return [(p["bucket"], p["page"]) for p in immutable if p["bucket"] in buckets]


# A run: batch sizes, whether to drop pages, and after each batch whether to commit / to
# restart from base+journal / to compact (restart from a new base).
steps = st.lists(
    st.tuples(
        st.integers(0, 40),
        st.booleans(),
        st.booleans(),
        st.sampled_from(["go on", "restart", "compact"]),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(steps, st.sampled_from(["unknown", "reject"]), st.booleans())
def test_resume_from_base_and_journal_equals_one_uninterrupted_run(run, on_invalid, close):
    one = Fragmenter(VIEW, on_invalid=on_invalid, max_tiles=3)
    f = Fragmenter(VIEW, on_invalid=on_invalid, max_tiles=3)
    base, journal = f.state(), []
    start = 0
    for n, drop, commit, then in run:
        batch = members(n, start)
        start += n
        assert pa.table(f.assign(batch)).equals(pa.table(one.assign(batch)))
        if drop:
            through = drop_every_other(one)
            assert pa.table(f.drop_pages(through)).equals(pa.table(one.drop_pages(through)))
        if not commit:
            continue
        journal.append(f.commit())
        if then == "restart":
            f = Fragmenter.from_state(VIEW, base, journal=journal)
        elif then == "compact":
            base, journal = Fragmenter.from_state(VIEW, base, journal=journal).state(), []
            f = Fragmenter.from_state(VIEW, base)
    if close:
        one.close()
        f.close()
    journal.append(f.commit())
    resumed = Fragmenter.from_state(VIEW, base, journal=journal)
    assert resumed.state() == one.state()
    assert structure(resumed) == structure(one)
    # Every option survives, and the resumed fragmenter goes on as the other does.
    assert (resumed.on_invalid, resumed.max_tiles, resumed.closed) == (on_invalid, 3, close)
    if not close:
        more = members(25, start)
        assert pa.table(resumed.assign(more)).equals(pa.table(one.assign(more)))


def test_an_entry_applied_twice_lost_or_onto_uncommitted_changes_is_refused():
    f = Fragmenter(VIEW)
    base = f.state()
    entries = []
    for start in (0, 30, 60):
        f.assign(members(30, start))
        entries.append(f.commit())
    a, b, c = entries
    for journal in ([a, a], [a, c], [b], [a, b, c, c]):
        with pytest.raises(StateError, match="does not continue"):
            Fragmenter.from_state(VIEW, base, journal=journal)
    # A base saved with changes not yet committed does not take the next entry.
    g = Fragmenter.from_state(VIEW, base, journal=[a])
    g.assign(members(5, 200))
    with pytest.raises(StateError, match="uncommitted"):
        Fragmenter.from_state(VIEW, g.state(), journal=[b])
    with pytest.raises(StateError, match="another view"):
        Fragmenter.from_state(
            View([Geospatial(10)]), Fragmenter(View([Geospatial(10)])).state(), journal=[a]
        )
    damaged = bytearray(b)
    damaged[len(b) // 2] ^= 1
    with pytest.raises(StateError, match="checksum"):
        Fragmenter.from_state(VIEW, base, journal=[a, bytes(damaged)])
    assert Fragmenter.from_state(VIEW, base, journal=[a, b"", b, c]).state() == f.state()


def test_an_entry_costs_the_change_not_the_structure():
    f = Fragmenter(View([Geospatial(14), HierarchicalTime("hour")], page_size=2))
    n = 20_000
    batch = pa.table(
        {
            "id": [f"http://ex.org/m/{i}" for i in range(n)],
            "geometry": [f"POINT ({3 + (i % 97) * 0.01} {51 + (i % 89) * 0.01})" for i in range(n)],
            "timestamp": pa.array(
                [1_680_000_000_000_000 + i * 600_000_000 for i in range(n)],
                pa.timestamp("us", "UTC"),
            ),
        }
    )
    f.assign(batch)
    first = f.commit()
    pages = len(pa.table(f.pages()))
    assert pages > 10_000
    assert len(first) > 10 * pages // 2, "the first entry holds every new bucket"
    f.assign(batch.slice(n - 1, 1))
    one = f.commit()
    assert 0 < len(one) < 128, len(one)
    assert len(f.state()) > 1000 * len(one)
    assert f.commit() == b""


def test_new_relations_are_the_ones_not_there_before():
    f = Fragmenter(VIEW)
    g = Fragmenter(VIEW)
    seen: list[dict[str, object]] = []
    for start in (0, 10, 50, 51):
        batch = members(40 if start != 51 else 1, start)
        f.assign(batch)
        g.assign(batch)
        nodes, new = f.changes(relations="new")
        nodes_all, from_changed = g.changes()
        assert pa.table(nodes).equals(pa.table(nodes_all))
        everything = pa.table(f.relations()).to_pylist()
        assert pa.table(new).to_pylist() == [r for r in everything if r not in seen]
        changed = {(n["bucket"], n["page"]) for n in pa.table(nodes).to_pylist()}
        assert pa.table(from_changed).to_pylist() == [
            r for r in everything if (r["parent"], r["parent_page"]) in changed
        ]
        seen = everything
    with pytest.raises(ValueError, match="from_changed"):
        f.changes(relations="all")  # type: ignore[arg-type]


def test_retention_drops_immutable_pages_from_the_front_only():
    f = Fragmenter(View([Geospatial(10)], page_size=3))
    f.assign(members(60))
    f.changes()
    pages = pa.table(f.pages()).to_pylist()
    bucket = max({p["bucket"] for p in pages}, key=lambda b: sum(p["bucket"] == b for p in pages))
    chain = [p["page"] for p in pages if p["bucket"] == bucket]
    last = chain[-1]
    assert last >= 3
    before = f.state()
    # The last page is mutable; an unknown bucket; page 0: refused, nothing dropped.
    for through in ([(bucket, 1), (bucket, last)], [("tile=1/0/0", 1)], [(bucket, 0)]):
        with pytest.raises(LdesfragError):
            f.drop_pages(through)
        assert f.state() == before
    dropped = f.drop_pages(pa.table({"bucket": [bucket], "page": [2]}))
    assert pa.table(dropped).to_pylist() == [
        {"bucket": bucket, "page": p, "members": 3, "immutable": True} for p in (1, 2)
    ]
    left = [p["page"] for p in pa.table(f.pages()).to_pylist() if p["bucket"] == bucket]
    assert left == list(range(3, last + 1))
    nodes, new = f.changes(relations="new")
    assert pa.table(nodes).to_pylist() == [
        {"bucket": bucket, "page": None, "members": 0, "immutable": False}
    ]
    assert [
        (r["parent"], r["parent_page"], r["child_page"]) for r in pa.table(new).to_pylist()
    ] == [(bucket, None, 3)]
    # New members go on filling the last page; the numbers go on.
    f.assign(members(40, 1000))
    assert f.pages().num_rows > 0
    assert Fragmenter.from_state(f.view, f.state()).state() == f.state()
    assert f.drop_pages([(bucket, 1)]).num_rows == 0
