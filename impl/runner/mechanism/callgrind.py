"""Instructions per op: the probe under ``valgrind --tool=callgrind``, one dump per marker.

Callgrind counts the instructions every thread executes (event ``Ir``); with
``--dump-before=getppid`` (libc's function: a wildcard also matches CPython's
``os_getppid``, two dumps a marker) it writes its counters to a numbered file and zeroes
them each time the probe's marker is entered, so dump *k* holds exactly the
interval the probe's *k*-th marker closes (``impl.runner.mechanism.probe``).
The count is deterministic for the same binary, input and interleaving
(valgrind serialises the threads), so one process suffices; a point's two pairs of
blocks (``impl.runner.mechanism.probe``) give two marginal counts per op, which show how
far it repeats. The top functions are by inclusive instructions, marginal too
(``marginal_top``), without the outer frames (``OUTER_SHARE``); the self costs of a dump taken at a
marker came out attributed to ``clone`` (98 %), so they are not used.
Sources: the Valgrind manual, "Callgrind" (``--dump-before``,
``--callgrind-out-file``, ``callgrind_annotate``).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from impl.runner.mechanism.probe import MARKER_FUNCTION

#: the tool (the executable that must be on PATH) and its annotator
VALGRIND = "valgrind"
ANNOTATE = "callgrind_annotate"
#: how many functions (by inclusive instructions) are kept per counted block
TOP_FUNCTIONS = 12
#: a function holding more than this share of an interval's instructions is an outer frame
#: (the eval loop, the call machinery, the thread's entry), left out of the top functions
OUTER_SHARE = 0.5

_TOTALS = re.compile(r"^(?:summary|totals):\s*(\d+)", re.MULTILINE)
_ANNOTATED = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*?)\s*$")


def command(out_file: Path, argv: list[str]) -> list[str]:
    """``argv`` (a python running the probe) under callgrind, dumping at every marker.

    Function-level counts only (no per-line or per-instruction data): what the
    totals and the top functions need, and the smallest files.
    """
    return [VALGRIND, "--tool=callgrind", "--quiet", f"--callgrind-out-file={out_file}",
            f"--dump-before={MARKER_FUNCTION}", "--dump-line=no", "--dump-instr=no",
            "--collect-jumps=no", *argv]


def dumps(out_file: Path) -> list[Path]:
    """The numbered dumps of a run, in order (``NAME.1``, ``NAME.2``, ...); the final dump
    at exit (``NAME`` itself) is not a marker's."""
    found = []
    for p in out_file.parent.glob(out_file.name + ".*"):
        suffix = p.name[len(out_file.name) + 1:]
        if suffix.isdigit():
            found.append((int(suffix), p))
    return [p for _, p in sorted(found)]


def total(dump: Path) -> int:
    """The instructions (``Ir``) a dump holds; ValueError for a file without totals."""
    m = _TOTALS.search(dump.read_text(errors="replace"))
    if m is None:
        raise ValueError(f"{dump}: no 'summary:' or 'totals:' line (not a callgrind dump)")
    return int(m.group(1))


def _function(entry: str) -> str | None:
    """The function name of an annotated ``file:function [object]`` entry; None for what
    names no function (an address, a recursion level's copy ``name'2``, ``(below main)``)."""
    name = re.sub(r"\s*\[[^\]]*\]$", "", entry).rsplit(":", 1)[-1].strip()
    if not name or name.startswith(("0x", "(")) or re.search(r"'\d+$", name):
        return None
    return name


def parse_annotated(text: str, top: int | None = TOP_FUNCTIONS,
                    total: int | None = None) -> list[tuple[str, int]]:
    """``callgrind_annotate`` output -> [(function, Ir: self, or inclusive with
    ``--inclusive=yes``)], largest
    first, at most ``top`` (None: all): each function once (its source file dropped: an inlined copy
    counts as the same function), and, given the interval's ``total``, without the outer
    frames that hold more than ``OUTER_SHARE`` of it (the interpreter's eval loop and call
    machinery: in every design, they tell nothing apart)."""
    best: dict[str, int] = {}
    for line in text.splitlines():
        m = _ANNOTATED.match(line)
        if m is None or m.group(2).startswith("PROGRAM TOTALS"):
            continue
        name = _function(m.group(2))
        ir = int(m.group(1).replace(",", ""))
        if name is None or (total and ir > OUTER_SHARE * total):
            continue
        best[name] = max(ir, best.get(name, 0))
    ranked = sorted(best.items(), key=lambda x: -x[1])
    return ranked if top is None else ranked[:top]


def functions(dump: Path) -> dict[str, int]:
    """{function: inclusive instructions} of a dump, below the outer frames
    (``parse_annotated``; {} if the annotator fails)."""
    try:
        done = subprocess.run([ANNOTATE, "--inclusive=yes", str(dump)], capture_output=True,
                              text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return dict(parse_annotated(done.stdout, None, total(dump))) if done.returncode == 0 else {}


def marginal_top(small: dict[str, int], large: dict[str, int], ops: int,
                 top: int = TOP_FUNCTIONS) -> list[tuple[str, float]]:
    """The functions whose inclusive instructions grow most from a pair's small block to its
    large one, per op of the difference (``ops``): what each op runs, without what a block
    runs once. Only functions listed in both blocks (an outer frame in either is left out)."""
    grown = {f: (large[f] - small[f]) / ops for f in large.keys() & small.keys()}
    ranked = sorted(((f, v) for f, v in grown.items() if v > 0), key=lambda x: -x[1])
    return ranked[:top]
