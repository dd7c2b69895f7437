"""Resolved settings of one load test, the locustfiles to run, and the loopback safety check."""

from __future__ import annotations

import contextlib
import ipaddress
import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...errors import GateUsageError
from ...settings.table import BY_NAME

if TYPE_CHECKING:
    import pytest

    from ...slo.evaluate import SLO
    from .arrivals import Stage

# Defaults come from the one options table; these names only read it.
DEFAULT_USERS: int = BY_NAME["users"].default
DEFAULT_RUN_TIME_S: float = BY_NAME["run-time"].default
DEFAULT_WORKERS_WAIT_S: float = BY_NAME["load-workers-wait"].default
DEFAULT_BIND: tuple[str, int] = BY_NAME["load-bind"].default
DEFAULT_MAX_INFLIGHT: int = BY_NAME["load-max-inflight"].default
LOCUSTFILE_DIR = "locustfiles"
PER_FILE_KEYS = (
    "users",
    "spawn_rate",
    "run_time",
    "warmup",
    "slo",
    "rate",
    "stages",
    "max_inflight",
    "latency",
)
# [tool.opsgate.load.locustfiles."<name>"] key -> (option, LoadSettings field)
_PER_FILE_FIELDS = {
    "users": ("users", "users"),
    "spawn_rate": ("spawn-rate", "spawn_rate"),
    "run_time": ("run-time", "run_time_s"),
    "warmup": ("load-warmup", "warmup_s"),
    "rate": ("load-rate", "rate"),
    "stages": ("load-stages", "stages"),
    "max_inflight": ("load-max-inflight", "max_inflight"),
    "latency": ("load-latency", "latency"),
}


@dataclass(frozen=True)
class LoadSettings:
    """How one locustfile is run and judged."""

    users: int = DEFAULT_USERS
    spawn_rate: float | None = None
    run_time_s: float = DEFAULT_RUN_TIME_S
    warmup_s: float = 0.0
    slos: tuple[SLO, ...] = ()
    min_samples: int = 1
    early_pass: bool = False
    workers: int = 0
    expect_workers: int = 0
    bind: tuple[str, int] = DEFAULT_BIND
    workers_wait_s: float = DEFAULT_WORKERS_WAIT_S
    allow_hosts: tuple[str, ...] = ()
    locust_args: tuple[str, ...] = ()
    rate: float | None = None  # the open model: arrivals per second
    stages: tuple[Stage, ...] = ()
    max_inflight: int = DEFAULT_MAX_INFLIGHT
    latency: str = "corrected"
    run_time_given: bool = True  # False: the run time defaults to the stages' total

    @property
    def open_model(self) -> bool:
        """True when arrivals run on a clock (``--gate-load-rate`` or ``--gate-load-stages``)."""
        return self.rate is not None or bool(self.stages)

    @property
    def stages_text(self) -> str:
        """The stages as ``--gate-load-stages`` spells them."""
        return ",".join(f"{stage.duration_s:g}s:{stage.target:g}/s" for stage in self.stages)

    @property
    def effective_spawn_rate(self) -> float:
        """Users per second: the option, else every user within the first second."""
        return self.spawn_rate if self.spawn_rate is not None else float(self.users)

    @property
    def distributed(self) -> bool:
        """True when a Locust master coordinates worker processes."""
        return self.workers > 0 or self.expect_workers > 0


@dataclass
class _Sources:
    """Per-locustfile overrides from ``[tool.opsgate.load]`` in pyproject.toml."""

    common: dict[str, Any] = field(default_factory=dict)
    per_file: dict[str, dict[str, Any]] = field(default_factory=dict)


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost names; a name is never resolved."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_load_target(base_url: str, allow_hosts: tuple[str, ...]) -> None:
    """Refuse a non-loopback target unless ``--gate-allow-host`` names it (before any request)."""
    host = urlsplit(base_url).hostname or ""
    if is_loopback_host(host):
        return
    allowed = {name.strip().strip("[]").lower().rstrip(".") for name in allow_hosts}
    if host.lower().rstrip(".") in allowed:
        return
    raise GateUsageError(
        f"refusing to send load to {host!r}: it is not a loopback address; pass "
        f"--gate-allow-host={host} if this environment may take the load"
    )


def discover_locustfiles(config: pytest.Config) -> list[Path]:
    """Locustfiles from --gate-locustfile / opsgate_locustfile, else <rootdir>/locustfiles/."""
    from ...settings import option_value

    rootdir = Path(str(config.rootpath))
    named: list[str] = option_value(config, "locustfile")
    if not named:
        default = rootdir / LOCUSTFILE_DIR
        files = _python_files(default) if default.is_dir() else []
        if not files:
            raise GateUsageError(
                "--gate=load needs a locustfile; pass --gate-locustfile=PATH or add "
                f"{LOCUSTFILE_DIR}/ next to {rootdir / 'pyproject.toml'}"
            )
        return files
    found: list[Path] = []
    for text in named:
        path = Path(text)
        if not path.is_absolute():
            path = (Path.cwd() / path) if (Path.cwd() / path).exists() else rootdir / path
        if path.is_dir():
            found.extend(_python_files(path))
        elif path.is_file():
            found.append(path.resolve())
        else:
            raise GateUsageError(
                f"--gate-locustfile {text!r} does not exist; pass a locustfile or a folder of them"
            )
    if not found:
        raise GateUsageError(
            f"--gate-locustfile {', '.join(named)} holds no locustfile; add a *.py with a User"
        )
    return list(dict.fromkeys(found))


def _python_files(folder: Path) -> list[Path]:
    return sorted(
        path.resolve()
        for path in folder.glob("*.py")
        if not path.name.startswith("_") and path.name != "conftest.py"
    )


def _read_pyproject(rootdir: Path) -> _Sources:
    path = rootdir / "pyproject.toml"
    if not path.is_file():
        return _Sources()
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib  # type: ignore[import-not-found]
        except ImportError:
            return _Sources()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GateUsageError(f"{path}: {exc}; fix the TOML syntax") from None
    load = data.get("tool", {}).get("opsgate", {}).get("load", {})
    if not isinstance(load, dict):
        raise GateUsageError(f"{path}: [tool.opsgate.load] must be a table")
    per_file = load.get("locustfiles", {})
    common = {key: value for key, value in load.items() if key != "locustfiles"}
    return _Sources(common=common, per_file=per_file if isinstance(per_file, dict) else {})


def _slo_texts(value: Any, origin: str) -> list[str]:
    """SLO expressions from a TOML list, string, or table of scope -> expression(s)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(item) for item in value]
    if isinstance(value, dict):
        texts: list[str] = []
        for scope, expressions in value.items():
            for text in _slo_texts(expressions, origin):
                texts.append(text if scope in ("*", "all") else f"{scope}: {text}")
        return texts
    raise GateUsageError(f"{origin}: slo must be a list of expressions such as ['p95 < 300ms']")


def _parse_slos(texts: list[str], origin: str) -> list[SLO]:
    from ...slo.evaluate import SLOSyntaxError, parse_slo

    slos = []
    for text in texts:
        try:
            slos.append(parse_slo(text))
        except SLOSyntaxError as exc:
            raise GateUsageError(f"{origin}: {exc}") from None
    return slos


def load_settings(config: pytest.Config) -> LoadSettings:
    """Settings common to every locustfile: options, env, ini, then ``[tool.opsgate.load]``."""
    from ... import settings as cfg
    from ...run.state import get_settings

    sources = _read_pyproject(Path(str(config.rootpath)))
    common = sources.common

    def pick(name: str, key: str) -> Any:
        """Command line, environment, ini, then [tool.opsgate.load], then the default."""
        if key not in common:
            return cfg.option_value(config, name)
        try:
            fallback = BY_NAME[name].parse(str(common[key]))
        except ValueError as exc:
            raise GateUsageError(f"[tool.opsgate.load] {key}: {exc}") from None
        return cfg.option_value(config, name, fallback)

    core = get_settings(config)
    texts = [slo.text for slo in cfg.option_value(config, "load-slo")]
    global_slos = [slo for slo in core.slos if not (slo.scope and slo.scope.startswith("page "))]
    slos = [
        *global_slos,
        *_parse_slos(texts, "--gate-load-slo"),
        *_parse_slos(_slo_texts(common.get("slo"), "[tool.opsgate.load]"), "[tool.opsgate.load]"),
    ]
    settings = LoadSettings(
        rate=pick("load-rate", "rate"),
        stages=pick("load-stages", "stages") or (),
        max_inflight=pick("load-max-inflight", "max_inflight"),
        latency=pick("load-latency", "latency"),
        run_time_given="run_time" in common or given_anywhere(config, "run-time"),
        users=pick("users", "users"),
        spawn_rate=pick("spawn-rate", "spawn_rate"),
        run_time_s=pick("run-time", "run_time"),
        warmup_s=pick("load-warmup", "warmup"),
        slos=tuple(slos),
        min_samples=core.min_samples,
        early_pass=pick("load-early-pass", "early_pass"),
        workers=pick("load-workers", "workers"),
        expect_workers=pick("load-expect-workers", "expect_workers"),
        bind=pick("load-bind", "bind"),
        workers_wait_s=pick("load-workers-wait", "workers_wait"),
        allow_hosts=tuple(cfg.option_value(config, "allow-host")),
        locust_args=_checked_locust_args(cfg.option_value(config, "locust-arg")),
    )
    if settings.open_model and (given_anywhere(config, "users") or "users" in common):
        raise GateUsageError(
            "--gate-users and --gate-load-rate/--gate-load-stages exclude each other: users "
            "are the closed model, a rate the open model; pass one of them"
        )
    settings = with_stages_run_time(settings)
    check_consistency(settings, "")
    return settings


def halved(settings: LoadSettings) -> LoadSettings:
    """The same load at half, for each of a target and its live baseline run side by side:
    half the rate (and in-flight slots) in the open model, half the users (at least one)
    in the closed model, half the local workers (at least one)."""
    from .arrivals import Stage

    changes: dict[str, Any] = {}
    if settings.open_model:
        changes["rate"] = None if settings.rate is None else settings.rate / 2
        changes["stages"] = tuple(Stage(st.duration_s, st.target / 2) for st in settings.stages)
        changes["max_inflight"] = max(1, math.ceil(settings.max_inflight / 2))
    else:
        changes["users"] = max(1, settings.users // 2)
        if settings.spawn_rate is not None:
            changes["spawn_rate"] = settings.spawn_rate / 2
    if settings.workers:
        changes["workers"] = max(1, settings.workers // 2)
    return replace(settings, **changes)


def given_anywhere(config: pytest.Config, name: str) -> bool:
    """True when the command line, the environment or the ini file sets the option."""
    from ...settings import option_given

    if option_given(config, name):
        return True
    return config.getini(BY_NAME[name].ini) not in (None, "", [])


def with_stages_run_time(settings: LoadSettings) -> LoadSettings:
    """Stages without a run time of their own run exactly as long as the stages."""
    if settings.stages and not settings.run_time_given:
        total = sum(stage.duration_s for stage in settings.stages)
        return replace(settings, run_time_s=max(1.0, total))
    return settings


# Arguments that would point Locust somewhere the loopback check never saw, or take over
# what the gate itself sets (where results go, how the run ends).
_GATE_OWNED_ARGS = ("-H", "--host", "-f", "--locustfile", "--master", "--worker")


def _checked_locust_args(args: list[str]) -> tuple[str, ...]:
    for arg in args:
        name = arg.split("=", 1)[0]
        if name in _GATE_OWNED_ARGS or (name.startswith("-H") and not name.startswith("--")):
            raise GateUsageError(
                f"--gate-locust-arg {arg!r} sets what the gate controls; pass the target with "
                "--base-url (load goes to loopback unless --gate-allow-host names it) and "
                "locustfiles with --gate-locustfile"
            )
    return tuple(args)


def settings_for(config: pytest.Config, base: LoadSettings, locustfile: Path) -> LoadSettings:
    """``base`` with the overrides of ``[tool.opsgate.load.locustfiles."<name>"]`` applied.

    An option given on the command line or in the environment still wins.
    """
    from ...settings import option_given

    rootdir = Path(str(config.rootpath))
    sources = _read_pyproject(rootdir)
    keys = [locustfile.name, str(locustfile)]
    with contextlib.suppress(ValueError):
        keys.append(locustfile.relative_to(rootdir).as_posix())
    table: dict[str, Any] = {}
    for key in keys:
        if isinstance(sources.per_file.get(key), dict):
            table = sources.per_file[key]
    unknown = sorted(set(table) - set(PER_FILE_KEYS))
    origin = f'[tool.opsgate.load.locustfiles."{locustfile.name}"]'
    if unknown:
        raise GateUsageError(
            f"{origin}: unknown key {', '.join(unknown)}; use {', '.join(PER_FILE_KEYS)}"
        )
    changes: dict[str, Any] = {}
    for key, (option, attr) in _PER_FILE_FIELDS.items():
        if key in table and not option_given(config, option):
            try:
                changes[attr] = BY_NAME[option].parse(str(table[key]))
            except ValueError as exc:
                raise GateUsageError(f"{origin} {key}: {exc}") from None
    if "run_time" in table:
        changes["run_time_given"] = True
    if "slo" in table:
        changes["slos"] = (*base.slos, *_parse_slos(_slo_texts(table["slo"], origin), origin))
    settings = with_stages_run_time(replace(base, **changes) if changes else base)
    check_consistency(settings, f" for {locustfile.name}")
    return settings


def check_consistency(settings: LoadSettings, where: str) -> None:
    """Conflicts between options, named with the fix."""
    if settings.warmup_s >= settings.run_time_s:
        raise GateUsageError(
            f"--gate-load-warmup {settings.warmup_s:g}s is not shorter than --gate-run-time "
            f"{settings.run_time_s:g}s{where}; shorten the warmup or lengthen the run"
        )
    if settings.run_time_s <= 0:
        raise GateUsageError(f"--gate-run-time must be above 0{where}; pass e.g. 30s")
    stages_s = sum(stage.duration_s for stage in settings.stages)
    if stages_s > settings.run_time_s:
        raise GateUsageError(
            f"--gate-run-time {settings.run_time_s:g}s{where} is shorter than the "
            f"{stages_s:g} s of --gate-load-stages; lengthen the run time or drop it (the "
            "stages' total is the default)"
        )
    if settings.workers and settings.expect_workers:
        raise GateUsageError(
            "--gate-load-workers and --gate-load-expect-workers exclude each other; local "
            "workers are started for you, external ones are waited for"
        )
