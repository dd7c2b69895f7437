"""What a health answer says, in the words real services use; one table for every reader.

Readiness and the smoke gate's ``health_schema`` profile both read health through this
module, so a word cannot be healthy to one and unhealthy to the other. Formats:

- the seeds' schema: ``{"status": "ok" | "degraded", "checks": {...}, "version": ...}``;
- IETF health+json: ``pass`` / ``warn`` / ``fail`` (aliases ``ok``, ``up``; ``error``,
  ``down``). ``warn`` means "healthy, with some concerns": the gate does not promote a
  deploy on concerns, so it is **not ready** by default, like ``degraded``; accept it with
  ``--gate-ready-expect 'status in ["pass", "warn"]'``;
- Spring Boot Actuator and MicroProfile Health: ``UP``; ``DOWN``, ``OUT_OF_SERVICE`` and
  ``UNKNOWN`` are not ready (UNKNOWN answers 200 in Spring: an unknown state never is);
  a MicroProfile ``checks`` list with a ``DOWN`` entry is not ready either;
- ASP.NET Core's text writer: ``Healthy``; ``Degraded`` (sent with 200) and ``Unhealthy``;
- Kubernetes ``/readyz`` and ``/livez``: ``ok``, and with ``?verbose`` one ``[+]name ok`` or
  ``[-]name failed`` line per check: any ``[-]`` line is not ready;
- top-level booleans ``ok``, ``healthy``, ``ready``, ``up`` and ``alive``: ``false`` is not
  ready, whatever else the body says.

A word the table does not know is **not ready** (fail closed), and the message lists the
words that are ready and how to accept another. A 200 with an empty body, or a JSON body
with no health word at all, says nothing against readiness.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BOOLEAN_KEYS",
    "NOT_READY_WORDS",
    "READY_WORDS",
    "HealthReading",
    "accept_hint",
    "normalise",
    "read_json",
    "read_text",
]

READY_WORDS = frozenset(
    {"ok", "pass", "passing", "up", "healthy", "ready", "green", "alive", "serving"}
)
NOT_READY_WORDS = frozenset(
    {
        "degraded",
        "warn",
        "warning",
        "fail",
        "failed",
        "failing",
        "error",
        "down",
        "out_of_service",
        "unknown",
        "unhealthy",
        "not_ready",
        "not_serving",
        "starting",
        "red",
        "yellow",
        "critical",
        "maintenance",
    }
)
BOOLEAN_KEYS = ("ok", "healthy", "ready", "up", "alive")
STATUS_KEYS = ("status", "health")

State = Literal["ready", "not_ready", "unknown", "silent"]
_VERBOSE_LINE = re.compile(r"^\[([+-])\]\s*(\S+)\s*(.*)$")


@dataclass(frozen=True)
class HealthReading:
    """The verdict of one health body: ``silent`` means it carries no health word at all."""

    state: State
    word: str | None = None  # the word as the service wrote it
    where: str = ""  # "status", "text", "ok", "checks[2]", "[-]etcd"
    detail: str = ""

    @property
    def ready(self) -> bool:
        """Ready, or nothing said against it."""
        return self.state in ("ready", "silent")


def normalise(word: str) -> str:
    """``OUT_OF_SERVICE``, ``Out of service`` and ``out-of-service`` read the same."""
    return re.sub(r"[\s-]+", "_", word.strip().strip(".!").lower())


def _judge_word(word: str, where: str) -> HealthReading:
    key = normalise(word)
    shown = json.dumps(word)
    if key in READY_WORDS:
        return HealthReading("ready", word, where, f"{where} is {shown}")
    if key in NOT_READY_WORDS:
        return HealthReading("not_ready", word, where, f"{where} is {shown}")
    return HealthReading(
        "unknown", word, where, f"{where} is {shown}, a health word the gate does not know"
    )


def read_json(doc: object) -> HealthReading:
    """The reading of a JSON health body (any negative signal wins)."""
    if not isinstance(doc, dict):
        return HealthReading("silent")
    for key in BOOLEAN_KEYS:
        value = doc.get(key)
        if value is False:
            return HealthReading("not_ready", "false", key, f"{key} is false")
    reading = HealthReading("silent")
    for key in STATUS_KEYS:
        value = doc.get(key)
        if isinstance(value, str):
            reading = _judge_word(value, key)
            break
        if value is not None and not isinstance(value, (dict, list)):
            return HealthReading("unknown", json.dumps(value), key, f"{key} is {json.dumps(value)}")
    if reading.state != "ready" and reading.state != "silent":
        return reading
    down = _microprofile_down(doc.get("checks"))
    if down is not None:
        return down
    if reading.state == "silent" and any(doc.get(key) is True for key in BOOLEAN_KEYS):
        key = next(key for key in BOOLEAN_KEYS if doc.get(key) is True)
        return HealthReading("ready", "true", key, f"{key} is true")
    return reading


def _microprofile_down(checks: object) -> HealthReading | None:
    """MicroProfile lists checks as ``[{"name": ..., "status": "UP"|"DOWN"}]``."""
    if not isinstance(checks, list):
        return None
    for index, check in enumerate(checks):
        status = check.get("status") if isinstance(check, dict) else None
        if isinstance(status, str) and normalise(status) == "down":
            name = check.get("name", index)
            return HealthReading("not_ready", status, f"checks[{index}]", f"check {name!r} is DOWN")
    return None


def read_text(text: str) -> HealthReading:
    """The reading of a text health body: one word, or Kubernetes' verbose check lines."""
    stripped = text.strip()
    if not stripped:
        return HealthReading("silent")
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    verbose = [match for line in lines if (match := _VERBOSE_LINE.match(line))]
    if verbose:
        failed = [m for m in verbose if m.group(1) == "-"]
        if failed:
            names = ", ".join(m.group(2) for m in failed)
            return HealthReading(
                "not_ready", lines[-1], f"[-]{failed[0].group(2)}", f"checks failed: {names}"
            )
        if lines[-1].lower().endswith("check failed"):
            return HealthReading("not_ready", lines[-1], "text", lines[-1])
        return HealthReading("ready", lines[-1], "text", f"{len(verbose)} checks passed")
    if len(lines) == 1 and len(lines[0]) <= 60:
        return _judge_word(lines[0], "the body")
    return HealthReading(
        "unknown", _excerpt(stripped), "the body", "the body is free text, not a health word"
    )


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 60 else flat[:57] + "..."


def accept_hint(reading: HealthReading) -> str:
    """How to accept this answer as ready, naming the option."""
    accepted = ", ".join(sorted(READY_WORDS))
    if reading.word is None:
        return f"ready words are {accepted}"
    words = json.dumps(["ok", reading.word])
    return (
        f"ready words are {accepted}; to accept {json.dumps(reading.word)} as ready, pass "
        f"--gate-ready-expect 'status in {words}'"
    )
