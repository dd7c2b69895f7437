"""The smoke gate: declarative HTTP checks, profiles, OpenAPI contract checks, and built-in
checks for zero configuration.

One run, in module order: ``plugin`` finds and validates the configuration (``config`` with
``tables``; each profile's table through ``registry``), ``plan`` orders the checks into
named items, ``collect`` makes them pytest items, and each runs with a ``context``
(``checks`` for ``[[checks]]``, ``profiles/<name>.py`` for a profile, ``openapi/`` for the
contract checks). To add a profile, see ``profiles/__init__.py``.
"""

from __future__ import annotations


class SmokeFindingWarning(UserWarning):
    """A smoke profile in ``warn`` mode found a problem, e.g. a missing security header."""
