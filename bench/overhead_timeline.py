#!/usr/bin/env python3
"""Where clinvk's time over a bare Python pty wrapper goes, on one backend (paired rounds
against the stand-in API, medians, ms): the direct call; a bare `pty.fork` wrapper; clinvk's
own spawn (clinvk.pty.process.spawn: echo off, 50x200, the exec report) with the same bare
read loop and nothing else; and clinvk itself under overhead_phases.py's probe. Each wrapper
notes its fork, its first and last line, the end of output and its exit:

- start → fork: the interpreter and what runs before the spawn;
- fork → last line: the backend's run, and what the wrapper does meanwhile (clinvk: the
  store, the recorder, the renderer set up at the first line);
- last line → EOF: the backend's exit (clinvk: the turn's end made ready meanwhile);
- EOF → exit: clinvk's record written.

    python bench/overhead_timeline.py [--pairs 21] [--python VENV/bin/python] [codex]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "tests")]

from overhead import PROMPT, backend_setup  # noqa: E402
from overhead_phases import PROBE  # noqa: E402
from standin import StandIn  # noqa: E402

CLINVK = PROBE.replace('        T["last"] = time.time_ns()\n',
                       '        T["last"] = time.time_ns()\n        T.setdefault("first", T["last"])\n')
READ_LOOP = r'''
while True:
    try:
        d = os.read(fd, 65536)
    except OSError:
        break
    if not d:
        break
    now = time.time_ns()
    T.setdefault("first", now)
    if b"\n" in d:
        T["last"] = now
T["eof"] = time.time_ns()
'''
SAVE = r'''
T["exit"] = time.time_ns()
with open(os.environ["PROBE_OUT"], "a") as fh:
    fh.write(" ".join(f"{k}={v}" for k, v in T.items()) + "\n")
'''
BARE = ("import os, pty, sys, time\nT = {'fork': time.time_ns()}\npid, fd = pty.fork()\n"
        "if pid == 0:\n    os.execvp(sys.argv[1], sys.argv[1:])\n"
        + READ_LOOP + "os.waitpid(pid, 0)\n" + SAVE)
OWN_SPAWN = ("import os, sys, time\nfrom clinvk.pty.process import spawn\nT = {'fork': time.time_ns()}\n"
             "c = spawn(sys.argv[1:], cwd=os.getcwd(), env=os.environ, dimensions=(50, 200), echo=False)\n"
             "fd = c.fd\n" + READ_LOOP + "c.wait()\n" + SAVE)
PHASES = ("start → fork", "fork → last line", "last line → EOF", "EOF → exit", "exit → parent")


def run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, int]:
    started = time.time_ns()
    subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return started, time.time_ns()


def phases(t: dict[str, int], started: int, ended: int) -> dict[str, float]:
    marks = [started, t["fork"], t["last"], t["eof"], t["exit"], ended]
    return {name: (b - a) / 1e6 for name, a, b in zip(PHASES, marks[:-1], marks[1:], strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=21)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("backend", nargs="?", default="codex")
    args = parser.parse_args()
    py = args.python
    with tempfile.TemporaryDirectory(prefix="clinvk-timeline-") as tmp, StandIn() as standin:
        project, env, direct = backend_setup(args.backend, standin, Path(tmp))
        probe = Path(tmp) / "probe"
        env["PROBE_OUT"] = str(probe)
        commands = {"direct call": direct, "bare pty.fork": [py, "-c", BARE, *direct],
                    "clinvk's spawn only": [py, "-c", OWN_SPAWN, *direct],
                    "clinvk": [py, "-c", CLINVK, "-b", args.backend, PROMPT]}
        names = list(commands)
        for argv in commands.values():
            run(argv, env, project)  # warm caches
        rows: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        for i in range(args.pairs):
            for name in names[i % len(names):] + names[:i % len(names)]:
                started, ended = run(commands[name], env, project)
                row = {"total": (ended - started) / 1e6}
                if name != "direct call":
                    last = probe.read_text().splitlines()[-1]
                    row.update(phases({k: int(v) for k, v in (kv.split("=") for kv in last.split())},
                                      started, ended))
                rows[name].append(row)
    keys = ["total", *PHASES]
    print(f"| {args.backend}, {args.pairs} rounds, medians, ms | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for name in names:
        cells = [f"{statistics.median(r[k] for r in rows[name]):.0f}" if k in rows[name][0] else "–"
                 for k in keys]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
