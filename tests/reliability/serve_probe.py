"""`accord ...` with one addition for the soak and load runs: on SIGUSR1 the number of asyncio tasks alive in
the server's event loop is written to $ACCORD_TASK_PROBE. Nothing else differs from the `accord` command.

    python tests/reliability/serve_probe.py serve --config accord.yaml --port 4000
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys


def _dump_tasks(signum, frame) -> None:
    path = os.environ.get("ACCORD_TASK_PROBE")
    try:
        n = len(asyncio.all_tasks(asyncio.get_running_loop()))
    except RuntimeError:  # the loop is not running (yet, or any more)
        n = -1
    if path:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            f.write(str(n))
        os.replace(tmp, path)


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, _dump_tasks)
    from accord.cli import main

    sys.argv = ["accord", *sys.argv[1:]]
    main()
