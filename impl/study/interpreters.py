"""The interpreters a study measures under (config ``interpreters``), a factor like placement.

The first declared interpreter is the primary one: its cells carry no ``interpreter``
parameter (their ids are what they were before the factor existed) and a hypothesis, the
answer or a rank point that names none means it. Every other interpreter's cells carry
``interpreter=NAME`` (impl.contract.INTERPRETER_PARAM) and are matched only by name, so
each question is asked once per interpreter (``for_interpreter``).

``python``: ``default`` (the interpreter running the pipeline, the project's 3.11),
``provision`` (the free-threaded CPython that scripts/provision_free_threaded.sh builds into
PROVISIONED_PYTHON; a rule builds it when missing) or a path or command (``python3.14t``
from uv, pyenv, deadsnakes, Fedora). ``gil``: true / false (forced with ``PYTHON_GIL``,
checked in every block) or absent (as it starts). ``points``: ``all`` (the profile's grid),
``decided`` (only the points the answer, the hypotheses and the A/A control use: an
interpreter beside the primary one answers the study's questions, the grids' curves and
the rank points stay the primary's, which keeps the study's time) or ``answer`` (only the
answer's points: a control interpreter, e.g. the free-threaded build with the GIL on, whose
cells are compared with another interpreter's, not decided on by the hypotheses).
``processes`` / ``verdict_processes``: per cell, instead of the profile's (multiples of
its rounds): an interpreter whose effects are large needs fewer replicates. ``scenarios``:
the only scenarios it measures (default all): a question the GIL cannot change (a
single-threaded drain) need not be asked again; its hypotheses are then not asked there.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from impl.contract import INTERPRETER_PARAM
from impl.study.errors import ConfigError

#: ``python: provision``: where scripts/provision_free_threaded.sh installs its interpreter
#: (relative to the checkout; the script's default prefix is .ft/cpython-3.13t)
PROVISIONED_PYTHON = ".ft/cpython-3.13t/bin/python3.13t"
#: written by the script when the interpreter and its requirements are in place: the
#: provisioning rule's output (a rebuilt interpreter remeasures nothing: the measuring jobs
#: take it as an ``ancient`` input)
PROVISIONED_MARKER = ".ft/cpython-3.13t/.provisioned"
#: the script a ``python: provision`` interpreter is built with
PROVISION_SCRIPT = "scripts/provision_free_threaded.sh"
#: what the script installs into it (changed pins: the rule runs again)
PROVISION_REQUIREMENTS = "scripts/free_threaded_requirements.txt"
DEFAULT_PYTHON = "default"
PROVISION = "provision"
POINTS = ("all", "decided", "answer")
#: a config without ``interpreters``: the pipeline's own, every point
DEFAULT_NAME = "default"


@dataclass(frozen=True)
class Interpreter:
    """One declared interpreter (config ``interpreters.NAME``)."""

    name: str
    python: str = DEFAULT_PYTHON
    gil: bool | None = None
    points: str = "all"
    primary: bool = False
    processes: int | None = None
    verdict_processes: int | None = None
    #: the only scenarios it measures; None: every one
    scenarios: tuple[str, ...] | None = None

    def measures(self, scenario: str) -> bool:
        return self.scenarios is None or scenario in self.scenarios

    @property
    def asks_hypotheses(self) -> bool:
        """Its cells answer the hypotheses (points all or decided), not only the answer."""
        return self.points != "answer"

    @property
    def provisioned(self) -> bool:
        """Built by the pipeline's provisioning rule (``python: provision``)."""
        return self.python == PROVISION

    def executable(self) -> str | None:
        """The python the runner is told to use: None for the pipeline's own, the
        provisioned path, or the given path or command as written."""
        if self.python == DEFAULT_PYTHON:
            return None
        return PROVISIONED_PYTHON if self.provisioned else self.python

    def missing(self) -> str | None:
        """One line when a python given by path or command is not there (``provision`` is
        built by a rule; ``default`` always exists), else None."""
        if self.python in (DEFAULT_PYTHON, PROVISION) or shutil.which(self.python):
            return None
        return (f"config: interpreters.{self.name}.python: {self.python!r} is not an executable "
                f"file or a command on PATH; allowed: default, provision, or a python's path")

    def params(self) -> dict[str, str]:
        """The cell parameter this interpreter adds ({} for the primary one)."""
        return {} if self.primary else {INTERPRETER_PARAM: self.name}

    @property
    def gil_flag(self) -> str:
        """The runner's ``--gil`` value."""
        return {True: "on", False: "off", None: "any"}[self.gil]

    def describe(self) -> str:
        """For the summary: 'ft (provision, GIL off)'."""
        gil = {True: "GIL on", False: "GIL off", None: "GIL as it starts"}[self.gil]
        return f"{self.name} ({self.python}, {gil})"


def parse(raw: Any) -> list[Interpreter]:
    """The declared interpreters in order, the first primary; ConfigError (one line)."""
    if raw is None:
        return [Interpreter(DEFAULT_NAME, primary=True)]
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError("config: bad value at interpreters; allowed: a mapping of names to "
                          "{python, gil, points}, the first the primary one")
    out = []
    for i, (name, entry) in enumerate(raw.items()):
        entry = entry if isinstance(entry, Mapping) else {}
        name = str(name)
        if not name.strip() or any(ch in name for ch in "/,=+ "):
            raise ConfigError(f"config: bad interpreter name {name!r} at interpreters; allowed: "
                              "a name without / , = + or spaces")
        gil = entry.get("gil")
        if gil is not None and not isinstance(gil, bool):
            raise ConfigError(f"config: bad value {gil!r} at interpreters.{name}.gil; allowed: "
                              "true, false, or absent")
        points = str(entry.get("points", "all"))
        if points not in POINTS:
            raise ConfigError(f"config: bad value {points!r} at interpreters.{name}.points; "
                              f"allowed: {', '.join(POINTS)}")
        counts = {}
        for key in ("processes", "verdict_processes"):
            v = entry.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ConfigError(f"config: bad value {v!r} at interpreters.{name}.{key}; "
                                  "allowed: a whole number >= 1 (a multiple of the rounds)")
            counts[key] = v
        scen = entry.get("scenarios")
        if scen is not None and (not isinstance(scen, list) or not scen):
            raise ConfigError(f"config: bad value {scen!r} at interpreters.{name}.scenarios; "
                              "allowed: a non-empty list of the study's scenarios")
        if i == 0 and (points != "all" or scen is not None
                       or any(v is not None for v in counts.values())):
            raise ConfigError(f"config: interpreters.{name} is the primary interpreter (the "
                              "first): it measures every point with the profile's processes; "
                              "allowed: python and gil only")
        out.append(Interpreter(name, str(entry.get("python", DEFAULT_PYTHON)), gil, points,
                               primary=i == 0, scenarios=tuple(map(str, scen)) if scen else None,
                               **counts))
    return out


def of_params(params: Mapping[str, Any], primary: str) -> str:
    """The interpreter a cell's parameters say it ran under (the primary one when none)."""
    return str(params.get(INTERPRETER_PARAM, primary))
