"""Declared, validated parameters for designs and scenarios.

Designs' constructor parameters and scenarios' parameters are declared the
same way so the CLI, the config schema and error messages can list what is
allowed, and bad input is refused with one line before any work starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class BadParameterError(ValueError):
    """A parameter name or value is not allowed; the message names it and the allowed values."""


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: type  # int, float, str or bool
    default: Any
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] | None = None
    #: the minimum itself is not allowed (e.g. a duration must be > 0)
    exclusive_minimum: bool = False

    def describe(self) -> str:
        if self.choices is not None:
            allowed = "one of " + ", ".join(map(str, self.choices))
        elif self.minimum is not None or self.maximum is not None:
            lo = "-inf" if self.minimum is None else _fmt(self.minimum)
            hi = "inf" if self.maximum is None else _fmt(self.maximum)
            opening = "(" if self.exclusive_minimum else "["
            allowed = f"{self.type.__name__} in {opening}{lo}, {hi}]"
        else:
            allowed = self.type.__name__
        return f"{self.name}: {allowed} (default {self.default})"

    def coerce(self, raw: Any, owner: str) -> Any:
        """Convert ``raw`` (a CLI string or a YAML value) and check it against the spec."""
        try:
            if self.type is bool:
                if isinstance(raw, str):
                    lowered = raw.strip().lower()
                    if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                        raise ValueError(raw)
                    value: Any = lowered in {"true", "1", "yes"}
                else:
                    value = bool(raw)
            elif self.type is int:
                if isinstance(raw, float) and not raw.is_integer():
                    raise ValueError(raw)
                if isinstance(raw, bool):
                    raise ValueError(raw)
                value = int(raw)
            else:
                value = self.type(raw)
        except (TypeError, ValueError):
            raise BadParameterError(
                f"{owner}: bad value {raw!r} for parameter {self.describe()}"
            ) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise BadParameterError(f"{owner}: bad value {raw!r} for parameter {self.describe()}")
        if self.choices is not None and value not in self.choices:
            raise BadParameterError(f"{owner}: bad value {raw!r} for parameter {self.describe()}")
        below = self.minimum is not None and (
            value <= self.minimum if self.exclusive_minimum else value < self.minimum
        )
        if below or (
            self.maximum is not None and value > self.maximum
        ):
            raise BadParameterError(
                f"{owner}: value {raw!r} out of range for parameter {self.describe()}"
            )
        return value


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def resolve(
    specs: Mapping[str, ParamSpec], given: Mapping[str, Any], owner: str
) -> dict[str, Any]:
    """Validate ``given`` against ``specs`` and fill in defaults.

    Unknown names are refused (with the list of known ones) rather than
    ignored: a typo must not silently measure the default.
    """
    unknown = sorted(set(given) - set(specs))
    if unknown:
        allowed = "; ".join(s.describe() for s in specs.values()) or "none"
        raise BadParameterError(
            f"{owner}: unknown parameter {unknown[0]!r}; allowed: {allowed}"
        )
    resolved = {name: spec.default for name, spec in specs.items()}
    for name, raw in given.items():
        resolved[name] = specs[name].coerce(raw, owner)
    return resolved


def parse_assignments(items: list[str] | None, owner: str) -> dict[str, str]:
    """Parse ``["k=v", ...]`` from the command line; a name given twice is refused."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BadParameterError(f"{owner}: expected NAME=VALUE, got {item!r}")
        key = key.strip()
        if key in out:
            raise BadParameterError(
                f"{owner}: parameter {key!r} given twice ({out[key]!r}, {value.strip()!r}); "
                "allowed: each parameter once"
            )
        out[key] = value.strip()
    return out
