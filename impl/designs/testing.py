"""Test-only designs that misbehave on purpose.

They exist so the suite, the runner and the pipeline can prove that they
catch a lost task, a hang and a crash. Selectable only with
``ELT_ENABLE_TEST_DESIGNS=1`` (see impl.designs.registry).
"""

from __future__ import annotations

import os
import threading

from impl.designs.base import ErrorHandler, Task
from impl.designs.baseline import BaselineLoop

#: the runner exports the scenario it measures here, so a fault can target one cell
SCENARIO_ENV = "ELT_SCENARIO"


class FaultyLoop(BaselineLoop):
    """Baseline that drops every 7th task, hangs, or crashes the process."""

    design = "test_faulty"

    def __init__(
        self,
        *,
        error_handler: ErrorHandler | None = None,
        mode: str = "ok",
        trigger_file: str = "",
        scenarios: str = "",
    ) -> None:
        super().__init__(error_handler=error_handler)
        self._mode = mode if self._armed(trigger_file, scenarios) else "ok"
        self._seen = 0
        self._never = threading.Event()

    @staticmethod
    def _armed(trigger_file: str, scenarios: str) -> bool:
        if trigger_file and not os.path.exists(trigger_file):
            return False
        if scenarios:
            wanted = {s.strip() for s in scenarios.split(",") if s.strip()}
            return os.environ.get(SCENARIO_ENV, "") in wanted
        return True

    def submit(self, task: Task) -> None:
        mode = self._mode
        if mode == "ok":
            return super().submit(task)
        self._seen += 1
        if mode == "drop" and self._seen % 7 == 0:
            return None  # accepted, never run
        if mode == "hang" and self._seen > 10:
            self._never.wait()  # blocks the producer forever
        if mode == "crash" and self._seen > 10:
            os.abort()
        return super().submit(task)

    submit_internal = submit
