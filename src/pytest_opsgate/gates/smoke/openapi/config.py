"""``[openapi]`` in opsgate.toml and ``--gate-openapi``: where the document is and what to send.

Pure data and validation; nothing here imports Schemathesis or sends a request.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ....errors import GateUsageError
from ..tables import Table

if TYPE_CHECKING:
    from ..spec import Credential

Mode = Literal["examples", "fuzz"]
MODES: tuple[Mode, ...] = ("examples", "fuzz")
# Methods that must not change state: the only ones sent in "examples" mode (production).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_MAX_EXAMPLES = 10
DEFAULT_TIME_LIMIT_S = 60.0
DEFAULT_MAX_REQUESTS = 200
KEYS = (
    *("url", "path", "include", "exclude", "auth", "mode"),
    *("max_examples", "time_limit", "max_requests"),
)
INSTALL_HINT = "pip install 'pytest-opsgate[openapi]'"


@dataclass(frozen=True)
class OpenAPIConfig:
    """Where the OpenAPI document is, which operations to check, and the phase's bounds."""

    where: str  # "[openapi] in opsgate.toml" or "--gate-openapi", for messages
    url: str | None = None  # an absolute URL, or a path on the target ("/openapi.json")
    file: Path | None = None  # a document on disk
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    credential: Credential | None = None
    mode: Mode = "examples"
    max_examples: int = DEFAULT_MAX_EXAMPLES  # generated cases per operation, fuzz mode only
    time_limit_s: float = DEFAULT_TIME_LIMIT_S  # the whole phase, every operation together
    max_requests: int = DEFAULT_MAX_REQUESTS  # the whole phase

    @property
    def source(self) -> str:
        """The document as the user named it."""
        return str(self.file) if self.file is not None else str(self.url)

    def selects(self, method: str, path: str, operation_id: str | None) -> bool:
        """Whether include/exclude keep an operation (patterns match path, id or "GET /path")."""
        if self.include and not any(matches(p, method, path, operation_id) for p in self.include):
            return False
        return not any(matches(p, method, path, operation_id) for p in self.exclude)


def matches(pattern: str, method: str, path: str, operation_id: str | None) -> bool:
    """Whether ``/api/items*``, ``getItem`` or ``GET /api/items/{id}`` names the operation."""
    if operation_id is not None and pattern == operation_id:
        return True
    if fnmatch.fnmatchcase(path, pattern):
        return True
    verb, _, rest = pattern.partition(" ")
    return bool(rest) and verb.upper() == method.upper() and fnmatch.fnmatchcase(path, rest.strip())


def read_openapi(top: Table, *, base_dir: Path | None, option_given: bool) -> OpenAPIConfig:
    """Validate ``[openapi]``; with ``--gate-openapi`` given, url and path may be left out."""
    section = f"[{top.prefix}openapi]"
    t = Table(top.raw("openapi", {}), top.file, section)
    url = t.opt_string("url")
    path = t.opt_string("path")
    if url is not None and path is not None:
        t.fail(
            "and 'path' are both set; name the document once (url on a server, path on disk)", "url"
        )
    if url is not None and not is_url_or_target_path(url):
        t.fail(
            f"is {url!r}; give an absolute URL (https://host/openapi.json) or a path on the "
            'target ("/openapi.json"); a file on disk goes in path',
            "url",
        )
    file = None
    if path is not None:
        file = Path(path)
        if not file.is_absolute() and base_dir is not None:
            file = base_dir / file
        if not option_given and not file.is_file():
            t.fail(
                f"is {path!r}, and {file} does not exist; fix the path (relative to {top.file})",
                "path",
            )
    if not option_given and url is None and file is None:
        t.fail(
            'is missing; set url = "/openapi.json" (a path on the target), an absolute URL, '
            "or path = a file on disk (or pass --gate-openapi)",
            "url",
        )
    mode = t.choice("mode", MODES, "examples")
    if t.has("max_examples") and mode != "fuzz":
        t.fail(
            'applies to mode = "fuzz" only; examples mode sends each documented example once',
            "max_examples",
        )
    config = OpenAPIConfig(
        where=f"{section} in {top.file}",
        url=url,
        file=file,
        include=t.string_list("include"),
        exclude=t.string_list("exclude"),
        credential=t.credential("auth"),
        mode=mode,  # type: ignore[arg-type]
        max_examples=t.integer("max_examples", DEFAULT_MAX_EXAMPLES, 1, 1000),
        time_limit_s=t.duration("time_limit", DEFAULT_TIME_LIMIT_S) or DEFAULT_TIME_LIMIT_S,
        max_requests=t.integer("max_requests", DEFAULT_MAX_REQUESTS, 1, 100_000),
    )
    t.finish(KEYS)
    return config


def with_option(config: OpenAPIConfig, option: str, invocation_dir: Path) -> OpenAPIConfig:
    """``--gate-openapi URL|PATH`` names the document; the rest of the config stays."""
    from dataclasses import replace

    candidate = Path(option)
    if not candidate.is_absolute():
        candidate = invocation_dir / candidate
    if option.startswith(("http://", "https://")):
        return replace(config, where="--gate-openapi", url=option, file=None)
    if candidate.is_file():
        return replace(config, where="--gate-openapi", url=None, file=candidate)
    if option.startswith("/"):
        return replace(config, where="--gate-openapi", url=option, file=None)
    raise GateUsageError(
        f"--gate-openapi {option}: no such file; pass an absolute URL, a path on the target "
        "(/openapi.json) or the path of an OpenAPI document on disk"
    )


def is_url_or_target_path(text: str) -> bool:
    """``https://host/openapi.json`` or ``/openapi.json``."""
    if text.startswith(("http://", "https://")):
        return len(text.split("://", 1)[1]) > 0
    return text.startswith("/") and not text.startswith("//") and not any(c.isspace() for c in text)


def require_schemathesis(where: str) -> None:
    """A usage error naming the install command when Schemathesis is missing (no import)."""
    import importlib.util

    try:
        found = importlib.util.find_spec("schemathesis") is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules: blocked
        found = False
    if not found:
        raise GateUsageError(
            f"{where} asks for OpenAPI checks, which need Schemathesis; run {INSTALL_HINT}"
        )
