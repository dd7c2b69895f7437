"""What counts as a successful request in the run's figures, for every recorder alike.

A request sent by ``gate_slo.sample`` succeeds when its status is the one the sample expects
(any 2xx by default: gate_client follows no redirect, so a 3xx is a login page or a moved
host, not the answer). The sample says so through a context variable while it sends,
so the run's store, the baseline's store (``--gate-baseline-url``) and the sample's own
figures judge the same request the same way: a canary that answers 404 or redirects to a
login page on every sample is failing, never "faster" than its baseline. A request outside
a sample (``gate_client`` in a check that asks for a 401 on purpose) fails only on a
transport error or a 5xx.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["expected_status", "expecting", "request_ok"]

Expect = Union[int, "Sequence[int]", None]
_OUTSIDE = object()  # no sample is sending: the lenient rule
_EXPECT: ContextVar[object] = ContextVar("opsgate_expect", default=_OUTSIDE)


def expected_status(status: int, expect: Expect) -> bool:
    """A sample's rule: any 2xx by default, else exactly the expected status(es)."""
    if expect is None:
        return 200 <= status < 300
    if isinstance(expect, int):
        return status == expect
    return status in expect


@contextlib.contextmanager
def expecting(expect: Expect) -> Iterator[None]:
    """While inside, recorders judge requests by ``expect`` (see :func:`expected_status`)."""
    token = _EXPECT.set(expect)
    try:
        yield
    finally:
        _EXPECT.reset(token)


def request_ok(error: object, status: int | None) -> bool:
    """Whether a recorded request succeeded, by the rule in force where it was sent."""
    if error is not None or status is None:
        return False
    expect = _EXPECT.get()
    if expect is _OUTSIDE:
        return status < 500
    return expected_status(status, expect)  # type: ignore[arg-type]
