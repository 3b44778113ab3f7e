"""The `ldesfrag assign` command and view files, on the bundled sample and generated members."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

import ldesfrag
from ldesfrag import Fragmenter, View
from ldesfrag.cli import main, read_batches

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample" / "members.parquet"
SAMPLE_VIEW = ROOT / "sample" / "view.toml"


def test_sample_view_loads_from_toml_and_round_trips_through_json(tmp_path):
    view = View.load(SAMPLE_VIEW)
    assert view == View(
        [ldesfrag.Geospatial(14), ldesfrag.HierarchicalTime("day", timezone="Europe/Brussels")],
        page_size=50,
    )
    path = tmp_path / "view.json"
    path.write_text(view.to_json())
    assert View.load(path) == view
    assert View.from_dict(json.loads(view.to_json())) == view


def test_reference_server_fragmentation_names_are_accepted():
    view = View.from_dict(
        {
            "fragmentations": [
                {"type": "GeospatialFragmentation", "max_zoom": 15},
                {"type": "HierarchicalTimeBasedFragmentation", "max_granularity": "hour"},
                {"type": "ReferenceFragmentation", "key": "version"},
            ]
        }
    )
    assert [type(f).__name__ for f in view.fragmentations] == [
        "Geospatial",
        "HierarchicalTime",
        "Reference",
    ]


def test_assign_sample_writes_assignments_invalid_rows_and_a_summary(tmp_path, capsys):
    out = tmp_path / "a.parquet"
    assert main(["assign", str(SAMPLE), "--view", str(SAMPLE_VIEW), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "20,000 members" in printed
    assert "leaf buckets" in printed
    got = pq.read_table(out)
    members = pq.read_table(SAMPLE)
    expected = pa.table(Fragmenter(View.load(SAMPLE_VIEW)).assign(members))
    assert got.equals(expected.cast(got.schema))
    invalid = pq.read_table(tmp_path / "a.invalid.parquet")
    assert invalid.num_rows > 0
    assert not any(invalid["rejected"].to_pylist())
    # Every member is assigned (unknown buckets included).
    assert set(got["row"].to_pylist()) == set(range(members.num_rows))
    assert {"tile=unknown", "year=unknown"} & {
        p for b in got["bucket"].to_pylist() for p in b.split("&")
    }


def test_batches_and_state_resume_equal_one_run(tmp_path):
    members = pq.read_table(SAMPLE)
    one = tmp_path / "one.parquet"
    main(["assign", str(SAMPLE), "--view", str(SAMPLE_VIEW), "--out", str(one)])
    first, second = tmp_path / "first.parquet", tmp_path / "second.parquet"
    pq.write_table(members.slice(0, 7_777), first)
    pq.write_table(members.slice(7_777), second)
    state = tmp_path / "state.bin"
    for i, part in enumerate([first, second]):
        args = [
            "assign",
            str(part),
            "--view",
            str(SAMPLE_VIEW),
            "--out",
            str(tmp_path / f"p{i}.parquet"),
        ]
        assert main([*args, "--state", str(state), "--batch-size", "1000"]) == 0
    p0, p1 = pq.read_table(tmp_path / "p0.parquet"), pq.read_table(tmp_path / "p1.parquet")
    shifted = pc.add(p1["row"], pa.scalar(7_777, pa.uint64()))
    p1 = p1.set_column(0, p1.schema.field("row"), shifted)
    assert pa.concat_tables([p0, p1]).equals(pq.read_table(one))


def test_a_resumed_run_keeps_the_policy_its_state_was_saved_with(tmp_path):
    members = pq.read_table(SAMPLE).slice(0, 500)
    bad = members.set_column(
        members.schema.get_field_index("timestamp"),
        "timestamp",
        pa.array(["not a time"] * 500),
    )
    pq.write_table(members, tmp_path / "good.parquet")
    pq.write_table(bad, tmp_path / "bad.parquet")
    state = tmp_path / "state.bin"
    base = ["--view", str(SAMPLE_VIEW), "--state", str(state)]
    out = tmp_path / "a.parquet"
    assert (
        main(
            [
                "assign",
                str(tmp_path / "good.parquet"),
                "--out",
                str(out),
                *base,
                "--on-invalid",
                "reject",
            ]
        )
        == 0
    )
    # No --on-invalid: the state's "reject" goes on (before: a StateError, or "unknown").
    assert main(["assign", str(tmp_path / "bad.parquet"), "--out", str(out), *base]) == 0
    assert pq.read_table(out).num_rows == 0
    assert Fragmenter.from_state(View.load(SAMPLE_VIEW), state.read_bytes()).on_invalid == (
        "reject"
    )


@pytest.mark.parametrize("fmt", ["csv", "arrow"])
def test_csv_and_arrow_ipc_inputs(tmp_path, fmt):
    members = pq.read_table(SAMPLE).slice(0, 2_000)
    path = tmp_path / f"m.{fmt}"
    if fmt == "csv":
        pcsv.write_csv(members, path)
    else:
        with pa.ipc.new_file(path, members.schema) as w:
            w.write_table(members)
    out = tmp_path / "a.parquet"
    assert main(["assign", str(path), "--view", str(SAMPLE_VIEW), "--out", str(out)]) == 0
    expected = pa.table(Fragmenter(View.load(SAMPLE_VIEW)).assign(members))
    assert pq.read_table(out)["bucket"].to_pylist() == expected["bucket"].to_pylist()


def test_errors_are_reported_not_raised(tmp_path, capsys):
    bad_view = tmp_path / "v.toml"
    bad_view.write_text('[[fragmentations]]\ntype = "Geospatial"\nmax_zoom = 99\n')
    out = str(tmp_path / "a.parquet")
    assert main(["assign", str(SAMPLE), "--view", str(bad_view), "--out", out]) == 2
    assert "max_zoom 99" in capsys.readouterr().err
    assert (
        main(["assign", str(tmp_path / "nope.parquet"), "--view", str(SAMPLE_VIEW), "--out", out])
        == 2
    )
    assert main(["assign", str(bad_view), "--view", str(SAMPLE_VIEW), "--out", out]) == 2
    assert not Path(out).exists()


def test_console_script_runs():
    done = subprocess.run(
        [sys.executable, "-m", "ldesfrag.cli", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == f"ldesfrag {ldesfrag.__version__}"


def test_a_failed_run_leaves_no_partial_output(tmp_path, capsys):
    members = pq.read_table(SAMPLE).drop_columns(["timestamp"])
    path = tmp_path / "m.parquet"
    pq.write_table(members, path)
    out = tmp_path / "a.parquet"
    assert main(["assign", str(path), "--view", str(SAMPLE_VIEW), "--out", str(out)]) == 2
    assert 'missing column "timestamp"' in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [path]


def _unreadable_inputs(tmp_path: Path) -> dict[str, Path]:
    """Members files that are not what their names say."""
    members = pq.read_table(SAMPLE).slice(0, 500)
    arrow = tmp_path / "whole.arrow"
    with pa.ipc.new_file(arrow, members.schema) as w:
        w.write_table(members)
    parquet = tmp_path / "whole.parquet"
    pq.write_table(members, parquet)
    header = b"id,geometry,timestamp\n"
    row = b"m,POINT (4 51),2023-05-01T00:00:00Z\n"
    files = {
        "empty.csv": b"",
        "ragged.csv": header + row + b"b,POINT (4 51)\n",
        "latin-1.csv": header + "é,POINT (4 51),2023-05-01\n".encode("latin-1"),
        # Found only after the first (1 MiB) block: the run is under way by then.
        "late-ragged.csv": header + row * 40_000 + b"x,y,z,w\n",
        "garbage.parquet": b"not parquet at all" * 10,
        "truncated.parquet": parquet.read_bytes()[: parquet.stat().st_size // 2],
        "truncated.arrow": arrow.read_bytes()[: arrow.stat().st_size // 2],
        "garbage.arrow": b"\xff" * 100,
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    return paths


def test_unreadable_members_files_are_one_line_errors(tmp_path, capsys):
    out = tmp_path / "out" / "a.parquet"
    for name, path in _unreadable_inputs(tmp_path).items():
        args = ["assign", str(path), "--view", str(SAMPLE_VIEW), "--out", str(out)]
        assert main(args) == 2, name
        *progress, last = capsys.readouterr().err.splitlines()
        assert last.startswith("ldesfrag: error: "), (name, last)
        assert name in last, (name, last)
        assert all(line.startswith("\r") for line in progress), (name, progress)
        assert not any(out.parent.iterdir()), name  # nothing half written
    for name in ("ragged.csv", "late-ragged.csv"):  # found when opening, or at a later batch
        with pytest.raises(ldesfrag.InputError, match=r"ragged\.csv: not a readable CSV file"):
            list(read_batches(tmp_path / name, 100)[0])


@pytest.mark.parametrize("size", ["0", "-5"])
def test_a_batch_size_below_one_is_a_one_line_error(tmp_path, capsys, size):
    out = tmp_path / "a.parquet"
    args = ["assign", str(SAMPLE), "--view", str(SAMPLE_VIEW), "--out", str(out)]
    assert main([*args, "--batch-size", size]) == 2
    assert (
        capsys.readouterr().err == f"ldesfrag: error: --batch-size must be at least 1, not {size}\n"
    )
    assert not out.exists()


def test_an_unreadable_file_from_the_command_line_is_exit_2_without_a_traceback(tmp_path):
    path = _unreadable_inputs(tmp_path)["latin-1.csv"]
    args = ["assign", str(path), "--view", str(SAMPLE_VIEW), "--out", str(tmp_path / "a.parquet")]
    done = subprocess.run(
        [sys.executable, "-m", "ldesfrag.cli", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("ldesfrag: error: ")
    assert "UTF8" in done.stderr or "UTF-8" in done.stderr
