"""Formatting of every value the summary prints, with a record of where it came from.

The summary must never quote a number that is not in the data. So no number
reaches the Markdown except through these functions, and each call records
(text, value, source) in the active ``Printed`` registry; build_summary
writes that registry into summary.json, where a test can check every number
in the Markdown against it and it against the Parquet files.
"""

from __future__ import annotations

import contextlib
import math
from contextvars import ContextVar
from dataclasses import dataclass, field

MISSING = "-"
SIG = 3


@dataclass
class Printed:
    entries: list[dict] = field(default_factory=list)

    def add(self, text: str, value, kind: str, source: str) -> str:
        self.entries.append({"text": text, "value": value, "kind": kind, "source": source})
        return text


_active: ContextVar[Printed | None] = ContextVar("printed", default=None)


@contextlib.contextmanager
def recording():
    reg = Printed()
    token = _active.set(reg)
    try:
        yield reg
    finally:
        _active.reset(token)


def _record(text: str, value, kind: str, source: str) -> str:
    reg = _active.get()
    if reg is not None:
        reg.add(text, value, kind, source)
    return text


def sig(v: float, digits: int = SIG) -> str:
    """``digits`` significant digits without exponent for ordinary magnitudes."""
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    if mag >= 6 or mag < -4:
        return f"{v:.{digits - 1}e}"
    decimals = max(digits - 1 - mag, 0)
    s = f"{v:.{decimals}f}"
    # rounding may add a digit (999.5 -> 1000); re-format with one decimal fewer
    if len(s.replace("-", "").replace(".", "").lstrip("0")) > digits and decimals > 0:
        s = f"{v:.{decimals - 1}f}"
    return s


#: (scale in ns, unit): the tables' and the plots' time units
TIME_UNITS = ((1.0, "ns"), (1e3, "µs"), (1e6, "ms"), (1e9, "s"))


def _scaled(v: float, units) -> str:
    """Pick the largest unit that keeps the number >= 1, moving up if rounding gives 1000."""
    chosen = units[0]
    for scale, unit in units:
        if abs(v) >= scale:
            chosen = (scale, unit)
    i = units.index(chosen)
    digits = sig(v / chosen[0])
    if digits.lstrip("-").startswith("1000") and i + 1 < len(units):
        chosen = units[i + 1]
        digits = sig(v / chosen[0])
    return f"{digits} {chosen[1]}"


def duration_ns(v: float | None, source: str) -> str:
    """ns -> "152 ns" / "1.23 µs" / "12.3 ms" / "1.20 s" (3 significant digits)."""
    if v is None or not math.isfinite(v):
        return MISSING
    return _record(_scaled(v, TIME_UNITS), v, "duration_ns", source)


def quantity(v: float | None, source: str, unit: str = "") -> str:
    """A plain value with 3 significant digits (counts per op, ratios)."""
    if v is None or not math.isfinite(v):
        return MISSING
    return _record(sig(v) + (f" {unit}" if unit else ""), v, "quantity", source)


def value(v: float | None, unit: str, source: str) -> str:
    """A metric value in its unit: ns values as durations, counts as quantities."""
    return duration_ns(v, source) if unit == "ns" else quantity(v, source)


def rate(v: float | None, source: str) -> str:
    """ops/s with a k/M/G prefix."""
    if v is None or not math.isfinite(v):
        return MISSING
    units = ((1.0, "ops/s"), (1e3, "k ops/s"), (1e6, "M ops/s"), (1e9, "G ops/s"))
    return _record(_scaled(v, units), v, "rate", source)


def percent(frac: float | None, source: str, signed: bool = False) -> str:
    """A fraction as a percentage, 3 significant digits (0.321 -> "32.1%")."""
    if frac is None or not math.isfinite(frac):
        return MISSING
    text = sig(frac * 100)
    if signed and frac > 0:
        text = "+" + text
    return _record(text + "%", frac, "percent", source)


def setting(v, source: str, as_percent: bool = False) -> str:
    """A configured constant (threshold, alpha, seed) printed exactly, without padding zeros."""
    if v is None:
        return MISSING
    x = v * 100 if as_percent else v
    s = f"{x:g}" if isinstance(x, float) else str(x)
    s = s.replace("e+0", "e").replace("e+", "e")
    return _record(s + ("%" if as_percent else ""), v,
                   "setting_percent" if as_percent else "setting", source)


def pvalue(p: float | None, source: str) -> str:
    if p is None or not math.isfinite(p):
        return MISSING
    text = f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"
    return _record(text, p, "pvalue", source)


def integer(n: int | None, source: str) -> str:
    if n is None:
        return MISSING
    return _record(f"{int(n):,}", int(n), "integer", source)


def text(s, source: str) -> str:
    """Text from the data or config (labels, cell ids, hosts...): printed as is."""
    if s is None or s == "":
        return MISSING
    return _record(str(s), str(s), "text", source)
