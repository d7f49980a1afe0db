"""Refuse a bad config.yaml with one line naming the key and the allowed values.

Runs at the top of the Snakefile, before the DAG is built, so a typo costs
a second, not a half-finished study. JSON schema (workflow/schemas) catches
shapes and typo'd keys; ``Study.check`` (impl/study) the hypotheses, the A/A
control and the answer; this module adds what only the measurement knows: the
registered designs and their parameters, the runner's scenarios, their
parameters and limits, and that hypotheses name grid points this profile measures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from impl.designs import registry
from impl.params import BadParameterError
from impl.pipeline import cells as cellmod
from impl.pipeline import interpreters
from impl.runner import scenarios as runner_scenarios
from impl.runner.request import PROFILE_SETTINGS, RUN_SETTINGS
from impl.study import ConfigError, Study, grid_points
from impl.study.hypotheses import aa_pairs
from impl.study.hypotheses import suggest as _suggest

__all__ = ["ConfigError", "check_config", "check_finite", "check_schema", "check_semantics"]


def _where(path: Iterable[Any]) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def _schema_error_line(err: jsonschema.ValidationError) -> str:
    where = _where(err.absolute_path)
    if err.validator == "additionalProperties" and isinstance(err.instance, Mapping):
        allowed = list(err.schema.get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        if extra and allowed:
            return (
                f"config: unknown key {extra[0]!r} in {where}{_suggest(extra[0], allowed)}; "
                f"allowed: {', '.join(allowed)}"
            )
    if err.validator == "required":
        return f"config: {where}: {err.message}"
    if err.validator == "enum":
        return (
            f"config: bad value {err.instance!r} at {where}; "
            f"allowed: {', '.join(map(str, err.validator_value))}"
        )
    return f"config: bad value at {where}: {err.message}"


def check_finite(value: Any, path: tuple[Any, ...] = ()) -> None:
    """Refuse NaN and infinities anywhere: they pass every range check (comparisons are false)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(
            f"config: bad value {value!r} at {_where(path)}; allowed: a finite number"
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_finite(item, (*path, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_finite(item, (*path, i))


def load_schema(path: str | Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def check_schema(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        best = jsonschema.exceptions.best_match(errors)
        raise ConfigError(_schema_error_line(best))


# --- the semantic checks ------------------------------------------------------------------

def check_semantics(study: Study) -> None:
    """What the schema cannot know (module docstring); ConfigError (one line) on a problem."""
    study.profile  # noqa: B018 - raises ConfigError naming the defined profiles
    for name, preset in study.profiles.items():
        for key in ("processes", "verdict_processes"):
            if key in preset.settings and preset.settings[key] % preset.rounds:
                raise ConfigError(
                    f"config: profiles.{name}.rounds: {preset.rounds} does not divide {key} "
                    f"({preset.settings[key]}); allowed: a divisor of {key}"
                )
        for scenario, n in (preset.settings.get("scenario_rounds") or {}).items():
            if scenario not in study.scenarios:
                raise ConfigError(
                    f"config: profiles.{name}.scenario_rounds: {scenario!r} is not a scenario "
                    f"of the study; allowed: {', '.join(study.scenarios)}")
            for key in ("processes", "verdict_processes"):
                if key in preset.settings and not cellmod.splits(preset.settings[key], n):
                    raise ConfigError(
                        f"config: profiles.{name}.scenario_rounds.{scenario}: {n} rounds do not "
                        f"split {key} ({preset.settings[key]}); allowed: a divisor or a "
                        f"multiple of {preset.settings[key]}")
        for key in PROFILE_SETTINGS:  # the runner's own limits, not a copy of them
            if key not in preset.settings:
                continue  # required ones are the schema's business; the rest have defaults
            try:
                RUN_SETTINGS[key].coerce(preset.settings[key], f"profiles.{name}")
            except BadParameterError as exc:
                raise ConfigError(f"config: {exc}") from None
    for name, entry in study.scenarios.items():  # the runner's --timeout range
        try:
            RUN_SETTINGS["timeout_s"].coerce(entry.timeout_s, f"scenarios.{name}")
        except BadParameterError as exc:
            raise ConfigError(f"config: {exc}") from None
    impls = study.labels
    known = registry.names()
    for label, impl in impls.items():
        if impl.design not in known:
            raise ConfigError(
                f"config: implementations.{label}.design: unknown design {impl.design!r}"
                f"{_suggest(impl.design, known)}; allowed: {', '.join(known)}"
            )
        try:
            registry.get(impl.design).resolve_params(impl.params)
        except BadParameterError as exc:
            raise ConfigError(f"config: implementations.{label}.params: {exc}") from None
        for scen in impl.scenarios or ():
            if scen not in study.scenarios:
                raise ConfigError(
                    f"config: implementations.{label}.scenarios: unknown scenario {scen!r}"
                    f"{_suggest(scen, study.scenarios)}; allowed: {', '.join(study.scenarios)}"
                )
        ctrl = impl.control_of
        if ctrl is not None:
            if ctrl not in impls or impls[ctrl].is_control:
                measured = [k for k, v in impls.items() if not v.is_control]
                raise ConfigError(
                    f"config: implementations.{label}.control_of: {ctrl!r} is not a measured "
                    f"label; allowed: {', '.join(measured)}"
                )
            if (impls[ctrl].design, dict(impls[ctrl].params)) != (impl.design, dict(impl.params)):
                raise ConfigError(
                    f"config: implementations.{label}: an A/A control must use the same design "
                    f"and params as {ctrl!r}"
                )

    known_scenarios = runner_scenarios.names()
    for name, entry in study.scenarios.items():
        if name not in known_scenarios:
            raise ConfigError(
                f"config: scenarios.{name}: unknown scenario{_suggest(name, known_scenarios)}; "
                f"allowed: {', '.join(sorted(known_scenarios))}"
            )
        for key, grid in (("grid", entry.grid), ("quick_grid", entry.quick_grid or {})):
            for point in grid_points(grid):
                try:
                    runner_scenarios.get(name).resolve_params(point)
                except BadParameterError as exc:
                    raise ConfigError(f"config: scenarios.{name}.{key}: {exc}") from None
        if entry.quick_grid is not None and set(entry.quick_grid) - set(entry.grid):
            extra = sorted(set(entry.quick_grid) - set(entry.grid))[0]
            raise ConfigError(
                f"config: scenarios.{name}.quick_grid: parameter {extra!r} is not in grid; "
                f"allowed: {', '.join(entry.grid) or 'none'}"
            )
        for label in entry.labels or ():
            if label not in impls:
                raise ConfigError(
                    f"config: scenarios.{name}.labels: unknown label {label!r}"
                    f"{_suggest(label, impls)}; allowed: {', '.join(impls)}"
                )

    study.check()  # the hypotheses, the A/A control, alpha, the answer and rank_at
    for i, hyp in enumerate(study.raw["hypotheses"]):
        _check_comparison(study, f"hypotheses[{i}] ({hyp['id']})", hyp)
    aa = study.raw["aa_control"]
    for i, (scen, metric, params) in enumerate(aa_pairs(aa)):
        pair = {"a": aa["a"], "b": aa["b"], "scenario": scen, "metric": metric, "params": params}
        where = f"aa_control.pairs[{i}]" if "pairs" in aa else "aa_control"
        _check_comparison(study, where, pair)
    if impls[aa["b"]].control_of != aa["a"]:
        raise ConfigError(
            f"config: aa_control.b: {aa['b']!r} must be an implementation with "
            f"control_of: {aa['a']}"
        )


def _check_comparison(study: Study, where: str, hyp: Mapping[str, Any]) -> None:
    """What only the pipeline knows: the grid points this profile measures.

    Names, labels, metrics and fields were checked by ``Study.check``.
    """
    scen = hyp["scenario"]
    grid = study.grid(scen, measured=True)
    for key in ("params", "a_params", "b_params"):
        for pname, value in hyp.get(key, {}).items():
            if pname not in grid:
                raise ConfigError(
                    f"config: {where}.{key}: {pname!r} is not a parameter of scenario {scen!r}; "
                    f"allowed: {', '.join(grid) or 'none'}"
                )
            if value not in grid[pname]:
                raise ConfigError(
                    f"config: {where}.{key}.{pname}: {value!r} is not measured under profile "
                    f"{study.profile_name!r}; measured: {', '.join(map(str, grid[pname]))}"
                )


def check_config(config: Mapping[str, Any], schema_path: str | Path
                 ) -> tuple[Study, list[cellmod.Cell]]:
    """Validate ``config``; return its study and its cells; ConfigError (one line) on a problem."""
    check_finite(config)
    check_schema(config, load_schema(schema_path))
    study = Study(config)
    check_semantics(study)
    interpreters.check(study)
    cells = cellmod.expand(study)
    for cell in cells:
        reason = runner_scenarios.get(cell.scenario).applies(registry.get(cell.design))
        if reason:
            raise ConfigError(
                f"config: scenarios.{cell.scenario}: does not apply to label "
                f"{cell.label!r} (design {cell.design}): {reason}"
            )
    if not cells:
        raise ConfigError("config: the study has no cells (check labels/scenarios/grids)")
    return study, cells
