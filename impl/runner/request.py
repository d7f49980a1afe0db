"""What one cell is, and its validation: everything is checked before anything runs.

Light on purpose (no pyarrow, no pandas): the measuring children import the
same module to read their orders.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from impl import registry
from impl.params import BadParameterError
from impl.runner import scenarios

#: defaults per profile; quick: each cell <= ~2 s wall, full: the real study (<= ~6 s a cell)
PROFILES: dict[str, dict[str, float | int]] = {
    "quick": {"processes": 2, "blocks": 3, "warmups": 1, "target_block_ms": 20.0},
    "full": {"processes": 5, "blocks": 5, "warmups": 1, "target_block_ms": 100.0},
}

_LIMITS = {"processes": (1, 100), "blocks": (1, 1000), "warmups": (0, 100)}


def cell_id(label: str, scenario: str, params: Mapping[str, Any]) -> str:
    """``label/scenario/k=v,...`` over resolved params sorted by key, ``default`` if none.

    The one definition: the runner writes it into every row, the pipeline
    names cells and files with it, the summary matches planned to measured.
    """
    joined = ",".join(f"{k}={params[k]}" for k in sorted(params))
    return f"{label}/{scenario}/{joined or 'default'}"


@dataclass(frozen=True)
class CellRequest:
    """One benchmark cell as asked for (CLI flags or the pipeline's scripts)."""

    impl: str
    scenario: str
    impl_params: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None
    profile: str = "quick"
    processes: int | None = None
    blocks: int | None = None
    warmups: int | None = None
    target_block_ms: float | None = None
    timeout_s: float | None = None
    seed: int = 0
    config_hash: str = ""


@dataclass(frozen=True)
class ResolvedCell:
    """A validated request with every default filled in; JSON-able for the children."""

    label: str
    design: str
    impl_params: dict[str, Any]  # effective constructor params (scenario overrides applied)
    scenario: str
    params: dict[str, Any]
    profile: str
    processes: int
    blocks: int
    warmups: int
    target_block_ms: float
    timeout_s: float
    seed: int
    config_hash: str

    @property
    def cell_id(self) -> str:
        return cell_id(self.label, self.scenario, self.params)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ResolvedCell:
        return cls(**json.loads(text))


def canonical_json(mapping: Mapping[str, Any]) -> str:
    return json.dumps(dict(mapping), sort_keys=True, separators=(",", ":"))


def _check_available(spec: registry.ImplSpec) -> None:
    """A registered design whose module is not written yet is bad input, not a crash."""
    module = spec.factory.partition(":")[0]
    if importlib.util.find_spec(module) is None:
        available = [n for n in registry.names() if is_available(n)]
        raise BadParameterError(
            f"implementation {spec.name!r} is registered but its module {module} does not "
            f"exist yet; available: {', '.join(available)}"
        )


def is_available(name: str) -> bool:
    module = registry.get(name).factory.partition(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _count(name: str, value: Any, default: Any) -> int:
    raw = default if value is None else value
    lo, hi = _LIMITS[name]
    try:
        n = int(raw)
        if n != float(raw):
            raise ValueError
    except (TypeError, ValueError):
        raise BadParameterError(
            f"--{name}: bad value {raw!r}; allowed: int in [{lo}, {hi}]"
        ) from None
    if not lo <= n <= hi:
        raise BadParameterError(
            f"--{name}: value {raw!r} out of range; allowed: int in [{lo}, {hi}]"
        )
    return n


def _positive(flag: str, value: Any, default: Any, hi: float) -> float:
    raw = default if value is None else value
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise BadParameterError(
            f"{flag}: bad value {raw!r}; allowed: number in (0, {hi:g}]"
        ) from None
    if not 0 < x <= hi:
        raise BadParameterError(
            f"{flag}: value {raw!r} out of range; allowed: number in (0, {hi:g}]"
        )
    return x


def resolve(req: CellRequest) -> ResolvedCell:
    """Validate everything (raises BadParameterError with a one-line message) and fill defaults."""
    spec = registry.get(req.impl)
    scenario = scenarios.get(req.scenario)
    if req.profile not in PROFILES:
        raise BadParameterError(
            f"--profile: unknown profile {req.profile!r}; allowed: {', '.join(PROFILES)}"
        )
    prof = PROFILES[req.profile]
    impl_params = spec.resolve_params(req.impl_params)
    params = scenario.resolve_params(req.params)
    scenario.check_applies(spec)
    _check_available(spec)
    overrides = scenario.overrides(spec, params)
    impl_params = spec.resolve_params({**impl_params, **overrides})
    label = req.label if req.label else spec.name
    if "/" in label or not label.strip():
        raise BadParameterError(
            f"--label: bad value {label!r}; allowed: a non-empty name without '/'"
        )
    try:
        seed = int(req.seed)
    except (TypeError, ValueError):
        raise BadParameterError(f"--seed: bad value {req.seed!r}; allowed: int") from None
    return ResolvedCell(
        label=label,
        design=spec.name,
        impl_params=impl_params,
        scenario=scenario.name,
        params=params,
        profile=req.profile,
        processes=_count("processes", req.processes, prof["processes"]),
        blocks=_count("blocks", req.blocks, prof["blocks"]),
        warmups=_count("warmups", req.warmups, prof["warmups"]),
        target_block_ms=_positive(
            "--target-block-ms", req.target_block_ms, prof["target_block_ms"], 60_000
        ),
        timeout_s=_positive("--timeout", req.timeout_s, scenario.timeout_s, 86_400),
        seed=seed,
        config_hash=str(req.config_hash or ""),
    )
