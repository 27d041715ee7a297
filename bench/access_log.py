"""CPU per access-log line at the default `log_level: info`, as the gateway's middleware writes it: 64 requests
ending per event-loop turn, logging set up as `accord serve` does, stderr a pipe read by this process (as a
service manager's would be). Alternates this checkout with `--src` ones, a fresh process per round.

    python bench/access_log.py --src /tmp/base/src [--rounds 3] [--format json]

A checkout without `logs.line` (before issue 21 round 3) is measured with `log.info`, as its middleware did.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time

from accordbench import inproc  # bench/ is first on sys.path when a script here runs

LINES = 64 * 300


def child(fmt: str, fd: int) -> None:
    import logging

    from accord import logs

    logs.setup("info", fmt)
    log = logging.getLogger("accord.access")
    line = getattr(logs, "line", None)

    async def one(method: str, path: str) -> None:
        await asyncio.sleep(0)
        started = time.perf_counter()
        if log.isEnabledFor(logging.INFO):
            ms = (time.perf_counter() - started) * 1000
            fields = {"method": method, "path": path, "status": 200, "ms": round(ms, 2)}
            if line is not None:
                line(log, "%s %s %s %.1f ms", (method, path, 200, ms), fields)
            else:
                log.info("%s %s %s %.1f ms", method, path, 200, ms, extra={"fields": fields})

    async def idle() -> None:
        await asyncio.sleep(0)

    async def run(step) -> float:  # type: ignore[no-untyped-def]
        async def worker() -> None:
            for _ in range(LINES // 64):
                await step()

        c0 = time.process_time()
        await asyncio.gather(*(worker() for _ in range(64)))
        return time.process_time() - c0

    async def main() -> None:
        out = []
        for _ in range(3):
            base = await run(idle)  # the loop's own cost of the same turns, taken off
            out.append((await run(lambda: one("POST", "/v1/chat/completions")) - base) / LINES * 1e6)
        os.write(fd, f"{min(out):.1f} us CPU/line (of {', '.join(f'{x:.1f}' for x in out)})\n".encode())

    inproc.run(main)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", action="append", default=[], help="another checkout's src to alternate with")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--format", default="text", choices=["text", "json"])
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)  # the descriptor to write the result to
    a = ap.parse_args()
    if a.child is not None:
        child(a.format, a.child)
        return
    def measure(env: dict[str, str], src: str) -> str:
        r, w = os.pipe()
        proc = subprocess.Popen([sys.executable, __file__, "--child", str(w), "--format", a.format], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(w,))
        os.close(w)
        err = proc.stderr.read()  # type: ignore[union-attr]  # the log lines, read as a service manager would
        proc.wait()
        result = os.read(r, 4096).decode().strip() or f"exit {proc.returncode}: {err[-300:]!r}"
        os.close(r)
        return result

    inproc.alternate(a.rounds, a.src, measure)


if __name__ == "__main__":
    main()
