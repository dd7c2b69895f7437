"""The demo's OpenAPI 3 document, served at ``/openapi.json``.

It describes what the handlers in ``_api`` and the policies in ``_app`` really answer,
including the 401/403/429 a key, a role or the rate limit produce, so a contract check of
the demo passes only while the two agree. Injected faults (``--error-rate``) are left out on
purpose: a 500 from them is a drift the gate should report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_opsgate.demo._api import DEFAULT_PAGE, MAX_NAME, MAX_PAGE
from pytest_opsgate.demo._http import Response, json_response

if TYPE_CHECKING:
    from pytest_opsgate.demo._auth import Role
    from pytest_opsgate.demo._http import Request
    from pytest_opsgate.demo._state import DemoState

_JSON = "application/json"
_KEYED: list[dict[str, list[str]]] = [{"apiKey": []}, {"bearer": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return {"$ref": f"#/components/responses/{description}"}


_PAGE_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
        "example": 10,
    },
    {
        "name": "offset",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "default": 0},
        "example": 0,
    },
]


def _list_items(operation_id: str, summary: str, *, keyed: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": _json("One page of items in id order", _ref("ItemPage")),
        "422": _error("Invalid"),
    }
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "parameters": _PAGE_PARAMETERS,
        "responses": responses,
    }
    if keyed:
        responses.update({"401": _error("Unauthorized"), "429": _error("RateLimited")})
        operation["security"] = _KEYED
    else:
        operation["security"] = []
    return operation


def _create_item(operation_id: str, summary: str, *, keyed: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "201": {
            **_json("The item as stored", _ref("Item")),
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        "422": _error("Invalid"),
    }
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "requestBody": {
            "required": True,
            "content": {
                _JSON: {"schema": _ref("NewItem"), "example": {"name": "Hammer", "price": 19.99}}
            },
        },
        "responses": responses,
    }
    if keyed:
        responses.update(
            {
                "401": _error("Unauthorized"),
                "403": _error("Forbidden"),
                "429": _error("RateLimited"),
            }
        )
        operation["security"] = _KEYED
    else:
        operation["security"] = []
    return operation


def openapi_document(version: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.0 document of the demo's JSON API."""
    health_responses = {
        "200": _json("Ok, or degraded: a dependency failed", _ref("Health")),
        "503": _json("Still starting (Retry-After says for how long)", _ref("Health")),
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "pytest-opsgate demo service",
            "version": version or "demo",
            "description": "The bundled demo target of pytest-opsgate.",
        },
        "paths": {
            "/api/health": {
                "get": {
                    "operationId": "getHealth",
                    "summary": "Health document: status, checks and version",
                    "security": [],
                    "responses": health_responses,
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "getLiveness",
                    "summary": "Liveness: ok whenever the process answers",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "Alive",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/ready": {
                "get": {
                    "operationId": "getReadiness",
                    "summary": "Readiness: 200 only when every check is ok",
                    "security": [],
                    "responses": {
                        "200": _json("Ready", _ref("Readiness")),
                        "503": _json("Degraded or starting", _ref("Readiness")),
                    },
                }
            },
            "/api/items": {
                "get": _list_items("listItems", "List items", keyed=True),
                "post": _create_item("createItem", "Create an item", keyed=True),
            },
            "/api/items/{id}": {
                "get": {
                    "operationId": "getItem",
                    "summary": "One item",
                    "security": _KEYED,
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            # The route matches 1 to 18 digits; anything else is another path.
                            "schema": {
                                "type": "integer",
                                "minimum": 0,
                                "maximum": 999_999_999_999_999_999,
                            },
                            "examples": {
                                "existing": {"value": 1},
                                "missing": {"summary": "answers 404", "value": 999_999},
                            },
                        }
                    ],
                    "responses": {
                        "200": _json("The item", _ref("Item")),
                        "401": _error("Unauthorized"),
                        "404": _error("NotFound"),
                        "429": _error("RateLimited"),
                    },
                }
            },
            "/api/public/items": {
                "get": _list_items("listPublicItems", "List items without a key", keyed=False),
                "post": _create_item(
                    "createPublicItem", "Create an item without a key", keyed=False
                ),
            },
            "/api/audit": {
                "get": {
                    "operationId": "listAuditEvents",
                    "summary": "Newest audit events (admin key only)",
                    "security": _KEYED,
                    "responses": {
                        "200": _json(
                            "Audit events, newest first",
                            {
                                "type": "object",
                                "required": ["events"],
                                "properties": {
                                    "events": {"type": "array", "items": _ref("AuditEvent")}
                                },
                            },
                        ),
                        "401": _error("Unauthorized"),
                        "403": _error("Forbidden"),
                        "429": _error("RateLimited"),
                    },
                }
            },
            "/api/preview": {
                "post": {
                    "operationId": "issuePreviewToken",
                    "summary": "A short-lived execution token (dev or admin key)",
                    "security": _KEYED,
                    "responses": {
                        "200": _json(
                            "A new token",
                            {
                                "type": "object",
                                "required": ["execution_token", "expires_in"],
                                "properties": {
                                    "execution_token": {"type": "string"},
                                    "expires_in": {"type": "integer"},
                                },
                            },
                        ),
                        "401": _error("Unauthorized"),
                        "403": _error("Forbidden"),
                        "429": _error("RateLimited"),
                    },
                }
            },
            "/api/webhooks/incoming": {
                "post": {
                    "operationId": "receiveWebhook",
                    "summary": "A body signed with HMAC-SHA256 in X-Signature",
                    "security": [],
                    "parameters": [
                        {
                            "name": "X-Signature",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": False,
                        "content": {_JSON: {"schema": {}}},
                    },
                    "responses": {
                        "202": _json(
                            "Accepted",
                            {
                                "type": "object",
                                "required": ["accepted"],
                                "properties": {"accepted": {"type": "boolean"}},
                            },
                        ),
                        "401": _error("Unauthorized"),
                        "429": _error("RateLimited"),
                    },
                }
            },
            "/api/session/logout": {
                "post": {
                    "operationId": "logout",
                    "summary": "End the session (X-CSRF-Token must match the csrftoken cookie)",
                    "security": [],
                    "responses": {
                        "200": _json(
                            "Logged out",
                            {
                                "type": "object",
                                "required": ["logged_out"],
                                "properties": {"logged_out": {"type": "boolean"}},
                            },
                        ),
                        "403": _error("Forbidden"),
                        "429": _error("RateLimited"),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "responses": {
                name: _json(description, _ref("Error"))
                for name, description in (
                    ("Unauthorized", "No key, or not one of the demo's keys"),
                    ("Forbidden", "The key's role may not do this"),
                    ("NotFound", "No such item"),
                    ("Invalid", "The query or body is invalid; detail says why"),
                    ("RateLimited", "Over the per-key, per-route rate limit"),
                )
            },
            "schemas": {
                "Item": {
                    "type": "object",
                    "required": ["id", "name", "price", "created_at"],
                    "properties": {
                        "id": {"type": "integer", "minimum": 1},
                        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
                        "price": {"type": "number", "minimum": 0},
                        "created_at": {"type": "string", "format": "date-time"},
                    },
                },
                "NewItem": {
                    "type": "object",
                    "required": ["name", "price"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
                        "price": {"type": "number", "minimum": 0},
                    },
                },
                "ItemPage": {
                    "type": "object",
                    "required": ["items", "count", "limit", "offset"],
                    "properties": {
                        "items": {"type": "array", "items": _ref("Item")},
                        "count": {"type": "integer", "minimum": 0},
                        "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                        "offset": {"type": "integer", "minimum": 0},
                    },
                },
                "AuditEvent": {
                    "type": "object",
                    "required": ["id", "at", "actor", "action", "detail"],
                    "properties": {
                        "id": {"type": "integer"},
                        "at": {"type": "string", "format": "date-time"},
                        "actor": {"type": "string"},
                        "action": {"type": "string"},
                        "detail": {"type": "string"},
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "checks", "version"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ok", "degraded", "starting"]},
                        "checks": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "object",
                                "required": ["status"],
                                "properties": {"status": {"type": "string"}},
                            },
                        },
                        "version": {"type": "string", "nullable": True},
                    },
                },
                "Readiness": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ready", "not ready"]},
                        "health": {"type": "string"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "detail": {
                            "oneOf": [
                                {"type": "string"},
                                {"type": "array", "items": {"type": "string"}},
                            ]
                        },
                    },
                },
            },
        },
    }


def serve_openapi(state: DemoState, request: Request, role: Role | None) -> Response:
    """Answer the OpenAPI document (never rate limited, no key needed)."""
    return json_response(200, openapi_document(state.version))
