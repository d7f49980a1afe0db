"""The interpreter a cell's measuring processes run under, and whether its GIL is as declared.

A study declares interpreters (config ``interpreters``): the project's CPython 3.11, and a
free-threaded CPython with the GIL off and, in the same binary, on (``PYTHON_GIL=0`` /
``PYTHON_GIL=1``: only the same binary isolates the GIL from the build, whose interpreter
differs: 3.13t has no specialising interpreter). The parent and the report stay on the
project's interpreter; only the measuring child runs under the cell's, so it needs only the
standard library, ``impl`` (put on its ``PYTHONPATH``) and cereggii.

Light on purpose (standard library only): the measuring child imports it.
Sources: PEP 703; CPython's "Python support for free threading" HOWTO (``PYTHON_GIL``,
``sys._is_gil_enabled``, ``Py_GIL_DISABLED``).
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path
from typing import Any

#: the environment variable CPython 3.13+ reads to force the GIL on (1) or off (0); a build
#: with the GIL refuses 0 at start-up and ignores 1; 3.11 ignores it
GIL_ENV = "PYTHON_GIL"
#: the repository root: the child imports ``impl`` from here (another interpreter does not
#: have the project installed)
ROOT = Path(__file__).resolve().parents[2]


def gil_disabled_build() -> bool:
    """True for a free-threaded build (``Py_GIL_DISABLED``), whatever the GIL does now."""
    return bool(sysconfig.get_config_var("Py_GIL_DISABLED"))


def gil_enabled() -> bool:
    """Whether the GIL is on now (it is on in every build before 3.13); a C extension
    without free-threading support turns it back on when imported, so ask after imports."""
    probe = getattr(sys, "_is_gil_enabled", None)
    return True if probe is None else bool(probe())


def describe() -> dict[str, Any]:
    """What this process runs under: recorded per process and checked per block.

    ``version``: ``sys.version``; ``implementation``; ``gil_disabled_build``
    (``Py_GIL_DISABLED``); ``gil_enabled`` (``sys._is_gil_enabled()``, True before 3.13);
    ``executable``.
    """
    return {
        "version": sys.version,
        "implementation": sys.implementation.name,
        "gil_disabled_build": gil_disabled_build(),
        "gil_enabled": gil_enabled(),
        "executable": sys.executable,
    }


def mismatch(gil: bool | None, when: str = "after the imports") -> str | None:
    """One line when the GIL is not in the declared state (None: any state is fine);
    ``when``: where the check ran, for the message."""
    if gil is None or gil_enabled() == gil:
        return None
    if gil:
        return f"the GIL is off in {sys.executable}, declared gil: true"
    if not gil_disabled_build():
        return (f"{sys.executable} is not a free-threaded build (Py_GIL_DISABLED is not set), "
                f"declared gil: false; allowed: a free-threaded python (e.g. python3.13t)")
    return (f"the GIL is on in {sys.executable} {when}, declared gil: false "
            f"(a C extension without free-threading support turns it on)")


def child_env(env: dict[str, str], gil: bool | None) -> dict[str, str]:
    """``env`` for a measuring child: the GIL forced to the declared state, ``impl`` importable."""
    out = dict(env)
    if gil is not None:
        out[GIL_ENV] = "1" if gil else "0"
    path = out.get("PYTHONPATH", "")
    out["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    return out
