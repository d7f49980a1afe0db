"""Lifecycle calls racing from different threads always end, with a defined result.

``start``, ``run``, ``submit``, ``submit_internal``, ``shutdown`` and
``close`` may be called from any thread at any time. Whatever the
interleaving, every call returns or raises one of the documented errors
within its timeout, and afterwards the loop is stopped and closes. One
mechanism in the base class (impl.designs.base.EventLoop: the lifecycle lock and the
body wrapper) decides this for every design.
"""

from __future__ import annotations

import threading
import time

import pytest
from conftest import DEADLINE_S
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from impl.designs import registry
from impl.designs.base import LoopStoppedError

#: what each call may raise when it loses a race (anything else fails the test)
ALLOWED = {
    "start": (RuntimeError, LoopStoppedError),
    "run": (RuntimeError, LoopStoppedError),
    "submit": (LoopStoppedError,),
    "submit_internal": (LoopStoppedError,),
    "shutdown": (),
    "close": (),
}

calls = st.lists(st.sampled_from(sorted(ALLOWED)), min_size=2, max_size=4)


def _race(design: str, script: list[str]) -> None:
    """Each call of ``script`` on its own thread against one fresh loop, released together."""
    loop = registry.create(design)
    go = threading.Barrier(len(script), timeout=DEADLINE_S)
    failures: list[str] = []

    def call(name: str) -> None:
        try:
            go.wait()
            if name in ("submit", "submit_internal"):
                getattr(loop, name)(lambda: None)
            elif name == "shutdown":
                loop.shutdown(timeout=DEADLINE_S)
            else:
                getattr(loop, name)()
        except ALLOWED[name]:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(f"{name}: {exc!r}")

    threads = {i: threading.Thread(target=call, args=(n,), daemon=True)
               for i, n in enumerate(script)}
    for t in threads.values():
        t.start()
    # run() blocks until a stop: join everything else first, then stop the loop ourselves
    for i, t in threads.items():
        if script[i] != "run":
            t.join(DEADLINE_S)
            assert not t.is_alive(), f"{design}: {script[i]} hung in {script}"
    loop.close()
    for i, t in threads.items():
        t.join(DEADLINE_S)
        assert not t.is_alive(), f"{design}: {script[i]} hung in {script}"
    assert not failures, f"{design}: {failures} in {script}"
    assert loop.is_stopped, f"{design}: not stopped after close in {script}"


@pytest.mark.timeout(600)
@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(script=calls)
def test_lifecycle_calls_racing_from_threads_always_end(design, fine_switching, script):
    for _ in range(8):  # the windows are narrow: each interleaving several times
        _race(design, script)


@pytest.mark.timeout(120)
def test_shutdown_inside_starts_window_ends_both(design, monkeypatch):
    """The reported hang, made deterministic: shutdown lands while start() creates the thread.

    Before the lifecycle lock, the stop was seen between start()'s check and
    its thread's run(), run() raised before signalling "started", and
    start() waited forever (baseline's shutdown raised "cannot join thread
    before it is started").
    """
    loop = registry.create(design)
    entered = threading.Event()
    real_init = threading.Thread.__init__

    def slow_init(self: threading.Thread, *args: object, **kwargs: object) -> None:
        # start() builds its thread after checking the state: hold it there
        if str(kwargs.get("name", "")).endswith("-loop"):
            entered.set()
            time.sleep(0.05)  # the window the shutdown falls into
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(threading.Thread, "__init__", slow_init)
    results: dict[str, object] = {}

    def starter() -> None:
        try:
            loop.start()
            results["start"] = "returned"
        except BaseException as exc:  # noqa: BLE001
            results["start"] = exc

    def stopper() -> None:
        entered.wait(DEADLINE_S)
        try:
            loop.shutdown(timeout=DEADLINE_S)
            results["shutdown"] = "returned"
        except BaseException as exc:  # noqa: BLE001
            results["shutdown"] = exc

    threads = [threading.Thread(target=f, daemon=True) for f in (starter, stopper)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE_S)
        assert not t.is_alive(), f"{design}: start/shutdown race hung: {results}"
    assert results == {"start": "returned", "shutdown": "returned"}, results
    assert loop.is_stopped
    loop.close()


def test_shutdown_before_start_then_start_is_refused(design):
    loop = registry.create(design)
    loop.shutdown(timeout=DEADLINE_S)
    with pytest.raises(LoopStoppedError):
        loop.start()
    with pytest.raises(LoopStoppedError):
        loop.run()
    loop.close()
    assert loop.is_stopped
