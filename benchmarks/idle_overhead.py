"""Idle cost of the plugin: a plain pytest run with pytest-opsgate vs the same run without it.

Both runs load every other installed plugin; the only difference is ``-p no:opsgate``. The
two are interleaved, each timed as a whole process (start-up included), and the median of
each is compared. Goal: <= 1.05x (issue: the plugin costs nothing when idle).

    python benchmarks/idle_overhead.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = 1.05


def _timed(project: Path, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "test_plain.py").write_text(
            "".join(f"def test_{n}():\n    assert {n} + 1 > {n}\n\n" for n in range(20))
        )
        _timed(project)  # warm the bytecode caches of both runs
        _timed(project, "-p", "no:opsgate")
        with_plugin: list[float] = []
        without: list[float] = []
        for _ in range(args.rounds):
            with_plugin.append(_timed(project))
            without.append(_timed(project, "-p", "no:opsgate"))
    ratio = statistics.median(with_plugin) / statistics.median(without)
    print(f"plain pytest, 20 tests, median of {args.rounds} interleaved runs")
    print(f"  with pytest-opsgate (no --gate): {statistics.median(with_plugin) * 1000:7.1f} ms")
    print(f"  with -p no:opsgate:              {statistics.median(without) * 1000:7.1f} ms")
    print(f"  ratio {ratio:.3f}x (goal <= {GOAL:.2f}x: {'met' if ratio <= GOAL else 'MISSED'})")


if __name__ == "__main__":
    main()
