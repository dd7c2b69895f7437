"""HTML pages and static files the E2E gate drives in a browser."""

from __future__ import annotations

import re
import secrets
from html import escape
from importlib import resources
from typing import TYPE_CHECKING

from pytest_opsgate.demo._auth import tokens_match
from pytest_opsgate.demo._http import (
    Request,
    Response,
    error_response,
    html_response,
    redirect,
    set_cookie,
)
from pytest_opsgate.demo._options import DEMO_PASSWORD

if TYPE_CHECKING:
    from pytest_opsgate.demo._auth import Role
    from pytest_opsgate.demo._state import DemoState

_STATIC_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
_FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    b'<circle cx="8" cy="8" r="7" fill="#2a7"/></svg>'
)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_MAX_USERNAME = 64


def load_static() -> dict[str, bytes]:
    """Read the packaged static files once, so serving them costs no disk access."""
    folder = resources.files("pytest_opsgate.demo").joinpath("static")
    return {name: folder.joinpath(name).read_bytes() for name in _STATIC_TYPES}


def _layout(title: str, page: str, body: str, head: str = "") -> str:
    # Scripts come from /static: the CSP forbids inline script.
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/style.css">
<script src="/static/app.js" defer></script>
{head}</head>
<body data-page="{page}">
<nav><a href="/">Items</a> <a href="/account">Account</a> <a href="/login">Log in</a></nav>
<main>
{body}
</main>
</body>
</html>
"""


def home(state: DemoState, request: Request, role: Role | None) -> Response:
    """Serve the item list (rendered by app.js) and the Add item form."""
    user = state.sessions.user(request.cookies().get("session"))
    greeting = (
        f'<p data-testid="greeting">Signed in as {escape(user)}</p>'
        if user
        else '<p data-testid="greeting">Not signed in</p>'
    )
    body = f"""<h1>opsgate demo</h1>
{greeting}
<section>
<h2>Items</h2>
<p id="status" data-testid="status" role="status">Loading items…</p>
<ul id="items" data-testid="items" aria-busy="true"></ul>
</section>
<section>
<h2>Add item</h2>
<form id="add-item" data-testid="add-item-form">
<label>Name <input name="name" data-testid="item-name" required maxlength="100"></label>
<label>Price <input name="price" data-testid="item-price" type="number" min="0" step="0.01"
  required></label>
<button type="submit" data-testid="add-item-submit">Add item</button>
</form>
<p id="result" data-testid="result" role="status"></p>
</section>"""
    return html_response(200, _layout("opsgate demo", "home", body))


def _login_page(status: int, username: str = "", error: str = "", next_path: str = "/") -> Response:
    message = f'<p class="error" data-testid="login-error">{escape(error)}</p>' if error else ""
    body = f"""<h1>Log in</h1>
{message}
<form method="post" action="/login" data-testid="login-form">
<input type="hidden" name="next" value="{escape(next_path)}">
<label>Username <input name="username" data-testid="username" autocomplete="username"
  value="{escape(username)}" required></label>
<label>Password <input name="password" type="password" data-testid="password"
  autocomplete="current-password" required></label>
<button type="submit" data-testid="login-submit">Log in</button>
</form>"""
    return html_response(status, _layout("Log in · opsgate demo", "login", body))


def _local_path(candidate: str | None) -> str:
    # Only same-origin paths: "//host" and "/\\host" would be open redirects.
    if candidate and candidate.startswith("/") and not candidate.startswith(("//", "/\\")):
        return candidate
    return "/"


def login_form(state: DemoState, request: Request, role: Role | None) -> Response:
    """Serve the login form."""
    return _login_page(200, next_path=_local_path(request.query_value("next")))


def login(state: DemoState, request: Request, role: Role | None) -> Response:
    """Accept any username with the demo password, set a session cookie, go to `next`."""
    form = request.form()
    username = form.get("username", "").strip()[:_MAX_USERNAME]
    next_path = _local_path(form.get("next"))
    if not username or not tokens_match(DEMO_PASSWORD, form.get("password")):
        return _login_page(401, username, "Invalid username or password.", next_path)
    token = state.sessions.create(username)
    state.store.record(f"user:{username}", "login")
    return redirect(next_path, 303, [set_cookie("session", token)])


def _csrf_token(request: Request) -> tuple[str, list[tuple[str, str]]]:
    current = request.cookies().get("csrftoken", "")
    if _TOKEN_RE.match(current):
        return current, []
    token = secrets.token_urlsafe(32)
    return token, [set_cookie("csrftoken", token)]


def account(state: DemoState, request: Request, role: Role | None) -> Response:
    """Show the signed-in user, or redirect to the login page without a session."""
    user = state.sessions.user(request.cookies().get("session"))
    if user is None:
        return redirect("/login?next=/account")
    token, headers = _csrf_token(request)
    body = f"""<h1>Account</h1>
<p data-testid="account-user">Signed in as {escape(user)}</p>
<button type="button" id="logout" data-testid="logout">Log out</button>"""
    head = f'<meta name="csrf-token" content="{token}">\n'
    return html_response(200, _layout("Account · opsgate demo", "account", body, head), headers)


def _form_page(token: str, message: str = "") -> str:
    note = f'<p data-testid="form-result">{escape(message)}</p>' if message else ""
    body = f"""<h1>Profile</h1>
{note}
<form method="post" action="/form" data-testid="csrf-form">
<input type="hidden" name="csrf_token" value="{token}">
<label>Display name <input name="display_name" data-testid="display-name"></label>
<button type="submit" data-testid="form-submit">Save</button>
</form>"""
    return _layout("Profile · opsgate demo", "form", body)


def csrf_form(state: DemoState, request: Request, role: Role | None) -> Response:
    """Serve a form whose hidden csrf_token matches the `csrftoken` cookie it sets."""
    token, headers = _csrf_token(request)
    return html_response(200, _form_page(token), headers)


def submit_csrf_form(state: DemoState, request: Request, role: Role | None) -> Response:
    """Accept the form only when its csrf_token equals the `csrftoken` cookie."""
    form = request.form()
    cookie = request.cookies().get("csrftoken")
    if not tokens_match(cookie, form.get("csrf_token")):
        return error_response(403, "csrf", "the csrf_token field must match the csrftoken cookie")
    name = form.get("display_name", "")[:_MAX_USERNAME]
    return html_response(200, _form_page(cookie or "", f"Saved {name}".strip()))


def boom(state: DemoState, request: Request, role: Role | None) -> Response:
    """Fail with a 500 page, for E2E failure-artifact tests."""
    body = '<h1 data-testid="error">Internal Server Error</h1><p>This page always fails.</p>'
    return html_response(500, _layout("Server error · opsgate demo", "boom", body))


def console_error(state: DemoState, request: Request, role: Role | None) -> Response:
    """Serve a page whose script logs a console error, for E2E failure-artifact tests."""
    body = '<h1>Console error</h1><p data-testid="console-note">This page logs an error.</p>'
    return html_response(200, _layout("Console error · opsgate demo", "console-error", body))


def serve_static(state: DemoState, request: Request, role: Role | None) -> Response:
    """Serve one of the packaged static files by exact name."""
    name = request.params["name"]
    content_type = _STATIC_TYPES.get(name)
    if content_type is None:
        return error_response(404, "not found")
    body = state.static[name]
    return Response(200, body, content_type, [("Cache-Control", "no-cache")])


def favicon(state: DemoState, request: Request, role: Role | None) -> Response:
    """Serve a tiny icon so browsers log no 404 for it."""
    return Response(200, _FAVICON, "image/svg+xml", [("Cache-Control", "max-age=86400")])
