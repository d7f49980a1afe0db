"""The scenario registry: what each benchmark scenario accepts and where it applies.

Parameters, default timeouts and applicability live here (not in the
scenario modules) so the CLI can validate a request and print ``--help``
without importing any measuring code. The measuring code of scenario ``NAME``
lives in ``impl/runner/scenarios/NAME.py``, one module per scenario, so the
pipeline can invalidate one scenario's cells when its module changes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from impl.designs.registry import ImplSpec
from impl.params import BadParameterError, ParamSpec, resolve
from impl.runner import placement as pl


class UnknownScenarioError(BadParameterError):
    """The name is not a registered scenario."""


class NotApplicableError(BadParameterError):
    """The scenario cannot measure this design (e.g. no budget to sweep)."""


def _always(spec: ImplSpec) -> str | None:
    return None


def _needs_budget(spec: ImplSpec) -> str | None:
    if not spec.capabilities.budget_params:
        return "it has no budget parameters (capabilities.budget_params is empty)"
    return None


def _no_overrides(spec: ImplSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    return {}


def _budget_overrides(spec: ImplSpec, params: Mapping[str, Any]) -> dict[str, Any]:
    """Every budget-like constructor parameter set to the swept value (0 = unbounded)."""
    return {name: params["budget"] for name in spec.capabilities.budget_params}


@dataclass(frozen=True)
class ScenarioSpec:
    name: str
    description: str
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    #: default watchdog limit for one whole cell (all its processes), seconds
    timeout_s: float = 120.0
    #: None if the scenario applies to the design, else the reason it does not
    applies: Callable[[ImplSpec], str | None] = _always
    #: constructor parameters the scenario imposes on the design (override impl params)
    overrides: Callable[[ImplSpec, Mapping[str, Any]], dict[str, Any]] = _no_overrides
    #: whether the measured tasks allocate an object per operation (they never do here)
    tasks_allocate: bool = False

    @property
    def module_name(self) -> str:
        return f"{__name__}.{self.name}"

    def load(self) -> ModuleType:
        return importlib.import_module(self.module_name)

    def resolve_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        return resolve(self.params, given, f"scenario {self.name!r}")

    def check_applies(self, spec: ImplSpec) -> None:
        reason = self.applies(spec)
        if reason is not None:
            applicable = [n for n in _applicable_names(self)] or ["none"]
            raise NotApplicableError(
                f"scenario {self.name!r} does not apply to implementation {spec.name!r}: "
                f"{reason}; applicable: {', '.join(applicable)}"
            )


_BURST = ParamSpec("burst", int, 256, "tasks per burst", 64, 4096)
#: the declared idle gap (methodology.md): how long the loop stays parked before a submit
_IDLE = ParamSpec(
    "idle_us", int, 0, "untimed gap before each submit, microseconds, after the loop parked "
    "(round_trip: 0 = submit at once, no wait)", 0, 100_000,
)

#: the declared thread placement of the latency scenarios (impl/runner/placement.py)
_PLACEMENT = ParamSpec(
    pl.PARAM, str, pl.PRIMARY, "where the cell's threads run: same_core (all pinned to one "
    "CPU), cross_core (submitter and loop thread on two CPUs), free (the scheduler decides)",
    choices=pl.PLACEMENTS,
)

_SPECS: tuple[ScenarioSpec, ...] = (
    ScenarioSpec(
        "submit_contention",
        "[CAS contention] N producers submit no-op tasks together; ns per submit "
        "(aggregate wall time), drained and verified after timing",
        {"producers": ParamSpec("producers", int, 1, "concurrent producer threads", 1, 32)},
        timeout_s=120.0,
    ),
    ScenarioSpec(
        "round_trip",
        "[end-to-end latency] submit a task that releases a lock, wait for it; one latency per op",
        {"idle_us": _IDLE, pl.PARAM: _PLACEMENT},
        timeout_s=120.0,
    ),
    ScenarioSpec(
        "wakeup",
        "[wakeup syscall] running: submits to a loop held busy; sleeping: idle round trip "
        "to a parked loop; burst: groups of 100 submits, each awaited",
        {
            "mode": ParamSpec(
                "mode",
                str,
                "sleeping",
                "loop state at submit",
                choices=("running", "sleeping", "burst"),
            ),
            "idle_us": _IDLE,
            pl.PARAM: _PLACEMENT,
        },
        timeout_s=120.0,
    ),
    ScenarioSpec(
        "burst_throughput",
        "[batch budget throughput] a burst submitted back to back, then awaited; ns per task",
        {"burst": _BURST},
        timeout_s=120.0,
    ),
    ScenarioSpec(
        "burst_latency",
        "[batch budget latency] same bursts; closed-loop ns per task and burst completion times",
        {"burst": _BURST, pl.PARAM: _PLACEMENT},
        timeout_s=120.0,
    ),
    ScenarioSpec(
        "continuous",
        "[continuous load] 4 producers submit exactly N tasks; timed until all ran",
        {},
        timeout_s=120.0,
    ),
    ScenarioSpec(
        "mixed",
        "[mixed] bursts separated by a real, untimed pause (the loop parks); each burst "
        "timed from first submit until its last task ran",
        {
            "burst": ParamSpec("burst", int, 1000, "tasks per burst", 100, 5000),
            "pause_us": ParamSpec(
                "pause_us", int, 1000, "untimed pause between bursts, microseconds", 0, 100_000
            ),
        },
        timeout_s=180.0,
    ),
    ScenarioSpec(
        "budget_sweep",
        "[new] design built with every budget parameter = budget; drain cost per task of a "
        "backlog and the wait of an internal-lane probe",
        {
            "budget": ParamSpec(
                "budget",
                int,
                1024,
                "value for every budget parameter; 0 = unbounded",
                choices=(64, 128, 256, 512, 1024, 2048, 4096, 0),
            ),
            "backlog": ParamSpec(
                "backlog", int, 8192, "tasks queued while the loop is held", 256, 65536
            ),
        },
        timeout_s=180.0,
        applies=_needs_budget,
        overrides=_budget_overrides,
    ),
)


def primary_params(name: str) -> dict[str, Any]:
    """The parameters a hypothesis, the A/A control or the answer means when it names none.

    ``{"placement": "same_core"}`` for the scenarios with a declared placement, else {}:
    a cell at another placement (cross_core, free) is secondary and matched only by name.
    """
    spec = next((s for s in _SPECS if s.name == name), None)  # unknown names: nothing
    return {pl.PARAM: pl.PRIMARY} if spec is not None and pl.PARAM in spec.params else {}


def at_primary(scenario: str, params: Mapping[str, Any], named: Iterable[str] = ()) -> bool:
    """``params`` are at the scenario's primary level for every primary parameter not in
    ``named`` (a parameter they lack counts as primary: data from before it existed)."""
    named = set(named)
    return all(params.get(k, v) == v for k, v in primary_params(scenario).items()
               if k not in named)


def placement_scenarios() -> list[str]:
    """The scenarios with a ``placement`` parameter."""
    return [s.name for s in _SPECS if pl.PARAM in s.params]


def names() -> list[str]:
    return [s.name for s in _SPECS]


def get(name: str) -> ScenarioSpec:
    for spec in _SPECS:
        if spec.name == name:
            return spec
    raise UnknownScenarioError(f"unknown scenario {name!r}; allowed: {', '.join(names())}")


def _applicable_names(scenario: ScenarioSpec) -> list[str]:
    from impl.designs import registry

    return [n for n in registry.names() if scenario.applies(registry.get(n)) is None]
