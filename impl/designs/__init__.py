"""The designs: five event loops of the Go study, rebuilt, and two peers behind the same
interface.

``base`` is the interface every design implements (``EventLoop``: submit,
submit_internal, the drain budget, sleep and wake-up, shutdown) with its counters;
``registry`` names each design, its constructor parameters, capabilities and source
modules (what a cell's code hash covers); ``main``, ``alternate_one``,
``alternate_two``, ``alternate_three`` and ``baseline`` are the Go study's designs
(``docs/go-study``); ``peers`` wraps asyncio and uvloop; the ``_``-prefixed modules are
their shared parts (MPSC queue, chunked queue, fd waker); ``testing`` holds designs that
fail on purpose, registered only for the tests. The lowest layer: nothing here imports
the runner, the study, the report or the pipeline.
"""
