"""``python -m pytest_opsgate.settings``: print the README's option tables."""

from __future__ import annotations

from .readme import render_option_tables

print(render_option_tables())
