#!/usr/bin/env python3
"""Does a backend run more slowly in a pty? The real CLI against the stand-in API, its output
to /dev/null, to a pty (`os.forkpty`, read to the end), to a pty with stdin from /dev/null,
and to a pipe; paired rounds, the order shifted each round, medians and the median of each
round's difference to /dev/null. No clinvk involved.

    python bench/backend_under_pty.py [--pairs 9] [claude codex gemini]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overhead import backend_setup  # noqa: E402
from standin import StandIn  # noqa: E402


def _devnull(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def _pipe(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT)
    return time.perf_counter() - started


def _pty(argv: list[str], env: dict[str, str], cwd: Path, stdin_null: bool = False) -> float:
    started = time.perf_counter()
    pid, fd = os.forkpty()
    if pid == 0:
        os.chdir(cwd)
        if stdin_null:
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.execve(argv[0], argv, env)
    while True:
        try:
            if not os.read(fd, 65536):
                break
        except OSError:
            break
    os.waitpid(pid, 0)
    os.close(fd)
    return time.perf_counter() - started


def measure(name: str, standin: StandIn, tmp: Path, pairs: int) -> dict[str, float]:
    project, env, argv = backend_setup(name, standin, tmp)
    argv = [shutil.which(argv[0], path=env.get("PATH")) or argv[0], *argv[1:]]
    kinds = {"/dev/null": _devnull, "pty": _pty,
             "pty, stdin /dev/null": lambda a, e, c: _pty(a, e, c, True), "pipe": _pipe}
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for run in kinds.values():  # warm caches
        run(argv, env, project)
    for i in range(pairs):
        order = list(kinds)[i % len(kinds):] + list(kinds)[:i % len(kinds)]
        for kind in order:
            times[kind].append(kinds[kind](argv, env, project))
    base = times["/dev/null"]
    return {kind: (statistics.median(t) * 1000,
                   statistics.median(b - a for a, b in zip(base, t, strict=True)) * 1000)
            for kind, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("backends", nargs="*", default=["claude", "codex", "gemini"])
    args = parser.parse_args()
    standin = StandIn().start()
    try:
        with tempfile.TemporaryDirectory(prefix="clinvk-pty-") as tmp:
            for name in args.backends:
                for kind, (median, diff) in measure(name, standin, Path(tmp), args.pairs).items():
                    print(f"{name} {kind}: {median:.0f} ms (paired vs /dev/null {diff:+.0f} ms)")
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
