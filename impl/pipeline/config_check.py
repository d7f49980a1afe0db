"""Refuse a bad config.yaml with one line naming the key and the allowed values.

Runs at the top of the Snakefile, before the DAG is built, so a typo costs
a second, not a half-finished study. JSON schema (workflow/schemas) catches
shapes and typo'd keys; this module adds what a schema cannot know: the
registered designs and their parameters, the runner's scenarios and their
parameters, and that hypotheses name labels and grid points that exist.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from impl import registry
from impl.params import BadParameterError
from impl.pipeline import cells as cellmod
from impl.report.hypothesis_config import (
    HypothesisConfigError,
    aa_pairs,
    parse_hypotheses,
    parse_rank_points,
)
from impl.runner import scenarios as runner_scenarios
from impl.runner.request import PROFILE_SETTINGS, RUN_SETTINGS


class ConfigError(ValueError):
    """The config is wrong; the message is one line that names the key and what is allowed."""


def _where(path: Iterable[Any]) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def _suggest(word: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(allowed), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


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


class _StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that refuses a key given twice in one mapping (YAML keeps the last)."""


class _DuplicateKeyError(Exception):
    def __init__(self, key: Any, mark: Any, first: Any) -> None:
        super().__init__(key)
        self.key, self.mark, self.first = key, mark, first


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise _DuplicateKeyError(key, key_node.start_mark, seen[key])
        seen[key] = key_node.start_mark
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read one config file strictly: ConfigError (one line, file:line:column) on a YAML
    syntax error, a duplicate key, an empty file or a top level that is not a mapping."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(f"config: {path}:{line}: not UTF-8 text (byte "
                          f"{exc.object[exc.start]:#x}); allowed: a UTF-8 encoded YAML file"
                          ) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKeyError as exc:
        raise ConfigError(
            f"config: {path}:{exc.mark.line + 1}:{exc.mark.column + 1}: duplicate key "
            f"{exc.key!r} (first at line {exc.first.line + 1}; the last one would silently "
            "win); allowed: each key once per mapping"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = exc.problem or exc.context or "not valid YAML"
        raise ConfigError(f"config: {where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config: {path}: not valid YAML: {exc}") from None
    if data is None:
        raise ConfigError(f"config: {path} is empty; allowed: a mapping of the keys in "
                          "config.yaml (profile, profiles, implementations, scenarios, ...)")
    if not isinstance(data, Mapping):
        raise ConfigError(f"config: {path}: the top level is a {type(data).__name__}; "
                          "allowed: a mapping of the keys in config.yaml")
    return dict(data)


def check_config_files(paths: Iterable[str | Path]) -> None:
    """``load_config_file`` on each existing file (before Snakemake reads them its own way)."""
    for path in paths:
        load_config_file(path)


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

def check_semantics(config: Mapping[str, Any]) -> None:
    prof_name = config["profile"]
    if prof_name not in config["profiles"]:
        raise ConfigError(
            f"config: profile {prof_name!r} is not defined{_suggest(prof_name, config['profiles'])}"
            f"; allowed: {', '.join(config['profiles'])}"
        )
    for name, preset in config["profiles"].items():
        rounds = preset.get("rounds", 1)
        for key in ("processes", "verdict_processes"):
            if key in preset and preset[key] % rounds:
                raise ConfigError(
                    f"config: profiles.{name}.rounds: {rounds} does not divide {key} "
                    f"({preset[key]}); allowed: a divisor of {key}"
                )
        for key in PROFILE_SETTINGS:  # the runner's own limits, not a copy of them
            if key not in preset:
                continue  # required ones are the schema's business; the rest have defaults
            try:
                RUN_SETTINGS[key].coerce(preset[key], f"profiles.{name}")
            except BadParameterError as exc:
                raise ConfigError(f"config: {exc}") from None
    for name, entry in config["scenarios"].items():  # the runner's --timeout range
        try:
            RUN_SETTINGS["timeout_s"].coerce(entry["timeout_s"], f"scenarios.{name}")
        except BadParameterError as exc:
            raise ConfigError(f"config: {exc}") from None
    impls = config["implementations"]
    scenarios = config["scenarios"]
    known = registry.names()
    for label, impl in impls.items():
        design = impl["design"]
        if design not in known:
            raise ConfigError(
                f"config: implementations.{label}.design: unknown design {design!r}"
                f"{_suggest(design, known)}; allowed: {', '.join(known)}"
            )
        try:
            registry.get(design).resolve_params(impl.get("params", {}))
        except BadParameterError as exc:
            raise ConfigError(f"config: implementations.{label}.params: {exc}") from None
        for scen in impl.get("scenarios", []):
            if scen not in scenarios:
                raise ConfigError(
                    f"config: implementations.{label}.scenarios: unknown scenario {scen!r}"
                    f"{_suggest(scen, scenarios)}; allowed: {', '.join(scenarios)}"
                )
        ctrl = impl.get("control_of")
        if ctrl is not None:
            if ctrl not in impls or impls[ctrl].get("control_of"):
                measured = [k for k, v in impls.items() if not v.get("control_of")]
                raise ConfigError(
                    f"config: implementations.{label}.control_of: {ctrl!r} is not a measured "
                    f"label; allowed: {', '.join(measured)}"
                )
            same = impls[ctrl]["design"] == design and dict(impls[ctrl].get("params", {})) == dict(
                impl.get("params", {})
            )
            if not same:
                raise ConfigError(
                    f"config: implementations.{label}: an A/A control must use the same design "
                    f"and params as {ctrl!r}"
                )

    known_scenarios = runner_scenarios.names()
    for name, entry in scenarios.items():
        if name not in known_scenarios:
            raise ConfigError(
                f"config: scenarios.{name}: unknown scenario{_suggest(name, known_scenarios)}; "
                f"allowed: {', '.join(sorted(known_scenarios))}"
            )
        for key in ("grid", "quick_grid"):
            grid = entry.get(key, {})
            for point in cellmod._grid_points(grid) if grid else [{}]:
                try:
                    runner_scenarios.get(name).resolve_params(point)
                except BadParameterError as exc:
                    raise ConfigError(f"config: scenarios.{name}.{key}: {exc}") from None
        if "quick_grid" in entry and set(entry["quick_grid"]) - set(entry.get("grid", {})):
            extra = sorted(set(entry["quick_grid"]) - set(entry.get("grid", {})))[0]
            raise ConfigError(
                f"config: scenarios.{name}.quick_grid: parameter {extra!r} is not in grid; "
                f"allowed: {', '.join(entry.get('grid', {})) or 'none'}"
            )
        for label in entry.get("labels", []):
            if label not in impls:
                raise ConfigError(
                    f"config: scenarios.{name}.labels: unknown label {label!r}"
                    f"{_suggest(label, impls)}; allowed: {', '.join(impls)}"
                )

    try:  # the summary's own validator: one set of rules for the hypotheses' format
        parse_hypotheses(dict(config))
        parse_rank_points(dict(config))  # the answer's workloads, then rank_at
    except HypothesisConfigError as exc:
        raise ConfigError(str(exc)) from None  # already "config hypotheses[i] (id): ..."
    budget = budget_designs()
    for i, hyp in enumerate(config["hypotheses"]):
        _check_comparison(config, f"hypotheses[{i}] ({hyp['id']})", hyp, budget)
    aa = config["aa_control"]
    for i, (scen, metric, params) in enumerate(aa_pairs(aa)):
        pair = {"a": aa["a"], "b": aa["b"], "scenario": scen, "metric": metric, "params": params}
        where = f"aa_control.pairs[{i}]" if "pairs" in aa else "aa_control"
        _check_comparison(config, where, pair, budget)
    if impls[aa["b"]].get("control_of") != aa["a"]:
        raise ConfigError(
            f"config: aa_control.b: {aa['b']!r} must be an implementation with "
            f"control_of: {aa['a']}"
        )


def _check_comparison(
    config: Mapping[str, Any], where: str, hyp: Mapping[str, Any], budget: list[str]
) -> None:
    """What only the pipeline knows: which labels and grid points this profile measures.

    Names, metrics and fields were checked by ``parse_hypotheses``.
    """
    scen = hyp["scenario"]
    measured = cellmod.labels_for(config, scen, budget)
    b = hyp["b"] if isinstance(hyp["b"], list) else [hyp["b"]]
    for side, label in [("a", hyp["a"])] + [("b", x) for x in b]:
        if label not in measured:
            raise ConfigError(
                f"config: {where}.{side}: label {label!r} is not measured in scenario {scen!r}; "
                f"measured there: {', '.join(measured) or 'none'}"
            )
    grid = cellmod.scenario_grid(config, scen)
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
                    f"{config['profile']!r}; measured: {', '.join(map(str, grid[pname]))}"
                )


def budget_designs() -> list[str]:
    return [n for n in registry.names() if registry.get(n).capabilities.budget_params]


def check_config(config: Mapping[str, Any], schema_path: str | Path) -> list[cellmod.Cell]:
    """Validate ``config`` and return its cells; raise ConfigError (one line) on any problem."""
    check_finite(config)
    check_schema(config, load_schema(schema_path))
    check_semantics(config)
    cells = cellmod.expand(config, budget_designs())
    for cell in cells:
        reason = runner_scenarios.get(cell.scenario).applies(registry.get(cell.design))
        if reason:
            raise ConfigError(
                f"config: scenarios.{cell.scenario}: does not apply to label "
                f"{cell.label!r} (design {cell.design}): {reason}"
            )
    if not cells:
        raise ConfigError("config: the study has no cells (check labels/scenarios/grids)")
    return cells
