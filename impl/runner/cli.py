"""Command line of the runner (docs/contracts.md section 2).

Exit codes: 0 file written; 1 verification failure or crash (no file);
2 bad input (one line naming the culprit and the allowed values, nothing
run); 124 watchdog timeout (stacks dumped to stderr); 130 interrupted. The
codes are defined once, in impl.contract (``EXIT_*``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from impl.contract import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMEOUT,
)
from impl.designs import registry
from impl.params import BadParameterError, parse_assignments
from impl.runner import scenarios
from impl.runner.request import (
    PROFILE_SETTINGS,
    RUN_SETTINGS,
    CellRequest,
    flag_of,
    resolve,
)

#: --gil's values -> the declared GIL state (ResolvedCell.gil)
GIL_CHOICES: dict[str, bool | None] = {"on": True, "off": False, "any": None}
#: the last-resort watchdog fires this long after --timeout if the normal path did not
LAST_RESORT_SLACK_S = 1.5


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        sys.stderr.write(f"runner: {message}; see --help\n")
        sys.exit(EXIT_BAD_INPUT)


def _epilog(presets: Mapping[str, Mapping[str, Any]]) -> str:
    lines = ["implementations (constructor params for --impl-param):"]
    for name in registry.names():
        spec = registry.get(name)
        lines.append(f"  {name}")
        for p in spec.params.values():
            lines.append(f"      {p.describe()}")
    lines.append("scenarios (params for --param; default timeout):")
    for name in scenarios.names():
        sc = scenarios.get(name)
        only = "" if sc.applies is scenarios._always else "  (only designs with budget_params)"
        lines.append(f"  {name}  [timeout {sc.timeout_s:g} s]{only}")
        for p in sc.params.values():
            lines.append(f"      {p.describe()}")
    lines.append("profiles (--profile; from config.yaml, explicit settings override):")
    for name, preset in presets.items():
        settings = ", ".join(f"{k}={preset[k]}" for k in PROFILE_SETTINGS if k in preset)
        lines.append(f"  {name}: {settings}")
    lines.append("exit: 0 written, 1 verification failure/crash, 2 bad input, 124 timeout")
    return "\n".join(lines)


def build_parser(presets: Mapping[str, Mapping[str, Any]] | None = None
                 ) -> argparse.ArgumentParser:
    """The runner's parser; ``presets``: the profiles ``--profile`` may name (listed in --help)."""
    p = _Parser(
        prog="python -m impl.runner",
        description="Measure one benchmark cell (implementation x scenario x params) in fresh "
        "processes and write it as one Parquet file.",
        epilog=_epilog(presets or {}),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--impl", required=True, help="registered design name")
    p.add_argument("--impl-param", action="append", metavar="K=V", help="constructor parameter")
    p.add_argument("--label", help="implementation label (config key); default: the design")
    p.add_argument("--scenario", required=True, help="scenario name")
    p.add_argument("--param", action="append", metavar="K=V", help="scenario parameter")
    prof = p.add_mutually_exclusive_group()
    prof.add_argument("--profile", default="quick",
                      help="preset of run settings in config.yaml (default quick)")
    prof.add_argument("--profile-name", metavar="NAME",
                      help="name to record for a profile config.yaml does not define (the "
                      "pipeline's own config may); needs every run setting given explicitly")
    for name in PROFILE_SETTINGS:
        default = RUN_SETTINGS[name].default
        p.add_argument(flag_of(name), help=f"{RUN_SETTINGS[name].help} (profile default"
                       + (f", else {default})" if default is not None else ")"))
    p.add_argument(flag_of("timeout_s"), help=f"{RUN_SETTINGS['timeout_s'].help} "
                   "(scenario default)")
    p.add_argument("--seed", default="0", help="seed (PYTHONHASHSEED of the children)")
    p.add_argument("--config-hash", default="", help="hash of the config, recorded in metadata")
    p.add_argument("--interpreter", metavar="NAME",
                   help="the interpreter's name (config `interpreters`), recorded as the cell "
                   "parameter `interpreter`; default: none (the study's primary interpreter)")
    p.add_argument("--python", metavar="PYTHON",
                   help="run the measuring processes under this python (a path or a command on "
                   "PATH); default: the runner's own")
    p.add_argument("--gil", choices=("on", "off", "any"), default="any",
                   help="the GIL state the processes must run in (off: a free-threaded python, "
                   "PYTHON_GIL=0; on: PYTHON_GIL=1); a process in another state fails the cell; "
                   "default any")
    p.add_argument("--out", required=True, metavar="PATH.parquet", help="output file")
    p.add_argument("--round", type=_round_index, default=None, metavar="R",
                   help="measure one round of the cell (processes numbered from R x 2 x "
                   "--processes: room for replacements) and write its JSON record to --out "
                   "(the pipeline's unit)")
    p.add_argument("--loops-from", metavar="ROUND.json",
                   help="with --round: reuse the block size calibrated by this round's record")
    return p


def _round_index(text: str) -> int:
    value = int(text) if text.strip().isdigit() else -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"bad value {text!r}; allowed: an int >= 0")
    return value


def _loops_from(path: str | None) -> int:
    """The calibrated block size of a round record; 0 (calibrate) without one."""
    if path is None:
        return 0
    import json

    from impl.runner.cell import round_loops

    try:
        return round_loops(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise BadParameterError(
            f"--loops-from: cannot read a calibrated block size from {path!r} ({exc}); "
            "allowed: a round record written by --round 0"
        ) from None


def _writable_target(out: str) -> str | None:
    """Why ``out`` cannot be written (checked before measuring: a cell must not run for
    minutes and then fail to land), or None. A missing folder is a typo more often than a
    wish, so it is not created (the pipeline's output folders exist before its jobs run)."""
    if not out.strip() or os.path.isdir(out):
        return "not a file path"
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        return f"folder {parent!r} does not exist"
    try:
        fd, probe = tempfile.mkstemp(prefix=".runner-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"folder {parent!r} is not writable ({exc.strerror})"
    return None


def _on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that kills our children


def main(argv: list[str], presets: Mapping[str, Mapping[str, Any]] | None = None) -> int:
    """Measure one cell; ``presets``: the study's profiles (impl/runner/__main__.py reads them
    from config.yaml). Returns the exit code (impl.contract ``EXIT_*``)."""
    args = build_parser(presets).parse_args(argv)
    try:
        request = CellRequest(
            impl=args.impl,
            scenario=args.scenario,
            impl_params=parse_assignments(args.impl_param, f"implementation {args.impl!r}"),
            params=parse_assignments(args.param, f"scenario {args.scenario!r}"),
            label=args.label,
            profile=args.profile_name or args.profile,
            profile_defined_elsewhere=args.profile_name is not None,
            processes=args.processes,
            blocks=args.blocks,
            warmups=args.warmups,
            warmup_ms=args.warmup_ms,
            target_block_ms=args.target_block_ms,
            max_foreign_cpu=args.max_foreign_cpu,
            timeout_s=args.timeout,
            seed=args.seed,
            config_hash=args.config_hash,
            presets=presets,
            interpreter=args.interpreter,
            python=args.python,
            gil=GIL_CHOICES[args.gil],
        )
        cell = resolve(request)
        if args.loops_from and args.round is None:
            raise BadParameterError(
                "--loops-from: only with --round; allowed: --round R --loops-from ROUND0.json"
            )
        loops = _loops_from(args.loops_from)
    except BadParameterError as exc:
        sys.stderr.write(f"runner: {exc}\n")
        return EXIT_BAD_INPUT
    out = str(args.out)
    suffix = ".json" if args.round is not None else ".parquet"
    if not out.endswith(suffix):
        what = "a round record (--round)" if args.round is not None else "a cell file"
        sys.stderr.write(f"runner: --out: {out!r} is not a {suffix} file; allowed: a path "
                         f"ending in {suffix} for {what}\n")
        return EXIT_BAD_INPUT
    why = _writable_target(out)
    if why:
        sys.stderr.write(f"runner: --out: cannot write {out!r}: {why}; allowed: a file path in "
                         "an existing, writable folder\n")
        return EXIT_BAD_INPUT

    from impl.runner import watchdog
    from impl.runner.cell import measure_round, measure_table
    from impl.runner.manager import CellFailedError

    signal.signal(signal.SIGTERM, _on_sigterm)
    wrapper = os.environ.pop(watchdog.PARENT_PID_ENV, None)  # set by the pipeline's wrapper
    if wrapper:
        watchdog.die_with_parent(signal.SIGTERM, parent=int(wrapper))
    disarm = watchdog.arm_last_resort(cell.timeout_s + LAST_RESORT_SLACK_S, EXIT_TIMEOUT)
    try:
        if args.round is not None:  # one round: a JSON record, no pyarrow in this process
            import json

            from impl.contract import write_atomic

            write_atomic(out, json.dumps(measure_round(cell, args.round, loops)))
        else:
            from impl.runner.parquet_io import write_table

            write_table(measure_table(cell), out)
    except watchdog.CellTimeoutError as exc:
        sys.stderr.write(f"runner: {cell.cell_id}: {exc}\n")
        return EXIT_TIMEOUT
    except CellFailedError as exc:
        sys.stderr.write(f"runner: {cell.cell_id}: {exc}\n")
        return EXIT_FAILED
    except OSError as exc:  # cannot start a child, cannot write the file, ...
        sys.stderr.write(f"runner: {cell.cell_id}: {type(exc).__name__}: {exc}\n")
        return EXIT_FAILED
    except KeyboardInterrupt:
        sys.stderr.write(f"runner: {cell.cell_id}: interrupted; nothing written\n")
        return EXIT_INTERRUPTED
    finally:
        disarm.set()
    return EXIT_OK
