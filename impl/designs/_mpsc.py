"""Intrusive multi-producer single-consumer queue in the Vyukov style.

Main and AlternateTwo share this ingress. A producer's only shared write is
one atomic exchange of the tail (``cereggii.AtomicRef.get_and_set``); it then
links the previous node to its own with a plain store. No producer ever
retries, so there is no CAS contention to count: that is what hypothesis H1
asks about.

Node layout: a 2-slot list ``[task, next]``. A list is cheaper to allocate
and to index than an object with attributes, and the designs inline the
producer push and the consumer drain on their hot paths (a method call per
task costs more than the push itself), so the layout is part of the
interface: ``TASK`` and ``NEXT`` name the slots.

Nodes are pooled, as in the Go original: the consumer hands every node it
has moved past to ``pool`` (a bounded deque) and producers take one from
there before allocating. The point in CPython is the garbage collector, not
the allocator: a fresh list per submit is a tracked container, and once a
backlog builds the generational collector walks the surviving nodes again
and again (measured here: ~300-600 ns per submit at a 14k backlog with the
collector on, nothing with it off). Recycling is safe without tags: the
consumer moves past a node only after its ``next`` was linked, and the
producer that linked it never touches it again.

The price of the exchange-then-link order is the *half-linked* window: after
the exchange and before the link, the tail is the new node but the previous
node's ``next`` is still empty. A consumer that reaches that previous node
cannot see the new one yet. Main spins until the producer links (the spin
must release the GIL, because the producer holding the window is a Python
thread waiting for it); AlternateTwo reports "empty" and finds the node on a
later tick.

One hazard is inherited from the algorithm and cannot be removed in pure
Python: an asynchronous exception (a signal handler's KeyboardInterrupt in
the main thread) raised exactly between the exchange and the link leaves the
queue permanently half-linked: Main's consumer then spins for ever (visible
in ``spins``; its shutdown times out) and AlternateTwo never sees the tasks
behind that node. Only producers on the main thread can be hit (signal
handlers run there).
"""

from __future__ import annotations

import sys
import time
from collections import deque
from typing import Any

from cereggii import AtomicRef

TASK = 0
NEXT = 1

#: returned by the pops when nothing can be taken (tasks are callables, never this)
EMPTY: Any = object()

#: most nodes kept for reuse (a full pool drops its oldest on append: no length check)
POOL_SIZE = 16384


def spin_pause(spins: int) -> None:
    """Give the producer inside the half-linked window the GIL; ``spins`` counts from 1.

    The producer is a Python thread waiting for the GIL, so the consumer has
    to let go of it for long enough that the producer, once the kernel has
    woken it, finds the GIL free. ``os.sched_yield()`` is not enough: measured
    here, a consumer yielding that way re-took the GIL first 40,000 times in
    a row (94 ms) until the producer's switch-interval timeout forced the
    hand-over; ``time.sleep`` resolved every window in one pause. A first
    ``sleep(0)`` is the cheapest hand-over; later pauses sleep 20 µs.
    """
    time.sleep(0.0 if spins == 1 else 20e-6)


def effective_budget(budget: int, pop_buffer: int) -> int:
    """Tasks popped per tick: the pop buffer caps the budget; 0 means "no limit" for either.

    Both 0 = unbounded (``sys.maxsize``).
    """
    nonzero = [b for b in (budget, pop_buffer) if b > 0]
    return min(nonzero) if nonzero else sys.maxsize


class MpscQueue:
    """The queue; ``head`` belongs to the consumer, ``tail`` is shared.

    ``head`` is always a consumed node (initially a stub): the next task is
    in ``head[NEXT]``. The queue is empty when ``tail is head``; it is
    half-linked when ``tail is not head`` but ``head[NEXT] is None``.
    ``spins`` counts the consumer's waits on a half-linked node; only the
    consumer writes it.
    """

    __slots__ = ("head", "tail", "spins", "pool")

    def __init__(self) -> None:
        stub: list[Any] = [None, None]
        self.head: list[Any] = stub
        self.tail = AtomicRef(stub)
        self.spins = 0
        self.pool: deque[list[Any]] = deque(maxlen=POOL_SIZE)

    # -- producers (any thread) -----------------------------------------------
    def push(self, task: Any) -> None:
        """The reference producer; the designs inline exactly this."""
        pool = self.pool
        if pool:
            try:
                node = pool.pop()
            except IndexError:  # another producer took the last one
                node = [task, None]
            else:
                node[TASK] = task
        else:
            node = [task, None]
        self.tail.get_and_set(node)[NEXT] = node

    # -- consumer (one thread) --------------------------------------------------
    def pop(self) -> Any:
        """Take the oldest task, spinning through a half-linked window; EMPTY if empty."""
        head = self.head
        nxt = head[NEXT]
        if nxt is None:
            if self.tail.get() is head:
                return EMPTY
            spins = 0
            while nxt is None:
                spins += 1
                self.spins += 1  # per spin, so a stuck window shows in the counters
                spin_pause(spins)
                nxt = head[NEXT]
        head[NEXT] = None
        self.pool.append(head)
        self.head = nxt
        task = nxt[TASK]
        nxt[TASK] = None  # the node stays as the new stub; do not keep the task alive
        return task

    def try_pop(self) -> Any:
        """Take the oldest task if it is linked; EMPTY if empty *or* half-linked."""
        head = self.head
        nxt = head[NEXT]
        if nxt is None:
            return EMPTY
        head[NEXT] = None
        self.pool.append(head)
        self.head = nxt
        task = nxt[TASK]
        nxt[TASK] = None
        return task

    def is_empty(self) -> bool:
        """True if nothing is queued beyond the head (a half-linked node counts as queued)."""
        return self.tail.get() is self.head

    def has_linked(self) -> bool:
        """True if the next task is linked and can be popped without spinning."""
        return self.head[NEXT] is not None
