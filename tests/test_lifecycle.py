"""T6: repeated create/run/shutdown cycles leak nothing a loop owns.

The Go study checked memory growth; what a Python loop can leak for real is
its thread, its file descriptors (eventfd, epoll, asyncio's self-pipe) and
the tasks it keeps referenced. These are counted exactly, so the test checks
behaviour and cannot be flaky on a noisy machine.
"""

from __future__ import annotations

import gc
import os
import threading
import weakref

import pytest

from impl.designs import registry
from tests.conftest import design_params

CYCLES = 30


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class _Payload:
    """A task object we can watch with a weak reference."""

    def __init__(self, done: threading.Lock) -> None:
        self._done = done

    def __call__(self) -> None:
        self._done.release()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("design", design_params())
def test_t6_cycles_leak_no_thread_fd_or_task(design):
    spec = registry.get(design)
    # one cycle first: lazy imports and interpreter caches are not leaks
    warm = spec.create().start()
    warm.close()
    gc.collect()
    fds, threads = _open_fds(), threading.active_count()
    watched = []
    for _ in range(CYCLES):
        loop = spec.create().start()
        done = threading.Lock()
        done.acquire()
        task = _Payload(done)
        watched.append(weakref.ref(task))
        loop.submit(task)
        assert done.acquire(timeout=5), f"{design}: task did not run"
        del task
        loop.close()
        assert loop.is_stopped
    gc.collect()
    assert _open_fds() == fds, f"{design}: file descriptors leaked over {CYCLES} cycles"
    assert threading.active_count() == threads, f"{design}: loop threads left running"
    alive = sum(1 for ref in watched if ref() is not None)
    assert alive == 0, f"{design}: {alive} executed task(s) still referenced after close"
