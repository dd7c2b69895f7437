"""Latency-over-time and throughput-over-time charts as a PNG, drawn without a plotting library.

A small raster canvas (lines, rectangles, a 5x7 pixel font) and a PNG encoder from zlib:
enough for two panels with axes, a legend, the warmup shaded and events marked.
"""

from __future__ import annotations

import math
import struct
import zlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
INK: Color = (40, 40, 40)
GRID: Color = (225, 225, 225)
SHADE: Color = (238, 238, 238)
BLUE: Color = (31, 119, 180)
ORANGE: Color = (230, 120, 20)
PURPLE: Color = (130, 60, 170)
GREEN: Color = (44, 150, 44)
RED: Color = (214, 39, 40)
GREY: Color = (140, 140, 140)

# 5x7 glyphs, one hex byte per row (bit 4 is the left column); lower case draws as upper.
_FONT_HEX = {
    "0": "0E11131519110E",
    "1": "040C040404040E",
    "2": "0E11010204081F",
    "3": "1F02040201110E",
    "4": "02060A121F0202",
    "5": "1F101E0101110E",
    "6": "0608101E11110E",
    "7": "1F010204080808",
    "8": "0E11110E11110E",
    "9": "0E11110F01020C",
    "A": "0E1111111F1111",
    "B": "1E11111E11111E",
    "C": "0E11101010110E",
    "D": "1C12111111121C",
    "E": "1F10101E10101F",
    "F": "1F10101E101010",
    "G": "0E11101711110F",
    "H": "1111111F111111",
    "I": "0E04040404040E",
    "J": "0702020202120C",
    "K": "11121418141211",
    "L": "1010101010101F",
    "M": "111B1515111111",
    "N": "11111915131111",
    "O": "0E11111111110E",
    "P": "1E11111E101010",
    "Q": "0E11111115120D",
    "R": "1E11111E141211",
    "S": "0F10100E01011E",
    "T": "1F040404040404",
    "U": "1111111111110E",
    "V": "11111111110A04",
    "W": "1111111515150A",
    "X": "11110A040A1111",
    "Y": "1111110A040404",
    "Z": "1F01020408101F",
    ".": "00000000000C0C",
    ",": "000000000C0408",
    ":": "000C0C000C0C00",
    "/": "00010204081000",
    "%": "18190204081303",
    "-": "0000001F000000",
    "(": "02040808080402",
    ")": "08040202020408",
    "+": "0004041F040400",
    "_": "0000000000001F",
    "{": "02040408040402",
    "}": "08040402040408",
    "=": "00001F001F0000",
    "<": "02040810080402",
    ">": "08040201020408",
    "?": "0E110102040004",
    " ": "00000000000000",
}
_FONT = {char: bytes.fromhex(rows) for char, rows in _FONT_HEX.items()}


class Canvas:
    """An RGB raster with the few drawing operations a chart needs."""

    def __init__(self, width: int, height: int, background: Color = WHITE) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(background) * (width * height))

    def dot(self, x: int, y: int, color: Color) -> None:
        """Set one pixel (outside the canvas is ignored)."""
        if 0 <= x < self.width and 0 <= y < self.height:
            offset = (y * self.width + x) * 3
            self.pixels[offset : offset + 3] = bytes(color)

    def rect(self, x0: int, y0: int, x1: int, y1: int, color: Color) -> None:
        """Fill the rectangle [x0, x1) x [y0, y1)."""
        x0, x1 = max(0, min(x0, x1)), min(self.width, max(x0, x1))
        y0, y1 = max(0, min(y0, y1)), min(self.height, max(y0, y1))
        if x1 <= x0:
            return
        run = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            start = (y * self.width + x0) * 3
            self.pixels[start : start + len(run)] = run

    def line(
        self, x0: int, y0: int, x1: int, y1: int, color: Color, width: int = 1, dash: int = 0
    ) -> None:
        """A straight line (Bresenham), optionally thick or dashed."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err, step = dx + dy, 0
        while True:
            if not dash or (step // dash) % 2 == 0:
                for extra in range(width):
                    self.dot(x0, y0 + extra, color)
            if x0 == x1 and y0 == y1:
                return
            step += 1
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x: int, y: int, text: str, color: Color = INK) -> int:
        """Draw ``text`` with its top-left corner at (x, y); return the x after it."""
        for char in text.upper():
            rows = _FONT.get(char, _FONT["?"])
            for row, bits in enumerate(rows):
                for col in range(5):
                    if bits & (0x10 >> col):
                        self.dot(x + col, y + row, color)
            x += 6
        return x

    def png(self) -> bytes:
        """The canvas as a PNG file."""
        stride = self.width * 3
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b"")
        )


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= value (1 for nothing)."""
    if not value > 0 or not math.isfinite(value):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if factor * power >= value * (1 - 1e-9):
            return factor * power
    return 10.0 * power  # pragma: no cover - the loop always returns


def tick_label(value: float) -> str:
    """A short axis label: 0, 2.5, 250, 1.2K."""
    if value >= 10_000:
        return f"{value / 1000:.3g}K"
    return f"{value:.4g}"


def _panel(
    canvas: Canvas,
    box: tuple[int, int, int, int],
    title: str,
    t_max: float,
    series: Sequence[tuple[str, Color, Sequence[tuple[float, float | None]]]],
    *,
    shade_until: float,
    markers: Sequence[tuple[float, Color]],
    hlines: Sequence[tuple[float, Color]] = (),
) -> None:
    left, top, right, bottom = box
    values = [v for _n, _c, points in series for _t, v in points if v is not None]
    y_max = nice_ceiling(max(values, default=0.0))
    visible = [(v, c) for v, c in hlines if v <= y_max * 1.5]
    if visible:
        y_max = nice_ceiling(max(y_max, *(v for v, _c in visible)))

    def px(t: float) -> int:
        return left + round((right - left) * t / t_max)

    def py(v: float) -> int:
        return bottom - round((bottom - top) * min(v, y_max) / y_max)

    if shade_until > 0:
        canvas.rect(left, top, px(min(shade_until, t_max)), bottom, SHADE)
    for step in range(5):
        y = py(y_max * step / 4)
        canvas.line(left, y, right, y, GRID)
        label = tick_label(y_max * step / 4)
        canvas.text(left - 4 - 6 * len(label), y - 3, label, GREY)
    for value, color in visible:
        canvas.line(left, py(value), right, py(value), color, dash=4)
    canvas.line(left, top, left, bottom, INK)
    canvas.line(left, bottom, right, bottom, INK)
    for t, color in markers:
        canvas.line(px(t), top, px(t), bottom, color, dash=3)
    canvas.text(left, top - 12, title)
    x = right - sum(6 * len(name) + 16 for name, _c, _p in series)
    for name, color, points in series:
        canvas.rect(x, top - 11, x + 8, top - 4, color)
        x = canvas.text(x + 11, top - 12, name, color) + 5
        previous: tuple[int, int] | None = None
        for t, v in points:
            if v is None:
                previous = None
                continue
            point = (px(t), py(v))
            if previous is not None:
                canvas.line(previous[0], previous[1], point[0], point[1], color, width=2)
            else:
                canvas.line(point[0], point[1], point[0], point[1], color, width=2)
            previous = point


def _mid(point: dict[str, Any]) -> float:
    return int(point["t"]) + 0.5


def render_chart(
    timeline: Sequence[dict[str, Any]],
    *,
    title: str = "",
    warmup_s: float = 0.0,
    events: Sequence[tuple[float, str]] = (),
    budgets_ms: Sequence[float] = (),
    width: int = 760,
    height: int = 420,
) -> bytes:
    """PNG: latency p50/p95/p99 (ms) above requests and failures per second, per second."""
    canvas = Canvas(width, height)
    canvas.text(8, 6, title[: (width - 16) // 6])
    t_max = float(max((int(p["t"]) + 1 for p in timeline), default=1))
    latency = [
        (name.upper(), color, [(_mid(p), p.get(name)) for p in timeline])
        for name, color in (("p50", BLUE), ("p95", ORANGE), ("p99", PURPLE))
    ]
    throughput = [
        ("REQ/S", GREEN, [(_mid(p), float(p.get("requests", 0))) for p in timeline]),
        ("FAIL/S", RED, [(_mid(p), float(p.get("failures", 0))) for p in timeline]),
    ]
    marks = [(min(t, t_max), RED if kind == "down" else ORANGE) for t, kind in events]
    left, right = 64, width - 16
    split = 30 + (height - 60) * 55 // 100
    _panel(
        canvas,
        (left, 44, right, split),
        "LATENCY (MS)",
        t_max,
        latency,
        shade_until=warmup_s,
        markers=marks,
        hlines=[(budget, GREY) for budget in budgets_ms],
    )
    _panel(
        canvas,
        (left, split + 30, right, height - 22),
        "THROUGHPUT (PER S)",
        t_max,
        throughput,
        shade_until=warmup_s,
        markers=marks,
    )
    for step in range(5):
        t = t_max * step / 4
        label = f"{t:.3g}S"
        canvas.text(left + round((right - left) * step / 4) - 3 * len(label), height - 14, label)
    return canvas.png()
