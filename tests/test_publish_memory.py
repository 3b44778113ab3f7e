"""publish's memory budget for open pages (``open_pages_budget``): pages dropped from memory
and read back from the state's log give the same tree, byte for byte, as pages held."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from ldes_data import write_members
from test_publish import BASE, tree

from ldesfrag import Geospatial, HierarchicalTime, LdesfragError, View, publish
from ldesfrag.cli import main

TINY = 1  # byte: every page whose rows are on disk is dropped after every batch


def run(inputs, out, view, **kw):
    return publish([str(i) for i in inputs], view, out, base_url=BASE, **kw)


@settings(max_examples=8, deadline=None, phases=[Phase.generate])  # each example publishes
@given(data=st.data())
def test_a_tiny_budget_gives_the_tree_of_an_unlimited_one(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("budget")
    n = 160
    cuts = sorted(data.draw(st.sets(st.integers(1, n - 1), max_size=3)))
    bounds = [0, *cuts, n]
    files = [
        write_members(d / f"{i}.nt", a, b - a)
        for i, (a, b) in enumerate(itertools.pairwise(bounds))
    ]
    page_size = data.draw(st.integers(1, 12))
    view = View([Geospatial(max_zoom=13), HierarchicalTime("month")], page_size=page_size)
    close = data.draw(st.booleans())
    whole = write_members(d / "whole.nt", 0, n)
    expected = run([whole], d / "one", view, open_pages_budget=None, close=close)
    budget = data.draw(st.sampled_from([TINY, 3_000, 40_000]))
    out = d / "many"
    dropped = read_back = 0
    for i in range(len(files)):
        last = i == len(files) - 1
        summary = run(
            files[: i + 1],
            out,
            view,
            batch_size=data.draw(st.integers(3, 60)),
            open_pages_budget=budget,
            close=close and last,
        )
        dropped += summary.open_pages_dropped
        read_back += summary.open_pages_read_back
    assert tree(out) == tree(d / "one")
    assert (summary.pages, summary.immutable_pages) == (expected.pages, expected.immutable_pages)
    if budget == TINY:
        assert dropped > 0
        assert read_back > 0


def test_a_tiny_budget_drops_pages_and_reads_them_back(tmp_path):
    """Small pages over many buckets, small batches: with a tiny budget, pages are dropped
    from memory as soon as their rows are logged and read back when they grow."""
    src = write_members(tmp_path / "m.nt", 0, 300)
    view = View([Geospatial(max_zoom=14), HierarchicalTime("day")], page_size=5)
    held = run([src], tmp_path / "held", view, batch_size=7, open_pages_budget=None)
    assert held.open_pages_dropped == held.open_pages_read_back == 0
    tiny = run([src], tmp_path / "tiny", view, batch_size=7, open_pages_budget=TINY)
    assert tree(tmp_path / "tiny") == tree(tmp_path / "held")
    assert tiny.open_pages_dropped > tiny.pages - tiny.immutable_pages
    assert tiny.open_pages_read_back > 0
    # A rerun reads the log back with the same budget: appending is the same too.
    more = write_members(tmp_path / "n.nt", 300, 150)
    run([src, more], tmp_path / "held", view, batch_size=11, open_pages_budget=None)
    again = run([src, more], tmp_path / "tiny", view, batch_size=11, open_pages_budget=TINY)
    assert tree(tmp_path / "tiny") == tree(tmp_path / "held")
    assert again.open_pages_read_back > 0


def _publish(dumps, out: Path, budget: str, kill_at: int | None, batch_size: int):
    import os

    env = dict(os.environ)
    env.pop("_LDESFRAG_PUBLISH_KILL_AT_WRITE", None)
    if kill_at is not None:
        env["_LDESFRAG_PUBLISH_KILL_AT_WRITE"] = str(kill_at)
    view = out.parent / "view.json"
    view.write_text(VIEW.to_json())
    cmd = [sys.executable, "-m", "ldesfrag.cli", "publish", *map(str, dumps), "--view", str(view)]
    cmd += ["--out", str(out), "--base-url", BASE, "--batch-size", str(batch_size), "--quiet"]
    cmd += ["--open-pages-budget", budget]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)


VIEW = View([Geospatial(max_zoom=12), HierarchicalTime("month")], page_size=9)


def test_a_run_killed_with_a_tiny_budget_resumes_to_the_one_shot_tree(tmp_path):
    dumps = [write_members(tmp_path / "a.nt", 0, 300), write_members(tmp_path / "b.nt", 300, 200)]
    one = tmp_path / "one" / "site"
    one.parent.mkdir()
    assert _publish(dumps, one, "none", None, 1000).returncode == 0
    expected = tree(one)
    killed = 0
    for kill_at in (5, 30, 70, 140):
        out = tmp_path / f"k{kill_at}" / "site"
        out.parent.mkdir()
        first = _publish(dumps, out, "0.000001", kill_at, 40)  # MiB: a byte
        if first.returncode == -signal.SIGKILL:
            killed += 1
            again = _publish(dumps, out, "0.000001", kill_at + 7, 23)
            assert again.returncode in (0, -signal.SIGKILL), again.stderr
            done = _publish(dumps, out, "0.000001", None, 31)
            assert done.returncode == 0, done.stderr
        else:
            assert first.returncode == 0, first.stderr
        assert tree(out) == expected, kill_at
    assert killed >= 3


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "256"])
def test_a_budget_is_a_positive_byte_count_or_none(tmp_path, bad):
    src = write_members(tmp_path / "m.nt", 0, 5)
    with pytest.raises(LdesfragError, match="open_pages_budget"):
        run([src], tmp_path / "out", VIEW, open_pages_budget=bad)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", ["0", "-1", "lots", "inf"])
def test_cli_budget_is_mib_or_none(tmp_path, capsys, bad):
    src = write_members(tmp_path / "m.nt", 0, 5)
    view = tmp_path / "view.json"
    view.write_text(VIEW.to_json())
    args = ["publish", str(src), "--view", str(view), "--base-url", BASE, "--quiet"]
    with pytest.raises(SystemExit) as e:
        main([*args, "--out", str(tmp_path / "bad"), "--open-pages-budget", bad])
    assert e.value.code == 2
    assert "--open-pages-budget" in capsys.readouterr().err
    for ok in ("none", "0.5", "64"):
        assert main([*args, "--out", str(tmp_path / ok), "--open-pages-budget", ok]) == 0
    assert tree(tmp_path / "none") == tree(tmp_path / "64") == tree(tmp_path / "0.5")


@pytest.mark.parametrize("name", ["open-7-0.arrow", "open-7-12.arrow", "ids-7-1.bin"])
def test_a_state_naming_a_compacted_logs_segments_loads(tmp_path, name):
    """A compaction names its segments within its generation (``open-7-2.arrow``, and the id
    log's ``ids-7-1.bin``): a state listing them is read back (it was refused as a bad name)."""
    from ldesfrag._publish.state import FileSum, PublishState

    state = PublishState(view={}, settings={}, generation=7)
    log = "open" if name.startswith("open") else "ids"
    setattr(state.logs, log, [name])
    state.files = {name: FileSum.of(b"x"), state.fragmenter_file: FileSum.of(b"y")}
    again = PublishState.from_bytes(state.to_bytes(), tmp_path / "state.json")
    assert getattr(again.logs, log) == [name]
    assert again.listed() == {name, "fragmenter-7.bin"}


def test_a_compacted_id_log_still_refuses_every_published_iri(tmp_path):
    """Forty inputs commit forty id segments: the id log is compacted (its segments joined)
    and, read back by the next run, still knows every member published."""
    import json

    from ldesfrag._publish import DUPLICATE, STATE_DIR

    files = [write_members(tmp_path / f"{i:02}.nt", 5 * i, 5) for i in range(40)]
    out = tmp_path / "site"
    first = run(files, out, VIEW, batch_size=5)
    assert first.members == 200
    state = json.loads((out / STATE_DIR / "state.json").read_bytes())
    assert any("-" in n[len("ids-") :] for n in state["logs"]["ids"]), state["logs"]["ids"]
    repeats = write_members(tmp_path / "again.nt", 150, 80)  # 50 published, 30 new
    again = run([*files, repeats], out, VIEW, batch_size=7)
    assert again.members_this_run == 30
    assert again.rejected[DUPLICATE] == 50
    whole = write_members(tmp_path / "whole.nt", 0, 230)
    run([whole], tmp_path / "one", VIEW)
    assert tree(out) == tree(tmp_path / "one")
