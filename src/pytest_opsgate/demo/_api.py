"""JSON endpoints of the demo service."""

from __future__ import annotations

import json
import math
import secrets
from typing import TYPE_CHECKING, Any

from pytest_opsgate.demo._auth import signature_matches, tokens_match
from pytest_opsgate.demo._http import Request, Response, error_response, json_response, set_cookie

if TYPE_CHECKING:
    from pytest_opsgate.demo._auth import Role
    from pytest_opsgate.demo._state import DemoState

PENDING_MIGRATIONS = 2
PREVIEW_TTL_S = 300
MAX_PAGE = 100
DEFAULT_PAGE = 50
MAX_NAME = 100


def health_report(state: DemoState) -> dict[str, Any]:
    """Return the health document: ok, degraded (a dependency failed) or starting."""
    starting = state.starting_for() > 0
    redis = "fail" if state.options.degraded else "ok"
    status = "starting" if starting else ("degraded" if redis == "fail" else "ok")
    return {
        "status": status,
        "checks": {
            "db": {"status": "ok", "latency_ms": state.store.ping_ms()},
            "migrations": {
                "status": "pending" if starting else "ok",
                "pending_count": PENDING_MIGRATIONS if starting else 0,
            },
            "redis": {"status": redis},
        },
        "version": state.version,
    }


def health(state: DemoState, request: Request, role: Role | None) -> Response:
    """Answer 200 when ok or degraded (as many services do), 503 while starting."""
    report = health_report(state)
    if report["status"] == "starting":
        wait = max(1, math.ceil(state.starting_for()))
        return json_response(503, report, [("Retry-After", str(wait))])
    return json_response(200, report)


def liveness(state: DemoState, request: Request, role: Role | None) -> Response:
    """Answer 200 `ok` whenever the process can answer at all."""
    return Response(200, b"ok", "text/plain; charset=utf-8", [("Cache-Control", "no-store")])


def readiness(state: DemoState, request: Request, role: Role | None) -> Response:
    """Answer 200 only when every check is ok; degraded and starting are not ready."""
    status = health_report(state)["status"]
    if status == "ok":
        return json_response(200, {"status": "ready"})
    return json_response(503, {"status": "not ready", "health": status})


def _page_bounds(request: Request) -> tuple[int, int] | Response:
    bounds = []
    for name, default, low, high in (
        ("limit", DEFAULT_PAGE, 1, MAX_PAGE),
        ("offset", 0, 0, None),
    ):
        raw = request.query_value(name)
        try:
            value = default if raw is None else int(raw)
        except ValueError:
            value = -1
        if value < low or (high is not None and value > high):
            upper = f" and {high}" if high is not None else ""
            return error_response(
                422, "invalid query", f"{name} must be an integer >= {low}{upper}"
            )
        bounds.append(value)
    return bounds[0], bounds[1]


def list_items(state: DemoState, request: Request, role: Role | None) -> Response:
    """List items in id order; `count` is the total, `items` one page of it."""
    bounds = _page_bounds(request)
    if isinstance(bounds, Response):
        return bounds
    limit, offset = bounds
    items, total = state.store.list_items(limit, offset)
    return json_response(200, {"items": items, "count": total, "limit": limit, "offset": offset})


def get_item(state: DemoState, request: Request, role: Role | None) -> Response:
    """Return one item or a 404 JSON error."""
    item = state.store.get_item(int(request.params["id"]))
    if item is None:
        return error_response(404, "not found", f"no item with id {request.params['id']}")
    return json_response(200, item)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _item_errors(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["body must be a JSON object with name and price"]
    errors = []
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        errors.append(f"name must be a non-empty string of at most {MAX_NAME} characters")
    price = payload.get("price")
    if (
        isinstance(price, bool)
        or not isinstance(price, (int, float))
        or not math.isfinite(price)
        or price < 0
    ):
        errors.append("price must be a finite number >= 0")
    return errors


def create_item(state: DemoState, request: Request, role: Role | None) -> Response:
    """Create an item from `{"name": str, "price": number}`; 422 lists what is wrong."""
    try:
        payload = json.loads(request.body or b"null", parse_constant=_reject_constant)
    except ValueError:
        return error_response(422, "invalid item", "body must be a JSON object with name and price")
    errors = _item_errors(payload)
    if errors:
        return json_response(422, {"error": "invalid item", "detail": errors})
    item = state.store.add_item(payload["name"].strip(), payload["price"])
    actor = role.value if role is not None else "public"
    state.store.record(actor, "item.created", f"item {item['id']}")
    return json_response(201, item, [("Location", f"/api/items/{item['id']}")])


def audit(state: DemoState, request: Request, role: Role | None) -> Response:
    """Return the newest audit events; the route admits the admin key only."""
    return json_response(200, {"events": state.store.audit_events()})


def preview(state: DemoState, request: Request, role: Role | None) -> Response:
    """Issue a short-lived random execution token."""
    state.store.record(role.value if role else "unknown", "preview.issued")
    token = secrets.token_urlsafe(24)
    return json_response(200, {"execution_token": token, "expires_in": PREVIEW_TTL_S})


def incoming_webhook(state: DemoState, request: Request, role: Role | None) -> Response:
    """Accept a body signed with HMAC-SHA256 of the webhook secret in `X-Signature`."""
    signature = request.header("x-signature")
    if not signature:
        return error_response(401, "missing signature", "send X-Signature: sha256=<hex HMAC>")
    if not signature_matches(signature, request.body, state.options.webhook_secret):
        return error_response(401, "invalid signature", "sign the raw body with the secret")
    state.store.record("webhook", "webhook.accepted", f"{len(request.body)} bytes")
    return json_response(202, {"accepted": True})


def logout(state: DemoState, request: Request, role: Role | None) -> Response:
    """End the session when `X-CSRF-Token` matches the `csrftoken` cookie; else 403."""
    cookies = request.cookies()
    if not tokens_match(cookies.get("csrftoken"), request.header("x-csrf-token")):
        return error_response(403, "csrf", "send X-CSRF-Token matching the csrftoken cookie")
    state.sessions.end(cookies.get("session"))
    return json_response(200, {"logged_out": True}, [set_cookie("session", "", max_age=0)])
