"""A hung test must not hold the pipeline: one time limit over setup, call and teardown.

SIGALRM on the main thread (POSIX); elsewhere, or when someone else owns the alarm, the
limit is not enforced and the summary says so.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

# Teardown always gets at least this long to clean up, even after the limit ran out.
TEARDOWN_GRACE_S = 5.0

_started_key = pytest.StashKey[float]()


class TestTimeoutError(BaseException):
    """A test ran past --gate-test-timeout (verdict ERROR).

    A BaseException, like pytest's own outcomes, so ``except Exception`` in the test cannot
    swallow it; the alarm also repeats every second until the test has stopped.
    """

    __test__ = False


def alarm_usable() -> bool:
    """True when the limit can be enforced here (main thread, SIGALRM free)."""
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)
    )


def remaining_s(item: pytest.Item, limit_s: float, when: str) -> float:
    """Seconds of ``limit_s`` left for phase ``when`` of ``item`` (the clock starts at setup)."""
    now = time.monotonic()
    started = item.stash.setdefault(_started_key, now)
    left = limit_s - (now - started)
    if when == "teardown":
        return max(left, min(TEARDOWN_GRACE_S, limit_s))
    return left


@contextlib.contextmanager
def time_limit(seconds: float, limit_s: float, nodeid: str, when: str) -> Iterator[None]:
    """Raise TestTimeoutError in the test once ``seconds`` have passed (``limit_s`` is shown)."""

    def expire(signum: int, frame: object) -> None:
        raise TestTimeoutError(
            f"{nodeid} still running after --gate-test-timeout={limit_s:g}s (in {when}); "
            "stopped it (raise the option if the test is meant to take longer)"
        )

    if seconds <= 0:
        expire(signal.SIGALRM, None)
    signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


class TimeLimitHooks:
    """Applies ``--gate-test-timeout`` to every test but load tests (own watchdog)."""

    def __init__(self, limit_s: float, exempt: Callable[[pytest.Item], bool]) -> None:
        self.limit_s = limit_s
        self.exempt = exempt

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        return (yield from self._limited(item, "setup"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        return (yield from self._limited(item, "call"))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, None, None]:
        return (yield from self._limited(item, "teardown"))

    def _limited(self, item: pytest.Item, when: str) -> Generator[None, None, None]:
        if not self.limit_s or self.exempt(item) or not alarm_usable():
            return (yield)
        with time_limit(remaining_s(item, self.limit_s, when), self.limit_s, item.nodeid, when):
            return (yield)
