"""``python -m impl.runner``: one benchmark cell per call (or, internally, one measuring child)."""

from __future__ import annotations

import sys


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        # the measuring child: keep its imports minimal (no argparse, pyarrow or pandas)
        from impl.runner.measure import worker_main

        code = worker_main(sys.argv[2:])
        sys.stdout.flush()
        sys.stderr.flush()
        import os

        os._exit(code)  # never wait for loop or producer threads at interpreter exit
    from impl.runner.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
