"""One access line per request, with secrets in query strings masked."""

from __future__ import annotations

import logging
import re
import threading
from typing import TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit

_SENSITIVE = re.compile(r"key|token|secret|pass|sig|auth|session|csrf|code|cred", re.IGNORECASE)
_log = logging.getLogger("pytest_opsgate.demo.access")


def loggable_target(target: str) -> str:
    """Return a request target with the values of secret-looking query parameters masked."""
    parts = urlsplit(target)
    if not parts.query:
        return parts.path
    pairs = [
        (name, "[REDACTED]" if _SENSITIVE.search(name) else value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return f"{parts.path}?{urlencode(pairs, safe='[]/')}"


class AccessLog:
    """Writes access lines to a file, or to the `pytest_opsgate.demo.access` logger."""

    def __init__(self, path: str | None) -> None:
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        if path is not None:
            self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115

    def write(self, line: str) -> None:
        """Record one line; a closed destination drops it rather than failing a request."""
        if self._file is None:
            _log.info("%s", line)
            return
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")

    def close(self) -> None:
        """Close the file, if any."""
        with self._lock:
            if self._file is not None:
                self._file.close()
