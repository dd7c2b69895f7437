"""Redaction of secrets in headers, URLs and bodies, applied at capture time."""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

__all__ = ["REDACTED", "Redactor"]

REDACTED = "[REDACTED]"

# Explicit register() calls trust the caller; anything shorter would redact ordinary words.
_MIN_SECRET_LEN = 4
# Values we discover ourselves (header parts, JSON fields) must look like credentials, or
# "Access-Control-Allow-Credentials: true" would erase every "true" in every body.
_MIN_DERIVED_LEN = 8
# A body cut at the byte cap may end inside a secret; a shorter leftover prefix says nothing.
_MIN_PARTIAL_LEN = 3

_ALWAYS_SENSITIVE = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
# Names that contain a sensitive-looking word but carry no secret.
_NEVER_SENSITIVE = frozenset(
    {
        "keep-alive",
        "access-control-allow-credentials",
        "access-control-allow-headers",
        "access-control-expose-headers",
        "access-control-request-headers",
        "www-authenticate",
        "proxy-authenticate",
        "content-type",
    }
)
_NEVER_SENSITIVE_PREFIXES = ("x-ratelimit", "ratelimit", "x-rate-limit")
# Whole words (after splitting on punctuation and camelCase) that name a credential.
_SENSITIVE_WORDS = frozenset(
    {"key", "auth", "pass", "pwd", "sid", "sig", "jwt", "otp", "csrf", "xsrf", "cookie"}
)
# Fragments that name a credential wherever they appear inside a word ("access_token",
# "apikey", "JSESSIONID", "clientSecret").
_SENSITIVE_FRAGMENTS = (
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "apikey",
    "authorization",
    "signature",
    "session",
    "sessid",
    "credential",
    "csrf",
    "xsrf",
    "bearer",
    "privatekey",
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+")

# `"name": value` pairs in JSON that did not parse (truncated excerpts, JSON lines, logs).
_JSON_PAIR = re.compile(
    r'"(?P<key>[^"\\]{1,80})"(?P<sep>\s*:\s*)'
    r'(?P<value>"(?:[^"\\]|\\.)*"?|-?[0-9][0-9.eE+-]*)'
)
# `name=value` pairs in form bodies, query-like text and logs.
_FORM_PAIR = re.compile(r"(?P<key>[A-Za-z0-9_.\-\[\]]{1,80})=(?P<value>[^&\s\"'<>;,]+)")


# `?name=value` / `&name=value` in any text that looks like a URL, with or without a scheme
# (Locust's CSV names a failed request "/api/missing?access_token=..."), so query secrets
# never depend on a parser recognising the URL.
_QUERY_PAIR = re.compile(
    r"(?P<lead>[?&;])(?P<key>[A-Za-z0-9_.\-\[\]%]{1,80})=(?P<value>[^&\s\"'<>#;,|]*)"
)
# Query names that are credentials in URLs though not as headers or JSON keys.
_SENSITIVE_QUERY_NAMES = frozenset({"code"})


def _base64_forms(raw: bytes) -> set[str]:
    """The base64 spellings of a secret inside a longer base64 string, at any of the three
    byte alignments, in both alphabets: only characters that depend on the secret alone."""
    forms: set[str] = set()
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * shift + raw).decode()
            # The first group mixes in the bytes before; the last, the bytes after.
            core = text[4 if shift else 0 : len(text) - 4 if len(raw) + shift > 3 else len(text)]
            core = core.rstrip("=")
            if len(core) >= _MIN_DERIVED_LEN:
                forms.add(core)
    return forms


# Remembered scrubbing results; past this many the memo starts afresh (bounded memory).
_MEMO_ENTRIES = 1024

# Headers whose value is a URL: a redirect to /login?token=... must not carry the token.
_URL_HEADERS = frozenset({"location", "content-location", "link-target", "referer", "origin"})


class Redactor:
    """Knows which names are sensitive and which values are secrets, and scrubs both."""

    def __init__(self, extra_header_patterns: Iterable[str] = ()) -> None:
        self._extra = [re.compile(p, re.IGNORECASE) for p in extra_header_patterns]
        self._name_cache: dict[str, bool] = {}
        self._secrets: set[str] = set()  # every form of every secret
        self._registered: set[str] = set()  # the values as given
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        # Results for inputs seen before, each with the pattern it was computed under (see
        # `_remembered`): a gate sends the same headers and URLs again and again.
        self._memo: dict[tuple[object, ...], tuple[re.Pattern[str] | None, object]] = {}

    # secrets

    def register(self, value: str | None) -> None:
        """Treat `value` (and its URL-encoded, base64 and JSON-escaped forms) as a secret."""
        if value is None or len(value) < _MIN_SECRET_LEN or value in self._registered:
            return  # a registered value's forms are in the pattern already (added last below)
        forms = {value, quote(value, safe=""), quote_plus(value)}
        forms |= _base64_forms(value.encode())
        forms.add(json.dumps(value)[1:-1])
        forms = {f for f in forms if len(f) >= _MIN_SECRET_LEN}
        with self._lock:
            if not forms <= self._secrets:
                self._secrets |= forms
                ordered = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            self._registered.add(value)

    def secrets_registered(self) -> int:
        """Number of distinct secret values registered (encoded forms not counted)."""
        return len(self._registered)

    def _register_derived(self, value: str) -> None:
        value = value.strip()
        if len(value) >= _MIN_DERIVED_LEN and not (value.isalpha() and value.islower()):
            self.register(value)

    def _register_header_value(self, name: str, value: str) -> None:
        self._register_derived(value)
        lowered = name.lower()
        if lowered in ("authorization", "proxy-authorization"):
            scheme, _, credential = value.strip().partition(" ")
            self._register_derived(credential)
            if scheme.lower() == "basic" and credential:
                try:
                    decoded = base64.b64decode(credential, validate=True).decode()
                except (binascii.Error, UnicodeDecodeError):
                    decoded = ""
                self._register_derived(decoded)
                self._register_derived(decoded.partition(":")[2])
        elif lowered == "cookie":
            for pair in value.split(";"):
                self._register_derived(pair.partition("=")[2])
        elif lowered == "set-cookie":
            self._register_derived(value.split(";", 1)[0].partition("=")[2])

    # names

    def is_sensitive_name(self, name: str) -> bool:
        """Whether a header, query parameter or JSON key of this name holds a credential."""
        # Names repeat on every request (Content-Type, Date...): judge each once.
        cached = self._name_cache.get(name)
        if cached is None:
            cached = self._judge_name(name)
            if len(self._name_cache) < 4096:
                self._name_cache[name] = cached
        return cached

    def _judge_name(self, name: str) -> bool:
        lowered = name.strip().lower()
        if lowered in _ALWAYS_SENSITIVE:
            return True
        if any(p.search(name) for p in self._extra):
            return True
        if lowered in _NEVER_SENSITIVE or lowered.startswith(_NEVER_SENSITIVE_PREFIXES):
            return False
        words = [w.lower() for w in _WORD_SPLIT.split(_CAMEL.sub(" ", name)) if w]
        if any(w in _SENSITIVE_WORDS for w in words):
            return True
        return any(f in w for w in words for f in _SENSITIVE_FRAGMENTS)

    # scrubbing

    def redact_text(self, text: str) -> str:
        """Hide sensitive query values in URL-looking text, then every registered secret."""
        if not text:
            return text
        if "=" in text and ("?" in text or "&" in text):
            text = _QUERY_PAIR.sub(self._query_pair, text)
        pattern = self._pattern
        if pattern is None:
            return text
        return pattern.sub(REDACTED, text)

    def _query_pair(self, match: re.Match[str]) -> str:
        name = unquote_plus(match["key"])
        if not self.is_sensitive_query_name(name) or not match["value"]:
            return match[0]
        if match["value"] != REDACTED:
            self._register_derived(unquote_plus(match["value"]))
        return f"{match['lead']}{match['key']}={REDACTED}"

    def is_sensitive_query_name(self, name: str) -> bool:
        """A query parameter that carries a credential: a sensitive name, or OAuth's ``code``
        (``auth_code`` and ``otp_code`` are sensitive names already; ``status_code`` is not)."""
        return self.is_sensitive_name(name) or name.strip().lower() in _SENSITIVE_QUERY_NAMES

    def _remembered(self, key: tuple[object, ...]) -> object | None:
        """The result stored under `key`, if no secret was registered since it was computed.

        Scrubbing only ever registers secrets (never forgets one), so a result computed when
        the pattern was P, with P still current, is exactly what scrubbing again would give,
        side effects included.
        """
        hit = self._memo.get(key)
        return hit[1] if hit is not None and hit[0] is self._pattern else None

    def _remember(
        self, key: tuple[object, ...], pattern: re.Pattern[str] | None, value: object
    ) -> None:
        if len(self._memo) >= _MEMO_ENTRIES:
            self._memo.clear()
        self._memo[key] = (pattern, value)

    def redact_headers(
        self, headers: Mapping[str, str] | Iterable[tuple[str, str]]
    ) -> dict[str, str]:
        """Sensitive headers become REDACTED (their values turn into secrets); others scrubbed."""
        pairs = tuple(headers.items()) if isinstance(headers, Mapping) else tuple(headers)
        return self.redact_header_block(pairs, lambda: pairs)

    def redact_header_block(
        self, identity: Hashable, pairs: Callable[[], Iterable[tuple[str, str]]]
    ) -> dict[str, str]:
        """`redact_headers(pairs())`, where `identity` (e.g. the raw header bytes) determines
        the pairs: a block seen before is not even decoded again."""
        key = ("headers", identity)
        # The pattern before scrubbing: a secret registered meanwhile makes the entry stale.
        pattern = self._pattern
        known = self._remembered(key)
        if isinstance(known, dict):
            return dict(known)
        out = self._redact_header_pairs(tuple(pairs()))
        self._remember(key, pattern, out)
        return dict(out)

    def _redact_header_pairs(self, pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
        for name, value in pairs:
            if self.is_sensitive_name(name):
                self._register_header_value(name, value)
        out: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            if self.is_sensitive_name(name):
                shown = REDACTED
            elif key in _URL_HEADERS:
                shown = self.redact_url(value)
            elif key == "refresh" and "url=" in value.lower():
                delay, _, target = value.partition("=")
                shown = f"{delay}={self.redact_url(target)}"
            else:
                shown = self.redact_text(value)
            # Repeated headers (Set-Cookie, Via) are joined rather than silently dropped.
            out[key] = f"{out[key]}, {shown}" if key in out and shown != REDACTED else shown
        return out

    def redact_url(self, url: str) -> str:
        """Strip userinfo, hide sensitive query/fragment values, then scrub registered secrets."""
        key = ("url", url)
        pattern = self._pattern
        known = self._remembered(key)
        if isinstance(known, str):
            return known
        shown = self._redact_url(url)
        self._remember(key, pattern, shown)
        return shown

    def _redact_url(self, url: str) -> str:
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.redact_text(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, netloc = netloc.rpartition("@")
            self.register(unquote_plus(userinfo.partition(":")[2]) or None)
        query = self._redact_pairs(parts.query, "&")
        fragment = (
            self._redact_pairs(parts.fragment, "&") if "=" in parts.fragment else parts.fragment
        )
        rebuilt = urlunsplit((parts.scheme, netloc, parts.path, query, fragment))
        return self.redact_text(rebuilt)

    def _redact_pairs(self, encoded: str, separator: str) -> str:
        if not encoded:
            return encoded
        out = []
        for item in encoded.split(separator):
            raw_name, eq, raw_value = item.partition("=")
            if eq and self.is_sensitive_name(unquote_plus(raw_name)):
                self._register_derived(unquote_plus(raw_value))
                out.append(f"{raw_name}={REDACTED}")
            else:
                out.append(item)
        return separator.join(out)

    def redact_json(self, obj: object) -> object:
        """Sensitive keys' values become REDACTED; strings pass through redact_text."""
        if isinstance(obj, dict):
            result: dict[object, object] = {}
            for key, value in obj.items():
                if isinstance(key, str) and self.is_sensitive_name(key) and _carries_secret(value):
                    if isinstance(value, str):
                        self._register_derived(value)
                    result[key] = REDACTED
                else:
                    result[key] = self.redact_json(value)
            return result
        if isinstance(obj, (list, tuple)):
            return [self.redact_json(item) for item in obj]
        if isinstance(obj, str):
            return self.redact_text(obj)
        return obj

    def redact_body(self, text: str, content_type: str = "", *, complete: bool = True) -> str:
        """Scrub a body excerpt: JSON keys, form fields and registered secrets.

        `complete=False` means the text was cut at a byte cap, so a secret may be only
        partly present at its end; that leftover prefix is hidden too.
        """
        if not text:
            return text
        lowered = content_type.lower()
        scrubbed: str | None = None
        if complete and ("json" in lowered or text.lstrip()[:1] in ("{", "[")):
            scrubbed = self._redact_json_text(text)
        if scrubbed is None:
            scrubbed = self._redact_pairs_in_text(text)
        if not complete:
            scrubbed = self._hide_partial_tail(scrubbed)
        return scrubbed

    def _redact_json_text(self, text: str) -> str | None:
        try:
            parsed = json.loads(text)
            redacted = self.redact_json(parsed)
        except (ValueError, RecursionError):
            return None
        if redacted == parsed:
            return self.redact_text(text)
        # Re-serialising loses the original layout, which only matters when we changed it.
        return self.redact_text(json.dumps(redacted, ensure_ascii=False))

    def _redact_pairs_in_text(self, text: str) -> str:
        def json_pair(match: re.Match[str]) -> str:
            if not self.is_sensitive_name(match["key"]):
                return match[0]
            value = match["value"]
            if value.startswith('"'):
                self._register_derived(value.strip('"'))
            return f'"{match["key"]}"{match["sep"]}"{REDACTED}"'

        def form_pair(match: re.Match[str]) -> str:
            if not self.is_sensitive_name(unquote_plus(match["key"])):
                return match[0]
            self._register_derived(unquote_plus(match["value"]))
            return f"{match['key']}={REDACTED}"

        text = _JSON_PAIR.sub(json_pair, text)
        text = _FORM_PAIR.sub(form_pair, text)
        return self.redact_text(text)

    def _hide_partial_tail(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            for size in range(min(len(secret) - 1, len(text)), _MIN_PARTIAL_LEN - 1, -1):
                if text.endswith(secret[:size]):
                    return text[:-size] + REDACTED
        return text


def _carries_secret(value: object) -> bool:
    # A flag such as {"csrf_required": true} is not a secret and is worth keeping readable.
    return value is not None and not isinstance(value, bool)
