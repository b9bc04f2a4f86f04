#!/usr/bin/env python3
"""Where clinvk's overhead over a direct backend call goes, phase by phase, on the real CLIs
against the stand-in API (paired with direct calls, medians).

Each clinvk turn runs under a probe (an audit hook and wrappers around the runner, no change
to clinvk) that notes when the backend is forked, when its last line arrived, when its pty
ended (EOF) and when clinvk called os._exit:

- start → fork: the interpreter's start and clinvk's work before the spawn;
- fork → EOF against the direct call's whole time: the backend's run under clinvk (the pty,
  and clinvk's work while it runs: the store, the recorder, the renderer);
- last line → EOF: how long the backend takes to exit after its final line;
- EOF → exit: the turn's record written (archive copy, fsync'ed file, index), the daily
  clean check, the index closed;
- exit → parent: the process torn down.

    python bench/overhead_phases.py [--pairs 9] [--python VENV/bin/python] [claude codex gemini]
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
sys.path.insert(0, str(REPO / "tests"))

from overhead import PROMPT, backend_setup  # noqa: E402
from standin import StandIn  # noqa: E402

PROBE = r"""
import os, sys, time
T = {}
def hook(event, args):
    if event == "os.forkpty" and "fork" not in T:
        T["fork"] = time.time_ns()
sys.addaudithook(hook)
import clinvk.launch as launch
import clinvk.pty.runner as runner
real_exit, run_lines, pump = os._exit, runner.run_lines, runner._pump
def leave(code):
    T["exit"] = time.time_ns()
    with open(os.environ["PROBE_OUT"], "a") as fh:
        fh.write(" ".join(f"{k}={v}" for k, v in T.items()) + "\n")
    real_exit(code)
def lines(argv, **kw):
    on_line = kw["on_line"]
    def seen(line):
        T["last"] = time.time_ns()
        on_line(line)
    kw["on_line"] = seen
    return run_lines(argv, **kw)
def pumped(*a, **kw):
    try:
        return pump(*a, **kw)
    finally:
        T["eof"] = time.time_ns()
os._exit, runner.run_lines, runner._pump = leave, lines, pumped
launch.main(sys.argv[1:])
"""


def run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, int]:
    started = time.time_ns()
    subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return started, time.time_ns()


def phases(name: str, standin: StandIn, tmp: Path, pairs: int, python: str) -> dict[str, float]:
    project, env, direct = backend_setup(name, standin, tmp)
    env["PROBE_OUT"] = str(tmp / name / "probe")
    probed = [python, "-c", PROBE, "-b", name, PROMPT]
    run(direct, env, project), run(probed, env, project)  # warm caches
    rows: list[dict[str, float]] = []
    for i in range(pairs):
        order = [direct, probed] if i % 2 == 0 else [probed, direct]
        times = {id(argv): run(argv, env, project) for argv in order}
        (d0, d1), (c0, c1) = times[id(direct)], times[id(probed)]
        last = Path(env["PROBE_OUT"]).read_text().splitlines()[-1]
        t = {k: int(v) for k, v in (kv.split("=") for kv in last.split())}
        rows.append({"direct call": (d1 - d0) / 1e6, "clinvk": (c1 - c0) / 1e6,
                     "clinvk − direct": (c1 - c0 - d1 + d0) / 1e6,
                     "start → fork": (t["fork"] - c0) / 1e6,
                     "fork → EOF": (t["eof"] - t["fork"]) / 1e6,
                     "fork → EOF − direct call": (t["eof"] - t["fork"] - d1 + d0) / 1e6,
                     "last line → EOF": (t["eof"] - t["last"]) / 1e6,
                     "EOF → exit": (t["exit"] - t["eof"]) / 1e6,
                     "exit → parent": (c1 - t["exit"]) / 1e6})
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("backends", nargs="*", default=["claude", "codex", "gemini"])
    args = parser.parse_args()
    standin = StandIn().start()
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="clinvk-phases-") as tmp:
            for name in args.backends:
                results[name] = phases(name, standin, Path(tmp), args.pairs, args.python)
    finally:
        standin.stop()
    keys = list(next(iter(results.values())))
    print(f"| phase ({args.pairs} pairs, medians, ms) | " + " | ".join(results) + " |")
    print("|---|" + "---|" * len(results))
    for key in keys:
        print(f"| {key} | " + " | ".join(f"{results[n][key]:.0f}" for n in results) + " |")
    print(f"\n`python -c pass`: {_pass_ms(args.python):.0f} ms")


def _pass_ms(python: str) -> float:
    runs = []
    for _ in range(11):
        started = time.perf_counter()
        subprocess.run([python, "-c", "pass"], check=True)
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


if __name__ == "__main__":
    main()
