"""The study: config.yaml read and validated once into a typed model (``Study``).

Every module that needs the config asks a ``Study``: the Snakefile builds one
from the config Snakemake hands it (impl.pipeline.config_check), the summary
from the same mapping, and the commands that run outside Snakemake (the
runner's ``--profile``, ``compare``) from ``load()``. Only
``impl/study/yaml_file.py`` opens config.yaml.

Layers, each importing only from those below it: pipeline -> report -> study ->
runner -> designs (impl/contract.py, the data contract, is shared by all).
"""

from __future__ import annotations

from pathlib import Path

from impl.study.errors import ConfigError, HypothesisConfigError
from impl.study.hypotheses import (
    DEFAULT_THRESHOLD,
    ComparisonSpec,
    Hypothesis,
    each_values,
    expand,
    matches,
)
from impl.study.model import (
    DEFAULT_ALPHA,
    DEFAULT_SEED,
    MAIN_PROFILE,
    Label,
    Profile,
    ScenarioEntry,
    Study,
    budget_designs,
    grid_points,
)
from impl.study.workloads import Workload
from impl.study.yaml_file import CONFIG_FILE, check_config_files, load_config_file

__all__ = [
    "CONFIG_FILE", "DEFAULT_ALPHA", "DEFAULT_SEED", "DEFAULT_THRESHOLD", "MAIN_PROFILE",
    "ComparisonSpec", "ConfigError", "Hypothesis", "HypothesisConfigError", "Label", "Profile",
    "ScenarioEntry", "Study", "Workload", "budget_designs", "check_config_files", "each_values",
    "expand", "grid_points", "load", "load_config_file", "matches",
]


def load(path: str | Path = CONFIG_FILE) -> Study:
    """The study of a config file, read strictly (ConfigError: one line, file:line:column)."""
    return Study(load_config_file(path))
