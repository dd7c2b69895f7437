"""Refresh the fault table of docs/reliability.md from one run of the hostile-target corpus.

Runs every test named ``test_F<nn>_...`` (the corpus of tests/faults/ and the rows F31 on that
live beside the code they guard) with ``-p no:playwright --durations=0 -q``, adds up setup,
call and teardown of each test, and rewrites the table between the markers in
docs/reliability.md: one row per fault with the behaviour, the verdict and exit code the test
asserts, the test's name, its outcome and the wall time it took. A test named for several
rows (``test_F12_F32_...``) counts for each. Extra arguments go to pytest (e.g. ``-- -n 2``).
Run: `.venv/bin/python benchmarks/reliability_table.py` (about a minute).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "reliability.md"
TESTS = REPO / "tests"
START = "<!-- reliability-table:start -->"
END = "<!-- reliability-table:end -->"


@dataclass(frozen=True)
class Row:
    """What a fault is and what the gate must answer (FAULTS.md), as the test asserts it."""

    behaviour: str
    verdict: str
    exit_code: str


ROWS: dict[int, Row] = {
    1: Row("refuses connections for a while, then is healthy", "PASS", "0"),
    2: Row("never listens", "ERROR (not ready: connection refused)", "10"),
    3: Row("host name does not resolve", "ERROR (not ready: DNS)", "10"),
    4: Row(
        "accepts TCP, never answers (health path; a smoke check)",
        "ERROR (not ready: timed out); check FAIL",
        "10; 1",
    ),
    5: Row(
        "502 HTML from a proxy while booting (for good; then healing)",
        "ERROR (not ready, status and excerpt); PASS once healed",
        "10; 0",
    ),
    6: Row(
        '200 with `{"status": "degraded"}`, nested checks "ok"',
        "ERROR (not ready: degraded); PASS when accepted",
        "10; 0",
    ),
    7: Row("200 text/html on the health path", "ERROR (not ready: text/html)", "10"),
    8: Row("302 to `/login` or to another host", "ERROR (not ready: not followed)", "10"),
    9: Row("redirect loop, or a long redirect chain", "ERROR (redirect loop), at once", "10"),
    10: Row("flaps between 200 and 503", "ERROR (not ready: unstable)", "10"),
    11: Row(
        "self-signed TLS certificate (then its CA bundle given)",
        "ERROR (TLS verification failed); PASS with --gate-ca-bundle",
        "10; 0",
    ),
    12: Row("ready, but reports another version", "FAIL (version mismatch)", "1"),
    13: Row("sends the body one byte at a time", "FAIL (total deadline exceeded)", "1"),
    14: Row("resets mid-body / short Content-Length", "FAIL (protocol error)", "1"),
    15: Row("10 MB or endless body", "FAIL (byte cap), artifact truncated", "1"),
    16: Row("gzip bomb (1 GB decoded)", "FAIL (decoded size capped)", "1"),
    17: Row("broken JSON, NaN, deep nesting", "FAIL (readable parse error)", "1"),
    18: Row("200 for every path", "FAIL (negative control)", "1"),
    19: Row(
        "429 with `Retry-After: 86400` (a check; the health path)",
        "FAIL (wait capped by the budget); ERROR (not ready)",
        "1; 10",
    ),
    20: Row("wall clock jumps a day on every read", "PASS, durations monotonic", "0"),
    21: Row("E2E page answers 500 or redirects to login", "FAIL (status, final URL)", "1"),
    # Load gate rows: expected per FAULTS.md and the exit-code contract; their tests live
    # in tests/faults/test_faults_load.py.
    22: Row("5 % of requests fail under load", "FAIL (error-rate SLO)", "1"),
    23: Row("zero successful samples or metric never recorded", "ERROR (no samples)", "11"),
    24: Row("p95 sits exactly on the budget", "PASS for `<=`, FAIL for `<`", "0 / 1"),
    25: Row("dies in the middle of the load test", "FAIL, time of death recorded", "1"),
    26: Row("load generator CPU-bound", "ERROR (generator saturated)", "11"),
    27: Row("an expected load worker never connects or dies", "ERROR after a bounded wait", "11"),
    28: Row("SIGINT/SIGTERM during load", "ABORTED, no orphans", "2"),
    29: Row("base URL not loopback and not allowed for load", "usage error before any load", "4"),
    30: Row("a gate worker process crashes or hangs", "ERROR naming the test", "11"),
    31: Row(
        "health in another framework's words (ASP.NET `Degraded`, Spring `DOWN`, IETF `fail`)",
        "ERROR (not ready, quoting the word)",
        "10",
    ),
    32: Row(
        "the old version answers healthy first in a rolling deploy",
        "waits; at the deadline ERROR (still serving X, want V)",
        "10",
    ),
    33: Row("most requests fail, the few successes are fast", "FAIL (error-rate guard)", "1"),
    34: Row(
        "a selected gate has no test; a module fails to import", "ERROR, on-fail hook runs", "11"
    ),
    35: Row(
        "the load run is cut short (signal, lost worker, late report)",
        "ABORTED or ERROR, also in plain Locust",
        "2 / 11",
    ),
    36: Row(
        "the service stalls every response for a second every few seconds",
        "FAIL in the open model (latency from the intended start)",
        "1",
    ),
    37: Row(
        "the backup is truncated, empty, stale, missing a table or short of rows",
        "FAIL naming the cause, nothing left behind",
        "1",
    ),
    38: Row(
        "the restore hangs, or SIGTERM arrives mid-restore",
        "FAIL at the restore timeout (issue 12); ABORTED on signal; nothing survives",
        "1 / 2",
    ),
    39: Row("Prometheus answers an empty vector, NaN, or is unreachable", "ERROR", "11"),
    40: Row("the API drifts from its OpenAPI document", "FAIL naming the operation", "1"),
    41: Row(
        "every path answers 503 (a proxy), later only one health path answers",
        "discovery keeps probing and settles on the health answer",
        "0 / 10",
    ),
    42: Row(
        "the artifacts folder holds files of an earlier, failed run",
        "this run's evidence holds none of them",
        "0",
    ),
}

_DURATION = re.compile(r"^\s*([\d.]+)s (setup|call|teardown)\s+(\S+)\s*$")
_OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS|SKIPPED) (\S+)")
_ROW = re.compile(r"::test_((?:F\d\d_)+)")
_DEF = re.compile(r"^def (test_F\d\d_\w+)\(", re.MULTILINE)


def corpus() -> list[str]:
    """Node ids (file::function) of every test named for a row of the fault table."""
    found = []
    for path in sorted(TESTS.rglob("test_*.py")):
        for name in _DEF.findall(path.read_text(encoding="utf-8")):
            found.append(f"{path.relative_to(REPO).as_posix()}::{name}")
    return found


def run_corpus(extra: list[str]) -> tuple[str, float]:
    """Run the corpus once; returns pytest's output and the run's wall time."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *corpus(),
        "-p",
        "no:playwright",
        "-p",
        "no:schemathesis",
        "-p",
        "no:cacheprovider",
        "--durations=0",
        "-q",
        "-rpfEsxX",
        *extra,
    ]
    print("$", " ".join(cmd[2:]), flush=True)
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if done.returncode not in (0, 1):
        sys.exit(f"pytest exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout, elapsed


def parse(output: str) -> tuple[dict[str, float], dict[str, str]]:
    """Seconds per test node id (setup + call + teardown) and each test's outcome."""
    seconds: dict[str, float] = defaultdict(float)
    outcomes: dict[str, str] = {}
    for line in output.splitlines():
        timed = _DURATION.match(line)
        if timed:
            seconds[timed.group(3)] += float(timed.group(1))
            continue
        ended = _OUTCOME.match(line)
        if ended:
            outcomes[ended.group(2)] = ended.group(1)
    return dict(seconds), outcomes


def _cells(nodeids: list[str], seconds: dict[str, float], outcomes: dict[str, str]) -> list[str]:
    """The test, outcome and wall-time cells of one row (parametrized tests listed by id)."""
    names = sorted({nodeid.split("::")[-1].split("[")[0] for nodeid in nodeids})
    params = [nodeid.split("[", 1)[1].rstrip("]") for nodeid in nodeids if "[" in nodeid]
    test = " ".join(f"`{name}`" for name in names)
    if params:
        test += " [" + ", ".join(params) + "]"
    found = sorted({outcomes.get(nodeid, "?") for nodeid in nodeids})
    times = " / ".join(f"{seconds.get(nodeid, 0.0):.1f}" for nodeid in nodeids)
    return [test, ", ".join(found), times]


def render(seconds: dict[str, float], outcomes: dict[str, str]) -> str:
    """The markdown table, one row per fault."""
    by_row: dict[int, list[str]] = defaultdict(list)
    for nodeid in sorted(set(seconds) | set(outcomes)):
        found = _ROW.search(nodeid)
        if found:
            for number in re.findall(r"F(\d\d)_", found.group(1)):
                by_row[int(number)].append(nodeid)
    lines = [
        "| # | target behaviour | verdict | exit code | test | outcome | wall time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, row in ROWS.items():
        nodeids = by_row.get(number, [])
        cells = _cells(nodeids, seconds, outcomes) if nodeids else ["(no test)", "—", "—"]
        lines.append(
            f"| F{number} | {row.behaviour} | {row.verdict} | {row.exit_code} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def write_doc(table: str, elapsed: float, extra: list[str]) -> None:
    """Replace the table between the markers, with a line saying when and how it was run."""
    text = DOC.read_text()
    if START not in text or END not in text:
        sys.exit(f"{DOC}: the markers {START} / {END} are missing; restore them")
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    args = " ".join(["-p no:playwright --durations=0 -q", *extra])
    block = (
        f"{START}\n"
        f"Last run: {stamp}, `pytest {args}`, whole corpus {elapsed:.0f} s.\n\n"
        f"{table}\n"
        f"{END}"
    )
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(head + block + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments, after --")
    args = parser.parse_args()
    output, elapsed = run_corpus(args.pytest_args)
    seconds, outcomes = parse(output)
    if not seconds:
        sys.exit(f"no durations in pytest's output:\n{output}")
    table = render(seconds, outcomes)
    write_doc(table, elapsed, args.pytest_args)
    print(table)
    failed = [nodeid for nodeid, outcome in outcomes.items() if outcome in ("FAILED", "ERROR")]
    if failed:
        sys.exit(f"{len(failed)} test(s) failed: {', '.join(failed)}")
    print(f"\nwrote {DOC.relative_to(REPO)} ({elapsed:.0f} s run)")


if __name__ == "__main__":
    main()
