"""``gate_page``: Playwright navigation that fails like a gate should, and what pages report."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pytest
from playwright.sync_api import Error as PlaywrightError

from .navigation import (
    NAVIGATION_TIMING_JS,
    PageTimings,
    navigation_problem,
    page_scope,
    resolve_url,
    timings_from_entry,
)

if TYPE_CHECKING:
    import re

    from playwright.sync_api import (
        BrowserContext,
        ConsoleMessage,
        Page,
        Request,
        Response,
        WebError,
    )

    from ...http.redact import Redactor

WaitUntil = Literal["commit", "domcontentloaded", "load", "networkidle"]
TimingsSink = Callable[[str, PageTimings, bool], None]

# Enough to diagnose a broken page; a page stuck in an error loop must not grow without end.
MAX_ENTRIES = 200
# How long a visit that waited for "load" waits for loadEventEnd to be filled in.
LOAD_EVENT_WAIT_MS = 2000


@dataclass(frozen=True)
class FailedRequest:
    """A request that got no response, or a response with status >= 400 (URL redacted)."""

    method: str
    url: str
    status: int | None
    failure: str | None = None

    def line(self) -> str:
        """``GET http://host/api/x -> 500`` or ``... -> net::ERR_CONNECTION_REFUSED``."""
        outcome = str(self.status) if self.status is not None else (self.failure or "failed")
        return f"{self.method} {self.url} -> {outcome}"


class ContextWatcher:
    """Console errors, failed requests and pages of one browser context, redacted as they come."""

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self.console_errors: list[str] = []
        self.failed_requests: list[FailedRequest] = []
        self.pages: list[Page] = []
        self.dropped = 0

    def attach(self, context: BrowserContext) -> None:
        """Listen to ``context`` and every page it opens."""
        self.pages.extend(context.pages)
        context.on("page", self._on_page)
        context.on("console", self._on_console)
        context.on("weberror", self._on_web_error)
        context.on("requestfailed", self._on_request_failed)
        context.on("response", self._on_response)

    def _on_page(self, page: Page) -> None:
        self.pages.append(page)

    def _keep(self, target: list[Any], entry: Any) -> None:
        if len(target) < MAX_ENTRIES:
            target.append(entry)
        else:
            self.dropped += 1

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        location = message.location or {}
        where = ""
        if location.get("url"):
            where = f" ({self._redactor.redact_url(str(location['url']))}"
            where += f":{location.get('lineNumber', 0)})"
        self._keep(self.console_errors, self._redactor.redact_text(message.text) + where)

    def _on_web_error(self, web_error: WebError) -> None:
        text = f"uncaught {web_error.error.name}: {web_error.error.message}"
        self._keep(self.console_errors, self._redactor.redact_text(text))

    def _on_request_failed(self, request: Request) -> None:
        url = self._redactor.redact_url(request.url)
        failure = self._redactor.redact_text(request.failure or "failed")
        self._keep(self.failed_requests, FailedRequest(request.method, url, None, failure))

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            url = self._redactor.redact_url(response.url)
            entry = FailedRequest(response.request.method, url, response.status)
            self._keep(self.failed_requests, entry)

    def final_url(self) -> str | None:
        """The redacted URL of the first page still open (else the last page), if any."""
        if not self.pages:
            return None
        open_pages = [page for page in self.pages if not page.is_closed()]
        page = open_pages[0] if open_pages else self.pages[-1]
        return self._redactor.redact_url(page.url)


def evaluate_untraced(page: Page, expression: str, arg: Any) -> Any:
    """``page.evaluate`` that stays out of the trace: no action entry, no DOM snapshots."""
    # Under --tracing, every public call is an action whose before/after DOM snapshots cost
    # about 50 ms; the gate's own reads are not the user's actions and must not show in
    # their trace. Playwright marks such calls "internal"; that switch is private, so any
    # sign that it moved falls back to the public (traced) call.
    try:
        from playwright._impl.channel_owner import ApiCallOptions

        impl = page._impl_obj
        call = impl._wrap_api_call(
            lambda _zone: impl.evaluate(expression, arg), ApiCallOptions(internal=True)
        )
    except (ImportError, AttributeError, TypeError):
        return page.evaluate(expression, arg)
    return page._sync(call)


class GatePage:
    """A Playwright page whose ``visit`` fails on error pages, login redirects and other hosts."""

    def __init__(
        self,
        page: Page,
        *,
        base_url: str,
        login_pattern: re.Pattern[str],
        redactor: Redactor,
        on_timings: TimingsSink,
        watcher: ContextWatcher | None = None,
    ) -> None:
        self.page = page
        self.base_url = base_url
        self._login_pattern = login_pattern
        self._redactor = redactor
        self._on_timings = on_timings
        self._watcher = watcher
        self.last_scope: str | None = None
        self.last_timings: PageTimings | None = None

    @property
    def console_errors(self) -> list[str]:
        """Console errors and uncaught exceptions seen so far in this page's context."""
        return list(self._watcher.console_errors) if self._watcher else []

    @property
    def failed_requests(self) -> list[FailedRequest]:
        """Requests of this page's context that failed or answered >= 400."""
        return list(self._watcher.failed_requests) if self._watcher else []

    def visit(
        self,
        path: str,
        *,
        name: str | None = None,
        wait_until: WaitUntil = "load",
        timeout: float | None = None,
        allow_status: Sequence[int] = (),
        expect_login: bool = False,
    ) -> Response:
        """Open ``path`` under the base URL; fail on status >= 400, a login page or another host.

        Records TTFB, DOMContentLoaded and load of the visit under ``name`` (default
        ``"page <path>"``) for page SLOs such as ``--gate-slo "page /: load < 2s"``.
        """
        __tracebackhide__ = True
        url = resolve_url(self.base_url, path)
        response = self.page.goto(url, wait_until=wait_until, timeout=timeout)
        redact_url = self._redactor.redact_url
        final_url = redact_url(self.page.url) if response is not None else None
        chain: list[tuple[str, int | None]] = []
        if response is not None and response.request.redirected_from is not None:
            chain = self._redirect_chain(response)
        problem = navigation_problem(
            path=redact_url(path),
            final_url=final_url,
            status=response.status if response is not None else None,
            status_text=response.status_text if response is not None else "",
            base_url=self.base_url,
            login_pattern=self._login_pattern,
            chain=chain,
            allow_status=allow_status,
            expect_login=expect_login,
        )
        timings = (
            self._read_timings(wait_until)
            if response is not None
            else PageTimings(None, None, None)
        )
        scope = name or page_scope(path)
        self.last_scope, self.last_timings = scope, timings
        self._on_timings(scope, timings, problem is None)
        if problem is not None:
            pytest.fail(problem)
        assert response is not None
        return response

    def _redirect_chain(self, response: Response) -> list[tuple[str, int | None]]:
        requests: list[Request] = []
        request: Request | None = response.request
        while request is not None and len(requests) < 20:
            requests.append(request)
            request = request.redirected_from
        chain: list[tuple[str, int | None]] = []
        for hop in reversed(requests):
            hop_response = response if hop is response.request else hop.response()
            status = hop_response.status if hop_response is not None else None
            chain.append((self._redactor.redact_url(hop.url), status))
        return chain

    def _read_timings(self, wait_until: WaitUntil) -> PageTimings:
        wait_ms = LOAD_EVENT_WAIT_MS if wait_until in ("load", "networkidle") else 0
        try:
            entry = evaluate_untraced(self.page, NAVIGATION_TIMING_JS, wait_ms)
        except PlaywrightError:
            # The page navigated again or closed under us: no timings rather than a failure.
            return PageTimings(None, None, None)
        return timings_from_entry(entry if isinstance(entry, dict) else None)

    def assert_budget(self, expression: str) -> None:
        """Fail unless the last visit meets a page budget such as ``"load < 1s"``."""
        __tracebackhide__ = True
        from ...measure.metrics import PAGE_METRICS, MetricsStore
        from ...slo.evaluate import SLOSyntaxError, evaluate_slo, parse_slo

        if self.last_timings is None or self.last_scope is None:
            pytest.fail("gate_page.assert_budget() judges the last visit; call visit(path) first")
        try:
            slo = parse_slo(expression)
        except SLOSyntaxError as exc:
            pytest.fail(str(exc))
        if slo.metric not in PAGE_METRICS or slo.scope is not None or slo.kind != "duration":
            pytest.fail(
                f"assert_budget({expression!r}) takes an unscoped page timing; "
                "write it like 'load < 2s', 'ttfb < 300ms' or 'dcl <= 1s'"
            )
        measured = self.last_timings.as_metrics().get(slo.metric)
        if measured is None:
            pytest.fail(
                f"{self.last_scope}: {slo.metric} was not measured on the last visit "
                "(visit with wait_until='load' to measure every timing)"
            )
        store = MetricsStore()
        store.record(self.last_scope, measured, True, metric=slo.metric)
        scoped = dataclasses.replace(slo, scope=self.last_scope)
        result = evaluate_slo(scoped, store)
        if not result.passed:
            pytest.fail(f"{self.last_scope}: {result.reason} (budget {expression!r})")
