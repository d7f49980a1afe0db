"""What one cell is, and its validation: everything is checked before anything runs.

Light on purpose (no pyarrow, no pandas): the measuring children import the
same module to read their orders.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from impl import contract
from impl.designs import registry
from impl.params import BadParameterError, ParamSpec
from impl.runner import placement, scenarios

#: a warm-up block's work by default, ms: a fresh process's first measured block shows no
#: bias after no warm-up, 10 ms or a whole 100 ms block (benchmarks/warmup_length.py;
#: docs/runner.md); 10 ms keeps a margin, a tenth of the block it precedes
WARMUP_MS = 10.0

#: how a cell is measured, validated like design and scenario parameters; the
#: defaults come from the profile (timeout_s: from the scenario)
RUN_SETTINGS: dict[str, ParamSpec] = {
    s.name: s
    for s in (
        ParamSpec("processes", int, None, "fresh measuring processes", 1, 100),
        ParamSpec("blocks", int, None, "measured blocks per process", 1, 1000),
        ParamSpec("warmups", int, None, "discarded warm-up blocks per process", 0, 100),
        ParamSpec(
            "warmup_ms", float, WARMUP_MS, "work of each warm-up block, ms: this share of "
            "the block size calibrated to the target (a whole block at or above the target)",
            0, 60_000, exclusive_minimum=True,
        ),
        ParamSpec(
            "target_block_ms", float, None, "calibration target per block, ms", 0, 60_000,
            exclusive_minimum=True,
        ),
        ParamSpec(
            "max_foreign_cpu", float, 0.3, "a measured block during which other processes "
            "used more than this share of the machine's CPU is discarded and re-measured", 0, 1,
            exclusive_minimum=True,
        ),
        ParamSpec(
            "timeout_s", float, None, "watchdog limit of the whole cell, s", 0, 86_400,
            exclusive_minimum=True,
        ),
    )
}
#: the run settings a profile may set (it may hold more, e.g. the pipeline's ``thinned``);
#: those without a default in RUN_SETTINGS it must set
PROFILE_SETTINGS: tuple[str, ...] = (
    "processes", "blocks", "warmups", "warmup_ms", "target_block_ms", "max_foreign_cpu"
)
REQUIRED_PROFILE_SETTINGS: tuple[str, ...] = tuple(
    k for k in PROFILE_SETTINGS if RUN_SETTINGS[k].default is None
)


#: PYTHONHASHSEED's range is [0, 2**32 - 1]; each child adds its process number (mod 2**32 - 1)
SEED_MAX = 2**32 - 2


def flag_of(setting: str) -> str:
    """The runner's command-line flag of a run setting (``timeout_s`` -> ``--timeout``)."""
    return "--timeout" if setting == "timeout_s" else "--" + setting.replace("_", "-")


@dataclass(frozen=True)
class CellRequest:
    """One benchmark cell as asked for (CLI flags or the pipeline's scripts).

    ``profile`` names a preset of run settings, one of ``presets`` (the study's
    ``profiles``: name -> settings, handed in by the caller: the command line
    reads them from config.yaml through impl.study); explicit settings override it.
    A name that is not a preset is bad input (a typo must not measure under the
    wrong settings and record the typo),
    unless ``profile_defined_elsewhere``: the pipeline's config may define a
    profile the repository's config.yaml does not, and then it passes every
    setting explicitly and the name only to be recorded (``--profile-name``).
    """

    impl: str
    scenario: str
    impl_params: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str | None = None
    profile: str = "quick"
    processes: int | None = None
    blocks: int | None = None
    warmups: int | None = None
    warmup_ms: float | None = None
    target_block_ms: float | None = None
    max_foreign_cpu: float | None = None
    timeout_s: float | None = None
    seed: int = 0
    config_hash: str = ""
    profile_defined_elsewhere: bool = False
    #: the profiles ``profile`` may name (name -> settings); None: none known, so every
    #: required setting must be given and the name is only recorded
    presets: Mapping[str, Mapping[str, Any]] | None = None
    #: the interpreter the measuring processes run under: its name (recorded as the cell
    #: parameter ``interpreter``; None: this one, no such parameter), the python to run
    #: (a path or a command on PATH; None: this process's) and the declared GIL state
    #: (True on, False off, None: as the interpreter starts)
    interpreter: str | None = None
    python: str | None = None
    gil: bool | None = None


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
    warmup_ms: float
    target_block_ms: float
    max_foreign_cpu: float
    timeout_s: float
    seed: int
    config_hash: str
    #: the measuring children's python ("": the parent's) and declared GIL (None: any)
    python: str = ""
    gil: bool | None = None

    @property
    def cell_id(self) -> str:
        return contract.cell_id(self.label, self.scenario, self.params)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ResolvedCell:
        return cls(**json.loads(text))


def _run_settings(req: CellRequest, timeout_default: float) -> dict[str, Any]:
    """The run settings (RUN_SETTINGS): explicit, else the profile's, else their default."""
    given = {k: getattr(req, k) for k in RUN_SETTINGS if getattr(req, k) is not None}
    presets = req.presets
    preset = None if presets is None else presets.get(req.profile)
    if presets is not None and preset is None and not req.profile_defined_elsewhere:
        raise BadParameterError(
            f"--profile: unknown profile {req.profile!r}; allowed: {', '.join(presets)} "
            f"(a profile defined elsewhere: --profile-name NAME with "
            f"{', '.join(map(flag_of, REQUIRED_PROFILE_SETTINGS))})"
        )
    missing = [flag_of(k) for k in REQUIRED_PROFILE_SETTINGS if k not in given]
    if preset is None and missing:
        where = ("is not in config.yaml" if presets is not None
                 else "is not given (no presets: the API caller passes none)")
        raise BadParameterError(
            f"--profile-name: profile {req.profile!r} {where}, so every "
            f"setting must be given; missing: {', '.join(missing)}"
        )
    defaults = {k: (preset or {}).get(k, RUN_SETTINGS[k].default) for k in PROFILE_SETTINGS}
    defaults["timeout_s"] = timeout_default
    # a preset's values are checked like explicit ones: a profile typo must not measure nonsense
    return {
        k: replace(spec, default=defaults[k]).coerce(
            given.get(k, defaults[k]), flag_of(k) if k in given else f"profile {req.profile!r}"
        )
        for k, spec in RUN_SETTINGS.items()
    }


def resolve(req: CellRequest) -> ResolvedCell:
    """Validate everything (raises BadParameterError with a one-line message) and fill defaults."""
    spec = registry.get(req.impl)
    scenario = scenarios.get(req.scenario)
    impl_params = spec.resolve_params(req.impl_params)
    params = scenario.resolve_params(req.params)
    scenario.check_applies(spec)
    if placement.PARAM in params:  # e.g. cross_core on a 1-CPU affinity mask: exit 2, one line
        placement.plan(params[placement.PARAM])
    if req.interpreter is not None:
        name = str(req.interpreter)
        if not name.strip() or any(ch in name for ch in "/,=+ "):
            raise BadParameterError(
                f"--interpreter: bad value {name!r}; allowed: a non-empty name without "
                "/ , = + or spaces")
        params[contract.INTERPRETER_PARAM] = name
    settings = _run_settings(req, scenario.timeout_s)
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
        seed = -1
    if not 0 <= seed <= SEED_MAX:  # the children's PYTHONHASHSEED is seed + process number
        raise BadParameterError(
            f"--seed: bad value {req.seed!r}; allowed: an int in [0, {SEED_MAX}]")
    return ResolvedCell(
        label=label,
        design=spec.name,
        impl_params=impl_params,
        scenario=scenario.name,
        params=params,
        profile=req.profile,
        seed=seed,
        config_hash=str(req.config_hash or ""),
        python=_python(req.python),
        gil=req.gil,
        **settings,
    )


def _python(given: str | None) -> str:
    """The children's interpreter as an absolute path ("" for the parent's own)."""
    if not given:
        return ""
    found = shutil.which(given)
    if found is None:
        raise BadParameterError(
            f"--python: {given!r} is not an executable file or a command on PATH; allowed: "
            f"a python interpreter (e.g. .ft/cpython-3.13t/bin/python3.13t, python3.14t)")
    return os.path.abspath(found)
