"""The target under test: stack commands, readiness polling, health formats, expectations."""
