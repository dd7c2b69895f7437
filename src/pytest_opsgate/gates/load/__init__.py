"""The load gate: Locust in child processes, judged by exact-percentile SLOs.

The pytest side (light, never imports Locust): ``plugin`` (collects each locustfile as a
``pytest.File`` with one item, runs it), ``settings`` (resolved run settings, the loopback
safety check), ``options`` (option value parsers), ``process`` (the child-process runner),
``terminal`` (start, progress and failure lines) and ``result`` (the typed result both sides
share). Pure bookkeeping, testable without Locust: ``recorder`` (per-second bins, service
and corrected latencies), ``merge`` (workers' snapshots added up), ``arrivals`` (the open
model's clock), ``outcome`` (early abort, falling behind, the verdict) and ``conclude`` (the
end of a run). Inside Locust processes only: ``locust_ext`` (the extension's listeners),
``open_model`` (arrivals on pooled users), ``inflight`` (requests not yet answered),
``supervise`` (watching a run), ``monitor`` (CPU and event-loop lag), ``locust_args`` and
``launch``;
``opsgate_locust`` is the extension as a file for plain ``locust -f``. Importing this
package imports nothing heavy.
"""
