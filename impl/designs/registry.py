"""Name -> design: how benchmarks, tests and the pipeline find an implementation.

Factories are given as "module:Class" and imported lazily, so asking for the
list of names (for ``--help`` or the config schema) costs no imports and a
broken design cannot break the others.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from impl.designs.base import ErrorHandler, EventLoop
from impl.params import BadParameterError, ParamSpec, resolve

#: set to 1 to make the test-only designs (``impl.designs.testing``) selectable
TEST_DESIGNS_ENV = "ELT_ENABLE_TEST_DESIGNS"


class UnknownImplementationError(BadParameterError):
    """The name is not a registered design."""


@dataclass(frozen=True)
class Capabilities:
    #: every task whose submit returned normally runs, even if shutdown races it
    conserves_on_shutdown: bool
    #: submit_internal is a separate priority lane (not an alias of submit)
    has_internal_lane: bool
    #: submit_microtask exists
    has_microtask_lane: bool
    #: the loop sleeps in a selector and is woken by a write to a file descriptor
    fd_wake: bool
    #: effective number of external tasks drained per tick with default parameters; None = unbounded
    drain_budget: int | None
    #: constructor parameters a budget sweep must set (all to the same value; 0 = unbounded)
    budget_params: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImplSpec:
    name: str
    factory: str  # "module:Class"
    capabilities: Capabilities
    description: str
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    #: modules whose source defines the design (the pipeline hashes them to invalidate cells)
    modules: tuple[str, ...] = ()
    test_only: bool = False
    #: third-party modules it needs beyond the project's measuring child's own (cereggii):
    #: an interpreter without them cannot run it (uvloop has no free-threaded wheel)
    requires: tuple[str, ...] = ()

    def unavailable(self) -> str | None:
        """Why this interpreter cannot run the design (one line), or None if it can.

        Looks the required modules up without importing them (``find_spec``), so asking
        costs nothing and cannot switch the GIL back on in a free-threaded interpreter.
        """
        missing = [m for m in self.requires if importlib.util.find_spec(m) is None]
        if not missing:
            return None
        return (f"{', '.join(missing)} is not installed for {_interpreter_name()} "
                f"({sys.executable})")

    def load(self) -> type[EventLoop]:
        module_name, _, attr = self.factory.partition(":")
        return getattr(importlib.import_module(module_name), attr)

    def resolve_params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        return resolve(self.params, given, f"implementation {self.name!r}")

    def create(self, error_handler: ErrorHandler | None = None, **given: Any) -> EventLoop:
        return self.load()(error_handler=error_handler, **self.resolve_params(given))

    def fingerprint(self) -> str:
        """What this entry says about how the design runs (factory, capabilities, parameters
        and their defaults, modules), as stable text. The pipeline hashes it with the
        design's modules instead of this whole file, so registering another design (or
        rewording a description) reruns no other design's cells."""
        params = {n: [p.type.__name__, p.default, p.minimum, p.maximum,
                      list(p.choices) if p.choices is not None else None, p.exclusive_minimum]
                  for n, p in sorted(self.params.items())}
        return json.dumps({"name": self.name, "factory": self.factory,
                           "capabilities": asdict(self.capabilities), "params": params,
                           "modules": list(self.modules)}, sort_keys=True, default=str)


def _interpreter_name() -> str:
    """'CPython 3.13.5 free-threaded' / 'CPython 3.11.2': what the reasons name."""
    import sysconfig

    version = ".".join(map(str, sys.version_info[:3]))
    ft = " free-threaded" if sysconfig.get_config_var("Py_GIL_DISABLED") else ""
    impl = sys.implementation.name
    name = {"cpython": "CPython", "pypy": "PyPy"}.get(impl, impl)
    return f"{name} {version}{ft}"


def _budget_params(with_pop_buffer: bool) -> dict[str, ParamSpec]:
    specs = {
        "budget": ParamSpec(
            "budget", int, 1024, "external tasks drained per tick; 0 = unbounded", 0, 1 << 20
        )
    }
    if with_pop_buffer:
        specs["pop_buffer"] = ParamSpec(
            "pop_buffer",
            int,
            256,
            "size of the pop buffer; caps the effective budget (0 = as large as budget)",
            0,
            1 << 20,
        )
    return specs


#: modules every design's code hash covers; the registry itself is not one of them (its
#: entry for the design is, through ImplSpec.fingerprint): adding a design reruns nothing else
_COMMON = ("impl.designs.base", "impl.params")
_WAKE = ("impl.designs._wake",)

_SPECS: tuple[ImplSpec, ...] = (
    ImplSpec(
        name="main",
        factory="impl.designs.main:MainLoop",
        capabilities=Capabilities(
            conserves_on_shutdown=True,
            has_internal_lane=True,
            has_microtask_lane=True,
            fd_wake=True,
            drain_budget=256,
            budget_params=("budget", "pop_buffer"),
        ),
        description="lock-free Vyukov MPSC ingress (atomic exchange), in-flight counter, "
        "budget 1024 capped by a 256-slot pop buffer, eventfd wake with a pending flag",
        params=_budget_params(with_pop_buffer=True),
        modules=(*_COMMON, *_WAKE, "impl.designs._mpsc", "impl.designs._mpsc_loop",
                 "impl.designs.main"),
    ),
    ImplSpec(
        name="alternate_one",
        factory="impl.designs.alternate_one:AlternateOneLoop",
        capabilities=Capabilities(
            conserves_on_shutdown=True,
            has_internal_lane=True,
            has_microtask_lane=True,
            fd_wake=True,
            drain_budget=1024,
            budget_params=("budget",),
        ),
        description="maximum safety: one lock for three chunked lanes, one locked pop per "
        "task, invariant checks, validated state table (fixed conservation)",
        params={
            **_budget_params(with_pop_buffer=False),
            "chunk_size": ParamSpec("chunk_size", int, 128, "slots per chunk", 1, 1 << 16),
        },
        modules=(*_COMMON, *_WAKE, "impl.designs._chunked", "impl.designs.alternate_one"),
    ),
    ImplSpec(
        name="alternate_two",
        factory="impl.designs.alternate_two:AlternateTwoLoop",
        capabilities=Capabilities(
            conserves_on_shutdown=False,
            has_internal_lane=True,
            has_microtask_lane=True,
            fd_wake=True,
            drain_budget=256,
            budget_params=("budget", "pop_buffer"),
        ),
        description="maximum performance: Main's ingress without the consumer spin, bounded "
        "microtask ring, fixed 10 ms poll timeout, one drain pass at shutdown",
        params={
            **_budget_params(with_pop_buffer=True),
            "microtask_ring": ParamSpec(
                "microtask_ring", int, 4096, "microtask ring capacity", 1, 1 << 20
            ),
            "poll_timeout_ms": ParamSpec(
                "poll_timeout_ms", float, 10.0, "fixed poll timeout", 0.001, 10_000
            ),
        },
        modules=(*_COMMON, *_WAKE, "impl.designs._mpsc", "impl.designs._mpsc_loop",
                 "impl.designs.alternate_two"),
    ),
    ImplSpec(
        name="alternate_three",
        factory="impl.designs.alternate_three:AlternateThreeLoop",
        capabilities=Capabilities(
            conserves_on_shutdown=True,
            has_internal_lane=True,
            has_microtask_lane=True,
            fd_wake=True,
            drain_budget=1024,
            budget_params=("budget",),
        ),
        description="the original Main: lock + 128-slot chunked ingress, state checked under "
        "the lock, up to 1024 tasks popped per lock acquisition, eventfd wake",
        params={
            **_budget_params(with_pop_buffer=False),
            "chunk_size": ParamSpec("chunk_size", int, 128, "slots per chunk", 1, 1 << 16),
        },
        modules=(*_COMMON, *_WAKE, "impl.designs._chunked", "impl.designs.alternate_three"),
    ),
    ImplSpec(
        name="baseline",
        factory="impl.designs.baseline:BaselineLoop",
        capabilities=Capabilities(
            conserves_on_shutdown=False,
            has_internal_lane=False,
            has_microtask_lane=False,
            fd_wake=False,
            drain_budget=None,
        ),
        description="goja reference: list under a lock, in-process one-permit wake, swap the "
        "whole list and run every task",
        modules=(*_COMMON, "impl.designs.baseline"),
    ),
    ImplSpec(
        name="asyncio",
        factory="impl.designs.peers:AsyncioLoop",
        capabilities=Capabilities(
            conserves_on_shutdown=True,
            has_internal_lane=False,
            has_microtask_lane=False,
            fd_wake=True,
            drain_budget=None,
        ),
        description="peer: asyncio call_soon_threadsafe into a loop on its own thread",
        modules=(*_COMMON, "impl.designs.peers"),
    ),
    ImplSpec(
        name="uvloop",
        factory="impl.designs.peers:UvloopLoop",
        capabilities=Capabilities(
            conserves_on_shutdown=True,
            has_internal_lane=False,
            has_microtask_lane=False,
            fd_wake=True,
            drain_budget=None,
        ),
        description="peer: uvloop call_soon_threadsafe into a loop on its own thread",
        modules=(*_COMMON, "impl.designs.peers"),
        requires=("uvloop",),
    ),
)

_TEST_SPECS: tuple[ImplSpec, ...] = (
    ImplSpec(
        name="test_faulty",
        factory="impl.designs.testing:FaultyLoop",
        capabilities=Capabilities(
            conserves_on_shutdown=True,
            has_internal_lane=False,
            has_microtask_lane=False,
            fd_wake=False,
            drain_budget=None,
        ),
        description="TEST ONLY: Baseline that drops, hangs or crashes on purpose",
        params={
            "mode": ParamSpec(
                "mode", str, "ok", "what goes wrong", choices=("ok", "drop", "hang", "crash")
            ),
            "trigger_file": ParamSpec(
                "trigger_file",
                str,
                "",
                "if set, misbehave only while this file exists (lets a test 'fix' the design)",
            ),
            "scenarios": ParamSpec(
                "scenarios",
                str,
                "",
                "comma-separated scenario names to misbehave in (read from ELT_SCENARIO); "
                "empty = all",
            ),
        },
        modules=(*_COMMON, "impl.designs.baseline", "impl.designs.testing"),
        test_only=True,
    ),
)


def test_designs_enabled() -> bool:
    return os.environ.get(TEST_DESIGNS_ENV, "") == "1"


def _visible_specs() -> tuple[ImplSpec, ...]:
    return _SPECS + (_TEST_SPECS if test_designs_enabled() else ())


def names() -> list[str]:
    """Registered design names, in a stable order (test-only ones only when enabled)."""
    return [spec.name for spec in _visible_specs()]


def get(name: str) -> ImplSpec:
    for spec in _visible_specs():
        if spec.name == name:
            return spec
    raise UnknownImplementationError(
        f"unknown implementation {name!r}; allowed: {', '.join(names())}"
    )


def create(name: str, error_handler: ErrorHandler | None = None, **params: Any) -> EventLoop:
    """Construct (not start) the named design with validated parameters."""
    return get(name).create(error_handler=error_handler, **params)
