"""Reports of a run: gate.json, gate.md, terminal, HTML, JUnit and per-test attachments."""
