"""The built-in smoke profiles, one module each, offered through ``pytest_opsgate_smoke_profiles``.

To add a profile, write a module like ``cors.py``: a frozen dataclass of its settings, ``read``
(its TOML table to settings, with :class:`~pytest_opsgate.gates.smoke.tables.Table`'s strict
getters), ``checks`` (settings to items, each a function of a
:class:`~pytest_opsgate.gates.smoke.context.Context` returning findings) and one
:class:`~pytest_opsgate.gates.smoke.registry.Profile` value. A built-in one goes into
:data:`BUILTIN` below; anyone else returns it from the hook in a plugin or ``conftest.py``::

    def pytest_opsgate_smoke_profiles():
        return [MY_PROFILE]

(Profiles are read when pytest configures, so a ``conftest.py`` offering one must be an
initial conftest: in the rootdir, or in a folder named on the command line.)

Its table is then read from opsgate.toml (``[my_profile]``), ``--gate-profile my_profile``
turns it on, and its checks run as the items ``smoke::my_profile ...``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from . import (
    auth,
    cors,
    csrf,
    health_schema,
    negative_control,
    rate_limit,
    security_headers,
    webhook_hmac,
)

# One table of health words for readiness and the health_schema profile (target/health.py).
from .health_schema import HEALTHY, UNHEALTHY

if TYPE_CHECKING:
    from ..registry import Profile

__all__ = ["BUILTIN", "HEALTHY", "UNHEALTHY", "BuiltinProfiles"]

# In the order --help and error messages list them; Profile.order decides the run order.
BUILTIN: tuple[Profile[Any], ...] = (
    security_headers.PROFILE,
    rate_limit.PROFILE,
    auth.PROFILE,
    csrf.PROFILE,
    webhook_hmac.PROFILE,
    cors.PROFILE,
    negative_control.PROFILE,
    health_schema.PROFILE,
)


class BuiltinProfiles:
    """Offers the built-in profiles through the hook, as any plugin does."""

    @pytest.hookimpl(tryfirst=True)  # the built-ins come first in every listing
    def pytest_opsgate_smoke_profiles(self) -> list[Profile[Any]]:
        """The eight built-in profiles."""
        return list(BUILTIN)
