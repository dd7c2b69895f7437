"""Measurements: latency histograms, per-endpoint metrics, sampling, and the statistics that
compare two runs."""
