"""Which browser the E2E gate launches, and with which flags (pure: no Playwright import)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

# Tried in order after --gate-browser-executable; Debian's package installs /usr/bin/chromium.
SYSTEM_BROWSERS = (
    "/usr/bin/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)

# Without these a fresh profile phones home (component updates, sync, field trials), which a
# CI job without internet waits on, and /dev/shm in containers is too small for renderers.
HEADLESS_CI_ARGS = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-dev-shm-usage",
)
# Chromium refuses to start its sandbox as root; only then is it switched off.
ROOT_ONLY_ARGS = ("--no-sandbox",)

INSTALL_HINT = (
    "install one with `apt-get install chromium` (Debian/Ubuntu) or "
    "`playwright install chromium`, or pass --gate-browser-executable PATH"
)


class BrowserNotFoundError(Exception):
    """No usable browser binary; the message says what to install."""


@dataclass(frozen=True)
class BrowserChoice:
    """The browser to launch: a binary path, or None for Playwright's own download."""

    executable: str | None
    source: str  # "--gate-browser-executable", "system" or "playwright"

    def describe(self) -> str:
        """One line for the report header."""
        if self.executable is None:
            return "Playwright's installed chromium"
        return f"{self.executable} ({self.source})"


def _is_executable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def find_browser(
    explicit: str | None,
    *,
    which: Callable[[str], str | None] = shutil.which,
    is_executable: Callable[[str], bool] = _is_executable,
    playwright_chromium: Callable[[], bool] | None = None,
) -> BrowserChoice:
    """``--gate-browser-executable``, else a system Chromium, else Playwright's chromium."""
    if explicit:
        path = which(explicit) if os.sep not in explicit else explicit
        if path is None or not is_executable(path):
            raise BrowserNotFoundError(
                f"--gate-browser-executable {explicit!r} is not an executable file; "
                "pass the full path of a Chromium or Chrome binary"
            )
        return BrowserChoice(path, "--gate-browser-executable")
    for candidate in SYSTEM_BROWSERS:
        path = candidate if os.sep in candidate else which(candidate)
        if path is not None and is_executable(path):
            return BrowserChoice(path, "system")
    has_playwright = playwright_chromium or (lambda: playwright_has("chromium"))
    if has_playwright():
        return BrowserChoice(None, "playwright")
    raise BrowserNotFoundError(f"--gate=e2e found no Chromium on this machine; {INSTALL_HINT}")


def launch_args(euid: int | None = None) -> list[str]:
    """Chromium flags for a headless CI run; ``--no-sandbox`` only as root."""
    if euid is None:
        euid = os.geteuid() if hasattr(os, "geteuid") else -1
    args = list(HEADLESS_CI_ARGS)
    if euid == 0:
        args[:0] = ROOT_ONLY_ARGS
    return args


def merge_launch_options(
    user: Mapping[str, Any], choice: BrowserChoice | None, args: list[str]
) -> dict[str, Any]:
    """The user's launch options plus ours; an explicit choice of theirs always wins."""
    merged = dict(user)
    if choice is not None and choice.executable and not merged.get("channel"):
        merged.setdefault("executable_path", choice.executable)
    theirs = [str(arg) for arg in merged.get("args") or []]
    named = {arg.split("=", 1)[0] for arg in theirs}
    merged["args"] = theirs + [arg for arg in args if arg.split("=", 1)[0] not in named]
    return merged


# ---------------------------------------------------------------- Playwright's own downloads


def playwright_registry_dir(
    env: Mapping[str, str] | None = None, platform: str = sys.platform, home: Path | None = None
) -> Path | None:
    """Where ``playwright install`` puts browsers, computed the way Playwright does."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    configured = env.get("PLAYWRIGHT_BROWSERS_PATH")
    if configured == "0":
        spec = importlib.util.find_spec("playwright")
        if spec is None or spec.origin is None:
            return None
        return Path(spec.origin).parent / "driver" / "package" / ".local-browsers"
    if configured:
        return Path(configured).absolute()
    if platform.startswith("linux"):
        cache = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else home / ".cache"
    elif platform == "darwin":
        cache = home / "Library" / "Caches"
    elif platform == "win32":
        local = env.get("LOCALAPPDATA")
        cache = Path(local) if local else home / "AppData" / "Local"
    else:
        return None
    return cache / "ms-playwright"


def playwright_revisions() -> dict[str, str]:
    """Browser revisions the installed Playwright expects, from its ``browsers.json``."""
    spec = importlib.util.find_spec("playwright")
    if spec is None or spec.origin is None:
        return {}
    path = Path(spec.origin).parent / "driver" / "package" / "browsers.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(b["name"]): str(b["revision"]) for b in data.get("browsers", []) if "name" in b}


def installed_in_registry(registry: Path | None, name: str, revision: str | None) -> bool:
    """Whether ``playwright install`` completed for ``name`` (any revision if unknown)."""
    if registry is None or not registry.is_dir():
        return False
    prefix = name.replace("-", "_") + "-"
    pattern = f"{prefix}{revision}" if revision else f"{prefix}*"
    return any((folder / "INSTALLATION_COMPLETE").is_file() for folder in registry.glob(pattern))


def playwright_has(name: str) -> bool:
    """Whether Playwright's own ``name`` (chromium, ffmpeg, ...) is installed for this version."""
    registry = playwright_registry_dir()
    revisions = playwright_revisions()
    if name == "chromium":
        return any(
            installed_in_registry(registry, candidate, revisions.get(candidate))
            for candidate in ("chromium-headless-shell", "chromium")
        )
    return installed_in_registry(registry, name, revisions.get(name))
