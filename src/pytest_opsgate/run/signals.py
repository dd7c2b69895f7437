"""SIGTERM (a cancelled CI job) stops a gate run the way Ctrl-C does: verdict ABORTED."""

from __future__ import annotations

import signal
import threading

SIGTERM_MESSAGE = "received signal 15 (SIGTERM)"


def abort_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt, so the stop command and the evidence still run."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return  # someone else owns SIGTERM; leave it to them

    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        raise KeyboardInterrupt(SIGTERM_MESSAGE)

    signal.signal(signal.SIGTERM, interrupt)


def signal_name(exc: BaseException) -> str:
    """What stopped the run, in words, from the KeyboardInterrupt that stopped it."""
    text = str(exc)
    if text.startswith("received signal"):
        return text.removeprefix("received ")
    return "SIGINT (Ctrl-C)"
