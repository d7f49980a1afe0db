"""The study: config.yaml as one typed object that every other module asks.

``Study(config)`` wraps the config mapping (as Snakemake hands it to the
Snakefile and the summary script, or as ``impl.study.load`` reads it) and
answers every question about it: the active profile and its settings, the
labels and which scenarios measure them, each scenario's grid (the full one
and the one the profile measures), the hypotheses and the A/A control with
their defaults, the answer's workloads and the rank points, the seed, alpha
and the secondary placements. Sections are parsed on first use and cached
(the runner's ``--profile`` needs the profiles only); ``check()`` parses all
of them, raising ``ConfigError`` (one line naming the key and the allowed
values) on the first problem. What needs the designs or the runner's
scenarios beyond their names and parameters (a scenario that cannot measure a
design, the JSON schema) is checked by ``impl.pipeline.config_check``.

Layer: ``impl.study`` imports the runner's scenario registry and the design
registry (below it), never the report or the pipeline (above it), and no
numpy, scipy or pandas: parsing the Snakefile builds a Study.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from impl.designs import registry
from impl.runner import placement
from impl.runner import scenarios as runner_scenarios
from impl.runner.request import PROFILE_SETTINGS
from impl.study import hypotheses as hyp
from impl.study import interpreters as interp
from impl.study import workloads as wl
from impl.study.errors import ConfigError

#: the seed of every shuffle and bootstrap when the config sets none
DEFAULT_SEED = 1
#: the mechanism pass runs unless config ``mechanism: false`` (or the profile's): the answer's
#: "why" is its
DEFAULT_MECHANISM = True
#: the family-wise error rate of the verdicts when the config sets none
DEFAULT_ALPHA = 0.05
#: the profile whose summary is report/SUMMARY.md (any other profile's goes to report/NAME/),
#: and the profile of a config that names none
MAIN_PROFILE = "full"
#: scenario requirement: only designs whose capabilities declare budget parameters
REQUIRES_BUDGET = "budget_params"


def grid_points(grid: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """The cross product of a grid, keys sorted: one dict per point ([{}] for no keys)."""
    keys = sorted(grid)
    return [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(grid[k] for k in keys))]


@dataclass(frozen=True)
class Profile:
    """One measurement profile (config ``profiles.NAME``): how many processes, blocks,
    rounds, and whether the grid is thinned."""

    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def processes(self) -> int:
        """Fresh measuring processes per descriptive cell, over all rounds."""
        return int(self.settings["processes"])

    @property
    def verdict_processes(self) -> int:
        """Processes per cell a hypothesis or the A/A control decides on (default: processes)."""
        return int(self.settings.get("verdict_processes", self.settings["processes"]))

    @property
    def rounds(self) -> int:
        """How many rounds each cell's processes are split into (default 1)."""
        return int(self.settings.get("rounds", 1))

    def rounds_for(self, scenario: str) -> int:
        """The rounds of ``scenario``'s points: its ``scenario_rounds`` entry, else ``rounds``."""
        return int((self.settings.get("scenario_rounds") or {}).get(scenario, self.rounds))

    def all_rounds(self) -> set[int]:
        """Every rounds count this profile declares (``rounds`` and ``scenario_rounds``)."""
        return {self.rounds, *map(int, (self.settings.get("scenario_rounds") or {}).values())}

    @property
    def thinned(self) -> bool:
        """A smoke run: each scenario's quick_grid instead of its grid."""
        return bool(self.settings.get("thinned", False))

    @property
    def interpreter_names(self) -> list[str] | None:
        """The interpreters this profile measures (``interpreters``), None for all declared."""
        names = self.settings.get("interpreters")
        return None if names is None else [str(n) for n in names]

    def run_settings(self) -> dict[str, Any]:
        """The runner's settings this profile sets (impl.runner.request.PROFILE_SETTINGS)."""
        return {k: self.settings[k] for k in PROFILE_SETTINGS if k in self.settings}


@dataclass(frozen=True)
class Label:
    """One implementation label (config ``implementations.LABEL``)."""

    name: str
    design: str
    params: Mapping[str, Any]
    #: the label this one is an A/A control of (same design and params), or None
    control_of: str | None
    #: the only scenarios the label is measured in, or None for "wherever it applies"
    scenarios: tuple[str, ...] | None

    @property
    def is_control(self) -> bool:
        return self.control_of is not None


@dataclass(frozen=True)
class ScenarioEntry:
    """One scenario of the study (config ``scenarios.NAME``)."""

    name: str
    grid: Mapping[str, list[Any]]
    quick_grid: Mapping[str, list[Any]] | None
    timeout_s: float | None
    #: restrict the (non-control) labels measured here, or None
    labels: tuple[str, ...] | None
    requires: str | None


class Study:
    """The config, parsed on demand into typed parts (module docstring)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.raw: dict[str, Any] = dict(config)

    def has(self, section: str) -> bool:
        """The config has this top-level section (a partial config, e.g. a test's, may not)."""
        return isinstance(self.raw.get(section), Mapping | list)

    # ------------------------------------------------------------ profiles

    @property
    def profile_name(self) -> str:
        return str(self.raw.get("profile", MAIN_PROFILE))

    @cached_property
    def profiles(self) -> dict[str, Profile]:
        return {str(k): Profile(str(k), dict(v or {}))
                for k, v in (self.raw.get("profiles") or {}).items()}

    def presets(self) -> dict[str, dict[str, Any]]:
        """name -> settings of every profile: what the runner's ``--profile NAME`` may name."""
        return {name: dict(p.settings) for name, p in self.profiles.items()}

    @property
    def profile(self) -> Profile:
        """The active profile; ConfigError (one line) when the config does not define it."""
        name = self.profile_name
        if name not in self.profiles:
            from impl.study.hypotheses import suggest

            raise ConfigError(f"config: profile {name!r} is not defined"
                              f"{suggest(name, self.profiles)}; allowed: "
                              f"{', '.join(self.profiles) or 'none'}")
        return self.profiles[name]

    def thinned(self, names: set[str] | None = None) -> bool:
        """Any of the profiles ``names`` (default: the active one) thins the grid."""
        names = names or {self.profile_name}
        return any(self.profiles[n].thinned for n in names if n in self.profiles)

    # ------------------------------------------------------------ labels

    @cached_property
    def labels(self) -> dict[str, Label]:
        out = {}
        for name, v in (self.raw.get("implementations") or {}).items():
            v = v if isinstance(v, Mapping) else {}
            scen = v.get("scenarios")
            out[str(name)] = Label(str(name), str(v.get("design", "")), dict(v.get("params") or {}),
                                   v.get("control_of"),
                                   tuple(scen) if isinstance(scen, list) else None)
        return out

    @property
    def label_order(self) -> list[str]:
        """The labels in config order (tables, plots and ties follow it)."""
        return list(self.labels)

    @property
    def control_labels(self) -> set[str]:
        """The A/A control labels (``control_of``): noise checks, never contenders."""
        return {name for name, lab in self.labels.items() if lab.is_control}

    # ------------------------------------------------------------ scenarios

    @cached_property
    def scenarios(self) -> dict[str, ScenarioEntry]:
        out = {}
        for name, e in (self.raw.get("scenarios") or {}).items():
            e = e if isinstance(e, Mapping) else {}
            grid = e.get("grid") if isinstance(e.get("grid"), Mapping) else {}
            quick = e.get("quick_grid") if isinstance(e.get("quick_grid"), Mapping) else None
            labels = e.get("labels")
            out[str(name)] = ScenarioEntry(
                str(name), dict(grid), dict(quick) if quick is not None else None,
                float(e["timeout_s"]) if "timeout_s" in e else None,
                tuple(labels) if isinstance(labels, list) else None, e.get("requires"))
        return out

    def grid(self, scenario: str, measured: bool = False) -> dict[str, list[Any]]:
        """The grid of ``scenario`` as declared; with ``measured``, as the active profile
        measures it (its quick_grid in a thinned profile). {} for an unknown scenario."""
        entry = self.scenarios.get(scenario)
        if entry is None:
            return {}
        if measured and entry.quick_grid is not None and self.profiles.get(
                self.profile_name, Profile(self.profile_name)).thinned:
            return dict(entry.quick_grid)
        return dict(entry.grid)

    def labels_for(self, scenario: str) -> list[str]:
        """Labels measured in ``scenario``, in config order.

        A control label (``control_of``), or one that lists scenarios, is measured
        only in the scenarios it lists; a scenario's ``labels`` list restricts the
        others; a ``requires: budget_params`` scenario keeps only designs that have them.
        """
        entry = self.scenarios.get(scenario)
        if entry is None:
            return []
        chosen = []
        for name, lab in self.labels.items():
            if lab.is_control or lab.scenarios is not None:
                if scenario not in (lab.scenarios or ()):
                    continue
            elif entry.labels is not None and name not in entry.labels:
                continue
            if entry.requires == REQUIRES_BUDGET and lab.design not in budget_designs():
                continue
            chosen.append(name)
        return chosen

    # ------------------------------------------------------------ interpreters

    @cached_property
    def interpreters(self) -> list[interp.Interpreter]:
        """The declared interpreters (config ``interpreters``), the first the primary one;
        one (the pipeline's own) when the config declares none."""
        return interp.parse(self.raw.get("interpreters"))

    def measured_interpreters(self) -> list[interp.Interpreter]:
        """The interpreters the active profile measures: the primary one and those its
        ``interpreters`` lists (all by default); ConfigError (one line) for an undeclared name.
        A thinned profile measures the others at the answer's points only (``points``)."""
        declared = {it.name: it for it in self.interpreters}
        if not self.has("profiles"):  # a partial config (a test's, a report's): all declared
            return list(self.interpreters)
        names = self.profile.interpreter_names
        for name in names or ():
            if name not in declared:
                raise ConfigError(f"config: profiles.{self.profile_name}.interpreters: "
                                  f"{name!r} is not declared; allowed: {', '.join(declared)}")
        out = [it for it in self.interpreters
               if it.primary or names is None or it.name in names]
        if self.profile.thinned:
            out = [it if it.primary or it.points == "answer" else replace(it, points="answer")
                   for it in out]
        return out

    @property
    def primary_interpreter(self) -> interp.Interpreter:
        return self.interpreters[0]

    def interpreter_of(self, params: Mapping[str, Any]) -> interp.Interpreter:
        """The declared interpreter a cell's parameters name (the primary one when none)."""
        name = interp.of_params(params, self.primary_interpreter.name)
        for it in self.interpreters:
            if it.name == name:
                return it
        raise ConfigError(f"config: interpreter {name!r} is not declared; allowed: "
                          f"{', '.join(i.name for i in self.interpreters)}")

    # ------------------------------------------------------------ placement

    @property
    def declared_secondary(self) -> list[str]:
        """Config ``placement.secondary``: the levels measured beside the primary one."""
        return list((self.raw.get("placement") or {}).get("secondary") or [])

    def secondary_placements(self) -> list[str]:
        """The declared secondary placements, less those this machine cannot give."""
        return [lv for lv in self.declared_secondary if placement.unavailable(lv) is None]

    def placement_skipped(self) -> str | None:
        """One line when a declared secondary placement cannot be measured here, else None."""
        for level in self.declared_secondary:
            why = placement.unavailable(level)
            if why:
                return f"{level} cells skipped: {why}; the summary reports the other placements"
        return None

    def secondary_points(self, scenario: str, points: list[dict[str, Any]]
                         ) -> list[dict[str, Any]]:
        """The grid points of ``scenario`` that an answer entry names, at each secondary
        placement (measured beside the primary ones for every label but the A/A controls)."""
        if placement.PARAM not in runner_scenarios.get(scenario).params:
            return []
        wanted = [w.params for w in self.workloads if w.scenario == scenario]
        out: list[dict[str, Any]] = []
        for level in self.secondary_placements():
            for p in points:
                if p.get(placement.PARAM) != placement.PRIMARY:
                    continue
                if any(all(p.get(k) == v for k, v in w.items()) for w in wanted):
                    q = {**p, placement.PARAM: level}
                    if q not in points and q not in out:
                        out.append(q)
        return out

    # ------------------------------------------------------------ decisions

    @property
    def mechanism(self) -> bool:
        """Whether the study runs the mechanism pass: the active profile's ``mechanism``,
        else config ``mechanism`` (default DEFAULT_MECHANISM); ConfigError (one line)
        unless true or false."""
        where = f"profiles.{self.profile_name}.mechanism"
        value = self.profile.settings.get("mechanism")
        if value is None:
            where, value = "mechanism", self.raw.get("mechanism", DEFAULT_MECHANISM)
        if not isinstance(value, bool):
            raise ConfigError(f"config: bad value {value!r} at {where}; allowed: true, false")
        return value

    @property
    def seed(self) -> int:
        """The seed of every shuffle and bootstrap (config ``seed``, default DEFAULT_SEED);
        ConfigError (one line) unless a whole number >= 0."""
        seed = self.raw.get("seed", DEFAULT_SEED)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"config: bad value {seed!r} at seed; allowed: a whole number "
                              ">= 0")
        return seed

    @cached_property
    def alpha(self) -> float:
        return hyp.parse_alpha(self.raw.get("alpha", DEFAULT_ALPHA))

    @cached_property
    def hypotheses(self) -> list[hyp.Hypothesis]:
        return hyp.parse_hypotheses(self)

    @cached_property
    def controls(self) -> list[hyp.Hypothesis]:
        """The A/A control as hypotheses with expect: different, one per pair."""
        return hyp.parse_aa_control(self)

    @property
    def aa_threshold(self) -> float:
        """The A/A control's threshold (config ``aa_control.threshold``, else the default)."""
        raw = self.raw.get("aa_control") or {}
        return hyp.threshold("config aa_control", raw.get("threshold"), hyp.DEFAULT_THRESHOLD)

    @cached_property
    def workloads(self) -> list[wl.Workload]:
        """The summary's first screen (config ``answer``)."""
        return wl.parse_workloads(self)

    @cached_property
    def rank_points(self) -> list[wl.Workload]:
        """Where each scenario is ranked: the answer's points, then config ``rank_at``."""
        return wl.parse_rank_points(self)

    def with_hypotheses(self, hypotheses: list[hyp.Hypothesis],
                        controls: list[hyp.Hypothesis] | None = None) -> Study:
        """This study asking other hypotheses (and A/A controls: the same by default), e.g.
        those one interpreter's cells can answer (impl.report.interpreters.asked)."""
        other = Study(self.raw)
        other.__dict__["hypotheses"] = list(hypotheses)
        other.__dict__["controls"] = list(self.controls if controls is None else controls)
        return other

    def check(self) -> Study:
        """Parse every section this model reads (ConfigError, one line, on the first problem);
        returns self. The JSON schema and what needs the designs and the runner (unknown
        keys, design and scenario parameters, timeouts) are ``impl.pipeline.config_check``'s:
        ``snakemake -n`` runs both."""
        for section in ("seed", "alpha", "hypotheses", "controls", "rank_points",
                        "interpreters"):
            getattr(self, section)
        if self.has("profiles"):
            self.profile  # noqa: B018 - raises when the active profile is not defined
        return self


def budget_designs() -> list[str]:
    """The registered designs whose drain budget can be set (``capabilities.budget_params``)."""
    return [n for n in registry.names() if registry.get(n).capabilities.budget_params]
