"""Routing and the policies around every demo endpoint: latency, limits, auth, faults, CORS."""

from __future__ import annotations

import enum
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pytest_opsgate.demo import _api, _metrics, _openapi, _pages
from pytest_opsgate.demo._auth import (
    ADMIN_ONLY,
    PREVIEW,
    READ,
    WRITE,
    Role,
    presented_credential,
    role_of,
)
from pytest_opsgate.demo._http import SECURITY_HEADERS, Request, Response, error_response
from pytest_opsgate.demo._state import DemoState

if TYPE_CHECKING:
    from pytest_opsgate.demo._ratelimit import Decision

Handler = Callable[[DemoState, Request, "Role | None"], Response]

_log = logging.getLogger("pytest_opsgate.demo")
_PARAM_PATTERNS = {"id": r"\d{1,18}", "name": r"[A-Za-z0-9_.-]{1,64}"}
_CORS_ALLOW_HEADERS = "X-Api-Key, Content-Type, Authorization"
_CORS_EXPOSE_HEADERS = (
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, "
    "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After"
)
_CORS_MAX_AGE = "600"


class Kind(enum.Enum):
    """Which policies apply to a route."""

    HEALTH = "health"  # no latency, no injected errors, no rate limit
    API = "api"  # latency, injected errors, rate limit
    PUBLIC_API = "public"  # latency, injected errors
    PAGE = "page"  # latency


@dataclass(frozen=True)
class Endpoint:
    """A handler and the roles allowed to call it (None: no key needed)."""

    handler: Handler
    roles: frozenset[Role] | None = None


@dataclass(frozen=True)
class Route:
    """A path template and its endpoints by method."""

    template: str
    kind: Kind
    methods: dict[str, Endpoint]

    def allowed(self) -> str:
        """Return the value of an `Allow` header for this route."""
        names = set(self.methods) | {"OPTIONS"} | ({"HEAD"} if "GET" in self.methods else set())
        return ", ".join(sorted(names))


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(
        f"(?P<{part}>{_PARAM_PATTERNS[part]})" if index % 2 else re.escape(part)
        for index, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$")


ROUTES: tuple[Route, ...] = (
    Route("/api/health/", Kind.HEALTH, {"GET": Endpoint(_api.health)}),
    Route("/api/health", Kind.HEALTH, {"GET": Endpoint(_api.health)}),
    Route("/healthz", Kind.HEALTH, {"GET": Endpoint(_api.liveness)}),
    Route("/ready", Kind.HEALTH, {"GET": Endpoint(_api.readiness)}),
    Route("/metrics", Kind.HEALTH, {"GET": Endpoint(_metrics.metrics_endpoint)}),
    Route("/openapi.json", Kind.PAGE, {"GET": Endpoint(_openapi.serve_openapi)}),
    Route(
        "/api/items",
        Kind.API,
        {"GET": Endpoint(_api.list_items, READ), "POST": Endpoint(_api.create_item, WRITE)},
    ),
    Route("/api/items/{id}", Kind.API, {"GET": Endpoint(_api.get_item, READ)}),
    Route(
        "/api/public/items",
        Kind.PUBLIC_API,
        {"GET": Endpoint(_api.list_items), "POST": Endpoint(_api.create_item)},
    ),
    Route("/api/audit", Kind.API, {"GET": Endpoint(_api.audit, ADMIN_ONLY)}),
    Route("/api/preview", Kind.API, {"POST": Endpoint(_api.preview, PREVIEW)}),
    Route("/api/webhooks/incoming", Kind.API, {"POST": Endpoint(_api.incoming_webhook)}),
    Route("/api/session/logout", Kind.API, {"POST": Endpoint(_api.logout)}),
    Route("/", Kind.PAGE, {"GET": Endpoint(_pages.home)}),
    Route(
        "/login",
        Kind.PAGE,
        {"GET": Endpoint(_pages.login_form), "POST": Endpoint(_pages.login)},
    ),
    Route("/account", Kind.PAGE, {"GET": Endpoint(_pages.account)}),
    Route(
        "/form",
        Kind.PAGE,
        {"GET": Endpoint(_pages.csrf_form), "POST": Endpoint(_pages.submit_csrf_form)},
    ),
    Route("/boom", Kind.PAGE, {"GET": Endpoint(_pages.boom)}),
    Route("/console-error", Kind.PAGE, {"GET": Endpoint(_pages.console_error)}),
    Route("/static/{name}", Kind.PAGE, {"GET": Endpoint(_pages.serve_static)}),
    Route("/favicon.svg", Kind.PAGE, {"GET": Endpoint(_pages.favicon)}),
    Route("/favicon.ico", Kind.PAGE, {"GET": Endpoint(_pages.favicon)}),
)


class DemoApp:
    """Turns one request into one response for a running demo service."""

    def __init__(self, state: DemoState, routes: tuple[Route, ...] = ROUTES) -> None:
        self.state = state
        self._routes = [(_compile(route.template), route) for route in routes]

    def handle(self, request: Request) -> Response:
        """Answer `request`; every answer carries the security and CORS headers."""
        response = self._respond(request)
        origin = request.header("origin")
        response.headers.append(("Vary", "Origin"))
        if origin and origin in self.state.options.cors_origins:
            response.headers.append(("Access-Control-Allow-Origin", origin))
            response.headers.append(("Access-Control-Expose-Headers", _CORS_EXPOSE_HEADERS))
        response.headers.extend(SECURITY_HEADERS)
        return response

    def _resolve(self, path: str) -> tuple[Route, dict[str, str]] | None:
        for pattern, route in self._routes:
            match = pattern.match(path)
            if match:
                return route, match.groupdict()
        return None

    def _respond(self, request: Request) -> Response:
        found = self._resolve(request.path)
        if found is None:
            self.state.delay()
            return error_response(404, "not found", f"no route for {request.path}")
        route, request.params = found
        if route.kind is not Kind.HEALTH:
            self.state.delay()
        if request.method == "OPTIONS":
            return self._preflight(request, route)
        endpoint = route.methods.get("GET" if request.method == "HEAD" else request.method)
        if endpoint is None:
            response = error_response(405, "method not allowed", f"use {route.allowed()}")
            response.headers.append(("Allow", route.allowed()))
            return response
        credential = presented_credential(request)
        role = role_of(credential, self.state.options) if credential else None
        decision = self._count(request, route, role)
        if decision is not None and not decision.allowed:
            response = error_response(429, "rate limited", f"retry in {decision.reset_s}s")
        else:
            response = self._call(request, route, endpoint, credential, role)
        if decision is not None:
            response.headers.extend(decision.headers())
        return response

    def _count(self, request: Request, route: Route, role: Role | None) -> Decision | None:
        limit = self.state.options.rate_limit
        # The load key is exempt, as services grant load-test credentials.
        if route.kind is not Kind.API or limit is None or role is Role.LOAD:
            return None
        # Count per (credential, route) so one burst check does not starve the others.
        client = f"key:{role.value}" if role is not None else f"ip:{request.client_ip}"
        return self.state.limiter.hit(client, route.template, limit, time.monotonic())

    def _call(
        self,
        request: Request,
        route: Route,
        endpoint: Endpoint,
        credential: str | None,
        role: Role | None,
    ) -> Response:
        if endpoint.roles is not None:
            if credential is None:
                return _unauthorized("missing credential", "send X-Api-Key or a Bearer token")
            if role is None:
                return _unauthorized("invalid credential", "the key is not one of the demo keys")
            if role not in endpoint.roles:
                allowed = ", ".join(sorted(r.value for r in endpoint.roles))
                return error_response(403, "forbidden", f"this needs the {allowed} key")
        if route.kind in (Kind.API, Kind.PUBLIC_API) and self.state.inject_error():
            return error_response(500, "injected")
        try:
            return endpoint.handler(self.state, request, role)
        except Exception:
            _log.exception("demo handler for %s %s failed", request.method, route.template)
            return error_response(500, "internal")

    def _preflight(self, request: Request, route: Route) -> Response:
        origin = request.header("origin")
        if not (origin and request.header("access-control-request-method")):
            return Response(204, headers=[("Allow", route.allowed())])
        if origin not in self.state.options.cors_origins:
            return Response(204)
        return Response(
            204,
            headers=[
                ("Access-Control-Allow-Methods", route.allowed()),
                ("Access-Control-Allow-Headers", _CORS_ALLOW_HEADERS),
                ("Access-Control-Max-Age", _CORS_MAX_AGE),
            ],
        )


def _unauthorized(error: str, detail: str) -> Response:
    response = error_response(401, error, detail)
    challenge = 'Bearer realm="opsgate-demo"'
    if error == "invalid credential":
        challenge += ', error="invalid_token"'
    response.headers.append(("WWW-Authenticate", challenge))
    return response
