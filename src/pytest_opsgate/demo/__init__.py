"""The bundled demo service: the default target every opsgate gate is shown and tested against.

Start it in-process with `start_demo()` or as `python -m pytest_opsgate.demo`.
"""

from __future__ import annotations

from pytest_opsgate.demo._auth import webhook_signature
from pytest_opsgate.demo._options import (
    ADMIN_KEY,
    DEMO_PASSWORD,
    DEV_KEY,
    LOAD_KEY,
    READONLY_KEY,
    WEBHOOK_SECRET,
    DemoOptions,
    RateLimit,
)
from pytest_opsgate.demo._server import DemoServer, start_demo

__all__ = [
    "ADMIN_KEY",
    "DEMO_PASSWORD",
    "DEV_KEY",
    "LOAD_KEY",
    "READONLY_KEY",
    "WEBHOOK_SECRET",
    "DemoOptions",
    "DemoServer",
    "RateLimit",
    "start_demo",
    "webhook_signature",
]
