"""The load chart as SVG: well-formed, every series drawn, budgets in place, text escaped."""

from __future__ import annotations

import itertools
import math
from xml.etree import ElementTree

from hypothesis import given
from hypothesis import strategies as st

from pytest_opsgate.report.chart import (
    Budget,
    ChartEvent,
    LoadChart,
    TimePoint,
    chart_from_result,
    nice_ticks,
    render_svg,
)

NS = "{http://www.w3.org/2000/svg}"
BUDGET_COLOR = "#b00"


def _points(seconds: int = 30, *, corrected: bool = False) -> tuple[TimePoint, ...]:
    return tuple(
        TimePoint(
            t=float(t),
            requests=50.0 + t,
            failures=float(t % 3),
            p50=40.0 + t,
            p95=120.0 + 5 * t,
            p99=None if t == 10 else 200.0 + 6 * t,  # a gap: the line breaks there
            corrected_p95=(150.0 + 7 * t) if corrected else None,
            corrected_p99=(260.0 + 4 * t) if corrected else None,
        )
        for t in range(seconds)
    )


def _parse(svg: str) -> ElementTree.Element:
    root = ElementTree.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def _texts(root: ElementTree.Element) -> list[str]:
    return ["".join(node.itertext()) for node in root.iter(f"{NS}text")]


def _strokes(root: ElementTree.Element) -> list[str]:
    return [node.get("stroke", "") for node in root.iter(f"{NS}path")]


def test_the_chart_is_well_formed_svg_of_the_requested_size() -> None:
    root = _parse(render_svg(LoadChart(points=_points(), title="load demo")))
    assert (root.get("width"), root.get("height")) == ("900", "360")
    assert root.get("viewBox") == "0 0 900 360"
    assert not [node for node in root.iter() if node.get("id")]  # safe to inline twice


def test_every_series_is_drawn_and_named_in_the_legend() -> None:
    root = _parse(render_svg(LoadChart(points=_points())))
    texts = _texts(root)
    for label in ("p50", "p95", "p99", "requests/s", "failures/s"):
        assert label in texts, label
    strokes = _strokes(root)
    # p99 has a gap, so it is two lines; the other four series are one line each.
    assert strokes.count("#8c3cb0") == 2
    for color in ("#1f77b4", "#e6780e", "#2c962c", "#d62728"):
        assert strokes.count(color) == 1, color
    assert "p95 from intended start" not in texts


def test_the_open_models_corrected_latency_is_drawn_dashed_beside_service_latency() -> None:
    root = _parse(render_svg(LoadChart(points=_points(corrected=True))))
    texts = _texts(root)
    assert "p95 from intended start" in texts
    assert "p99 from intended start" in texts
    dashed = [node for node in root.iter(f"{NS}path") if node.get("stroke-dasharray")]
    assert {node.get("stroke") for node in dashed} == {"#e6780e", "#8c3cb0"}


def _gridline_y(root: ElementTree.Element, label: str) -> float:
    """The y of the upper panel's gridline whose tick reads ``label``."""
    for node in root.iter(f"{NS}text"):
        if node.get("text-anchor") == "end" and "".join(node.itertext()) == label:
            return float(node.get("y", "0")) - 4
    raise AssertionError(f"no tick {label!r}")


def test_budget_lines_sit_at_their_value_and_are_labelled() -> None:
    points = tuple(TimePoint(t=float(t), requests=10, p95=380.0) for t in range(10))
    chart = LoadChart(
        points=points,
        budgets=(Budget("GET /api/items: p95 < 300ms", 300.0), Budget("p99 < 1s", 1000.0)),
    )
    root = _parse(render_svg(chart))
    lines = [
        node
        for node in root.iter(f"{NS}line")
        if node.get("stroke") == BUDGET_COLOR and node.get("x1") == "64"  # not the legend's
    ]
    assert len(lines) == 2
    by_y = sorted(float(node.get("y1", "0")) for node in lines)
    # The axis grew to show the 1 s budget; y is linear between the 0 and 1000 tick lines.
    zero, thousand = _gridline_y(root, "0"), _gridline_y(root, "1000")
    assert math.isclose(by_y[0], thousand, abs_tol=0.15)
    assert math.isclose(by_y[1], zero + (thousand - zero) * 0.3, abs_tol=0.15)
    texts = _texts(root)
    assert "GET /api/items: p95 < 300ms" in texts
    assert "p99 < 1s" in texts
    assert "SLO budget" in texts


def test_every_string_is_escaped() -> None:
    hostile = "<script>alert('x')</script> & \"quotes\""
    chart = LoadChart(
        points=_points(5),
        title=hostile,
        budgets=(Budget(hostile, 100.0),),
        events=(ChartEvent(3.0, hostile, "down"),),
    )
    svg = render_svg(chart)
    assert "<script>" not in svg
    root = _parse(svg)  # would raise on a raw "<" or "&"
    texts = _texts(root)
    assert texts.count(hostile) == 2  # the title and the budget
    assert f"{hostile} 3.0 s" in texts


def test_warmup_is_shaded_and_events_are_marked() -> None:
    chart = LoadChart(
        points=_points(20),
        warmup_s=5.0,
        events=(
            ChartEvent(12.0, "target down", "down"),
            ChartEvent(15.5, "stopped early", "abort"),
        ),
    )
    root = _parse(render_svg(chart))
    texts = _texts(root)
    assert texts.count("warmup") == 2  # both panels
    assert "target down 12.0 s" in texts
    assert "stopped early 15.5 s" in texts
    shaded = [node for node in root.iter(f"{NS}rect") if node.get("fill") == "#f1f1f1"]
    assert len(shaded) == 2
    assert all(float(node.get("width", "0")) > 0 for node in shaded)


def test_an_empty_run_still_draws_a_valid_chart() -> None:
    root = _parse(render_svg(LoadChart(points=())))
    assert _strokes(root) == []
    assert "seconds since start" in _texts(root)


def test_chart_from_a_load_result() -> None:
    result = {
        "timeline": [
            {"t": 0, "requests": 5, "failures": 0, "p50": 3.0, "p95": 9.0, "p99": None},
            {"t": 1, "requests": 7, "failures": 1, "p50": 4.0, "p95": 11.0, "p99": 30.0},
        ],
        "warmup_s": 1,
        "slos": [
            {
                "slo": {
                    "text": "p95 < 300ms",
                    "metric": "latency",
                    "statistic": "p95",
                    "budget": 300,
                }
            },
            {"slo": {"text": "error_rate < 1%", "metric": "error_rate", "statistic": "rate"}},
        ],
        "abort": {"at_s": 1.5},
        "target_down": {"at_s": 1.7},
    }
    chart = chart_from_result(result, title="demo")
    assert [p.requests for p in chart.points] == [5.0, 7.0]
    assert chart.points[0].p99 is None
    assert chart.budgets == (Budget("p95 < 300ms", 300.0),)
    assert [(e.kind, e.at_s) for e in chart.events] == [("abort", 1.5), ("down", 1.7)]
    # An SLO stop reads as the terminal says it, never as the ABORTED verdict of a signal.
    assert [e.label for e in chart.events] == ["stopped early", "target down"]
    assert chart.warmup_s == 1.0


@given(st.floats(min_value=1e-6, max_value=1e9, allow_nan=False), st.integers(2, 10))
def test_nice_ticks_cover_the_range_in_round_steps(high: float, count: int) -> None:
    ticks = nice_ticks(high, count)
    assert ticks[0] == 0
    assert ticks[-1] >= high * (1 - 1e-9)
    steps = {round(b - a, 9) for a, b in itertools.pairwise(ticks)}
    assert len({round(s / max(steps), 6) for s in steps}) == 1  # equal steps
    step = max(steps)
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (1, 2, 2.5, 5, 10))
    assert len(ticks) <= 2 * count + 1  # a handful, never a thousand


def test_a_budget_far_above_every_measurement_is_named_not_drawn() -> None:
    """Budgets of 300 ms over 3 ms latencies would press the lines flat into the axis."""
    points = tuple(TimePoint(t=float(t), requests=10, p50=2.0, p95=3.0) for t in range(10))
    chart = LoadChart(points=points, budgets=(Budget("p95 < 300ms", 300.0), Budget("p50 < 5ms", 5)))
    root = _parse(render_svg(chart))
    lines = [
        node
        for node in root.iter(f"{NS}line")
        if node.get("stroke") == BUDGET_COLOR and node.get("x1") == "64"
    ]
    assert len(lines) == 1  # the 5 ms budget, near the data
    assert "\u2191 above the scale: p95 < 300ms" in _texts(root)
    # The axis fits the data and the near budget: its top tick is below 10 ms.
    ticks = [float(t) for t in _texts(root) if t.replace(".", "").isdigit()]
    assert max(ticks) < 300


def test_event_labels_never_share_a_line_with_the_note_or_each_other() -> None:
    """A FAIL run's chart wrote 'stopped early 2.0 s' over the '4 budgets above the scale' note."""
    points = tuple(TimePoint(t=float(t), requests=10, p50=30.0, p95=60.0) for t in range(3))
    chart = LoadChart(
        points=points,
        budgets=(Budget("p95 < 300ms", 300.0), Budget("p99 < 1s", 1000.0)),
        events=(ChartEvent(2.9, "stopped early", "abort"), ChartEvent(2.8, "target down", "down")),
    )
    root = _parse(render_svg(chart))
    rows = {
        "".join(node.itertext()): node
        for node in root.iter(f"{NS}text")
        if "above the scale" in "".join(node.itertext()) or " s" in "".join(node.itertext())
    }
    note = next(node for text, node in rows.items() if "above the scale" in text)
    stopped, down = rows["stopped early 2.9 s"], rows["target down 2.8 s"]
    assert len({note.get("y"), stopped.get("y"), down.get("y")}) == 3
    # Near the right edge the label sits left of its line instead of running out of the plot.
    assert stopped.get("text-anchor") == "end"
