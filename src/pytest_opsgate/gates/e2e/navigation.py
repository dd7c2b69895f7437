"""What makes a page visit a failure, and the page timings it yields (pure: no Playwright).

``page.goto`` resolves on a 404 or 500 and follows redirects without a word, so a deploy
that sends every page to the login form, or to another site, looks healthy (row F21 of
the fault table). A gate visit checks the final status, path and host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import re
    from collections.abc import Mapping, Sequence

# Resolves once the Navigation Timing entry has its load event (or the wait is over), so a
# visit that waited for "load" reads complete numbers: loadEventEnd is set just after the
# load event that page.goto waited for.
NAVIGATION_TIMING_JS = """async (waitMs) => {
  const deadline = performance.now() + waitMs;
  for (;;) {
    const entry = performance.getEntriesByType("navigation")[0];
    if ((entry && entry.loadEventEnd > 0) || performance.now() >= deadline) {
      return entry ? entry.toJSON() : null;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}"""


@dataclass(frozen=True)
class PageTimings:
    """Navigation Timing of one visit, in ms from navigation start; None when not reached."""

    ttfb_ms: float | None
    dcl_ms: float | None
    load_ms: float | None

    def as_metrics(self) -> dict[str, float]:
        """The measured timings keyed by metric name (``ttfb``, ``dcl``, ``load``)."""
        pairs = (("ttfb", self.ttfb_ms), ("dcl", self.dcl_ms), ("load", self.load_ms))
        return {name: value for name, value in pairs if value is not None}


def _since_start(entry: Mapping[str, Any], name: str) -> float | None:
    value = entry.get(name)
    if not isinstance(value, (int, float)) or value <= 0:
        return None
    return max(0.0, float(value) - float(entry.get("startTime") or 0.0))


def timings_from_entry(entry: Mapping[str, Any] | None) -> PageTimings:
    """Timings from a ``PerformanceNavigationTiming`` JSON entry.

    TTFB is ``responseStart - startTime`` (redirects, DNS, connect and server time, as
    web-vitals counts it); DCL and load are the ends of those events from the same start.
    """
    if not entry:
        return PageTimings(None, None, None)
    return PageTimings(
        ttfb_ms=_since_start(entry, "responseStart"),
        dcl_ms=_since_start(entry, "domContentLoadedEventEnd"),
        load_ms=_since_start(entry, "loadEventEnd"),
    )


def page_scope(path: str) -> str:
    """The metrics scope of a visit: ``"page /checkout"`` (no query string or fragment)."""
    parts = urlsplit(path)
    route = parts.path or "/"
    if not route.startswith("/"):
        route = "/" + route
    return f"page {route}"


def resolve_url(base_url: str, path: str) -> str:
    """``path`` under the base URL, keeping a base path prefix (``/app`` + ``/x`` = ``/app/x``)."""
    if urlsplit(path).scheme:
        return path
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def _same_host(url: str, base_url: str) -> bool:
    # Host only: an http -> https upgrade on the same host is not leaving the site.
    return (urlsplit(url).hostname or "").lower() == (urlsplit(base_url).hostname or "").lower()


def is_login_path(url: str, pattern: re.Pattern[str]) -> bool:
    """Whether a URL's path looks like a login page."""
    return pattern.search(urlsplit(url).path or "/") is not None


def describe_chain(chain: Sequence[tuple[str, int | None]]) -> str:
    """``/account -> 302 -> /login?next=...`` from (url, status) pairs, oldest first."""
    parts: list[str] = []
    for url, status in chain:
        parts.append(url)
        if status is not None and 300 <= status < 400:
            parts.append(str(status))
    return " -> ".join(parts)


def navigation_problem(
    *,
    path: str,
    final_url: str | None,
    status: int | None,
    status_text: str,
    base_url: str,
    login_pattern: re.Pattern[str],
    chain: Sequence[tuple[str, int | None]] = (),
    allow_status: Sequence[int] = (),
    expect_login: bool = False,
) -> str | None:
    """Why a visit failed, in one sentence, or None when it reached a real page.

    URLs passed in must already be redacted; the message is shown in reports as it is.
    """
    label = f"visit({path!r})"
    if final_url is None or status is None:
        return (
            f"{label} got no HTTP response (a same-document navigation or an aborted load); "
            "visit a URL that loads a document"
        )
    route = " via " + describe_chain(chain) if len(chain) > 1 else ""
    if status >= 400 and status not in allow_status:
        text = f" {status_text}" if status_text else ""
        return (
            f"{label} answered {status}{text} at {final_url}{route}; the page is broken "
            "(pass allow_status=(...) if this status is expected)"
        )
    if not _same_host(final_url, base_url):
        return (
            f"{label} left the site: it ended on {final_url}{route}, not on "
            f"{urlsplit(base_url).hostname}; check redirects and the --base-url"
        )
    if (
        not expect_login
        and is_login_path(final_url, login_pattern)
        and not is_login_path(resolve_url(base_url, path), login_pattern)
    ):
        return (
            f"{label} was sent to a login page: {final_url}{route}; sign in first "
            "(e.g. a storage_state) or pass expect_login=True if that is the point"
        )
    return None
