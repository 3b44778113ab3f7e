"""Benchmarks run side by side with a reference; the summary prints throughput and ratios.

Each benchmark calls ``measure(benchmark, group, name, items, fn, *args)``; entries named
``ref:…`` are the references of their group, and every other entry is reported as a ratio to
each. With ``--benchmark-disable`` (the CI smoke run) every function runs once, unreported.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

_results: dict[str, dict[str, float]] = defaultdict(dict)


@pytest.fixture
def measure():
    def run(benchmark, group, name, items, fn, *args):
        benchmark.group = group
        benchmark.name = name
        benchmark.extra_info["items"] = items
        result = benchmark(fn, *args)
        stats = getattr(benchmark, "stats", None)
        if stats is not None and stats.stats.rounds:
            _results[group][name] = items / stats.stats.median
        return result

    return run


def pytest_terminal_summary(terminalreporter):
    if not _results:
        return
    tr = terminalreporter
    tr.section("ldesfrag throughput (median) and ratio to the reference")
    for group, entries in sorted(_results.items()):
        refs = {n: r for n, r in entries.items() if n.startswith("ref:")}
        for name, rate in sorted(entries.items(), key=lambda kv: -kv[1]):
            ratios = (
                ""
                if name in refs
                else ", ".join(f"{rate / r:,.1f}x {n[4:]}" for n, r in refs.items())
            )
            # Items a second in full: the server's figures are thousands, not millions.
            tr.write_line(f"{group:<24} {name:<28} {rate:14,.0f} /s  {ratios}")
