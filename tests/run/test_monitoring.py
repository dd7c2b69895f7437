"""Monitoring in a gate run, end to end with Debian's real prometheus and prometheus-pushgateway:
Prometheus SLOs in the verdict, gate.prom in every run's artifacts, the push after the verdict."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest

import faultserver as fs
import promstack
from pytest_opsgate.demo import DemoServer, start_demo
from pytest_opsgate.report.gate_json import load_schema

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.skipif(
    promstack.skip_without_binaries(),
    reason="needs Debian's prometheus and prometheus-pushgateway (make test installs them)",
)

P99 = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))"
# The error-rate query; "or vector(0)": no 5xx series at all means no errors, not no data.
ERROR_RATE = (
    '(sum(rate(http_requests_total{status=~"5.."}[1m])) or vector(0)) '
    "/ sum(rate(http_requests_total[1m]))"
)
# The highest finite bucket of the demo's histogram: a p99 never exceeds it, so the passing
# runs below do not depend on how fast this machine is; the wiring is what they test.
LARGEST_BUCKET_S = 10.0
SUBPROCESS_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def scraped_demo() -> Iterator[DemoServer]:
    """A demo server of this module's own, for Prometheus to scrape."""
    server = start_demo(port=0)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def stack(
    scraped_demo: DemoServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[promstack.Traffic]:
    """A real Prometheus scraping the demo every second, its counters already seen once."""
    server = promstack.start_prometheus(
        [f"127.0.0.1:{scraped_demo.port}"], tmp_path_factory.getbasetemp()
    )
    try:
        traffic = promstack.Traffic(scraped_demo.url, server.url)
        traffic.send(1)  # a counter's first scrape is its baseline: rate() sees later increases
        yield traffic
    finally:
        server.stop()


@pytest.fixture
def prometheus(stack: promstack.Traffic) -> str:
    """The Prometheus URL, with demo traffic already scraped in its last minute."""
    stack.send(5)
    return stack.prometheus_url


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Pushgateway; each test pushes under an instance label of its own."""
    server = promstack.start_pushgateway(tmp_path_factory.getbasetemp())
    try:
        yield server.url
    finally:
        server.stop()


def prom_toml(url: str | None, *slos: tuple[str, str, str], extra: str = "") -> str:
    """An opsgate.toml: one smoke check that sends 20 requests, and the Prometheus SLOs."""
    lines = ["[[checks]]", 'path = "/api/public/items"', "repeat = 20", "", "[prometheus]"]
    if url is not None:
        lines.append(f'url = "{url}"')
    lines.append('initial_delay = "2s"')  # two scrapes of the gate's own traffic
    lines.append(extra)
    for name, query, bound in slos:
        lines += ["", "[[prometheus.slo]]", f'name = "{name}"', f"query = '{query}'", bound]
    return "\n".join(lines) + "\n"


class Evidence:
    """What a gate run left in its artifacts folder: gate.json (schema-checked) and gate.prom."""

    def __init__(self, artifacts: Path) -> None:
        self.artifacts = artifacts
        self.report: dict[str, Any] = json.loads((artifacts / "gate.json").read_text())
        jsonschema.Draft202012Validator(load_schema()).validate(self.report)
        self.prom = promstack.parse_samples((artifacts / "gate.prom").read_text())

    def rows(self, source: str = "prometheus") -> list[dict[str, Any]]:
        return [row for row in self.report["slos"] if row["gate"] == source]


class Run(Evidence):
    """One gate run in the pytester project: pytest's result and its evidence."""

    def __init__(self, result: pytest.RunResult, artifacts: Path) -> None:
        super().__init__(artifacts)
        self.result = result

    @property
    def output(self) -> str:
        return self.result.stdout.str() + self.result.stderr.str()


def gate(pytester: pytest.Pytester, url: str, *args: str, name: str = "artifacts") -> Run:
    artifacts = pytester.path / name
    result = pytester.runpytest(
        "--gate=smoke", f"--base-url={url}", f"--gate-artifacts={artifacts}",
        "-p", "no:cacheprovider", *args,
    )  # fmt: skip
    return Run(result, artifacts)


def assert_exit(run: Run, verdict: str, code: int) -> None:
    __tracebackhide__ = True
    assert run.result.ret == code, run.output
    assert (run.report["verdict"], run.report["exit_code"]) == (verdict, code)
    assert f"VERDICT: {verdict} (exit code {code})" in run.output
    assert promstack.sample_value(run.prom, "opsgate_verdict", verdict=verdict) == 1
    assert "gate.prom" in run.report["artifacts"]  # listed in the evidence, not only on disk


# --------------------------------------------------------------------------- done when


def test_a_p99_slo_passes_then_an_impossible_budget_fails_and_the_pushgateway_keeps_the_pass(
    pytester: pytest.Pytester, scraped_demo: DemoServer, prometheus: str, pushgateway: str
) -> None:
    push = (f"--gate-pushgateway={pushgateway}", "--gate-push-instance=pass-then-fail")
    mine = {"job": "opsgate", "instance": "pass-then-fail"}
    row_key = {"gate": "prometheus", "scope": "api p99", "statistic": "value", "op": "<="}
    pytester.makefile(
        ".toml",
        opsgate=prom_toml(
            prometheus,
            ("api p99", P99, f"max = {LARGEST_BUCKET_S}"),
            ("error rate", ERROR_RATE, "max = 0.01"),
        ),
    )
    passed = gate(pytester, scraped_demo.url, *push, "--junitxml=junit.xml", name="pass")
    assert_exit(passed, "PASS", 0)
    p99, errors = passed.rows()
    assert (p99["verdict"], p99["metric"], p99["statistic"], p99["unit"]) == (
        "passed", "prometheus", "value", "value",
    )  # fmt: skip
    assert 0 < p99["measured"] <= LARGEST_BUCKET_S
    assert (p99["scope"], p99["samples"], p99["budget"]) == ("api p99", 1, LARGEST_BUCKET_S)
    assert p99["expression"] == f"api p99: {P99} <= 10"
    assert errors["verdict"] == "passed"
    assert errors["measured"] == 0
    # The terminal table, gate.md and the JUnit XML show the same rows.
    passed.result.stdout.fnmatch_lines(["*prometheus*api p99*value*<= 10*1*PASSED*"])
    assert "| prometheus | api p99 | value |" in (passed.artifacts / "gate.md").read_text()
    junit = (pytester.path / "junit.xml").read_text()
    assert 'classname="opsgate.slo.prometheus" name="SLO api p99: value &lt;= 10"' in junit
    # gate.prom and the Pushgateway hold the run, in base units.
    assert promstack.sample_value(passed.prom, "opsgate_slo_measured", **row_key) == p99["measured"]
    after_pass = promstack.gateway_samples(pushgateway)
    assert promstack.sample_value(after_pass, "opsgate_verdict", verdict="PASS", **mine) == 1
    measured = promstack.sample_value(after_pass, "opsgate_slo_measured", **row_key, **mine)
    assert measured == p99["measured"]
    budget = promstack.sample_value(after_pass, "opsgate_slo_budget", **row_key, **mine)
    assert budget == LARGEST_BUCKET_S
    last = promstack.sample_value(after_pass, "opsgate_last_success_timestamp_seconds", **mine)
    assert last is not None
    assert last == promstack.sample_value(passed.prom, "opsgate_last_success_timestamp_seconds")

    # No p99 is at or below 0 s: the same query with an impossible budget fails the run.
    pytester.makefile(".toml", opsgate=prom_toml(prometheus, ("api p99", P99, "max = 0")))
    failed = gate(pytester, scraped_demo.url, *push, name="fail")
    assert_exit(failed, "FAIL", 1)
    (row,) = failed.rows()
    assert row["verdict"] == "failed"
    assert row["measured"] > 0
    assert row["reason"].endswith(" is not <= 0")
    reason = f"SLO api p99: {P99} <= 0 (prometheus) broken: {row['reason']}"
    assert failed.report["reasons"] == [reason]
    after_fail = promstack.gateway_samples(pushgateway)
    assert promstack.sample_value(after_fail, "opsgate_verdict", verdict="FAIL", **mine) == 1
    assert promstack.sample_value(after_fail, "opsgate_verdict", verdict="PASS", **mine) == 0
    assert promstack.sample_value(after_fail, "opsgate_slo_budget", **row_key, **mine) == 0
    kept = promstack.sample_value(after_fail, "opsgate_last_success_timestamp_seconds", **mine)
    assert kept == last  # the FAIL did not move, nor erase, the last success
    assert promstack.sample_value(failed.prom, "opsgate_last_success_timestamp_seconds") is None


@pytest.mark.parametrize(
    ("query", "words"),
    [
        pytest.param(
            "histogram_quantile(0.99, sum by (le) (rate(no_such_metric_seconds_bucket[1m])))",
            "no data: the query returned an empty vector",
            id="metric-does-not-exist",
        ),
        pytest.param("vector(0) / vector(0)", "the value is NaN", id="nan"),
        pytest.param("vector(1) / vector(0)", "the value is +Inf", id="inf"),
        pytest.param(
            'sum by (handler) (http_requests_total{handler=~"/healthz|/api/public/items"})',
            "2 series where one was expected",
            id="several-series",
        ),
        pytest.param("sum(rate(x[1m]", "Prometheus answered HTTP 400 bad_data", id="bad-query"),
    ],
)
def test_F39_no_data_nan_several_series_or_an_error_answer_is_error_11(
    pytester: pytest.Pytester, scraped_demo: DemoServer, prometheus: str, query: str, words: str
) -> None:
    pytester.makefile(
        ".toml",
        opsgate=prom_toml(
            prometheus, ("api p99", P99, f"max = {LARGEST_BUCKET_S}"), ("ghost", query, "max = 1")
        ),
    )
    run = gate(pytester, scraped_demo.url)
    assert_exit(run, "ERROR", 11)
    good, ghost = run.rows()
    assert good["verdict"] == "passed"  # the other SLO was measured; this one was not
    assert (ghost["verdict"], ghost["measured"], ghost["samples"]) == ("error", None, 1)
    assert ghost["reason"].startswith(words)
    assert f"SLO ghost: {query} <= 1 (prometheus) could not be measured: {words}" in run.output
    assert run.report["phases"][0]["verdict"] == "PASS"  # the smoke gate itself passed


def test_gate_prom_is_written_for_a_run_whose_target_never_got_ready(
    pytester: pytest.Pytester, prometheus: str, pushgateway: str
) -> None:
    pytester.makefile(".toml", opsgate=prom_toml(prometheus, ("api p99", P99, "max = 10")))
    with promstack.refused_url() as url:
        run = gate(
            pytester, url, "--gate-ready-timeout=1", f"--gate-pushgateway={pushgateway}",
            "--gate-push-instance=never-ready",
        )  # fmt: skip
    assert_exit(run, "ERROR", 10)
    assert run.rows() == []  # nothing to judge: not measured, and no row turns 10 into 11
    assert "Prometheus SLOs not measured: the run stopped before any test" in run.report["notes"]
    pushed = promstack.gateway_samples(pushgateway)
    mine = {"job": "opsgate", "instance": "never-ready"}
    assert promstack.sample_value(pushed, "opsgate_verdict", verdict="ERROR", **mine) == 1
    assert promstack.sample_value(pushed, "opsgate_last_success_timestamp_seconds", **mine) is None


# --------------------------------------------------------------------------- fail closed


def test_F39_an_unreachable_prometheus_from_the_flag_is_error_11_after_one_query(
    pytester: pytest.Pytester, demo: DemoServer, prometheus: str
) -> None:
    # The file names a working Prometheus; --gate-prom-url overrides it with a dead one.
    extra = 'timeout = "2s"\ncount = 3\ninterval = "30s"'
    pytester.makefile(".toml", opsgate=prom_toml(prometheus, ("p99", P99, "max = 10"), extra=extra))
    with promstack.refused_url() as dead:
        run = gate(pytester, demo.url, f"--gate-prom-url={dead}")
    assert_exit(run, "ERROR", 11)
    (row,) = run.rows()
    assert row["reason"].startswith(f"Prometheus at {dead} is unreachable")
    # One refused query of count = 3: the two later rounds, 30 s apart, were not waited for.
    assert row["samples"] == 1


def test_prometheus_slos_alone_are_not_a_gate_that_ran(
    pytester: pytest.Pytester, scraped_demo: DemoServer, prometheus: str
) -> None:
    pytester.makefile(".toml", opsgate=prom_toml(prometheus, ("p99", P99, "max = 10")))
    run = gate(pytester, scraped_demo.url, "-k", "no_test_has_this_name")
    assert_exit(run, "ERROR", 11)
    (row,) = run.rows()
    assert row["verdict"] == "passed"
    assert (
        "no test was collected; a gate with nothing measured never passes"
        in (run.report["reasons"])
    )


def test_a_failed_gate_skips_the_wait_unless_keep_going(
    pytester: pytest.Pytester, scraped_demo: DemoServer, prometheus: str
) -> None:
    toml = prom_toml(prometheus, ("p99", P99, "max = 10")).replace(
        'path = "/api/public/items"', 'path = "/api/public/items"\nstatus = 418'
    )
    pytester.makefile(".toml", opsgate=toml)
    run = gate(pytester, scraped_demo.url, name="fail-fast")
    assert_exit(run, "FAIL", 1)
    assert run.rows() == []
    assert (
        "Prometheus SLOs not measured: smoke failed (--gate-keep-going measures them anyway)"
        in (run.report["notes"])
    )
    kept_going = gate(pytester, scraped_demo.url, "--gate-keep-going", name="keep-going")
    assert_exit(kept_going, "FAIL", 1)
    assert [row["verdict"] for row in kept_going.rows()] == ["passed"]


def test_secrets_of_the_prometheus_auth_stay_out_of_every_artifact(
    pytester: pytest.Pytester, demo: DemoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "prom-token-5f0c9a1e77"
    monkeypatch.setenv("PROM_TOKEN", token)
    answer = {"status": "error", "errorType": "unauthorized", "error": f"token {token} expired"}
    with fs.FaultServer() as server:
        server.route("/api/v1/query", fs.json(answer, status=401))
        extra = '[prometheus.auth]\nbearer_env = "PROM_TOKEN"'
        pytester.makefile(
            ".toml", opsgate=prom_toml(server.url, ("p99", P99, "max = 1"), extra=extra)
        )
        run = gate(pytester, demo.url, "--junitxml=junit.xml")
        sent = server.requests[0]
    assert sent.headers["authorization"] == f"Bearer {token}"
    assert_exit(run, "ERROR", 11)
    (row,) = run.rows()
    assert "Prometheus answered HTTP 401 unauthorized: token [REDACTED] expired" in row["reason"]
    written = [path for path in pytester.path.rglob("*") if path.is_file()]
    assert pytester.path / "artifacts" / "gate.prom" in written
    for path in written:
        assert token.encode() not in path.read_bytes(), path
    assert token not in run.output


def test_a_sigterm_during_initial_delay_is_aborted_with_evidence(
    pytester: pytest.Pytester, demo: DemoServer, prometheus: str
) -> None:
    pytester.makefile(
        ".toml",
        opsgate=prom_toml(prometheus, ("p99", P99, "max = 10")).replace('"2s"', '"10m"'),
    )
    artifacts = pytester.path / "artifacts"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--gate=smoke",
            f"--base-url={demo.url}", f"--gate-artifacts={artifacts}",
        ],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    watchdog = threading.Timer(SUBPROCESS_TIMEOUT_S, proc.kill)  # bounds the read loop below
    watchdog.start()
    try:
        seen = []
        for line in proc.stdout:  # the gate says when it starts waiting
            seen.append(line)
            if "Prometheus SLO(s)" in line:
                break
        proc.send_signal(signal.SIGTERM)
        out = "".join(seen) + proc.communicate(timeout=SUBPROCESS_TIMEOUT_S)[0]
    finally:
        watchdog.cancel()
    assert "the first in 600 s (initial_delay)" in out
    assert proc.returncode == 2, out
    run = Evidence(artifacts)
    assert (run.report["verdict"], run.report["exit_code"]) == ("ABORTED", 2)
    (row,) = run.rows()
    assert row["verdict"] == "error"
    assert row["reason"] == "not measured: the run was stopped by signal 15 (SIGTERM)"
    assert promstack.sample_value(run.prom, "opsgate_verdict", verdict="ABORTED") == 1


def test_under_xdist_prometheus_is_asked_once_by_the_controller(
    pytester: pytest.Pytester, scraped_demo: DemoServer, prometheus: str
) -> None:
    pytester.makefile(".toml", opsgate=prom_toml(prometheus, ("p99", P99, "max = 10")))
    artifacts = pytester.path / "artifacts"
    result = pytester.runpytest_subprocess(
        "-n", "2", "--gate=smoke", f"--base-url={scraped_demo.url}",
        f"--gate-artifacts={artifacts}", "-p", "no:cacheprovider",
        timeout=SUBPROCESS_TIMEOUT_S,
    )  # fmt: skip
    run = Run(result, artifacts)
    assert_exit(run, "PASS", 0)
    assert [row["verdict"] for row in run.rows()] == ["passed"]


# --------------------------------------------------------------------------- the push


def test_a_failed_push_is_a_note_and_never_a_verdict(
    pytester: pytest.Pytester, demo: DemoServer
) -> None:
    pytester.makefile(".toml", opsgate='[[checks]]\npath = "/healthz"\n')
    with promstack.refused_url() as dead:
        run = gate(pytester, demo.url, f"--gate-pushgateway={dead}")
    assert_exit(run, "PASS", 0)
    notes = [note for note in run.report["notes"] if "not pushed" in note]
    assert len(notes) == 1
    assert notes[0].startswith(f"run metrics not pushed to {dead}: ")
    assert "not pushed to" in (run.artifacts / "gate.md").read_text()
    assert f"note: {notes[0]}" in run.output


# --------------------------------------------------------------------------- configure


SLO = '[[prometheus.slo]]\nname = "a"\nquery = "up"\nmax = 1\n'


@pytest.mark.parametrize(
    ("files", "args", "words"),
    [
        (
            {"opsgate.toml": f'[prometheus]\nurl = "http://p:9090"\ncount = 2\n{SLO}'},
            (),
            "opsgate.toml: [prometheus]: key 'interval' is required when count = 2",
        ),
        (
            {"pyproject.toml": '[tool.opsgate.prometheus]\nurl = "http://p:9090"\nslo = []\n'},
            (),
            "pyproject.toml: [tool.opsgate.prometheus]: key 'slo' needs at least one entry",
        ),
        (
            {"opsgate.toml": f"[prometheus]\nurll = 'http://p:9090'\n{SLO}"},
            ("--gate-prom-url=http://p:9090",),
            "[prometheus]: key 'urll' is unknown (did you mean 'url'?)",
        ),
        ({}, ("--gate-prom-url=http://p:9090",), "--gate-prom-url is set but no config file"),
        ({}, ("--gate-prom-url=p:9090",), "is not an http(s) URL such as http://prometheus:9090"),
        ({}, ("--gate-pushgateway=http://u:pw@g:9091",), "carries credentials in the URL"),
        (
            {
                "opsgate.toml": '[prometheus]\nurl = "http://p:9090"\n[prometheus.auth]\n'
                f'bearer_env = "NO_SUCH_PROM_TOKEN"\n{SLO}'
            },
            (),
            "names NO_SUCH_PROM_TOKEN, which is not set or empty",
        ),
    ],
)
def test_a_bad_monitoring_setting_is_a_usage_error_whatever_gates_run(
    pytester: pytest.Pytester, files: dict[str, str], args: tuple[str, ...], words: str
) -> None:
    for name, text in files.items():
        (pytester.path / name).write_text(textwrap.dedent(text))
    # --gate=e2e: the [prometheus] table is read whatever gates are selected.
    result = pytester.runpytest(
        "--gate=e2e", "--base-url=http://127.0.0.1:9", "-p", "no:cacheprovider", *args
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words in result.stderr.str()


@pytest.mark.parametrize(
    "option",
    [
        "--gate-prom-url=http://prom:9090/?token=url-secret-41a9",
        "--gate-pushgateway=http://ci:url-secret-41a9@gateway:9091",
        "--gate-pushgateway=ci:url-secret-41a9@gateway:9091",
    ],
)
def test_a_rejected_url_is_not_echoed_with_its_secret(
    pytester: pytest.Pytester, option: str
) -> None:
    result = pytester.runpytest("--gate=smoke", "--base-url=http://127.0.0.1:9", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"argument {option.split('=')[0]}: " in result.stderr.str()
    assert "url-secret-41a9" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    ("variable", "text", "words"),
    [
        ("OPSGATE_PUSHGATEWAY", "gateway:9091", "environment variable OPSGATE_PUSHGATEWAY: "),
        ("OPSGATE_PROM_URL", "prom:9090", "environment variable OPSGATE_PROM_URL: "),
    ],
)
def test_a_bad_url_from_the_environment_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, variable: str, text: str, words: str
) -> None:
    monkeypatch.setenv(variable, text)
    result = pytester.runpytest("--gate=smoke", "--base-url=http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert words + f"{text!r} is not an http(s) URL" in result.stderr.str()


def test_half_a_pushgateway_auth_pair_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSGATE_PUSHGATEWAY_USER", "ci")
    monkeypatch.delenv("OPSGATE_PUSHGATEWAY_PASSWORD", raising=False)
    monkeypatch.delenv("OPSGATE_PUSHGATEWAY_TOKEN", raising=False)
    result = pytester.runpytest(
        "--gate=smoke", "--base-url=http://127.0.0.1:9", "--gate-pushgateway=http://g:9091"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        "--gate-pushgateway: basic auth for --gate-pushgateway needs both OPSGATE_PUSHGATEWAY_USER"
        in result.stderr.str()
    )
