"""The expectation language for health bodies: `path [op JSON-literal]`, checked against JSON.

Pure logic; knows nothing of HTTP or pytest. `checks.db.status == "ok"`,
`status in ["ok", "degraded"]`, `checks.migrations.pending_count <= 0`, or a bare path that
must exist and be truthy. JSON `true` is not `1`, and a missing path is never satisfied.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["Expectation", "parse_expect"]

_EXAMPLE = 'e.g. \'checks.db.status == "ok"\' or \'status in ["ok", "degraded"]\''


@dataclass(frozen=True)
class Expectation:
    """One predicate on the JSON health body, e.g. `checks.db.status == "ok"`."""

    expr: str
    path: tuple[str, ...]
    op: str | None  # None: the value must exist and be truthy
    value: object = None

    def check(self, doc: object) -> str | None:
        """Return None when `doc` satisfies the predicate, else why not."""
        dotted = ".".join(self.path)
        found, actual = _lookup(doc, self.path)
        if not found:
            return f"expect {self.expr}: {dotted} is missing"
        shown = _short_json(actual)
        if self.op is None:
            return None if actual not in (None, False, "", 0, [], {}) else _fail(self, shown)
        if self.op in ("==", "!="):
            return (
                None if _json_equal(actual, self.value) == (self.op == "==") else _fail(self, shown)
            )
        if self.op in ("in", "not in"):
            assert isinstance(self.value, list)
            hit = any(_json_equal(actual, v) for v in self.value)
            return None if hit == (self.op == "in") else _fail(self, shown)
        if not _is_number(actual):
            return f"expect {self.expr}: {dotted} is {shown}, not a number"
        assert isinstance(actual, (int, float))
        assert isinstance(self.value, (int, float))
        ok = {
            "<": actual < self.value,
            "<=": actual <= self.value,
            ">": actual > self.value,
            ">=": actual >= self.value,
        }[self.op]
        return None if ok else _fail(self, shown)


def _fail(e: Expectation, shown: str) -> str:
    return f"expect {e.expr}: {'.'.join(e.path)} is {shown}"


_PATH_RE = re.compile(r"\s*([A-Za-z0-9_$-]+(?:\.[A-Za-z0-9_$-]+)*)\s*(.*)\Z", re.S)
_OP_RE = re.compile(r"(==|!=|<=|>=|<|>|not\s+in\b|in\b)\s*(.*)\Z", re.S)


def parse_expect(expr: str) -> Expectation:
    """Parse `path [op literal]`; raise ValueError naming the expression and a valid example."""
    m = _PATH_RE.match(expr)
    if not m:
        raise ValueError(
            f"invalid expectation {expr!r}: it must start with a dotted path; {_EXAMPLE}"
        )
    path, rest = tuple(m.group(1).split(".")), m.group(2).strip()
    if not rest:
        return Expectation(expr, path, None)
    om = _OP_RE.match(rest)
    if not om:
        hint = " (use == to compare)" if rest.startswith("=") else ""
        raise ValueError(
            f"invalid expectation {expr!r}: expected an operator (== != < <= > >= in, not in)"
            f" after {m.group(1)!r}{hint}; {_EXAMPLE}"
        )
    op, src = " ".join(om.group(1).split()), om.group(2)
    try:
        value = _parse_literal(src)
    except ValueError as exc:
        raise ValueError(
            f"invalid expectation {expr!r}: {exc}; values are JSON literals, {_EXAMPLE}"
        ) from None
    if op in ("in", "not in") and not isinstance(value, list):
        raise ValueError(f"invalid expectation {expr!r}: '{op}' needs a list; {_EXAMPLE}")
    if op in ("<", "<=", ">", ">=") and not _is_number(value):
        raise ValueError(
            f"invalid expectation {expr!r}: '{op}' needs a number, "
            "e.g. 'checks.migrations.pending_count <= 0'"
        )
    return Expectation(expr, path, op, value)


def _parse_literal(src: str) -> object:
    value, pos = _literal(src, _skip_ws(src, 0))
    pos = _skip_ws(src, pos)
    if pos != len(src):
        raise ValueError(f"unexpected {src[pos:]!r} after the value")
    return value


def _skip_ws(src: str, pos: int) -> int:
    while pos < len(src) and src[pos].isspace():
        pos += 1
    return pos


def _literal(src: str, pos: int) -> tuple[object, int]:
    if pos >= len(src):
        raise ValueError("missing value")
    ch = src[pos]
    if ch == "'":
        return _single_quoted(src, pos)
    if ch == "[":  # parsed here so elements may use single quotes too
        items: list[object] = []
        pos = _skip_ws(src, pos + 1)
        if pos < len(src) and src[pos] == "]":
            return items, pos + 1
        while True:
            item, pos = _literal(src, _skip_ws(src, pos))
            items.append(item)
            pos = _skip_ws(src, pos)
            if pos < len(src) and src[pos] == ",":
                pos += 1
            elif pos < len(src) and src[pos] == "]":
                return items, pos + 1
            else:
                raise ValueError("unterminated list")
    try:
        return json.JSONDecoder().raw_decode(src, pos)
    except json.JSONDecodeError:
        word = re.match(r"[^\s,\]]*", src[pos:])
        raise ValueError(f"{word.group(0) if word else src[pos:]!r} is not a JSON value") from None


def _single_quoted(src: str, pos: int) -> tuple[str, int]:
    out: list[str] = []
    i = pos + 1
    while i < len(src):
        ch = src[i]
        if ch == "\\" and i + 1 < len(src):
            out.append(src[i + 1])
            i += 2
        elif ch == "'":
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise ValueError("unterminated string")


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _json_equal(a: object, b: object) -> bool:
    # JSON true is not 1: Python's True == 1 would make `ok == 1` pass on `"ok": true`.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _lookup(doc: object, path: tuple[str, ...]) -> tuple[bool, object]:
    cur = doc
    for seg in path:
        if isinstance(cur, dict) and seg in cur:
            cur = cur[seg]
        elif isinstance(cur, list) and seg.isdigit() and int(seg) < len(cur):
            cur = cur[int(seg)]
        else:
            return False, None
    return True, cur


def _short_json(v: object) -> str:
    text = json.dumps(v, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
