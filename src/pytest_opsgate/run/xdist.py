"""xdist: readiness facts go to the workers; traffic, SLO results and errors come back."""

from __future__ import annotations

from typing import Any

import pytest

from .state import get_state


class XdistHooks:
    """Registered only when pytest-xdist is active."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        state = get_state(self.config)
        if state.readiness is not None:
            node.workerinput["opsgate_target"] = {
                "version": state.readiness.version,
                "ready_after_s": state.readiness.waited_s,
                "path": state.readiness.path,
            }

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        state = get_state(self.config)
        data = getattr(node, "workeroutput", {}).get("opsgate")
        if data:
            state.merge_workeroutput(data)
        if error is not None:
            # A worker that died took its measurements with it: never judge what is left.
            name = getattr(getattr(node, "gateway", None), "id", "?")
            state.errors.append(f"xdist worker {name} died ({error}); its results are lost")
