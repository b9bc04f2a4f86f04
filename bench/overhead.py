#!/usr/bin/env python3
"""What clinvk adds to a backend call, measured in paired runs against the stand-in API.

For each backend: wall time of a recorded turn, `clinvk -b NAME PROMPT` (a new session in
a fresh $CLINVK_HOME), against the backend's own headless streaming command run directly
(same stand-in, same HOME, same user), a bare pexpect wrapper, a bare `pty.fork` (the
floor of any Python program that runs the backend in a pty: the interpreter, the fork, the
reading) and, on claude, the Python wrapper hire-ai when it is installed; clinvk is run as
its installed `clinvk` command when the interpreter's folder has one. The commands take
turns, starting one later each pair, so that machine noise hits all alike. Then the time
to spawn: from the start of the process to the start of a stub backend (which writes the
time it started), for clinvk and the bare wrappers, against `python -c 'import click,
pexpect'`. Then a fake backend printing 50 MB of text through clinvk: throughput and peak
RSS. Prints markdown; --write appends it to bench/RESULTS.md.

    python bench/overhead.py [--pairs 11] [--python VENV/bin/python] [--hire PATH] [--write]
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import realcli  # noqa: E402
from standin import StandIn  # noqa: E402

FAKE = REPO / "tests" / "fakes" / "fakecli.py"
PROMPT = "benchmark prompt"


def wall(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"failed ({done.returncode}): {argv}\n{done.stderr.decode()[-2000:]}")
    return elapsed


# The least any Python wrapper on pexpect pays: interpreter start, pexpect, a pty, reading
# to EOF, reaping. pexpect's close() sleeps `delayafterclose` (0.1 s) even for a child that
# has exited, and runs when the spawn object is collected at exit if nobody called it: an
# earlier version of this floor measured that sleep, not a pty cost.
BARE_PEXPECT = ("import sys, pexpect\n"
                "c = pexpect.spawn(sys.argv[1], sys.argv[2:], encoding=None, echo=False)\n"
                "while True:\n"
                "    try:\n        c.read_nonblocking(65536, timeout=30)\n"
                "    except pexpect.EOF:\n        break\n"
                "c.wait()\n"
                "c.ptyproc.delayafterclose = 0\n"
                "c.close()\n")


# The least any Python process pays to start a program in a pty: the interpreter, `pty.fork`,
# the exec, reading to the end (no pexpect, nothing recorded).
BARE_PTY = ("import os, pty, sys\n"
            "pid, fd = pty.fork()\n"
            "if pid == 0:\n    os.execv(sys.argv[1], sys.argv[1:])\n"
            "while True:\n"
            "    try:\n        chunk = os.read(fd, 65536)\n"
            "    except OSError:\n        break\n"
            "    if not chunk:\n        break\n"
            "os.waitpid(pid, 0)\n")


def rotated(commands: dict[str, list[str]], pairs: int, env: dict[str, str],
            cwd: Path) -> dict[str, list[float]]:
    """Each command once per round, the order shifted by one each round."""
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(pairs):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(wall(commands[name], env, cwd))
    return times


def _median_diff(a: list[float], b: list[float]) -> float:
    return statistics.median([y - x for x, y in zip(a, b, strict=True)])


def backend_setup(name: str, standin: StandIn, tmp: Path) -> tuple[Path, dict[str, str], list[str]]:
    """A project folder, the environment (HOME, the stand-in, a fresh CLINVK_HOME) and the
    direct headless command of one backend."""
    project = tmp / name / "project"
    project.mkdir(parents=True)
    cli = realcli.find_cli(name)
    if cli is None:
        raise SystemExit(f"{name} not found: set CLINVK_TEST_NPM_BIN or put it on PATH")
    env = realcli.prepare_cli(name, standin, tmp / name / "home", project, cli)
    env["CLINVK_HOME"] = str(tmp / name / "clinvk-home")
    return project, env, realcli.headless_argv(name, PROMPT, cli_path=cli)


def clinvk_command(python: str) -> list[str]:
    """How a user runs clinvk from that environment: its installed `clinvk` command (a script
    run by that python), else `python -m clinvk` (which also imports runpy, ~10 ms)."""
    script = Path(python).parent / "clinvk"
    return [str(script)] if script.is_file() else [python, "-m", "clinvk"]


def paired(name: str, standin: StandIn, tmp: Path, pairs: int, python: str,
           hire: str | None, notes: list[str]) -> dict[str, list[float]]:
    project, env, direct = backend_setup(name, standin, tmp)
    commands = {"direct": direct, "bare": [python, "-c", BARE_PEXPECT, *direct],
                "pty": [python, "-c", BARE_PTY, *direct],
                "clinvk": [*clinvk_command(python), "-b", name, PROMPT]}
    if hire and name == "claude":
        commands["hire"] = [hire, "claude", PROMPT]
    for key, argv in list(commands.items()):  # warm caches once
        try:
            wall(argv, env, project)
        except RuntimeError as exc:
            if key != "hire":
                raise SystemExit(str(exc)) from None
            notes.append(f"hire-ai skipped: it failed here ({str(exc).strip().splitlines()[-1]})")
            del commands[key]
    return rotated(commands, pairs, env, project)


STUB = """#!/bin/sh
date +%s%N > "$BENCH_STAMP"
echo '{"type":"system","subtype":"init","session_id":"SID","model":"stub"}'
echo '{"type":"result","subtype":"success","is_error":false,"session_id":"SID","result":"ok",\
"usage":{"input_tokens":1,"output_tokens":1}}'
""".replace("SID", "11111111-2222-3333-4444-555555555555")


def time_to_spawn(tmp: Path, python: str, runs: int) -> dict[str, list[float]]:
    """Milliseconds from starting a process to the start of the backend it spawns (a stub
    `claude` that writes the time, via sh and date), and whole runs of bare interpreters."""
    folder = tmp / "stub"
    (folder / "bin").mkdir(parents=True)
    stub = folder / "bin" / "claude"
    stub.write_text(STUB)
    stub.chmod(0o755)
    stamp = folder / "stamp"
    env = {**os.environ, "PATH": f"{stub.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "BENCH_STAMP": str(stamp), "CLINVK_HOME": str(folder / "clinvk-home")}
    commands = {"clinvk": [*clinvk_command(python), "-b", "claude", PROMPT],
                "bare": [python, "-c", BARE_PEXPECT, str(stub)],
                "pty": [python, "-c", BARE_PTY, str(stub)],
                "import": [python, "-c", "import click, pexpect"],
                "pass": [python, "-c", "pass"]}
    out: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for i in range(runs + 1):  # the first round warms caches
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            stamp.unlink(missing_ok=True)
            started = time.time_ns()
            took = wall(commands[name], env, folder)
            if i and name in ("clinvk", "bare", "pty"):
                out[name].append((int(stamp.read_text()) - started) / 1e6)
            elif i:
                out[name].append(took * 1000)
    return out


def passthrough(tmp: Path, python: str, megabytes: int = 50) -> dict[str, float]:
    home = tmp / "fake-home"
    home.mkdir()
    (home / "config.yaml").write_text(
        f"backends:\n  fake:\n    adapter: claude\n    command: {FAKE}\n")
    env = {**os.environ, "CLINVK_HOME": str(home), "FAKE_MODE": "huge", "FAKE_MB": str(megabytes)}
    code = ("import resource, subprocess, sys, time\n"
            "t = time.perf_counter()\n"
            "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)\n"
            "e = time.perf_counter() - t\n"
            "print(e, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)")
    argv = [sys.executable, "-c", code, *clinvk_command(python), "-b", "fake",
            "--ephemeral", "go"]
    runs = []
    for _ in range(3):
        out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True,
                             cwd=tmp).stdout.split()
        if out[2] != "0":
            raise SystemExit("fake passthrough failed")
        runs.append((float(out[0]), int(out[1])))
    elapsed = statistics.median(r[0] for r in runs)
    return {"mb_per_s": megabytes / elapsed, "seconds": elapsed,
            "peak_rss_mb": max(r[1] for r in runs) / 1024}


def startup(python: str) -> dict[str, float]:
    def med(argv: list[str]) -> float:
        return statistics.median(wall(argv, dict(os.environ), Path(tempfile.gettempdir()))
                                 for _ in range(15))

    bare = med([python, "-c", "pass"])
    helped = med([*clinvk_command(python), "--help"])
    return {"python": bare, "help": helped}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def overhead_rows(name: str, t: dict[str, list[float]]) -> str:
    med = {key: statistics.median(values) for key, values in t.items()}
    row = (f"| {name} | {len(t['direct'])} | {_ms(med['direct'])} | {_ms(med['bare'])} | "
           f"{_ms(med['clinvk'])} | {_median_diff(t['direct'], t['clinvk']) * 1000:+.0f} ms | "
           f"{statistics.median(c / d for d, c in zip(t['direct'], t['clinvk'], strict=True)):.3f} | "
           f"{_median_diff(t['bare'], t['clinvk']) * 1000:+.0f} ms | "
           f"{_median_diff(t['direct'], t['pty']) * 1000:+.0f} ms | "
           f"{_median_diff(t['pty'], t['clinvk']) * 1000:+.0f} ms | ")
    if "hire" in t:
        row += (f"{_ms(med['hire'])} | {_median_diff(t['direct'], t['hire']) * 1000:+.0f} ms | "
                f"{_median_diff(t['hire'], t['clinvk']) * 1000:+.0f} ms |")
    else:
        row += "- | - | - |"
    return row


def spawn_lines(t: dict[str, list[float]]) -> list[str]:
    med = {key: statistics.median(values) for key, values in t.items()}
    return [
        "", f"Time to spawn ({len(t['clinvk'])} rounds, medians): clinvk {med['clinvk']:.0f} ms, "
        f"bare pexpect wrapper {med['bare']:.0f} ms, bare `pty.fork` {med['pty']:.0f} ms "
        "(process start → stub backend start); "
        f"whole `python -c 'import click, pexpect'` {med['import']:.0f} ms, `python -c pass` "
        f"{med['pass']:.0f} ms; clinvk − import: "
        f"{statistics.median(c - i for c, i in zip(t['clinvk'], t['import'], strict=True)):+.0f} ms "
        "(median of the rounds' differences)."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=11)
    parser.add_argument("--write", action="store_true", help="append the table to bench/RESULTS.md")
    parser.add_argument("--backends", default="claude,codex,gemini")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter that runs clinvk (e.g. a venv with `pip install .`)")
    parser.add_argument("--hire", default=shutil.which("hire"),
                        help="the hire-ai executable (default: `hire` on PATH)")
    args = parser.parse_args()
    notes: list[str] = []
    if not args.hire:
        notes.append("hire-ai not installed (`pip install hire-ai`, give --hire): skipped")
    elif os.geteuid() == 0:
        notes.append("hire-ai run as root, like the others: it passes claude "
                     "--dangerously-skip-permissions, which claude refuses as root unless "
                     "IS_SANDBOX=1, as the stand-in environment sets for every command")
    lines = [f"### Wrapper overhead ({time.strftime('%Y-%m-%d')}, medians, clinvk run by "
             f"{' '.join(clinvk_command(args.python))})", "",
             "| backend | rounds | direct call | bare pexpect wrapper | clinvk (recorded turn) "
             "| clinvk − direct | ratio | clinvk − bare | bare `pty.fork` − direct "
             "| clinvk − bare `pty.fork` | hire-ai | hire-ai − direct | clinvk − hire-ai |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp, StandIn() as standin:
        for name in args.backends.split(","):
            t = paired(name, standin, Path(tmp), args.pairs, args.python, args.hire, notes)
            lines.append(overhead_rows(name, t))
            print(lines[-1], flush=True)
        lines += spawn_lines(time_to_spawn(Path(tmp), args.python, args.pairs))
        print(lines[-1], flush=True)
        p = passthrough(Path(tmp), args.python)
    s = startup(args.python)
    lines += ["", f"50 MB of text from a fake backend through clinvk: {p['mb_per_s']:.0f} MB/s "
              f"({p['seconds']:.2f} s), peak RSS {p['peak_rss_mb']:.0f} MB (largest of clinvk and "
              "the fake backend).",
              f"`python -c pass` {s['python'] * 1000:.0f} ms; `clinvk --help` {s['help'] * 1000:.0f} ms "
              f"({s['help'] / s['python']:.2f}×).", *(f"Note: {n}." for n in notes), ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        with open(REPO / "bench" / "RESULTS.md", "a", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
