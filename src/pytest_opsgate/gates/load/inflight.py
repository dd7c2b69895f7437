"""Requests sent and not yet answered, so that no decision overlooks them.

Locust reports a request only when it ends. A request still waiting when the load stops is
killed with its user and never reported, so a target that hangs (or answers some requests
very late) would leave nothing but its fast answers in the figures. :class:`InFlight` wraps
the ``request`` method of Locust's HTTP clients to know what is in flight: the early PASS
counts those requests as violations (:class:`.early.EarlyJudge`), a request killed after
waiting longer than any latency budget is reported as a failure, and requests that wait long
with none answered meanwhile mean the target hangs (:meth:`.merge.SnapshotMerger.target_hung`).
Nothing here imports Locust (only gevent, for its GreenletExit); :mod:`.locust_ext` installs
the wrapper.
"""

from __future__ import annotations

import functools
import itertools
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import gevent
from gevent import GreenletExit, Timeout

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["InFlight"]

# Set on a wrapped method, so wrapping twice (two installs) is a no-op.
_MARK = "_opsgate_inflight"
_NO_KWARGS: dict[str, Any] = {}


class InFlight:
    """The requests of this process sent and not yet answered."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        # token -> (sent at, method, client, url, args, kwargs, greenlet)
        self._open: dict[int, tuple[Any, ...]] = {}
        self._serial = itertools.count()
        self._last_end: float | None = None  # when a request last ended (answered or failed)
        # Called with (method, name, waited ms) when a request's user is killed mid-request.
        self.on_killed: Callable[[str, str, float], None] | None = None
        # Called the same way when a task's own gevent.Timeout abandons a request its client
        # does not report (Locust's HttpSession lets the Timeout through without an event).
        self.on_timeout: Callable[[str, str, float], None] | None = None

    def count(self) -> int:
        """How many requests are in flight now."""
        return len(self._open)

    def silent_s(self, now: float | None = None) -> float:
        """How long requests have waited with none ending meanwhile: 0 when none waits, else
        the time since the last request ended or since the oldest waiting one was sent."""
        if not self._open:
            return 0.0
        now = self.clock() if now is None else now
        oldest: float = min(entry[0] for entry in self._open.values())
        since = now - oldest
        if self._last_end is not None:
            since = min(since, now - self._last_end)
        return max(0.0, since)

    def begin(self, method: str, name: str) -> int:
        """Note a request sent now; its token for :meth:`end`."""
        token = next(self._serial)
        self._open[token] = (self.clock(), method, None, name, (), _NO_KWARGS, gevent.getcurrent())
        return token

    def waiting(self, greenlet: Any) -> tuple[str, str] | None:
        """The request (method, name) ``greenlet`` is waiting on, if any."""
        for _started, method, client, url, args, kwargs, owner in self._open.values():
            if owner is greenlet:
                return str(method), _label(client, url, args, kwargs)
        return None

    def end(self, token: int, *, killed: bool = False) -> None:
        """The request of ``token`` ended; ``killed``: without an answer, its user killed."""
        entry = self._open.pop(token, None)
        if not killed:
            self._last_end = self.clock()
        if killed:
            self._report(entry, self.on_killed)

    def _report(
        self, entry: tuple[Any, ...] | None, to: Callable[[str, str, float], None] | None
    ) -> None:
        """Tell ``to`` about an unanswered request: its method, name and wait in ms."""
        if entry is None or to is None:
            return
        started, method, client, url, args, kwargs, _owner = entry
        to(str(method), _label(client, url, args, kwargs), (self.clock() - started) * 1000)

    def wrap(self, client_class: Any) -> None:
        """Track every request of ``client_class`` (Locust's HttpSession, FastHttpSession)."""
        request = client_class.request
        if getattr(request, _MARK, False):
            return

        # Every request passes here: what begin() and end() do, inlined, and the request's
        # name worked out only when someone asks (a killed or waiting request, rare).
        opened, serial, clock, current = self._open, self._serial, self.clock, gevent.getcurrent

        @functools.wraps(request)
        def tracked(client: Any, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
            token = next(serial)
            opened[token] = (clock(), method, client, url, args, kwargs, current())
            try:
                return request(client, method, url, *args, **kwargs)
            except GreenletExit:
                self.end(token, killed=True)
                raise
            except Timeout:
                self._last_end = clock()
                self._report(opened.pop(token, None), self.on_timeout)
                raise
            finally:
                if opened.pop(token, None) is not None:  # answered or failed, not killed
                    self._last_end = clock()

        setattr(tracked, _MARK, True)
        client_class.request = tracked


def _label(client: Any, url: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """The name Locust would report the request under, as near as it can be told up front."""
    name = kwargs.get("name") or (args[0] if args and isinstance(args[0], str) else None)
    name = name or getattr(client, "request_name", None)  # Locust's rename_request()
    if name:
        return str(name)
    text = url.decode() if isinstance(url, bytes) else str(url)
    if "://" in text:
        parts = urlsplit(text)
        return parts.path or "/"
    return text
