"""Running one declarative check: send it (repeatedly), judge each response, evaluate its SLOs."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from ...errors import InsufficientSamplesError
from ...measure.metrics import MetricsStore
from ...slo.evaluate import evaluate_slo, format_slo_table, with_guards
from .context import CheckFailed, is_missing, json_equal, json_text, lookup

if TYPE_CHECKING:
    import httpx

    from .context import Context
    from .spec import Check

# A service that stopped answering is not worth waiting out `repeat` times.
_MAX_TRANSPORT_ERRORS_IN_A_ROW = 3


def run_check(ctx: Context, check: Check) -> list[str]:
    """Run a check; raise CheckFailed with every problem of the first bad response."""
    secret = None
    if check.credential is not None:
        secret = ctx.secret(check.credential.env, optional=check.optional)
    store = MetricsStore()
    failures: list[tuple[int, list[str]]] = []
    sent = 0
    errors_in_a_row = 0
    stopped = ""
    for number in range(1, check.repeat + 1):
        if number > 1 and ctx.expired():
            stopped = (
                f"the check's budget of {check.budget_s:g} s ran out after {sent} of "
                f"{check.repeat} requests (raise budget or lower repeat)"
            )
            break
        sent += 1
        mark = ctx.exchange_count()
        try:
            response = ctx.send(
                check.method,
                check.path,
                headers=check.headers,
                query=check.query,
                body=check.body,
                credential=check.credential,
                secret=secret,
                follow_redirects=check.follow_redirects,
                retry_429=429 not in check.status,
            )
        except CheckFailed as exc:
            if check.repeat == 1:
                raise
            store.record(check.label, None, ok=False)
            failures.append((number, [str(exc)]))
            errors_in_a_row += 1
            if errors_in_a_row >= _MAX_TRANSPORT_ERRORS_IN_A_ROW:
                stopped = f"stopped after {errors_in_a_row} transport errors in a row"
                break
            continue
        errors_in_a_row = 0
        elapsed_ms = ctx.elapsed_since(mark)
        problems = judge(ctx, check, response)
        store.record(check.label, elapsed_ms, ok=not problems)
        budget_ms = check.latency_ms
        if budget_ms is not None and elapsed_ms is not None and elapsed_ms > budget_ms:
            problems.append(f"took {elapsed_ms:.1f} ms, over the {budget_ms:g} ms latency budget")
        if problems:
            failures.append((number, [*problems, f"response: {ctx.excerpt(response)}"]))
    lines = _failure_lines(check, failures, sent)
    if stopped:
        lines.append(stopped)
    lines.extend(_evaluate_slos(ctx, check, store, failed=bool(lines)))
    if lines:
        raise ctx.fail(f"{check.label}: " + "\n  ".join(lines))
    return []


def _failure_lines(check: Check, failures: list[tuple[int, list[str]]], sent: int) -> list[str]:
    if not failures:
        return []
    number, problems = failures[0]
    if check.repeat == 1:
        return problems
    head = f"{len(failures)} of {sent} responses failed; the first, #{number}:"
    return [head, *(f"  {problem}" for problem in problems)]


def _evaluate_slos(ctx: Context, check: Check, store: MetricsStore, *, failed: bool) -> list[str]:
    if not check.slos:
        return []
    results = [
        dataclasses.replace(evaluate_slo(slo, store, min_samples=ctx.min_samples), source="smoke")
        for slo in with_guards(check.slos)
    ]
    ctx.slo_results.extend(results)
    bad = [result for result in results if not result.passed]
    if not bad:
        return []
    table = format_slo_table(results)
    if all(result.verdict == "error" for result in bad) and not failed:
        raise InsufficientSamplesError(f"{check.label}: SLO could not be measured:\n{table}")
    return ["SLO breached:", *table.splitlines()]


def judge(ctx: Context, check: Check, response: httpx.Response) -> list[str]:
    """Every way the response misses the check's expectations (empty: it meets them)."""
    problems: list[str] = []
    status = response.status_code
    if status not in check.status:
        problems.append(f"status {status}, expected {check.status}{_redirect_hint(ctx, response)}")
    if check.content_type is not None:
        actual = response.headers.get("content-type")
        if not _same_media_type(actual, check.content_type):
            problems.append(f"content type {actual or 'missing'}, expected {check.content_type}")
    for name in check.headers_has:
        if name not in response.headers:
            problems.append(f"response header {name} is missing")
    for name, pattern in check.headers_match:
        values = response.headers.get_list(name)
        if not values:
            problems.append(
                f"response header {name} is missing (expected to match {pattern.pattern!r})"
            )
        elif not any(pattern.search(value) for value in values):
            shown = ctx.redactor.redact_headers([(name, ", ".join(values))])[name.lower()]
            problems.append(f"response header {name}: {shown!r} does not match {pattern.pattern!r}")
    if check.body_contains is not None and check.body_contains not in response.text:
        problems.append(f"the body does not contain {check.body_contains!r}")
    if check.expects_json:
        problems.extend(_json_problems(ctx, check, response))
    return problems


def _json_problems(ctx: Context, check: Check, response: httpx.Response) -> list[str]:
    try:
        document = ctx.json_body(response)
    except CheckFailed as exc:
        return [f"the body is not JSON: {exc}"]
    problems = []
    for dotted in check.json_has:
        value, why = lookup(document, dotted)
        if is_missing(value):
            problems.append(f"JSON field {dotted!r} is missing: {why}")
    for dotted, expected in check.json_equals:
        value, why = lookup(document, dotted)
        if is_missing(value):
            problems.append(f"JSON field {dotted!r} is missing: {why}")
        elif not json_equal(value, expected):
            problems.append(
                f"JSON field {dotted!r} is {ctx.redact(json_text(value))}, "
                f"expected {json_text(expected)}"
            )
    return problems


def _same_media_type(actual: str | None, expected: str) -> bool:
    if actual is None:
        return False
    got = actual.split(";", 1)[0].strip().lower()
    want = expected.split(";", 1)[0].strip().lower()
    if want.endswith("/*"):
        return got.startswith(want[:-1])
    return got == want


def _redirect_hint(ctx: Context, response: httpx.Response) -> str:
    location = response.headers.get("location")
    if 300 <= response.status_code < 400 and location:
        shown = ctx.redactor.redact_url(location)
        return f" (redirect to {shown}; set follow_redirects = true to follow it)"
    return ""
