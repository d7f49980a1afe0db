"""``python -m impl.runner``: one benchmark cell per call (or, internally, one measuring child).

An entry point: it hands the study's profiles (impl.study, a layer above the
runner) to the runner's command line, so the runner's modules never read the config.
"""

from __future__ import annotations

import sys


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        # the measuring child: keep its imports minimal (no argparse, pyarrow or pandas)
        from impl.runner.worker import worker_main

        code = worker_main(sys.argv[2:])
        sys.stdout.flush()
        sys.stderr.flush()
        import os

        os._exit(code)  # never wait for loop or producer threads at interpreter exit
    from impl.runner.cli import main as cli_main

    return cli_main(sys.argv[1:], _presets())


def _presets() -> dict[str, dict]:
    """The study's profiles, for ``--profile NAME`` (the entry point composes the layers:
    the runner's library never reads the config; impl.study does, above it)."""
    from impl.contract import EXIT_BAD_INPUT
    from impl.study import ConfigError, load

    try:
        return load().presets()
    except ConfigError as exc:
        sys.stderr.write(f"runner: {exc}\n")
        raise SystemExit(EXIT_BAD_INPUT) from None


if __name__ == "__main__":
    sys.exit(main())
