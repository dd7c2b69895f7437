"""The opsgate extension as a file plain Locust loads with ``-f``, beside your locustfile.

    locust -f "$(python -m pytest_opsgate.gates.load.opsgate_locust),locustfiles/demo.py" \\
        --headless -u 10 -t 30s -H URL

Run as a module, this prints its own path (the first part of the comma-separated ``-f``:
loaded first, it is installed before a locustfile could keep ``events.request.fire``);
loaded by Locust as a locustfile, it installs the extension: exact-percentile SLOs, the
verdict and the exit code, for locustfiles that do not import it themselves. Locust loads
locustfiles by path as top-level modules, so this file imports the extension by its
absolute name, never relatively. It defines no User class: Locust takes those from the
other locustfiles.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    # Printing the path must not import Locust (which patches the process with gevent).
    sys.stdout.write(__file__ + "\n")
else:
    import pytest_opsgate.gates.load.locust_ext  # noqa: F401  (installs the listeners)
