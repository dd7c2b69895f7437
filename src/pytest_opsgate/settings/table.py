"""Every option of the gate, declared once: flag, ini key, environment variable, parser, default.

``pytest_addoption``, the ini keys, the environment lookup, the frozen settings and the
README's option tables are all generated from :data:`OPTIONS`; a test fails when the README
and this table disagree (``python -m pytest_opsgate.settings`` prints the tables).
"""

from __future__ import annotations

from collections.abc import Callable  # noqa: TC003 (the dataclass field needs it at runtime)
from dataclasses import dataclass
from typing import Any, Literal

from ..gates.e2e.options import DEFAULT_LOGIN_PATTERN, console_policy, login_pattern
from ..gates.load.options import (
    bind_address,
    latency_basis,
    positive_float,
    rate_option,
    stages_option,
    worker_count,
)
from ..gates.restore.options import dsn_text, positive_duration, restore_expect, tolerance
from ..gates.smoke.options import BUILTIN_PROFILES, openapi_option, profile_name
from .parse import (
    byte_size,
    confidence,
    duration,
    gate_names,
    http_url,
    positive_int,
    prom_url,
    push_label,
    pushgateway_url,
    ready_expect,
    regression_floor,
    slo_expression,
    text,
    truthy,
)

__all__ = ["BY_NAME", "OPTIONS", "SECTIONS", "Option"]

Kind = Literal["value", "list", "flag"]
SECTIONS = (
    "Core",
    "Readiness",
    "Smoke",
    "E2E",
    "Load",
    "Restore",
    "Monitoring",
    "Stack lifecycle, hooks and baseline",
)


@dataclass(frozen=True)
class Option:
    """One setting: ``--gate-<name>``, ini ``opsgate_<name>``, env ``OPSGATE_<NAME>``."""

    name: str
    help: str
    section: str
    parse: Callable[[str], Any] = text
    default: Any = None
    kind: Kind = "value"
    metavar: str | None = None
    shown_default: str = "—"  # the README's default column
    cli_only: bool = False  # no ini key or environment variable (only --gate)
    cli_flag: str | None = None  # a flag spelled otherwise (--no-gate-ready)

    @property
    def flag(self) -> str:
        """The command-line flag: ``--gate`` itself, else ``--gate-<name>``."""
        if self.cli_flag:
            return self.cli_flag
        return "--gate" if self.name == "gate" else f"--gate-{self.name}"

    @property
    def dest(self) -> str:
        """The attribute on ``config.option``: ``gate`` for --gate, else ``gate_<name>``."""
        return "gate" if self.name == "gate" else "gate_" + self.name.replace("-", "_")

    @property
    def ini(self) -> str:
        """The ini key."""
        return "opsgate_" + self.name.replace("-", "_")

    @property
    def env(self) -> str:
        """The environment variable."""
        return "OPSGATE_" + self.name.upper().replace("-", "_")


def _opt(section: str) -> Callable[..., Option]:
    def make(name: str, help: str, **kw: Any) -> Option:
        return Option(name, help, section, **kw)

    return make


core, ready, smoke, e2e, load, restore, monitor, stack = (_opt(section) for section in SECTIONS)

OPTIONS: tuple[Option, ...] = (
    core("gate", "gates to run: smoke, e2e, load, restore or all (comma-separated; all takes "
         "restore only when a backup is configured); command line only, so an ordinary pytest "
         "run never becomes a gate run", parse=gate_names,
         metavar="NAME[,NAME...]", cli_only=True),
    core("artifacts", "evidence folder: gate.json, gate.md, per-test files",
         default="gate-artifacts", metavar="DIR", shown_default="`gate-artifacts`"),
    core("slo", 'SLO for the run, repeatable: "p95 < 300ms", "GET /api/items: p99 <= 1s", '
         '"error_rate < 1%"; API SLOs judge smoke and load traffic, page SLOs E2E',
         parse=slo_expression, kind="list", metavar="EXPR"),
    core("min-samples", "an SLO with fewer samples (successful ones, for latency) is an ERROR",
         parse=positive_int, default=1, metavar="N", shown_default="1"),
    core("keep-going", "run later phases after a failed one (default: a failed phase skips "
         "the later ones)", parse=truthy, default=False, kind="flag", shown_default="off"),
    core("test-timeout", "a test whose setup, call and teardown together run longer is "
         "stopped and judged ERROR (0 disables; load tests use their own watchdog)",
         parse=duration, default=600.0, metavar="SECONDS", shown_default="600"),
    core("secret-env", "environment variable holding a secret to redact from every artifact "
         "(repeatable)", kind="list", metavar="NAME"),
    core("request-timeout", "total deadline of one gate_client request, body included",
         parse=duration, default=30.0, metavar="SECONDS", shown_default="30"),
    core("max-body", "largest response body read (decoded); more is a failure",
         parse=byte_size, default=4 * 1024 * 1024, metavar="SIZE", shown_default="4MiB"),
    core("ca-bundle", "CA bundle to verify the target's TLS certificate with", metavar="PEM"),
    core("insecure", "skip TLS verification (said in the summary; never a silent fallback)",
         parse=truthy, default=False, kind="flag", shown_default="off"),
    ready("ready", "poll readiness before the first test; --no-gate-ready skips it (the "
          "target is known to be up)", parse=truthy, default=True, kind="flag",
          cli_flag="--no-gate-ready", shown_default="on"),
    ready("ready-path", "health path to poll (repeatable; default: discovery over /api/health/, "
          "/health, /healthz, /ready, /readyz)", kind="list", metavar="PATH",
          shown_default="discover"),
    ready("ready-timeout", "how long to wait for the target to become ready (monotonic clock)",
          parse=duration, default=120.0, metavar="SECONDS", shown_default="120"),
    ready("ready-attempt-timeout", "time limit of one readiness attempt, body included",
          parse=duration, default=5.0, metavar="SECONDS", shown_default="5"),
    ready("ready-expect", "JSON predicate the health body must meet, repeatable: "
          "'checks.db.status == \"ok\"'; one on status replaces the table of health words",
          parse=ready_expect, kind="list", metavar="EXPR"),
    ready("ready-successes", "consecutive successful attempts required",
          parse=positive_int, default=1, metavar="K", shown_default="1"),
    ready("expect-version", "wait until the target serves this version; at the deadline, not "
          "ready (10): still serving X, want V", metavar="VERSION"),
    smoke("config", "smoke checks, profiles and [prometheus] SLOs: an opsgate.toml, or a "
          "pyproject.toml with [tool.opsgate]", metavar="PATH", shown_default="discover"),
    smoke("profile", f"turn on a smoke profile ({', '.join(BUILTIN_PROFILES)}, or one a plugin "
          "adds); settings come from the config table of that name (repeatable)",
          parse=profile_name, kind="list", metavar="NAME"),
    smoke("openapi", "check the target against its OpenAPI document, one item per operation: "
          "a URL, a path on the target or a file (needs pytest-opsgate[openapi])",
          parse=openapi_option, metavar="URL|PATH"),
    e2e("browser-executable", "Chromium binary; default /usr/bin/chromium, chromium-browser, "
        "google-chrome, then Playwright's own", metavar="PATH", shown_default="system chromium"),
    e2e("e2e-console-errors", "what a browser console error does to an E2E test: fail, warn "
        "or ignore", parse=console_policy, default="warn", metavar="MODE",
        shown_default="warn"),
    e2e("e2e-console-ignore", "console errors matching this regular expression are left out "
        "of the console policy (repeatable; a favicon.ico 404 is always ignored); the summary "
        "lists what was ignored", parse=login_pattern, kind="list", metavar="REGEX",
        shown_default="`/favicon\\.ico`"),
    e2e("e2e-login-pattern", "gate_page.visit fails when redirected to a path matching this",
        parse=login_pattern, default=DEFAULT_LOGIN_PATTERN, metavar="REGEX",
        shown_default="`/(login\\|signin\\|auth)...`"),
    load("locustfile", "locustfile or folder of them, repeatable; one load test each",
         kind="list", metavar="PATH", shown_default="`locustfiles/`"),
    load("users", "peak Locust users", parse=positive_int, default=10, metavar="N",
         shown_default="10"),
    load("spawn-rate", "users started per second", parse=positive_float, metavar="R",
         shown_default="all at once"),
    load("run-time", "length of each load test, warmup included; a hard cap enforced by a "
         "watchdog", parse=duration, default=30.0, metavar="DURATION", shown_default="30s"),
    load("load-warmup", "leading part left out of SLO evaluation, rounded up to whole seconds",
         parse=duration, default=0.0, metavar="DURATION", shown_default="0"),
    load("load-rate", "open model: start R arrivals per second (40 or 40/s) on a clock of "
         "their own, whatever the responses do, each running one task on a pooled user; "
         "without it the closed model of --gate-users runs", parse=rate_option, metavar="R"),
    load("load-stages", 'open model with a ramping rate: "30s:50/s,60s:200/s" ramps from '
         "--gate-load-rate (or 0) to 50/s over 30 s, then to 200/s over 60 s; the run time "
         "defaults to their total", parse=stages_option, metavar="STAGES"),
    load("load-max-inflight", "open model: arrivals in flight at once (pooled users); an "
         "arrival that finds none free starts late, and more than 1 % late is an ERROR",
         parse=positive_int, default=1000, metavar="N", shown_default="1000"),
    load("load-latency", "open model: what latency SLOs judge: corrected (from each "
         "arrival's intended start) or service (from the actual send)", parse=latency_basis,
         default="corrected", metavar="BASIS", shown_default="corrected"),
    load("load-slo", "SLO for load tests only, repeatable (--gate-slo applies too)",
         parse=slo_expression, kind="list", metavar="EXPR"),
    load("load-early-pass", "stop a load test early with PASS once every SLO is held with "
         "98 % confidence (a sequential test; guards and --gate-min-samples included); an SLO "
         "lost with 98 % confidence always stops it early with FAIL", parse=truthy,
         default=False, kind="flag", shown_default="off"),
    load("load-abort-grace", "deprecated, no effect: an SLO lost with 98 % confidence stops "
         "the load early, no grace period or [abort] needed", parse=duration, default=5.0,
         metavar="DURATION", shown_default="5s"),
    load("load-workers", "run Locust distributed: one master and N local workers (auto = "
         "cores)", parse=worker_count, default=0, metavar="N|auto"),
    load("load-expect-workers", "wait for N external workers (locust --worker --master-host "
         "...)", parse=positive_int, default=0, metavar="N"),
    load("load-bind", "where the master listens for external workers",
         parse=bind_address, default=("127.0.0.1", 5557), metavar="HOST:PORT",
         shown_default="127.0.0.1:5557"),
    load("load-workers-wait", "how long to wait for expected workers (then ERROR)",
         parse=duration, default=60.0, metavar="DURATION", shown_default="60s"),
    load("allow-host", "allow load against this non-loopback host (repeatable; a deliberate "
         "act)", kind="list", metavar="HOST"),
    load("locust-arg", "extra Locust argument, passed as is (repeatable)", kind="list",
         metavar="ARG"),
    restore("restore-from", "the backup to drill: a file, a pg_dump directory dump, or a folder "
            "whose newest backup is taken (by the timestamp in its name, else mtime)",
            metavar="PATH"),
    restore("restore-dsn", "restore into a new database on this Postgres server (dropped "
            "after) instead of a throwaway local one; a secret: set OPSGATE_RESTORE_DSN rather "
            "than the flag, which ps shows", parse=dsn_text, metavar="DSN",
            shown_default="throwaway server"),
    restore("restore-expect", 'expectation, repeatable: "orders: rows >= 1000", '
            '"orders.created_at: newest >= now - 26h", "restore_time < 10m", "tables >= 12"',
            parse=restore_expect, kind="list", metavar="EXPR"),
    restore("restore-manifest", "{table: rows} JSON written at backup time; each table must "
            "come back with its rows, within the tolerance", metavar="PATH"),
    restore("restore-tolerance", "how many fewer rows than the manifest a table may have",
            parse=tolerance, default=0.05, metavar="PCT", shown_default="5%"),
    restore("restore-max-age", "the RPO: an older backup fails (its name's timestamp, else its "
            "mtime)", parse=positive_duration, metavar="DURATION"),
    restore("restore-timeout", "time limit of the restore tool (psql, pg_restore); then FAIL",
            parse=positive_duration, default=600.0, metavar="DURATION", shown_default="10m"),
    restore("restore-then", "run after the restore with DATABASE_URL set to the restored "
            "database (e.g. a migration check); a non-zero exit fails", metavar="CMD"),
    restore("restore-bindir", "folder with initdb, pg_ctl, postgres, psql and pg_restore "
            "(default: pg_config --bindir, else the newest /usr/lib/postgresql/*/bin)",
            metavar="DIR", shown_default="discover"),
    monitor("prom-url", "Prometheus to judge the config file's [prometheus] SLOs with "
            "(overrides its url); an empty result, NaN or an unreachable server is an ERROR",
            parse=prom_url, metavar="URL", shown_default="[prometheus] url"),
    monitor("pushgateway", "push the run's metrics to this Pushgateway (auth from "
            "OPSGATE_PUSHGATEWAY_TOKEN, or _USER and _PASSWORD); a failed push is a note, "
            "never a verdict", parse=pushgateway_url, metavar="URL"),
    monitor("push-job", "job label of the push", parse=push_label, default="opsgate",
            metavar="NAME", shown_default="`opsgate`"),
    monitor("push-instance", "instance label of the push (one group per pipeline or "
            "environment)", parse=push_label, metavar="NAME", shown_default="none"),
    stack("start-cmd", "run before readiness (e.g. docker compose up -d); failing is an ERROR",
          metavar="CMD"),
    stack("serve-cmd", "a server that runs in the foreground (uvicorn app:app, npm start): "
          "started in the background before readiness, its output in stack-logs.txt, "
          "stopped at the end, always", metavar="CMD"),
    stack("serve-reuse", "test a server already answering at the base URL instead of "
          "starting --gate-serve-cmd (default: that is an ERROR)", parse=truthy, default=False,
          kind="flag", shown_default="off"),
    stack("seed-cmd", "run once the target is ready", metavar="CMD"),
    stack("logs-cmd", "output saved as stack-logs.txt when the verdict is not PASS",
          metavar="CMD"),
    stack("stop-cmd", "run at the end, always (also on Ctrl-C and SIGTERM)", metavar="CMD"),
    stack("cmd-timeout", "time limit of each command and hook (the process group is killed)",
          parse=duration, default=300.0, metavar="SECONDS", shown_default="300"),
    stack("on-fail", "run on FAIL or ERROR (rollback), with OPSGATE_VERDICT, "
          "OPSGATE_EXIT_CODE and OPSGATE_REPORT", metavar="CMD"),
    stack("on-pass", "run on PASS (promote)", metavar="CMD"),
    stack("baseline", "compare per-endpoint latency and errors with an earlier gate.json; no "
          "endpoint in common, or one this run never requested, is an ERROR",
          metavar="GATE_JSON"),
    stack("baseline-partial", "compare only the endpoints both runs measured",
          parse=truthy, default=False, kind="flag", shown_default="off"),
    stack("save-baseline", "write this run's gate.json there on PASS", metavar="PATH"),
    stack("baseline-url", "compare with a live baseline target measured side by side: the "
          "same samples go to both, interleaved, so noise hits both alike; the load gate runs "
          "the same load against both at once, at half the rate or half the users each "
          "(loopback only unless --gate-allow-host names it)", parse=http_url, metavar="URL"),
    stack("regression-floor", "the smallest slowdown that counts: a share of the baseline "
          "(10%), an absolute shift (+5ms), or the larger of both (10%,+5ms)",
          parse=regression_floor, default="10%,+5ms", metavar="FLOOR",
          shown_default="10%,+5ms"),
    stack("baseline-confidence", "confidence of the comparison's tests and intervals "
          "(Kayenta's 98 %)", parse=confidence, default=0.98, metavar="PCT",
          shown_default="98%"),
    stack("baseline-min-samples", "fewer latency samples on either side make an endpoint's "
          "comparison INCONCLUSIVE (exit 12)", parse=positive_int, default=30, metavar="N",
          shown_default="30"),
)  # fmt: skip

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}
