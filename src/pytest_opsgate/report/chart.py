"""The load run's chart as SVG text: latency and throughput over time, budgets, warmup, events.

SVG is text, so the chart needs no font, no image encoder and no plotting dependency; it can
be written to a file and inlined in the pytest-html report and its summary as it is. Every
string that reaches the markup is escaped. It has no ``id`` attributes, so several charts can
share one HTML page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

EventKind = Literal["abort", "down", "note"]

WIDTH, HEIGHT = 900, 360
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"'
_INK, _MUTED, _GRID, _SHADE, _BUDGET = "#222", "#666", "#e4e4e4", "#f1f1f1", "#b00"
_LATENCY = (("p50", "p50", "#1f77b4"), ("p95", "p95", "#e6780e"), ("p99", "p99", "#8c3cb0"))
_CORRECTED = (
    ("corrected_p95", "p95 from intended start", "#e6780e"),
    ("corrected_p99", "p99 from intended start", "#8c3cb0"),
)
_THROUGHPUT = (("requests", "requests/s", "#2c962c"), ("failures", "failures/s", "#d62728"))
_EVENT_COLORS = {"abort": "#e6780e", "down": "#d62728", "note": "#666"}


@dataclass(frozen=True)
class TimePoint:
    """One bin of the run (``t`` seconds from the start): rates per second, latencies in ms.

    ``corrected_*`` are the open model's latencies measured from each request's intended
    start; ``p*`` are service latencies (from the actual send). Either may be None.
    """

    t: float
    requests: float = 0.0
    failures: float = 0.0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    corrected_p95: float | None = None
    corrected_p99: float | None = None


@dataclass(frozen=True)
class Budget:
    """A latency budget drawn as a labelled line: ``p95 < 300 ms`` at 300."""

    label: str
    ms: float


@dataclass(frozen=True)
class ChartEvent:
    """A moment worth a vertical line: the load stopped early, the target went down."""

    at_s: float
    label: str
    kind: EventKind = "note"


@dataclass(frozen=True)
class LoadChart:
    """Everything the chart shows; ``bin_s`` is the width of one point."""

    points: tuple[TimePoint, ...]
    title: str = ""
    warmup_s: float = 0.0
    budgets: tuple[Budget, ...] = ()
    events: tuple[ChartEvent, ...] = field(default=())
    bin_s: float = 1.0


def chart_from_result(result: Mapping[str, Any], title: str = "") -> LoadChart:
    """The chart of a load result (``opsgate-result.json``: timeline, SLOs, abort, death)."""
    points = tuple(
        TimePoint(
            t=float(point.get("t", 0)),
            requests=float(point.get("requests", 0) or 0),
            failures=float(point.get("failures", 0) or 0),
            **{
                name: _number(point.get(name))
                for name in ("p50", "p95", "p99", "corrected_p95", "corrected_p99")
            },
        )
        for point in result.get("timeline", []) or []
    )
    budgets = []
    for entry in result.get("slos", []) or []:
        slo = entry.get("slo", {}) if isinstance(entry, dict) else {}
        statistic = str(slo.get("statistic", ""))
        if slo.get("metric") == "latency" and statistic.startswith("p") and "budget" in slo:
            text = str(slo.get("text") or f"{statistic} < {slo['budget']:g} ms")
            budgets.append(Budget(text, float(slo["budget"])))
    events = []
    if result.get("abort"):
        # An SLO that could no longer pass stopped the load: the terminal's words, not
        # "aborted", which is the verdict of a run a signal stopped (exit 2).
        events.append(ChartEvent(float(result["abort"]["at_s"]), "stopped early", "abort"))
    if result.get("target_down"):
        events.append(ChartEvent(float(result["target_down"]["at_s"]), "target down", "down"))
    return LoadChart(
        points=points,
        title=title,
        warmup_s=float(result.get("warmup_s") or 0),
        budgets=tuple(budgets),
        events=tuple(events),
    )


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """Ticks from 0 to at least ``high`` in steps of 1, 2, 2.5 or 5 times a power of ten."""
    if not math.isfinite(high) or high <= 0:
        high = 1.0
    raw = high / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * (1 - 1e-9))
    ticks = [0.0]
    while ticks[-1] < high * (1 - 1e-9):
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _tick_label(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


@dataclass(frozen=True)
class _Panel:
    """Where one panel is drawn and how its values map to pixels."""

    left: float
    top: float
    right: float
    bottom: float
    x_max: float
    y_max: float

    def x(self, t: float) -> float:
        return self.left + (self.right - self.left) * min(max(t, 0.0), self.x_max) / self.x_max

    def y(self, value: float) -> float:
        share = min(max(value, 0.0), self.y_max) / self.y_max
        return self.bottom - (self.bottom - self.top) * share


def render_svg(chart: LoadChart, *, width: int = WIDTH, height: int = HEIGHT) -> str:
    """The chart as a standalone ``<svg>`` element (also valid inline in HTML)."""
    points = sorted(chart.points, key=lambda p: p.t)
    x_max = max([p.t + chart.bin_s for p in points] + [e.at_s for e in chart.events] + [1.0])
    x_ticks = nice_ticks(x_max, 7)
    x_max = x_ticks[-1]
    latency = [
        s for s in (*_LATENCY, *_CORRECTED) if any(_get(p, s[0]) is not None for p in points)
    ]
    lat_values = [v for s in latency for p in points if (v := _get(p, s[0])) is not None]
    lat_ticks = nice_ticks(_latency_scale(lat_values, [b.ms for b in chart.budgets]), 6)
    rate_values = [p.requests for p in points] + [p.failures for p in points]
    rate_ticks = nice_ticks(max([*rate_values, 1.0]) * 1.05, 4)

    left, right = 64, width - 160  # the right margin holds the legend
    top = 34 if chart.title else 14
    split = top + (height - top - 36) * 0.58
    upper = _Panel(left, top, right, split, x_max, lat_ticks[-1])
    lower = _Panel(left, split + 26, right, height - 36, x_max, rate_ticks[-1])

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" {_FONT} font-size="11">',
        f"<title>{escape(chart.title or 'load run')}: latency and throughput over time</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fff"/>',
    ]
    if chart.title:
        out.append(
            f'<text x="{left}" y="20" font-size="13" font-weight="600" fill="{_INK}">'
            f"{escape(chart.title)}</text>"
        )
    for panel, ticks, unit in (
        (upper, lat_ticks, "latency (ms)"),
        (lower, rate_ticks, "per second"),
    ):
        out += _frame(panel, ticks, x_ticks, unit, chart.warmup_s)
    labels: dict[float, list[str]] = {}
    for budget in chart.budgets:
        labels.setdefault(budget.ms, []).append(budget.label)
    label_bottom = -math.inf  # of the label above, top to bottom
    above = [t for ms, texts in sorted(labels.items()) if ms > upper.y_max for t in texts]
    if above:
        # Budgets far above every measurement would squash the lines flat: named, not drawn.
        label_bottom = upper.top + 15
        text = f"\u2191 above the scale: {' · '.join(above)}"
        if len(text) > _fits(right - left - 80):
            far = sorted(ms for ms in labels if ms > upper.y_max)
            text = f"\u2191 {len(above)} budgets above the scale ({_ms(far[0])} to {_ms(far[-1])})"
        out.append(
            f'<text x="{right - 4}" y="{upper.top + 12:.1f}" text-anchor="end" '
            f'fill="{_BUDGET}">{escape(text)}</text>'
        )
    for ms, texts in sorted(labels.items(), reverse=True):
        if ms > upper.y_max:
            continue
        y = upper.y(ms)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="{_BUDGET}" '
            'stroke-width="1.2" stroke-dasharray="6 4"/>'
        )
        # Inside the plot, right-aligned above its line (below it when the label above is in
        # the way), on a white halo so the lines behind stay readable.
        baseline = y - 4 if y - 15 > label_bottom else y + 13
        label_bottom = baseline + 3
        out.append(
            f'<text x="{right - 4}" y="{baseline:.1f}" text-anchor="end" fill="{_BUDGET}" '
            f'stroke="#fff" stroke-width="3" paint-order="stroke">'
            f"{escape(_shorten(' · '.join(texts), _fits(right - left - 80)))}</text>"
        )
    legend: list[tuple[str, str, bool]] = []
    for key, label, color in latency:
        dashed = key.startswith("corrected")
        out += _series(upper, points, key, color, chart.bin_s, dashed)
        legend.append((label, color, dashed))
    for key, label, color in _THROUGHPUT:
        out += _series(lower, points, key, color, chart.bin_s, False)
        legend.append((label, color, False))
    # Event labels stack in rows under the "above the scale" note: on one baseline they wrote
    # over it (and over each other when a target went down just before the load stopped).
    first_row = 1 if above else 0
    for row, event in enumerate(sorted(chart.events, key=lambda e: e.at_s), start=first_row):
        out += _event(event, upper, lower, row, right)
    out += _legend(legend, right + 4, lower.top, chart.budgets != ())
    out.append(
        f'<text x="{(left + right) / 2:.1f}" y="{height - 6}" text-anchor="middle" '
        f'fill="{_MUTED}">seconds since start</text>'
    )
    out.append("</svg>")
    return "\n".join(out)


def _fits(pixels: float) -> int:
    """How many characters of 11 px text fit in ``pixels`` (about 6.2 px a character)."""
    return max(int(pixels / 6.2), 8)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _ms(value: float) -> str:
    return f"{value / 1000:g} s" if value >= 1000 else f"{value:g} ms"


def _latency_scale(values: Sequence[float], budgets: Sequence[float]) -> float:
    """The top of the latency axis: the data, and the budgets not far above it."""
    if not values:
        return max([*budgets, 1.0]) * 1.05
    high = max(values)
    # A budget within 3x of the worst measurement is drawn; one far above would flatten the
    # lines into the x axis, so it is only named.
    near = [budget for budget in budgets if budget <= 3 * high]
    return max([high, *near, 1.0]) * 1.05


def _get(point: TimePoint, key: str) -> float | None:
    value = getattr(point, key)
    return None if value is None else float(value)


def _frame(
    panel: _Panel, ticks: Sequence[float], x_ticks: Sequence[float], unit: str, warmup_s: float
) -> list[str]:
    out = []
    if warmup_s > 0:
        x = panel.x(warmup_s)
        out.append(
            f'<rect x="{panel.left}" y="{panel.top:.1f}" width="{x - panel.left:.1f}" '
            f'height="{panel.bottom - panel.top:.1f}" fill="{_SHADE}"/>'
        )
        out.append(
            f'<text x="{panel.left + 4}" y="{panel.top + 12:.1f}" fill="{_MUTED}">warmup</text>'
        )
    for value in ticks:
        y = panel.y(value)
        out.append(
            f'<line x1="{panel.left}" y1="{y:.1f}" x2="{panel.right}" y2="{y:.1f}" '
            f'stroke="{_GRID}"/>'
        )
        out.append(
            f'<text x="{panel.left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{_MUTED}">'
            f"{_tick_label(value)}</text>"
        )
    for value in x_ticks:
        x = panel.x(value)
        out.append(
            f'<line x1="{x:.1f}" y1="{panel.bottom:.1f}" x2="{x:.1f}" y2="{panel.bottom + 4:.1f}" '
            f'stroke="{_MUTED}"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{panel.bottom + 15:.1f}" text-anchor="middle" '
            f'fill="{_MUTED}">{_tick_label(value)}</text>'
        )
    out.append(
        f'<rect x="{panel.left}" y="{panel.top:.1f}" width="{panel.right - panel.left:.1f}" '
        f'height="{panel.bottom - panel.top:.1f}" fill="none" stroke="#999"/>'
    )
    mid = (panel.top + panel.bottom) / 2
    out.append(
        f'<text x="14" y="{mid:.1f}" text-anchor="middle" fill="{_MUTED}" '
        f'transform="rotate(-90 14 {mid:.1f})">{escape(unit)}</text>'
    )
    return out


def _series(
    panel: _Panel,
    points: Iterable[TimePoint],
    key: str,
    color: str,
    bin_s: float,
    dashed: bool,
) -> list[str]:
    """A line through the middle of each bin, broken where a bin has no value."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in points:
        value = _get(point, key)
        if value is None:
            runs.append([])
            continue
        runs[-1].append((panel.x(point.t + bin_s / 2), panel.y(value)))
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    out = []
    for run in runs:
        if len(run) == 1:
            (x, y) = run[0]
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{color}"/>')
        elif run:
            path = " ".join(
                f"{'M' if i == 0 else 'L'}{x:.1f} {y:.1f}" for i, (x, y) in enumerate(run)
            )
            out.append(
                f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1.6" '
                f'stroke-linejoin="round"{dash}/>'
            )
    return out


def _event(event: ChartEvent, upper: _Panel, lower: _Panel, row: int, right: float) -> list[str]:
    color = _EVENT_COLORS.get(event.kind, _MUTED)
    x = upper.x(event.at_s)
    text = f"{event.label} {event.at_s:.1f} s"
    # Right of its line, or left of it when the text would run out of the plot.
    fits_right = x + 3 + len(text) * 6.6 <= right
    anchor = f'x="{x + 3:.1f}"' if fits_right else f'x="{x - 3:.1f}" text-anchor="end"'
    return [
        f'<line x1="{x:.1f}" y1="{upper.top:.1f}" x2="{x:.1f}" y2="{lower.bottom:.1f}" '
        f'stroke="{color}" stroke-width="1.5"/>',
        f'<text {anchor} y="{upper.top + 12 + 14 * row:.1f}" fill="{color}" font-weight="600" '
        f'stroke="#fff" stroke-width="3" paint-order="stroke">{escape(text)}</text>',
    ]


def _legend(
    entries: Sequence[tuple[str, str, bool]], x: float, y: float, budgets: bool
) -> list[str]:
    out = []
    rows = [*entries, *([("SLO budget", _BUDGET, True)] if budgets else [])]
    for index, (label, color, dashed) in enumerate(rows):
        row_y = y + 4 + index * 15
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        out.append(
            f'<line x1="{x:.1f}" y1="{row_y:.1f}" x2="{x + 18:.1f}" y2="{row_y:.1f}" '
            f'stroke="{color}" stroke-width="2"{dash}/>'
        )
        out.append(
            f'<text x="{x + 23:.1f}" y="{row_y + 4:.1f}" fill="{_INK}">{escape(label)}</text>'
        )
    return out


def load_chart_svg(result: Mapping[str, Any], title: str = "") -> str:
    """The SVG of a load result, for the report's summary (``opsgate-result.json`` as a dict)."""
    return render_svg(chart_from_result(result, title=title))
