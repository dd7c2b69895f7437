"""Measurements and the statistics that judge them."""
