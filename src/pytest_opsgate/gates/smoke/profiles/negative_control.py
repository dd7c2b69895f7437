"""``negative_control``: a path that cannot exist must not answer 2xx, or a catch-all server
(an SPA fallback, a wildcard route) would make every other check's 2xx meaningless."""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..registry import Profile, ProfileCheck

if TYPE_CHECKING:
    from ..context import Context
    from ..spec import Credential
    from ..tables import Table

DEFAULT_PATH = "/opsgate-negative-control-{random}"
RANDOM = "{random}"  # replaced by fresh hex on every request


@dataclass(frozen=True)
class NegativeControl:
    """The settings of ``negative_control``."""

    paths: tuple[str, ...] = (DEFAULT_PATH,)
    method: str = "GET"
    credential: Credential | None = None
    optional: bool = False


def read(t: Table) -> NegativeControl:
    """Validate ``[negative_control]``."""
    return NegativeControl(
        paths=t.paths("paths", (DEFAULT_PATH,)),
        method=t.method(),
        credential=t.credential("auth"),
        optional=t.boolean("optional", False),
    )


def checks(profile: NegativeControl) -> list[ProfileCheck]:
    """``negative_control`` for one path, ``negative_control GET /path`` for each of several."""
    single = len(profile.paths) == 1
    return [
        ProfileCheck(
            "" if single else f"{profile.method} {path}",
            functools.partial(negative_control, profile=profile, path=path),
        )
        for path in profile.paths
    ]


PROFILE = Profile(
    name="negative_control",
    read=read,
    checks=checks,
    keys=("paths", "method", "auth", "optional"),
    order=20,
    zero_config=("fail", NegativeControl()),
)


def negative_control(ctx: Context, profile: NegativeControl, path: str) -> list[str]:
    """A path that cannot exist must not answer 2xx."""
    secret = None
    if profile.credential is not None:
        secret = ctx.secret(profile.credential.env, optional=profile.optional)
    actual = path.replace(RANDOM, secrets.token_hex(8))
    # Recorded under the path as configured ("GET /opsgate-negative-control-{random}"), so
    # a baseline finds the same endpoint in every run instead of a new random one.
    name = f"{profile.method} {path.split('?', 1)[0]}"
    response = ctx.send(
        profile.method, actual, credential=profile.credential, secret=secret, name=name
    )
    status = response.status_code
    if 200 <= status < 300:
        return [
            f"{profile.method} {actual} answered {status} for a path that cannot exist: the "
            "server answers every path (a catch-all route or SPA fallback), so a 2xx from a "
            "check proves nothing; answer 404 for unknown paths"
        ]
    ctx.note(f"{profile.method} {actual} -> {status}")
    return []
