"""The [prometheus] configuration: every error names the file, the entry and the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_opsgate.errors import GateUsageError
from pytest_opsgate.gates.smoke.config import find_config
from pytest_opsgate.slo.prometheus_config import load_prometheus_config

# --------------------------------------------------------------------------- configuration


GOOD = """
[prometheus]
url = "http://prometheus:9090/"
initial_delay = "30s"
interval = "10s"
count = 3
failure_limit = 1
timeout = "5s"

[[prometheus.slo]]
name = "api p99"
query = 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'
max = 0.05

[[prometheus.slo]]
name = "throughput"
query = 'sum(rate(http_requests_total[5m]))'
min = 1
max = 1000
"""


def test_opsgate_toml_is_found_and_read(tmp_path: Path) -> None:
    (tmp_path / "opsgate.toml").write_text(GOOD)
    found = find_config(None, tmp_path, [], tmp_path)
    assert found is not None
    cfg = load_prometheus_config(found[1], display="opsgate.toml")
    assert cfg is not None
    assert cfg.query_url == "http://prometheus:9090/api/v1/query"
    assert (cfg.initial_delay, cfg.interval, cfg.count, cfg.failure_limit, cfg.timeout) == (
        30,
        10,
        3,
        1,
        5,
    )
    assert [s.name for s in cfg.slos] == ["api p99", "throughput"]
    assert [str(r) for s in cfg.slos for r in s.rows()] == [
        "api p99: value <= 0.05",
        "throughput: value <= 1000",
        "throughput: value >= 1",
    ]
    assert cfg.max_seconds() == 30 + 2 * 10 + 3 * 2 * 5


def test_pyproject_table_and_the_command_line_url(tmp_path: Path) -> None:
    body = GOOD.replace("[prometheus]", "[tool.opsgate.prometheus]").replace(
        "[[prometheus.slo]]", "[[tool.opsgate.prometheus.slo]]"
    )
    (tmp_path / "pyproject.toml").write_text(body)
    found = find_config(None, tmp_path, [], tmp_path)
    assert found is not None
    cfg = load_prometheus_config(found[1], display="pyproject.toml", url="https://prom.example:443")
    assert cfg is not None
    assert cfg.url == "https://prom.example:443"


def test_no_table_and_no_url_means_no_prometheus_slos() -> None:
    assert load_prometheus_config({"checks": []}, display="opsgate.toml") is None
    with pytest.raises(
        GateUsageError, match=r"--gate-prom-url is set but opsgate.toml has no \[prometheus.slo\]"
    ):
        load_prometheus_config({}, display="opsgate.toml", url="http://p:9090")


def bad(
    body: dict[str, Any], *, display: str = "opsgate.toml", env: dict[str, str] | None = None
) -> str:
    table = {"url": "http://p:9090", "slo": [{"name": "s", "query": "up", "max": 1}], **body}
    with pytest.raises(GateUsageError) as info:
        load_prometheus_config({"prometheus": table}, display=display, environ=env or {})
    return str(info.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"url": "prometheus:9090"},
            "opsgate.toml: [prometheus]: key 'url' 'prometheus:9090' is not an http(s) URL",
        ),
        ({"url": "http://u:pw@p:9090"}, "carries credentials in the URL"),
        ({"count": 3}, "key 'interval' is required when count = 3"),
        (
            {"count": 3, "interval": "1s", "failure_limit": 3},
            "key 'failure_limit' is 3 with count = 3, so no SLO could ever fail",
        ),
        ({"count": 0}, "key 'count' is 0; use a number from 1 to 100"),
        ({"interval": "0s"}, "key 'interval' is '0s'; use a duration above 0"),
        ({"timeout": 5}, "key 'timeout' must be a duration with a unit"),
        ({"initial_delay": "2h"}, "waits add up to more than 60 minutes"),
        ({"intervall": "1s"}, "key 'intervall' is unknown (did you mean 'interval'?)"),
        (
            {"slo": []},
            "key 'slo' needs at least one entry: write each SLO under [[prometheus.slo]]",
        ),
        (
            {"slo": [{"name": "s", "query": "up"}]},
            "[[prometheus.slo]] #1 (s): key 'max' is missing: give max and/or min",
        ),
        (
            {"slo": [{"name": "s", "query": "up", "max": 1, "min": 2}]},
            "key 'min' 2 is above max 1, so nothing could pass",
        ),
        ({"slo": [{"name": "s", "query": "up", "max": True}]}, "key 'max' must be a number"),
        ({"slo": [{"name": "s", "query": "up", "max": "50ms"}]}, "(0.05 for 50 ms)"),
        (
            {"slo": [{"name": "s", "query": "up", "max": float("nan")}]},
            "key 'max' is nan; use a finite number",
        ),
        ({"slo": [{"name": "s", "query": " ", "max": 1}]}, "key 'query' is empty"),
        ({"slo": [{"name": "a:b", "query": "up", "max": 1}]}, "without ':'"),
        (
            {
                "slo": [
                    {"name": "s", "query": "up", "max": 1},
                    {"name": "s", "query": "up", "min": 0},
                ]
            },
            "#2 (s): key 'name' 's' is also the name of [[prometheus.slo]] #1 (s)",
        ),
        (
            {"slo": [{"name": "s", "query": "up", "max": 1, "treshold": 2}]},
            "key 'treshold' is unknown",
        ),
        (
            {"auth": {"bearer_env": "NOPE"}},
            "[prometheus.auth]: key 'bearer_env' names NOPE, which is not set or empty",
        ),
        (
            {"auth": {"user_env": "U"}},
            "needs its partner: basic auth takes both user_env and password_env",
        ),
        (
            {"auth": {"headers_env": {"X-Org": "MISSING"}}},
            "maps X-Org to 'MISSING', which is not a set environment variable",
        ),
    ],
)
def test_every_config_error_names_file_entry_and_key(body: dict[str, Any], message: str) -> None:
    assert message in bad(body)


def test_errors_in_pyproject_name_the_tool_table() -> None:
    message = bad({"count": 0}, display="pyproject.toml")
    assert message.startswith("pyproject.toml: [tool.opsgate.prometheus]: key 'count'")


def test_bearer_and_basic_together_are_refused() -> None:
    env = {"T": "token-value-123", "U": "user", "P": "password-value-123"}
    assert "use bearer or basic auth" in bad(
        {"auth": {"bearer_env": "T", "user_env": "U", "password_env": "P"}}, env=env
    )


def test_basic_auth_header_and_its_secrets() -> None:
    env = {"U": "alice", "P": "password-value-123"}
    table = {
        "prometheus": {
            "url": "http://p",
            "auth": {"user_env": "U", "password_env": "P"},
            "slo": [{"name": "s", "query": "up", "max": 1}],
        }
    }
    cfg = load_prometheus_config(table, display="opsgate.toml", environ=env)
    assert cfg is not None
    assert cfg.headers == (("Authorization", "Basic YWxpY2U6cGFzc3dvcmQtdmFsdWUtMTIz"),)
    assert "password-value-123" in cfg.secrets
