"""The load gate: Locust in child processes, judged by exact-percentile SLOs.

Modules: ``options`` (pytest options, light), ``settings`` (resolved run settings and the
loopback safety check), ``recorder`` and ``outcome`` (pure bookkeeping: per-second bins,
merging workers, early abort, verdicts), ``locust_ext``, ``locust_args``, ``monitor`` and
``launch`` (imported only inside Locust processes), ``process`` (the child-process
runner) and ``plugin`` (pytest items; its chart comes from ``report.chart``). Importing this package
imports nothing heavy.
"""
