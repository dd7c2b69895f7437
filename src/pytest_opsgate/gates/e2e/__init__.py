"""The E2E gate: Playwright browser flows through pytest-playwright, with a system Chromium.

Importing this package is light; Playwright is imported only by :mod:`.plugin` and
:mod:`.page`, once ``--gate=e2e`` is selected.
"""

from __future__ import annotations
