"""``python -m pytest_opsgate.gates.load.launch [locust arguments]``: Locust with our extension.

The pytest load gate starts Locust this way, so any locustfile runs unchanged and still
gets exact-percentile SLOs, the JSON result and the gate's exit codes.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run Locust's own command line with the extension installed first."""
    # Forked worker processes inherit this; only the process pytest started watches pytest.
    os.environ["OPSGATE_ROOT_PID"] = str(os.getpid())
    import locust.main

    from . import locust_ext  # noqa: F401  (installs the listeners)

    sys.argv[0] = "locust"
    locust.main.main()  # type: ignore[no-untyped-call]


if __name__ == "__main__":
    main()
