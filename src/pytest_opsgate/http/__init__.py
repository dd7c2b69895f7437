"""The one bounded HTTP client and transport, and redaction of secrets at capture time."""
