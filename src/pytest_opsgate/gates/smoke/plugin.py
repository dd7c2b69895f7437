"""Smoke gate registration: read the configuration, register secrets, add the items."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from ... import settings as cfg
from ...errors import GateUsageError
from ...run.state import get_settings, get_state

if TYPE_CHECKING:
    from ...http.redact import Redactor
    from .spec import SmokeConfig

smoke_config_key = pytest.StashKey["SmokeConfig"]()


def register(config: pytest.Config) -> None:
    """Called by the core when --gate selects smoke: validate everything before any request."""
    from .plan import plan

    try:
        smoke = load(config)
        # Both plans are built now so a name clash is a usage error, not a collection error.
        plan(smoke, builtin=True)
        plan(smoke, builtin=False)
        if smoke.openapi is not None:
            from .openapi.config import require_schemathesis

            require_schemathesis(smoke.openapi.where)
    except GateUsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    register_secrets(smoke, get_state(config).redactor)
    config.stash[smoke_config_key] = smoke
    if smoke.source is not None:
        from .collect import source_key

        config.stash[source_key] = _display(smoke.source, Path(config.rootpath))
    config.pluginmanager.register(SmokePlugin(config, smoke), "opsgate-smoke")


def load(config: pytest.Config) -> SmokeConfig:
    """The smoke configuration from --gate-config / opsgate.toml / [tool.opsgate] and options."""
    from .config import find_config, load_config
    from .registry import available_profiles

    explicit = cfg.option_value(config, "config") or None
    profiles = cfg.option_value(config, "profile")
    invocation = Path(config.invocation_params.dir)
    arg_dirs = []
    for arg in config.args:
        path = Path(str(arg).split("::", 1)[0])
        path = path if path.is_absolute() else invocation / path
        arg_dirs.append(path if path.is_dir() else path.parent)
    found = find_config(explicit, Path(config.rootpath), arg_dirs, invocation)
    source, data = found if found is not None else (None, None)
    display = _display(source, Path(config.rootpath)) if source is not None else ""
    return load_config(
        source,
        data,
        display=display,
        cli_profiles=profiles,
        openapi_option=cfg.option_value(config, "openapi") or None,
        invocation_dir=invocation,
        registry=available_profiles(config),
    )


def _display(path: Path, rootdir: Path) -> str:
    try:
        return str(path.relative_to(rootdir))
    except ValueError:
        return str(path)


def register_secrets(smoke: SmokeConfig, redactor: Redactor) -> None:
    """Secrets from the environment, and literal credentials in the config, become redacted."""
    from .tables import flatten

    for env in smoke.env_names():
        redactor.register(os.environ.get(env) or None)
    for check in smoke.checks:
        pairs: list[tuple[str, object]] = [*check.headers, *check.query]
        pairs += parse_qsl(urlsplit(check.path).query)
        if check.body is not None and isinstance(check.body.value, dict):
            pairs += [(key.rpartition(".")[2], item) for key, item in flatten(check.body.value)]
        for name, literal in pairs:
            if isinstance(literal, str) and redactor.is_sensitive_name(name):
                redactor.register(literal)


class SmokePlugin:
    """Adds the declarative checks, profiles and built-in checks as items of the smoke gate."""

    def __init__(self, config: pytest.Config, smoke: SmokeConfig) -> None:
        self.config = config
        self.smoke = smoke
        self.builtin = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        from .collect import make_items
        from .plan import plan, use_builtin

        self.builtin = use_builtin(self.smoke, collected_tests=bool(items))
        planned = plan(self.smoke, builtin=self.builtin)
        new: list[pytest.Item] = []
        if planned:
            new += make_items(session, planned, self.smoke.source)
        if self.smoke.openapi is not None:
            from .openapi.items import make_openapi_items

            new += make_openapi_items(session, self.smoke.openapi, self.smoke.source)
        if not new:
            return
        # Lets the terminal's "collected N items" count them like collected tests.
        report = pytest.CollectReport("smoke", "passed", None, result=list(new))
        config.hook.pytest_collectreport(report=report)
        items.extend(new)

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        smoke = self.smoke
        if not smoke.configured:
            return [
                "opsgate: smoke: no opsgate.toml or [tool.opsgate]; the built-in checks run "
                "when no test is collected"
            ]
        where = _display(smoke.source, Path(config.rootpath)) if smoke.source else "options"
        profiles = sorted({p.profile.name for p in smoke.profiles})
        detail = f"{len(smoke.checks)} checks"
        if profiles:
            detail += f", profiles {', '.join(profiles)}"
        if smoke.openapi is not None:
            detail += f", OpenAPI {smoke.openapi.source} ({smoke.openapi.mode})"
        return [f"opsgate: smoke config {where} ({detail})"]

    def pytest_warning_recorded(self, warning_message: Any, nodeid: str) -> None:
        from . import SmokeFindingWarning

        category = getattr(warning_message, "category", None)
        if get_settings(self.config).is_worker or not (
            isinstance(category, type) and issubclass(category, SmokeFindingWarning)
        ):
            return
        get_state(self.config).notes.append(f"warning: {warning_message.message}")
