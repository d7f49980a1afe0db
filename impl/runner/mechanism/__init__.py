"""The mechanism pass: what each design does per operation, counted, not timed.

Separate from the timed blocks (it must not perturb them), for one design at a
list of points (scenario x parameters) under one interpreter:

* instructions per op: the design's points run under ``valgrind --tool=callgrind``
  (``impl.runner.mechanism.callgrind``), which counts every instruction every
  thread executes; a marker call between blocks makes it dump its counters, so
  each counted block is separated from the start-up and the warm-up, and the
  process's start-up cancels without a second process (the marginal cost of a
  block of N ops, not a total over a run). Callgrind serialises the threads:
  the count is the work, not the interleaving. Repeatable whatever else the
  machine runs (valgrind's manual; seen here within 1 %).
* syscalls per op by kind (futex, eventfd/pipe read and write, epoll/poll/
  select waits, sleeps, yields): the same points under ``perf record`` on the
  kernel's syscall tracepoints (``strace -f`` where perf cannot trace;
  ``impl.runner.mechanism.syscalls``), counted between the same markers.
* context switches per op per thread role (voluntary: the thread blocked;
  involuntary: it was preempted), read by the child itself from the kernel
  (``getrusage`` and ``/proc/self/task/TID/sched``), in a native run without
  any tool attached; the timed blocks record them too
  (``impl.runner.worker``).

The child is ``impl.runner.mechanism.probe``; the parent that runs it under
each tool and writes one JSON file per (interpreter, design) is
``impl.runner.mechanism.run``. A tool missing on the machine is one line and
its part skipped, never a failed study.
"""
