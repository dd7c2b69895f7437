"""The gates, each imported only when selected: smoke, e2e, load."""
