"""Redactor: sensitive names, registered secrets and their encodings, URLs, JSON and bodies."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_opsgate.http.redact import REDACTED, Redactor


@pytest.fixture
def r() -> Redactor:
    return Redactor()


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "Proxy-Authorization",
        "Cookie",
        "Set-Cookie",
        "X-Api-Key",
        "x-auth-token",
        "X-CSRF-Token",
        "access_token",
        "refresh_token",
        "client_secret",
        "password",
        "passwd",
        "apiKey",
        "apikey",
        "X-Amz-Signature",
        "X-Amz-Credential",
        "sig",
        "JSESSIONID",
        "PHPSESSID",
        "sessionId",
    ],
)
def test_credential_names_are_sensitive(r: Redactor, name: str) -> None:
    assert r.is_sensitive_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "Keep-Alive",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Policy",
        "X-RateLimit-Limit",
        "X-RateLimit-Remaining",
        "X-RateLimit-Reset",
        "Content-Type",
        "Content-Length",
        "Cache-Control",
        "WWW-Authenticate",
        "Access-Control-Allow-Credentials",
        "Access-Control-Allow-Headers",
        "author",
        "monkey",
        "keys",
        "page",
        "status",
    ],
)
def test_ordinary_names_are_not_sensitive(r: Redactor, name: str) -> None:
    assert not r.is_sensitive_name(name)


def test_extra_patterns_add_sensitive_names() -> None:
    r = Redactor(extra_header_patterns=[r"^x-tenant-"])
    assert r.is_sensitive_name("X-Tenant-Id")
    assert not Redactor().is_sensitive_name("X-Tenant-Id")


# --- registered secrets ---------------------------------------------------------------------


def test_registered_secret_vanishes_from_text(r: Redactor) -> None:
    r.register("s3cr3t-value")
    assert r.redact_text("before s3cr3t-value after") == f"before {REDACTED} after"
    assert r.secrets_registered() == 1


def test_short_and_empty_values_are_ignored(r: Redactor) -> None:
    for value in (None, "", "a", "abc"):
        r.register(value)
    assert r.secrets_registered() == 0
    assert r.redact_text("a abc") == "a abc"


def test_longest_secret_wins(r: Redactor) -> None:
    r.register("abcd")
    r.register("abcdefgh")
    assert r.redact_text("xx abcdefgh yy abcd") == f"xx {REDACTED} yy {REDACTED}"


def test_encoded_forms_are_redacted(r: Redactor) -> None:
    secret = "p@ss word/+="
    r.register(secret)
    encoded = base64.b64encode(secret.encode()).decode()
    for form in (quote(secret, safe=""), encoded, json.dumps(secret)[1:-1]):
        assert form not in r.redact_text(f"x {form} y")


# --- headers --------------------------------------------------------------------------------


def test_sensitive_headers_are_redacted_and_their_values_registered(r: Redactor) -> None:
    headers = {
        "Authorization": "Bearer tok-1234567890",
        "X-Api-Key": "key-1234567890",
        "Cookie": "theme=dark; session=sess-1234567890",
        "Set-Cookie": "sid=set-1234567890; Path=/; HttpOnly",
        "Keep-Alive": "timeout=5, max=100",
        "X-RateLimit-Remaining": "42",
        "RateLimit-Policy": "100;w=60",
        "Content-Type": "application/json",
    }
    out = r.redact_headers(headers)
    for name in ("authorization", "x-api-key", "cookie", "set-cookie"):
        assert out[name] == REDACTED
    assert out["keep-alive"] == "timeout=5, max=100"
    assert out["x-ratelimit-remaining"] == "42"
    assert out["ratelimit-policy"] == "100;w=60"
    assert out["content-type"] == "application/json"
    # The bare token, the cookie values and the API key can no longer appear anywhere.
    body = "tok-1234567890 key-1234567890 sess-1234567890 set-1234567890 dark"
    assert r.redact_text(body) == f"{REDACTED} {REDACTED} {REDACTED} {REDACTED} dark"


def test_basic_auth_password_is_registered(r: Redactor) -> None:
    credential = base64.b64encode(b"ann:hunter2-hunter2").decode()
    r.redact_headers([("Authorization", f"Basic {credential}")])
    assert r.redact_text("password was hunter2-hunter2") == f"password was {REDACTED}"


def test_repeated_headers_are_kept(r: Redactor) -> None:
    out = r.redact_headers(
        [("Via", "1.1 a"), ("Via", "1.1 b"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
    )
    assert out == {"via": "1.1 a, 1.1 b", "set-cookie": REDACTED}


def test_benign_sensitive_values_are_not_registered(r: Redactor) -> None:
    # Registering "true" or "enabled" would erase those words from every body.
    r.redact_headers({"X-Auth-Mode": "enabled", "X-Csrf-Required": "true"})
    assert r.redact_text("enabled true") == "enabled true"


# --- URLs -----------------------------------------------------------------------------------


def test_url_userinfo_and_query_tokens_are_removed(r: Redactor) -> None:
    url = "https://ann:pw-1234567890@api.example.com/items?token=tok-99999999&page=2#frag"
    out = r.redact_url(url)
    assert out == f"https://api.example.com/items?token={REDACTED}&page=2#frag"
    assert r.redact_text("pw-1234567890 tok-99999999") == f"{REDACTED} {REDACTED}"


def test_url_fragment_tokens_and_registered_path_secrets(r: Redactor) -> None:
    r.register("reset-code-777777")
    out = r.redact_url("http://h/reset/reset-code-777777?x=1#access_token=abc12345678&state=s")
    assert out == f"http://h/reset/{REDACTED}?x=1#access_token={REDACTED}&state=s"


def test_url_encoded_secret_in_query_is_removed(r: Redactor) -> None:
    r.register("a b/c+d=e")
    assert r.redact_url("http://h/p?q=a%20b%2Fc%2Bd%3De") == f"http://h/p?q={REDACTED}"


# --- JSON and bodies ------------------------------------------------------------------------


def test_json_sensitive_keys_are_redacted_recursively(r: Redactor) -> None:
    r.register("registered-9999")
    doc = {
        "user": "ann",
        "auth": {"type": "bearer", "value": "x"},
        "items": [{"api_key": "k-123456789", "name": "registered-9999 inside"}],
        "csrf_required": True,
        "password": None,
    }
    assert r.redact_json(doc) == {
        "user": "ann",
        "auth": REDACTED,
        "items": [{"api_key": REDACTED, "name": f"{REDACTED} inside"}],
        "csrf_required": True,
        "password": None,
    }
    assert r.redact_text("k-123456789") == REDACTED  # learnt from the JSON


def test_form_body_fields_are_redacted(r: Redactor) -> None:
    out = r.redact_body(
        "username=ann&password=hunter2&remember=1", "application/x-www-form-urlencoded"
    )
    assert out == f"username=ann&password={REDACTED}&remember=1"


def test_truncated_json_is_still_redacted(r: Redactor) -> None:
    out = r.redact_body('{"user": "ann", "token": "abc123456789", "x": [1, 2', "application/json")
    assert out == f'{{"user": "ann", "token": "{REDACTED}", "x": [1, 2'


def test_secret_cut_at_the_byte_cap_is_hidden(r: Redactor) -> None:
    r.register("0123456789abcdef")
    assert r.redact_body("data ... 0123456", complete=False) == f"data ... {REDACTED}"
    assert r.redact_body("data ... 0123456", complete=True) == "data ... 0123456"


def test_json_layout_is_kept_when_nothing_is_sensitive(r: Redactor) -> None:
    text = '{\n  "a": 1\n}'
    assert r.redact_body(text, "application/json") == text


def test_url_valued_headers_lose_query_secrets() -> None:
    from pytest_opsgate.http.redact import REDACTED, Redactor

    redactor = Redactor()
    headers = redactor.redact_headers(
        {
            "Location": "/login?next=/account&token=abc123def456",
            "Refresh": "0; url=/x?api_key=zzz987654321",
            "Content-Type": "text/html",
        }
    )
    assert headers["location"] == f"/login?next=/account&token={REDACTED}"
    assert "zzz987654321" not in headers["refresh"]
    assert headers["content-type"] == "text/html"


@pytest.mark.parametrize("shift", [0, 1, 2])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_a_registered_secret_inside_longer_base64_is_hidden_at_any_alignment(
    shift: int, encode: Callable[[bytes], bytes]
) -> None:
    secret = "s3ntinel-Secret-0042"
    redactor = Redactor()
    redactor.register(secret)
    blob = encode(b"user-name:"[: 7 + shift] + secret.encode() + b";trailing-bytes").decode()
    scrubbed = redactor.redact_text(f"Authorization: Basic {blob}")
    assert REDACTED in scrubbed
    assert secret not in scrubbed


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("GET,/api/missing?access_token=abc123def456,404", "abc123def456"),
        ("for url: /cb?code=oauth-code-998877&state=x", "oauth-code-998877"),
        ("/files?X-Amz-Signature=deadbeefcafe1234", "deadbeefcafe1234"),
        ("/login?session_id=sess-778899aabb", "sess-778899aabb"),
        ("/a?page=2&api_key=k-1234567890", "k-1234567890"),
        ("&lt;a href=&quot;/x?page=1&amp;password=hunter2-hunter2&quot;", "hunter2-hunter2"),
    ],
)
def test_query_secrets_are_hidden_in_any_url_looking_text(text: str, hidden: str) -> None:
    redactor = Redactor()
    scrubbed = redactor.redact_text(text)
    assert hidden not in scrubbed
    assert REDACTED in scrubbed
    # The value learned there is hidden wherever it shows up later, too.
    assert hidden not in redactor.redact_text(f"later: {hidden}")


def test_ordinary_query_parameters_stay_readable() -> None:
    text = "/api/items?page=2&sort=name&status_code=500"
    assert Redactor().redact_text(text) == text


# --- remembered results ------------------------------------------------------------------------


def test_a_secret_registered_later_reaches_headers_and_urls_seen_before(r: Redactor) -> None:
    headers = [("x-note", "build s3cr3t-v4lue-42"), ("content-type", "text/plain")]
    url = "https://example.test/p?q=s3cr3t-v4lue-42"
    assert r.redact_headers(headers)["x-note"] == "build s3cr3t-v4lue-42"
    assert r.redact_url(url) == url
    r.register("s3cr3t-v4lue-42")
    assert r.redact_headers(headers)["x-note"] == f"build {REDACTED}"
    assert r.redact_url(url) == f"https://example.test/p?q={REDACTED}"


def test_remembered_headers_are_a_copy(r: Redactor) -> None:
    for _ in range(2):  # computed, then remembered
        shown = r.redact_headers([("accept", "*/*")])
        shown["accept"] = "changed by a caller"
    assert r.redact_headers([("accept", "*/*")]) == {"accept": "*/*"}


_TOKENS = st.sampled_from(
    ["abcdefgh12", "Bearer abcdefgh12", "sid=abcdefgh12", "plain", "a=b&token=zz99yy88xx", ""]
)
_OPS = st.lists(
    st.one_of(
        st.tuples(
            st.just("headers"),
            st.lists(
                st.tuples(
                    st.sampled_from(["Authorization", "X-Note", "Cookie", "Location"]), _TOKENS
                ),
                max_size=3,
            ),
        ),
        st.tuples(st.just("url"), _TOKENS.map(lambda t: f"http://h.test/x?{t}")),
        st.tuples(st.just("register"), _TOKENS),
        st.tuples(st.just("text"), _TOKENS),
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(ops=_OPS)
def test_remembering_never_changes_an_answer(ops: list[tuple[str, object]]) -> None:
    # The same calls on a redactor that forgets before every call give the same answers.
    remembering, forgetting = Redactor(), Redactor()
    for kind, arg in ops:
        answers = []
        for redactor in (remembering, forgetting):
            if redactor is forgetting:
                redactor._memo.clear()
            if kind == "headers":
                answers.append(redactor.redact_headers(arg))  # type: ignore[arg-type]
            elif kind == "url":
                answers.append(redactor.redact_url(arg))  # type: ignore[arg-type]
            elif kind == "register":
                answers.append(redactor.register(arg))  # type: ignore[func-returns-value,arg-type]
            else:
                answers.append(redactor.redact_text(arg))  # type: ignore[arg-type]
        assert answers[0] == answers[1]
