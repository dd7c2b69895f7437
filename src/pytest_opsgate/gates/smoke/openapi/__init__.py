"""OpenAPI contract checks in the smoke gate: one item per operation, checked by Schemathesis.

``config`` reads ``[openapi]`` (pure, light); ``document`` loads the document and lists its
operations; ``cases`` turns an operation into requests and judges the responses; ``items``
makes the pytest items. Only ``config`` is imported unless the phase is configured, so a
smoke run without it never imports Schemathesis.
"""
