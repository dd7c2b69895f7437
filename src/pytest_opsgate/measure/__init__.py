"""Measurements: latency histograms, per-endpoint metrics and sampling."""
